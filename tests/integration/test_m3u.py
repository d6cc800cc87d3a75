"""m3u/m3u8 import at scan (orbsonic/scanner/m3u.py) on generated files: relative, absolute,
file:// and Windows locations, #EXTINF, a missing entry, Latin-1, a broken file; re-import
when the file changes; playlists, queues and bookmarks surviving a move and a retag. Plus
the parser on its own (hypothesis)."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import mutagen
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbsonic.scanner import m3u
from orbsonic.scanner.scanner import scan
from tests.conftest import Subsonic, add_users
from tests.integration.conftest import serve
from tests.integration.test_playlists import ok_once

VES = "Björk/2001 - Vespertine"
ABBEY = "The Beatles/1969 - Abbey Road"


def _copy(src_root: Path, root: Path) -> None:
    for rel in (VES, ABBEY):
        shutil.copytree(src_root / rel, root / rel)
    (root / "Café").mkdir()
    shutil.copy(
        src_root / "Sigur Rós/1999 - Ágætis byrjun/01 Svefn-g-englar.ogg", root / "Café" / "01 Song.ogg"
    )


def _name(root: Path, rel_dir: str, prefix: str) -> str:
    return next(p.name for p in (root / rel_dir).iterdir() if p.name.startswith(prefix))


@pytest.fixture
def music(tmp_path: Path, test_library: tuple[Path, Any]) -> Path:
    root = tmp_path / "music"
    _copy(test_library[0], root)
    v1, v2 = _name(root, VES, "01"), _name(root, VES, "02")
    a1, a2 = _name(root, ABBEY, "01"), _name(root, ABBEY, "02")
    (root / "Lists").mkdir()
    (root / "Lists" / "Relative Mix.m3u").write_text(
        "#EXTM3U\n"
        f"#EXTINF:300,Björk - Hidden Place\n../{VES}/{v1}\n"
        "#EXTINF:1,Nobody - Not Here\n../Nowhere/missing.flac\n"
        f"\n../{ABBEY}/{a2}\n"
        f"../{VES}/{v1}\n"  # a duplicate, kept
        f"..\\{ABBEY.replace('/', chr(92))}\\{a1}\n",  # written on Windows
        encoding="utf-8",
    )
    (root / "Absolute.m3u8").write_text(
        "\ufeff#EXTM3U\n"
        f"{root / ABBEY / a1}\n"
        f"file://{quote(str(root / VES / v2))}\n"
        "http://radio.example.org/stream.mp3\n"
        "/elsewhere/not/in/a/music/folder.mp3\n",
        encoding="utf-8",
    )
    (root / "latin1.m3u").write_bytes("#EXTINF:10,Café\nCafé/01 Song.ogg\n".encode("latin-1"))
    (root / "Broken.m3u").write_bytes(os.urandom(512).replace(b"\n", b"") + b"\n")
    (root / ".hidden.m3u").write_text(f"{VES}/{v1}\n", encoding="utf-8")
    return root


@pytest.fixture
def db(fresh_db: str, tmp_path: Path) -> str:
    add_users(fresh_db, tmp_path)  # imported playlists belong to the admin
    return fresh_db


def _playlists(client: Subsonic) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in client.ok("getPlaylists")["playlists"].get("playlist", [])}


def _paths(client: Subsonic, pid: str) -> list[str]:
    return [e["path"] for e in client.ok("getPlaylist", id=pid)["playlist"].get("entry", [])]


def test_import_resolves_every_location_form(
    db: str, music: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="orbsonic.scanner"):
        report = scan(db, [music], workers=1)
    assert not report.errors
    v1, v2 = _name(music, VES, "01"), _name(music, VES, "02")
    a1, a2 = _name(music, ABBEY, "01"), _name(music, ABBEY, "02")
    assert "../Nowhere/missing.flac" in caplog.text and "Relative Mix" in caplog.text
    with serve(db, (music,), tmp_path / "data") as admin:
        lists = _playlists(admin)
        assert set(lists) == {"Relative Mix", "Absolute", "latin1", "Broken"}
        for pl in lists.values():
            assert pl["owner"] == "admin" and pl["public"] is True
        assert _paths(admin, lists["Relative Mix"]["id"]) == [
            f"{VES}/{v1}",
            f"{ABBEY}/{a2}",
            f"{VES}/{v1}",
            f"{ABBEY}/{a1}",
        ]
        assert _paths(admin, lists["Absolute"]["id"]) == [f"{ABBEY}/{a1}", f"{VES}/{v2}"]
        assert _paths(admin, lists["latin1"]["id"]) == ["Café/01 Song.ogg"]
        assert lists["Broken"]["songCount"] == 0
        # public: another user sees them, but may not change them
        alice = admin.as_user("alice", "alice-pass")
        assert set(_playlists(alice)) == set(lists)
        alice.fail("updatePlaylist", 50, playlistId=lists["Absolute"]["id"], name="Mine")
    # a rescan with nothing changed leaves them alone
    with psycopg.connect(db) as conn:
        before = conn.execute("SELECT id, changed_at FROM playlists ORDER BY id").fetchall()
    scan(db, [music], workers=1)
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT id, changed_at FROM playlists ORDER BY id").fetchall() == before


def test_changed_file_moved_and_retagged_tracks(db: str, music: Path, tmp_path: Path) -> None:
    scan(db, [music], workers=1)
    a1, a2 = _name(music, ABBEY, "01"), _name(music, ABBEY, "02")
    v1 = _name(music, VES, "01")
    with serve(db, (music,), tmp_path / "data") as admin:
        lists = _playlists(admin)
        pid = lists["Absolute"]["id"]
        # user data that references the same tracks
        [come_together] = [
            e for e in admin.ok("getPlaylist", id=pid)["playlist"]["entry"] if e["path"].endswith(a1)
        ]
        mine = admin.raw("createPlaylist", name="Mine", songId=[come_together["id"]]).json()[
            "subsonic-response"
        ]["playlist"]["id"]
        ok_once(admin, "savePlayQueue", id=come_together["id"], current=come_together["id"], position=42)
        ok_once(admin, "createBookmark", id=come_together["id"], position=4200)
        # an entry appended through the API to an imported playlist stays while its file is unchanged
        ok_once(admin, "updatePlaylist", playlistId=lists["latin1"]["id"], songIdToAdd=come_together["id"])

        # the file changes: re-read, same playlist
        m = music / "Absolute.m3u8"
        m.write_text(f"{music / ABBEY / a2}\n{music / ABBEY / a1}\n", encoding="utf-8")
        os.utime(m, (m.stat().st_atime, m.stat().st_mtime + 10))
        scan(db, [music], workers=1)
        assert _playlists(admin)["Absolute"]["id"] == pid
        assert _paths(admin, pid) == [f"{ABBEY}/{a2}", f"{ABBEY}/{a1}"]

        # the album folder moves; the m3u files still name the old paths
        os.makedirs(music / "Moved")
        os.rename(music / ABBEY, music / "Moved" / "Abbey Road")
        report = scan(db, [music], workers=1)
        assert report.removed == 0, report
        assert _paths(admin, pid) == [f"Moved/Abbey Road/{a2}", f"Moved/Abbey Road/{a1}"]
        assert _paths(admin, lists["Relative Mix"]["id"])[1] == f"Moved/Abbey Road/{a2}"
        assert _paths(admin, lists["latin1"]["id"]) == ["Café/01 Song.ogg", f"Moved/Abbey Road/{a1}"]
        assert [e["id"] for e in admin.ok("getPlaylist", id=mine)["playlist"]["entry"]] == [
            come_together["id"]
        ]
        q = admin.ok("getPlayQueue")["playQueue"]
        assert q["current"] == come_together["id"] and q["entry"][0]["path"] == f"Moved/Abbey Road/{a1}"
        [bm] = admin.ok("getBookmarks")["bookmarks"]["bookmark"]
        assert bm["entry"]["id"] == come_together["id"] and bm["position"] == 4200

        # a retag keeps the track (same id, new title) in every list
        f = mutagen.File(music / VES / v1, easy=True)
        f["title"] = ["Hidden Place (retagged)"]
        f.save()
        scan(db, [music], workers=1)
        entries = admin.ok("getPlaylist", id=lists["Relative Mix"]["id"])["playlist"]["entry"]
        assert [e["title"] for e in entries].count("Hidden Place (retagged)") == 2

        # the file is edited to the new paths: the same tracks
        m.write_text(f"Moved/Abbey Road/{a1}\n", encoding="utf-8")
        os.utime(m, (m.stat().st_atime, m.stat().st_mtime + 20))
        scan(db, [music], workers=1)
        assert [e["id"] for e in admin.ok("getPlaylist", id=pid)["playlist"]["entry"]] == [
            come_together["id"]
        ]

        # the file vanishes: the playlist stays
        m.unlink()
        scan(db, [music], workers=1)
        assert pid in {p["id"] for p in _playlists(admin).values()}


def test_no_admin_yet_imports_at_the_next_scan(fresh_db: str, music: Path, tmp_path: Path) -> None:
    assert not scan(fresh_db, [music], workers=1).errors
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM playlists").fetchone() == (0,)
    add_users(fresh_db, tmp_path)
    scan(fresh_db, [music], workers=1)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM playlists").fetchone() == (4,)


# ---------------------------------------------------------------------------- the parser


def test_decode_utf8_bom_and_latin1() -> None:
    assert m3u.decode("\ufeffÅ/ü.mp3".encode()) == "Å/ü.mp3"
    assert m3u.decode("Å/ü.mp3".encode("latin-1")) == "Å/ü.mp3"


def test_locations_skip_directives_and_blanks() -> None:
    text = "#EXTM3U\r\n#EXTINF:123,A - B\r\n  a/b.mp3  \r\n\r\n#EXTVLCOPT:x\r\nc.flac\n"
    assert m3u.locations(text) == ["a/b.mp3", "c.flac"]


@given(
    st.lists(
        st.text(
            st.characters(blacklist_categories=("Cs",), blacklist_characters="\ufeff"),
            min_size=1,
            max_size=30,
        ),
        max_size=20,
    )
)
def test_locations_roundtrip(lines: list[str]) -> None:
    """Any line that is not blank and not a directive is a location, in order, stripped."""
    text = "\n".join(lines)
    expected = [x.strip().replace("\x00", "") for x in text.splitlines()]
    expected = [x for x in expected if x and not x.startswith("#")]
    assert m3u.locations(text) == expected
    for encoding in ("utf-8", "latin-1"):
        try:
            data = text.encode(encoding)
        except UnicodeEncodeError:
            continue
        if encoding == "latin-1" and data != text.encode("utf-8"):
            try:  # Latin-1 bytes that happen to be valid UTF-8 read as UTF-8, by design
                data.decode("utf-8")
                continue
            except UnicodeDecodeError:
                pass
        assert m3u.locations(m3u.decode(data)) == expected
