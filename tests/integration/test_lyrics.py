"""Lyrics (issue 7 §5, OpenSubsonic songLyrics): written into real files with mutagen (ID3
USLT and SYLT, Vorbis and MP4 LYRICS with LRC or plain text) and as `.lrc`/`.txt` sidecars,
scanned into a real PostgreSQL, then read back through getLyricsBySongId and getLyrics
(every XML and JSON response validated against the XSD / OpenAPI schemas). Sidecar edits
are picked up by the incremental scan.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mutagen
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutagen.flac import FLAC
from mutagen.id3 import ID3, SYLT, USLT
from mutagen.mp4 import MP4
from starlette.testclient import TestClient

from orbsonic.ids import public_id
from orbsonic.scanner.lyrics import from_text, matching_sidecars, parse_lrc
from orbsonic.scanner.scanner import scan
from tests.conftest import ALICE, Subsonic, add_users, make_app, users_sql

LRC = "[ar:Nils Frahm]\n[ti:Wall]\n[00:01.00]First line\n[00:02.50]Second <00:02.80>line\n[00:04]Third\n"


def q(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def tid(url: str, path: str) -> str:
    [(ident,)] = q(url, "SELECT id FROM tracks WHERE path = %s", path)
    return public_id("tr", ident)


class Lib:
    def __init__(self, url: str, root: Path, api: Subsonic) -> None:
        self.url, self.root, self.api = url, root, api

    def rescan(self) -> Any:
        return scan(self.url, [self.root], workers=1)

    def lyrics(self, path: str) -> list[dict[str, Any]]:
        body = self.api.ok("getLyricsBySongId", id=tid(self.url, path))
        return body["lyricsList"].get("structuredLyrics", [])


@pytest.fixture
def lib(fresh_db: str, test_library: tuple[Path, Any], tmp_path: Path) -> Iterator[Lib]:
    src = test_library[0]
    root = tmp_path / "music"
    (root / "a").mkdir(parents=True)
    # MP3: USLT (unsynced, German) and SYLT (synced, English, ms stamps).
    shutil.copy(src / "Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3", root / "a/mp3 song.mp3")
    tags = ID3(root / "a/mp3 song.mp3")
    tags.delall("USLT")
    tags.add(USLT(encoding=3, lang="deu", desc="", text="Pik As\nist die Karte"))
    tags.add(SYLT(encoding=3, lang="eng", format=2, type=1, desc="",
                  text=[("The ace", 1000), ("of spades", 2500)]))
    tags.save()
    # FLAC: LRC text in the LYRICS comment → synced.
    shutil.copy(src / "Nils Frahm/2015 - Solo/02 Wall.flac", root / "a/flac song.flac")
    flac = FLAC(root / "a/flac song.flac")
    flac["LYRICS"] = LRC
    flac.save()
    # M4A: plain text in ©lyr → unsynced.
    shutil.copy(src / "Daft Punk/2013 - Random Access Memories/03 Touch.m4a", root / "a/m4a song.m4a")
    mp4 = MP4(root / "a/m4a song.m4a")
    mp4["\xa9lyr"] = ["Touch\r\nI remember touch"]
    mp4.save()
    # OGG without embedded lyrics, with sidecars: two languages of LRC (one with an offset) and a .txt.
    shutil.copy(src / "Sigur Rós/1999 - Ágætis byrjun/01 Svefn-g-englar.ogg", root / "a/ogg song.ogg")
    ogg = mutagen.File(root / "a/ogg song.ogg")
    for key in ("LYRICS", "lyrics"):
        if key in ogg:
            del ogg[key]
    ogg.save()
    (root / "a/ogg song.en.lrc").write_text("[offset:500]\n[00:10.00]Ten seconds\n[00:20.00]Twenty\n")
    (root / "a/ogg song.de.lrc").write_bytes("\ufeff[00:10.00]Zehn Sekunden\n".encode())
    (root / "a/ogg song.txt").write_text("Plain words\nsecond line\n")
    report = scan(fresh_db, [root], workers=1)
    assert report.added == 4 and report.skipped == 0
    data = tmp_path / "data"
    data.mkdir()
    add_users(fresh_db, data)
    with TestClient(make_app(fresh_db, data, (root,))) as http:
        yield Lib(fresh_db, root, Subsonic(http))


def test_extension_is_advertised(lib):
    exts = lib.api.ok("getOpenSubsonicExtensions")["openSubsonicExtensions"]
    assert {"name": "songLyrics", "versions": [1]} in exts


def test_embedded_id3_uslt_and_sylt(lib):
    sets = lib.lyrics("a/mp3 song.mp3")
    assert [(s["lang"], s["synced"]) for s in sets] == [("eng", True), ("deu", False)]
    assert sets[0]["line"] == [{"start": 1000, "value": "The ace"}, {"start": 2500, "value": "of spades"}]
    assert sets[1]["line"] == [{"value": "Pik As"}, {"value": "ist die Karte"}]
    assert sets[0]["displayTitle"] == "Ace of Spades" and sets[0]["offset"] == 0


def test_lrc_in_a_vorbis_tag_is_synced(lib):
    [s] = lib.lyrics("a/flac song.flac")
    assert s["synced"] is True and s["lang"] == "xxx"
    assert s["line"] == [{"start": 1000, "value": "First line"}, {"start": 2500, "value": "Second line"},
                         {"start": 4000, "value": "Third"}]
    assert (s["displayArtist"], s["displayTitle"]) == ("Nils Frahm", "Wall")


def test_mp4_plain_lyrics_are_unsynced(lib):
    [s] = lib.lyrics("a/m4a song.m4a")
    assert s["synced"] is False and s["line"] == [{"value": "Touch"}, {"value": "I remember touch"}]


def test_sidecars_one_entry_per_language_offset_applied(lib):
    sets = lib.lyrics("a/ogg song.ogg")
    by_lang = {(s["lang"], s["synced"]): s["line"] for s in sets}
    assert by_lang == {
        ("de", True): [{"start": 10000, "value": "Zehn Sekunden"}],
        ("en", True): [{"start": 9500, "value": "Ten seconds"}, {"start": 19500, "value": "Twenty"}],
        ("xxx", False): [{"value": "Plain words"}, {"value": "second line"}],
    }


def test_sidecar_changes_are_picked_up_by_the_incremental_scan(lib):
    lrc = lib.root / "a/ogg song.en.lrc"
    lrc.write_text("[00:01.00]Changed\n")
    os.utime(lrc, ns=(1, 1_700_000_000_000_000_000))
    report = lib.rescan()
    assert (report.read, report.updated, report.added) == (1, 1, 0)
    en = [s for s in lib.lyrics("a/ogg song.ogg") if s["lang"] == "en"]
    assert en[0]["line"] == [{"start": 1000, "value": "Changed"}]
    # A new sidecar for a song that had none, and a removed one.
    (lib.root / "a/m4a song.fr.lrc").write_text("[00:03.00]Toucher\n")
    (lib.root / "a/ogg song.txt").unlink()
    report = lib.rescan()
    assert (report.read, report.updated) == (2, 2)
    assert ("fr", True) in {(s["lang"], s["synced"]) for s in lib.lyrics("a/m4a song.m4a")}
    assert ("xxx", False) not in {(s["lang"], s["synced"]) for s in lib.lyrics("a/ogg song.ogg")}
    # Nothing changed: nothing is read.
    assert lib.rescan().read == 0


def test_get_lyrics_by_artist_and_title(lib):
    body = lib.api.ok("getLyrics", artist="motörhead", title="ACE OF SPADES")["lyrics"]
    assert body == {"artist": "Motörhead", "title": "Ace of Spades", "value": "Pik As\nist die Karte"}
    assert lib.api.ok("getLyrics", artist="Nobody", title="Ace of Spades")["lyrics"] == {"value": ""}
    assert lib.api.ok("getLyrics")["lyrics"] == {"value": ""}
    # Only synced lyrics: their lines as text.
    assert lib.api.ok("getLyrics", title="Wall")["lyrics"]["value"] == "First line\nSecond line\nThird"


def test_errors_and_folder_access(lib):
    lib.api.fail("getLyricsBySongId", 10)
    lib.api.fail("getLyricsBySongId", 70, id="tr-999999")
    lib.api.fail("getLyricsBySongId", 70, id="al-1")
    song = tid(lib.url, "a/mp3 song.mp3")
    alice = lib.api.as_user(*ALICE)
    assert alice.ok("getLyricsBySongId", id=song)["lyricsList"]["structuredLyrics"]
    users_sql(lib.url, "UPDATE users SET folder_ids = '{}' WHERE username = %s", (ALICE[0],))
    alice.fail("getLyricsBySongId", 70, id=song)
    assert alice.ok("getLyrics", artist="Motörhead", title="Ace of Spades")["lyrics"] == {"value": ""}


def test_song_without_lyrics_has_an_empty_list(api, library_db):
    [(ident,)] = q(library_db, "SELECT id FROM tracks WHERE title = 'Xtal'")
    assert api.ok("getLyricsBySongId", id=public_id("tr", ident))["lyricsList"] == {"structuredLyrics": []}


def test_generated_library_lyrics_through_the_api_fixture(api, library_db):
    [(ident,)] = q(library_db, "SELECT id FROM tracks WHERE title = 'Hidden Place'")
    [s] = api.ok("getLyricsBySongId", id=public_id("tr", ident))["lyricsList"]["structuredLyrics"]
    assert s["line"] == [{"value": "Through the warmth"}, {"value": "of the hidden place"}]
    assert api.ok("getLyrics", artist="Björk", title="Hidden Place")["lyrics"]["value"] == (
        "Through the warmth\nof the hidden place")


# ---------------------------------------------------------------- parsers

def test_matching_sidecars():
    names = ["song.lrc", "song.en.lrc", "song.de-DE.lrc", "song.txt", "song 2.lrc", "song.remix.lrc",
             "other.lrc", "song.mp3"]
    assert matching_sidecars("song.mp3", names) == [
        ("song.de-DE.lrc", "de-de"), ("song.en.lrc", "en"), ("song.lrc", "xxx"), ("song.txt", "xxx")]
    assert matching_sidecars("Mr. Brightside.flac", ["Mr. Brightside.lrc"]) == [("Mr. Brightside.lrc", "xxx")]


def test_lrc_details():
    lines, meta = parse_lrc("[offset:-250]\n[00:01.5]a\n[00:00.05][01:00.123]b\nno stamp\n[00:02:10]c")
    assert lines == [(300, "b"), (1750, "a"), (2350, "c"), (60373, "b")]
    assert meta["offset"] == "-250"
    assert from_text("just\ntext", "tag").synced is False
    assert from_text("   \n", "tag") is None


@given(st.lists(st.tuples(st.integers(0, 99 * 60_000 + 59_999), st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="[]<>"), max_size=30)),
    min_size=1, max_size=30))
def test_lrc_round_trip(pairs):
    text = "\n".join(f"[{ms // 60000:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}]{words}"
                     for ms, words in pairs)
    lines, _ = parse_lrc(text)
    assert lines == sorted(((ms, words.strip()) for ms, words in pairs), key=lambda p: p[0])
    entry = from_text(text, "lrc")
    assert entry is not None and entry.synced


def test_migration_backfills_lyrics_of_tracks_scanned_before(pg, tmp_path):
    """A library scanned before migration 0004 answers lyrics from tracks.lyrics right away."""
    from orbsonic.db.migrate import migrate, schema_dir

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE lyrics_backfill")
    url = pg.url.rsplit("/", 1)[0] + "/lyrics_backfill"
    older = tmp_path / "schema"
    older.mkdir()
    for path in schema_dir().glob("*.sql"):
        if int(path.name[:4]) < 4:
            shutil.copy(path, older / path.name)
    migrate(url, directory=older)
    with psycopg.connect(url) as conn:
        [(folder,)] = conn.execute("INSERT INTO music_folders (name, path) VALUES ('m', '/m') RETURNING id")
        conn.execute("""INSERT INTO tracks (folder_id, directory_id, path, size, mtime_ns, suffix,
                                            content_type, title, sort_title, album_id, pid, created_at,
                                            lyrics)
                        VALUES (%s, 1, 'a.mp3', 1, 1, 'mp3', 'audio/mpeg', 'A', 'A', 1, 'x', now(), %s),
                               (%s, 1, 'b.mp3', 1, 1, 'mp3', 'audio/mpeg', 'B', 'B', 1, 'y', now(), NULL)""",
                     (folder, "one\r\ntwo", folder))
    migrate(url)
    rows = q(url, "SELECT t.path, l.synced, l.lines FROM track_lyrics l JOIN tracks t ON t.id = l.track_id")
    assert rows == [("a.mp3", False, [[None, "one"], [None, "two"]])]
