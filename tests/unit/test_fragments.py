"""Song lists rendered from cached fragments (subsonic_api/fragments.py) give exactly the bytes
of the ordinary renderer, for every flavour, and the cached Child dicts equal shapes.song."""

from __future__ import annotations

from datetime import datetime, UTC

import pytest

from subsonic_api import shapes
from subsonic_api.response import Payload, render
from subsonic_api.song_cache import assemble, split

T0 = datetime(2024, 5, 1, 10, 20, 30, 123000, tzinfo=UTC)
T1 = datetime(2025, 1, 2, 3, 4, 5, 6000, tzinfo=UTC)


def _row(i: int, **over):
    row = {
        "id": i, "folder_id": 1, "directory_id": 7, "title": f'T & <"{i}">\n\tx\x01\ufffe', "album_name": "Alb ü",
        "artist_name": "Art", "track_no": i, "year": 2001, "genre": "Rock", "own_cover": False,
        "mtime_ns": 10**18, "album_id": 3, "album_cover_kind": 1, "album_cover_mtime": 99,
        "size": 1234, "content_type": "audio/flac", "suffix": "flac", "duration_ms": 61_500,
        "bitrate": 900, "path": "a/b\r/c.flac", "play_count": 0, "disc_no": 1, "created_at": T0,
        "artist_id": 5, "starred_at": None, "rating": None, "last_played": None,
        "artist_links": [["artist", 5, "Art"], ["albumartist", 6, "AA"], ["composer", 8, "Co"]],
        "bpm": 120, "comment": "c", "sort_title": "", "mbid_recording": None, "isrc": ["X1"],
        "genre_names": ["Rock", "Pop"], "album_artist_name": "AA", "composer_name": "Co",
        "moods": [], "rg_track_gain": -6.5, "rg_album_gain": None, "rg_track_peak": 0.99,
        "rg_album_peak": None, "explicit_status": "", "bit_depth": 16, "sample_rate": 44100,
        "channels": 2, "groupings": [],
    }
    row.update(over)
    return row


# (starred_at, rating, play_count, last_played): every combination of the reader's fields
MARKS = [(None, None, 0, None), (T1, None, 3, None), (None, 4, 1, None), (None, None, 2, T1),
         (T0, 5, 9, T1), (None, 0, 0, T0)]
ROWS = [_row(1), _row(2, album_name=None, genre="", bitrate=None, disc_no=None, artist_id=None,
                      artist_links=None, isrc=None, genre_names=None, rg_track_gain=None,
                      rg_track_peak=None, bit_depth=None, track_no=None, own_cover=True),
        _row(3, title="", moods=["m"], groupings=["g"], mbid_recording="abc")]


def _lists(os: bool):
    """The same list twice: as cached SongChild fragments and as plain shapes.song dicts."""
    cached, plain = [], []
    for row in ROWS:
        parts = split(shapes.song(row, os), os)
        for starred, rating, plays, played in MARKS:
            mark = (row["id"], row["duration_ms"], starred, rating, plays, played)
            child = assemble(parts, mark, os)
            ref = shapes.song({**row, "starred_at": starred, "rating": rating, "play_count": plays,
                               "last_played": played}, os)
            assert child == ref and list(child) == list(ref)
            cached.append(child)
            plain.append(ref)
    return cached, plain


@pytest.mark.parametrize("os", [True, False])
@pytest.mark.parametrize("fmt", ["xml", "json", "jsonp"])
@pytest.mark.parametrize("key,inner", [("playlist", "entry"), ("randomSongs", "song"),
                                       ("directory", "child"), ("searchResult3", "song")])
@pytest.mark.parametrize("slim", [False, True])
@pytest.mark.parametrize("version", [None, "1.13.0"])
def test_fragment_bytes_equal_ordinary_render(os, fmt, key, inner, slim, version):
    cached, plain = _lists(os)
    a = render(Payload(key, {"id": "x", inner: cached}), fmt, callback="cb", opensubsonic=os,
               slim=slim, version=version)
    b = render(Payload(key, {"id": "x", inner: plain}), fmt, callback="cb", opensubsonic=os,
               slim=slim, version=version)
    assert a.body == b.body
    assert a.media_type == b.media_type


def test_fragments_reused_across_readers():
    """One cached song serves two readers with different annotations, each getting their own."""
    parts = split(shapes.song(ROWS[0], True), True)
    a = assemble(parts, (1, 61_500, T1, 5, 7, None), True)
    b = assemble(parts, (1, 61_500, None, None, 0, None), True)
    ja = render(Payload("randomSongs", {"song": [a]}), "json").body
    jb = render(Payload("randomSongs", {"song": [b]}), "json").body
    assert b'"starred"' in ja and b'"userRating":5' in ja and b'"playCount":7' in ja
    assert b'"starred"' not in jb and b'"userRating"' not in jb and b'"playCount":0' in jb


@pytest.mark.parametrize("os", [True, False])
def test_rows_through_the_song_cache_equal_shapes_song(os):
    """SongCache.of_rows (getRandomSongs, getSongsByGenre, search, starred): the first read
    shapes and keeps, a second reader with other annotations gets their own, in the same bytes
    as the ordinary path."""
    from subsonic_api.song_cache import SongCache

    cache = SongCache(lambda: True)
    for starred, rating, plays, played in MARKS:
        rows = [{**r, "starred_at": starred, "rating": rating, "play_count": plays, "last_played": played}
                for r in ROWS]
        got = cache.of_rows(rows, os)
        want = [shapes.song(r, os) for r in rows]
        assert got == want and [list(g) for g in got] == [list(w) for w in want]
        for fmt in ("xml", "json"):
            assert (render(Payload("randomSongs", {"song": got}), fmt, opensubsonic=os).body
                    == render(Payload("randomSongs", {"song": want}), fmt, opensubsonic=os).body)
    assert len(cache) == len(ROWS)
    cache.invalidate()
    assert len(cache) == 0


def test_nothing_kept_without_invalidations():
    """A cache that cannot hear invalidations (no LISTEN channel) keeps nothing."""
    from subsonic_api.song_cache import SongCache

    cache = SongCache(None)
    assert cache.of_rows(ROWS, True) == [shapes.song(r, True) for r in ROWS]
    assert len(cache) == 0
