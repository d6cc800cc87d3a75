"""Scanner quality on real files (issue 6 §4): legacy encodings in ID3 Latin-1 frames,
implausible header lengths, untagged files grouped by folder, configurable artist
separators. Real files from the realworld corpus and files retagged with mutagen, scanned
into a real PostgreSQL and read back through the API (validated XML/JSON).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import psycopg
import pytest
from mutagen.id3 import ID3, TALB, TIT2, TPE1, USLT
from starlette.testclient import TestClient

from orbsonic.config import load_settings
from orbsonic.scanner.model import ScanOptions
from orbsonic.scanner.scanner import options_from_settings, scan
from orbsonic.scanner.tags import read_track
from tests.conftest import Subsonic, add_users, make_app


def q(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def latin1_frames(path: Path, title: str, artist: str, album: str | None, encoding: str) -> None:
    """Write TIT2/TPE1/TALB as ID3 "Latin-1" frames (encoding 0) that really hold `encoding`
    bytes, as old Windows taggers did."""
    tags = ID3()
    raw = {k: v.encode(encoding).decode("latin-1") for k, v in
           (("title", title), ("artist", artist), ("album", album or "")) if v}
    tags.add(TIT2(encoding=0, text=[raw["title"]]))
    tags.add(TPE1(encoding=0, text=[raw["artist"]]))
    if "album" in raw:
        tags.add(TALB(encoding=0, text=[raw["album"]]))
    lyrics = f"{title}\n{artist}".encode(encoding).decode("latin-1")
    tags.add(USLT(encoding=0, lang="xxx", desc="", text=lyrics))
    tags.save(path, v2_version=3)


@pytest.fixture
def mp3(test_library: tuple[Path, Any]) -> Path:
    """A real MP3 (ID3v2.3) of the generated library, to copy and retag."""
    return test_library[0] / "Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3"


# ---------------------------------------------------------------- legacy encodings

def test_chinese_id3_from_the_corpus_is_decoded(realworld_dir):
    info = read_track(realworld_dir / "tinytag/chinese_id3.mp3")
    assert (info.title, info.album, info.artists) == ("角落之歌", "角落之歌", ("苏云",))
    assert info.genres == ("休闲音乐",)
    off = read_track(realworld_dir / "tinytag/chinese_id3.mp3", ScanOptions(legacy_encoding="off"))
    assert off.title == "½ÇÂäÖ®¸è"


def test_latin1_text_stays_latin1(realworld_dir):
    # A genuine Latin-1 ID3v1 tag ("Björk"; the file has no audio) is plausible Latin-1.
    from orbsonic.scanner.encodings import choose_encoding

    tags = ID3(realworld_dir / "tinytag/id3v1-latin1.mp3")
    texts = [str(t) for f in tags.values() if getattr(f, "encoding", None) == 0 for t in f.text]
    assert "Björk" in texts
    assert choose_encoding(texts, "auto") is None


@pytest.mark.parametrize(("encoding", "title", "artist", "album"), [
    ("cp1251", "Группа крови", "Кино", "Группа крови"),
    ("big5", "七里香", "周杰倫", "七里香"),
    ("shift_jis", "さくら（独唱）", "森山直太朗", "乾いた唄は魚の餌にちょうどいい"),
    ("gbk", "他一定很爱你", "阿杜", "天黑"),
    ("latin-1", "Coração Vagabundo", "Caetano Veloso", "Domingo"),
])
def test_legacy_encodings_scanned_and_served(fresh_db, mp3, tmp_path, encoding, title, artist, album):
    root = tmp_path / "music"
    (root / "rips").mkdir(parents=True)
    song = root / "rips/01.mp3"
    shutil.copy(mp3, song)
    latin1_frames(song, title, artist, album, encoding)
    assert ID3(song)["TIT2"].encoding == 0
    report = scan(fresh_db, [root], workers=1)
    assert report.added == 1
    assert q(fresh_db, "SELECT title, artist_name, album_name FROM tracks") == [(title, artist, album)]
    data = tmp_path / "data"
    data.mkdir()
    add_users(fresh_db, data)
    with TestClient(make_app(fresh_db, data, (root,))) as http:
        api = Subsonic(http)
        [found] = api.ok("search3", query=artist)["searchResult3"]["song"]
        assert (found["title"], found["artist"], found["album"]) == (title, artist, album)
        # The lyrics frame of the same tag is decoded with the same code page.
        [lyr] = api.ok("getLyricsBySongId", id=found["id"])["lyricsList"]["structuredLyrics"]
        assert [line["value"] for line in lyr["line"]] == [title, artist]
    # Turned off: the frames are read as what they say they are.
    if encoding != "latin-1":
        off = read_track(song, options_from_settings(load_settings(
            env={"ORBSONIC_TAG_LEGACY_ENCODING": "off"})))
        assert off.title == title.encode(encoding).decode("latin-1")
        forced = read_track(song, ScanOptions(legacy_encoding=encoding))
        assert forced.title == title


# ---------------------------------------------------------------- header lengths

@pytest.mark.parametrize(("name", "claimed_s", "expect"), [
    ("tinytag/mvhd_version_1.m4a", 123_252, (0, 0)),            # no bitrate: unknown
    ("mutagen/nero-chapters.m4b", 169_023, (9_000, 11_000)),     # 80 KB at 63 kbps ≈ 10 s
    ("tinytag/test.m4a", 315, (1_500, 2_500)),                   # 61 KB at 256 kbps
    ("tinytag/chinese_id3.mp3", 264, (1, 200)),                  # 1 KB at 128 kbps
])
def test_implausible_header_lengths(realworld_dir, name, claimed_s, expect):
    info = read_track(realworld_dir / name)
    assert expect[0] <= info.props.duration_ms <= expect[1], info.props.duration_ms
    assert any(f"claims {claimed_s}" in w for w in info.warnings), info.warnings


def test_plausible_lengths_are_kept(realworld_dir, test_library):
    # FLAC digital silence really is 453 s in 84 KB (constant subframes).
    assert read_track(realworld_dir / "tinytag/flac453sStereo.flac").props.duration_ms == 453_515
    for path in sorted(test_library[0].rglob("*.*")):
        if path.suffix in (".flac", ".mp3", ".ogg", ".opus", ".m4a", ".wav") and "broken" not in path.name:
            info = read_track(path)
            assert not any("claims" in w for w in info.warnings), (path, info.warnings)


def test_corpus_durations_served(fresh_db, realworld_dir, tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    for name in ("tinytag/mvhd_version_1.m4a", "mutagen/nero-chapters.m4b"):
        shutil.copy(realworld_dir / name, root / name.rpartition("/")[2])
    scan(fresh_db, [root], workers=1)
    durations = dict(q(fresh_db, "SELECT path, duration_ms FROM tracks"))
    assert durations["mvhd_version_1.m4a"] == 0 and 9_000 <= durations["nero-chapters.m4b"] <= 11_000
    [(album_ms,)] = q(fresh_db, "SELECT max(duration_ms) FROM albums")
    assert album_ms < 3_600_000


# ---------------------------------------------------------------- untagged files

def test_untagged_files_group_by_folder(fresh_db, test_library, tmp_path):
    """Four folders of untagged files are four albums named after their folders, not one
    "[Unknown Album]" holding all of them."""
    src = test_library[0] / "Unsorted/untagged track.flac"
    root = tmp_path / "music"
    folders = ["Rips/Disc A", "Rips/Disc B", "Tapes/1987", "Loose"]
    for n, folder in enumerate(folders):
        (root / folder).mkdir(parents=True)
        for k in range(n + 1):
            shutil.copy(src, root / folder / f"track {k}.flac")
    shutil.copy(src, root / "at root.flac")
    scan(fresh_db, [root], workers=1)
    albums = sorted(q(fresh_db, "SELECT name, song_count FROM albums"))
    assert albums == sorted([("Disc A", 1), ("Disc B", 2), ("1987", 3), ("Loose", 4), (root.name, 1)])
    data = tmp_path / "data"
    data.mkdir()
    add_users(fresh_db, data)
    with TestClient(make_app(fresh_db, data, (root,))) as http:
        api = Subsonic(http)
        listed = api.ok("getAlbumList2", type="alphabeticalByName", size=50)["albumList2"]["album"]
        assert sorted(a["name"] for a in listed) == sorted(n for n, _ in albums)
        one = next(a for a in listed if a["name"] == "1987")
        assert api.ok("getAlbum", id=one["id"])["album"]["songCount"] == 3


# ---------------------------------------------------------------- artist separators

def test_artist_separators_configurable_with_exceptions(fresh_db, mp3, tmp_path):
    root = tmp_path / "music"
    root.mkdir()
    names = {"a.mp3": "AC/DC", "b.mp3": "Daft Punk feat. Pharrell Williams", "c.mp3": "Simon & Garfunkel",
             "d.mp3": "Cher;Sonny", "e.mp3": "Sting & The Police"}
    for name, artist in names.items():
        shutil.copy(mp3, root / name)
        tags = ID3(root / name)
        tags.setall("TPE1", [TPE1(encoding=3, text=[artist])])
        tags.setall("TALB", [TALB(encoding=3, text=[f"Album {name}"])])
        tags.save()
    # Defaults: " / ", "; ", feat.; "AC/DC" and "Cher;Sonny" (no space) stay whole.
    scan(fresh_db, [root], workers=1)
    rows = q(fresh_db, """SELECT t.path, array_agg(a.name ORDER BY ta.position) FROM tracks t
                           JOIN track_artists ta ON ta.track_id = t.id AND ta.role = 'artist'
                           JOIN artists a ON a.id = ta.artist_id GROUP BY t.path ORDER BY t.path""")
    assert dict(rows) == {"a.mp3": ["AC/DC"], "b.mp3": ["Daft Punk", "Pharrell Williams"],
                          "c.mp3": ["Simon & Garfunkel"], "d.mp3": ["Cher;Sonny"],
                          "e.mp3": ["Sting & The Police"]}
    # Configured: "/", ";" and " & " split, except the listed names.
    settings = load_settings(env={"ORBSONIC_ARTIST_SEPARATORS": "/|;| & | feat. ",
                                  "ORBSONIC_ARTIST_SEPARATOR_EXCEPTIONS": "AC/DC,Simon & Garfunkel"})
    assert settings.artist_separators == ("/", ";", " & ", " feat. ")
    scan(fresh_db, [root], workers=1, full=True, options=options_from_settings(settings))
    rows = q(fresh_db, """SELECT t.path, array_agg(a.name ORDER BY ta.position) FROM tracks t
                           JOIN track_artists ta ON ta.track_id = t.id AND ta.role = 'artist'
                           JOIN artists a ON a.id = ta.artist_id GROUP BY t.path ORDER BY t.path""")
    assert dict(rows) == {"a.mp3": ["AC/DC"], "b.mp3": ["Daft Punk", "Pharrell Williams"],
                          "c.mp3": ["Simon & Garfunkel"], "d.mp3": ["Cher", "Sonny"],
                          "e.mp3": ["Sting", "The Police"]}


def test_id3v24_nul_separator_always_splits(mp3, tmp_path):
    song = tmp_path / "x.mp3"
    shutil.copy(mp3, song)
    tags = ID3(song)
    tags.setall("TPE1", [TPE1(encoding=3, text=["AC/DC", "Brian Johnson"])])
    tags.save(v2_version=4)
    for options in (ScanOptions(), ScanOptions(artist_separators=())):
        assert read_track(song, options).artists == ("AC/DC", "Brian Johnson")
