"""FileRows (subsonic_api/file_rows.py): the stream fast path's kept file rows follow the
song cache's invalidation exactly — emptied by a library change, never served or kept while
the LISTEN connection is down, a row read across an invalidation dropped."""

from __future__ import annotations

from subsonic_api.file_rows import FileRows
from subsonic_api.song_cache import SongCache

ROW = {"folder_id": 1, "root": "/music", "path": "A/01 One.flac", "size": 10, "mtime_ns": 5,
       "content_type": "audio/flac", "suffix": "flac", "codec": "flac", "duration_ms": 1000,
       "bitrate": 900, "sample_rate": 44100, "has_picture": False}


def test_rows_follow_the_song_cache() -> None:
    listening = [True]
    songs = SongCache(lambda: listening[0])
    rows = FileRows(songs)
    g = rows.generation()
    rows.store(7, ROW, g)
    assert rows.get(7) == ROW and rows.get(8) is None
    songs.invalidate()  # a library NOTIFY
    assert rows.get(7) is None
    g = rows.generation()
    songs.invalidate()  # arrives while the row is being read: not kept
    rows.store(7, ROW, g)
    assert rows.get(7) is None
    rows.store(7, ROW, rows.generation())
    listening[0] = False  # the LISTEN connection is down: nothing served, nothing kept
    assert rows.get(7) is None and rows.generation() is None
    rows.store(8, ROW, rows.generation())
    listening[0] = True
    assert rows.get(8) is None


def test_rows_are_bounded() -> None:
    rows = FileRows(SongCache(lambda: True))
    rows.MAX_ROWS = 3
    for i in range(5):
        rows.store(i, {**ROW, "path": f"p{i}"}, rows.generation())
    assert [rows.get(i) is not None for i in range(5)] == [False, False, False, True, True]
    assert rows.get(4)["path"] == "p4"


def test_no_song_cache_keeps_nothing() -> None:
    rows = FileRows(SongCache(None))  # an answer cache without a LISTEN channel
    rows.store(1, ROW, rows.generation())
    assert rows.get(1) is None
