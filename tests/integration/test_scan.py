"""The scanner end to end: a real PostgreSQL, real files, the API on top.

Every test scans its own copy of the generated test library (bench.libgen) into a fresh
database, changes files on disk and rescans: cold scan results against the manifest,
incremental rescans (unchanged, retagged, deleted, moved, added files), the safety rules
(a missing, empty or partly unreadable music folder removes nothing), the advisory lock,
the API during a scan, and startScan through the API spawning the scanner process.
"""

from __future__ import annotations

import itertools
import logging
import os
import shutil
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import mutagen
import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.ids import parse_id, public_id
from orbsonic.scanner import scanner as scanner_mod
from orbsonic.scanner import walk as walk_mod
from orbsonic.scanner.scanner import SCAN_LOCK_KEY, ScanReport, dir_id, scan
from tests.conftest import LiveServer, Subsonic, add_users, clone_db, make_app

WORKERS = 2


# ---------------------------------------------------------------------------- helpers

@dataclass
class Lib:
    """A scanned private copy of the test library."""

    url: str
    root: Path
    manifest: Any
    report: ScanReport
    data_dir: Path

    def rescan(self, **kw: Any) -> ScanReport:
        return scan(self.url, [self.root], workers=kw.pop("workers", WORKERS), **kw)


def copy_library(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest


def q(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def track_id(url: str, path: str) -> int | None:
    rows = q(url, "SELECT id FROM tracks WHERE path = %s", path)
    return rows[0][0] if rows else None


def album_of(url: str, name: str) -> tuple[int, int] | None:
    """(album id, song count) of the album called `name`."""
    rows = q(url, "SELECT id, song_count FROM albums WHERE name = %s", name)
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


def retitle(path: Path, title: str) -> None:
    if path.suffix == ".wav":  # no easy mode for RIFF: an ID3 chunk
        from mutagen.id3 import TIT2
        from mutagen.wave import WAVE
        w = WAVE(path)
        if w.tags is None:
            w.add_tags()
        w.tags.setall("TIT2", [TIT2(encoding=3, text=[title])])
        w.save()
        return
    f = mutagen.File(path, easy=True)
    assert f is not None, path
    f["title"] = [title]
    f.save()


@pytest.fixture
def lib(fresh_db: str, test_library: tuple[Path, Any], tmp_path: Path) -> Lib:
    root = copy_library(test_library[0], tmp_path / "music")
    report = scan(fresh_db, [root], workers=WORKERS)
    data = tmp_path / "data"
    data.mkdir()
    add_users(fresh_db, data)
    return Lib(fresh_db, root, test_library[1], report, data)


@pytest.fixture
def client(lib: Lib) -> Iterator[Subsonic]:
    """The validating Subsonic client (admin) over the app on lib's database."""
    app = make_app(lib.url, lib.data_dir, (lib.root,))
    with TestClient(app) as http:
        yield Subsonic(http)


# ---------------------------------------------------------------------------- cold scan

def test_cold_scan_counts_and_skipped_file(fresh_db, test_library, tmp_path, caplog):
    root = copy_library(test_library[0], tmp_path / "music")
    manifest = test_library[1]
    with caplog.at_level(logging.INFO, logger="orbsonic.scanner"):
        report = scan(fresh_db, [root], workers=WORKERS)
    assert not report.errors and not report.already_running
    assert report.files_seen == manifest.n_audio_files            # notes.txt is not even seen
    assert report.read == manifest.n_audio_files
    assert report.added == manifest.n_readable_audio
    assert report.updated == report.removed == 0
    corrupt = [e.path for e in manifest.files if e.is_audio and not e.readable]
    assert corrupt == ["Unsorted/broken.flac"]
    assert report.skipped == 1
    [(path, reason)] = report.skipped_files
    assert path == str(root / corrupt[0]) and reason.strip()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and corrupt[0] in r.getMessage()]
    assert warnings and reason in warnings[0].getMessage()
    indexed = {p for (p,) in q(fresh_db, "SELECT path FROM tracks")}
    assert indexed == {e.path for e in manifest.files if e.readable}
    assert q(fresh_db, "SELECT path, reason FROM unreadable_files") == [(corrupt[0], reason)]
    # The status row tells the API what happened.
    [(phase, seen, done, added, skipped, error)] = q(
        fresh_db, "SELECT phase, files_seen, files_done, added, skipped, error FROM scan_status")
    assert (phase, seen, done, added, skipped, error) == (
        "idle", manifest.n_audio_files, manifest.n_audio_files, manifest.n_readable_audio, 1, None)


def test_cold_scan_albums_artists_genres(lib):
    m = lib.manifest
    url = lib.url
    albums = q(url, "SELECT artist_name, name, song_count, compilation FROM albums")
    # Files without an album tag form one album per folder, named after it, whose album
    # artist is the first file's artist (issue 6 §4: not one "[Unknown Album]" of everything).
    by_dir: dict[str, list[Any]] = {}
    for e in sorted((e for e in m.files if e.readable and not e.album), key=lambda e: e.path):
        by_dir.setdefault(e.path.rpartition("/")[0], []).append(e)
    folder_albums = {d.rpartition("/")[2]: ((es[0].artists or ["[Unknown Artist]"])[0], len(es))
                     for d, es in by_dir.items()}
    assert folder_albums == {"Unsorted": ("Zoë Keating", 2)}
    assert {n: (a, c) for a, n, c, _ in albums if n in folder_albums} == folder_albums
    named = sorted([a, n] for a, n, _, _ in albums if n not in folder_albums)
    assert named == m.albums
    assert not [n for _, n, _, _ in albums if n == "[Unknown Album]"]
    # Song counts add up, per album as in the manifest.
    assert sum(c for _, _, c, _ in albums) == m.n_readable_audio
    for artist, name, count, _ in albums:
        if name not in folder_albums:
            assert count == sum(1 for e in m.files if e.readable and e.album == name), name
    # Multi-disc in one folder and in CD1/CD2 subfolders: one album each.
    for name in ("The Wall", "The Fragile"):
        [(discs,)] = q(url, """SELECT array_agg(DISTINCT t.disc_no ORDER BY t.disc_no) FROM tracks t
                                JOIN albums a ON a.id = t.album_id WHERE a.name = %s""", name)
        assert discs == [1, 2]
        assert album_of(url, name)[1] == 4
    # The compilation: one album under "Various Artists", its track artists kept.
    [(va, comp)] = [(a, c) for a, n, _, c in albums if n == "Orbsonic Sampler"]
    assert va == "Various Artists" and comp is True
    sampler = q(url, """SELECT DISTINCT t.artist_name FROM tracks t JOIN albums a ON a.id = t.album_id
                         WHERE a.name = 'Orbsonic Sampler'""")
    assert {a for (a,) in sampler} == {"Portishead", "Massive Attack", "Röyksopp", "The Chemical Brothers"}
    # Album artists: the tagged ones plus the fallbacks for files without ALBUMARTIST.
    album_artists = {n for (n,) in q(url, "SELECT name FROM artists WHERE is_album_artist")}
    assert set(m.album_artists) <= album_artists
    fallback = {(e.artists or ["[Unknown Artist]"])[0] for e in m.files
                if e.readable and not e.album_artist and e.album} | {a for a, _ in folder_albums.values()}
    assert album_artists == set(m.album_artists) | fallback
    track_artists = {n for (n,) in q(url, """SELECT DISTINCT a.name FROM artists a
                                              JOIN track_artists ta ON ta.artist_id = a.id AND ta.role = 'artist'""")}
    assert track_artists == set(m.artists) | {"[Unknown Artist]"}
    genres = sorted(n for (n,) in q(url, "SELECT name FROM genres"))
    assert genres == m.genres
    for name, songs in q(url, "SELECT name, song_count FROM genres"):
        assert songs == sum(1 for e in m.files if e.readable and name in e.genres), name


def test_cold_scan_directories_mirror_tree(lib):
    m = lib.manifest
    expected = {""}
    for e in m.files:
        if e.is_audio:
            parent = str(Path(e.path).parent.as_posix())
            while parent not in ("", "."):
                expected.add(parent)
                parent = str(Path(parent).parent.as_posix())
    rows = q(lib.url, "SELECT id, parent_id, path, name FROM directories")
    assert {p for _, _, p, _ in rows} == expected
    [(folder_id,)] = q(lib.url, "SELECT id FROM music_folders")
    for ident, parent, path, name in rows:
        assert ident == dir_id(folder_id, path)
        if path:
            assert parent == dir_id(folder_id, path.rpartition("/")[0])
            assert name == path.rpartition("/")[2]
        else:
            assert parent is None and name == lib.root.name
    # Folders without audio are not directories (there are none with only images here).
    assert all(not d.startswith(".") for d in expected)
    # Every track points at its own folder.
    bad = q(lib.url, """SELECT t.path FROM tracks t JOIN directories d ON d.id = t.directory_id
                         WHERE d.path <> regexp_replace(t.path, '/?[^/]*$', '')""")
    assert bad == []


def test_cold_scan_covers(lib):
    """Each album's cover is its folder image (also for CDn subfolders: the parent's), else
    the first embedded picture, else none."""
    m = lib.manifest
    covers = {name: (kind, path) for name, kind, path in q(lib.url, "SELECT name, cover_kind, cover_path FROM albums")}
    by_album: dict[str, list[Any]] = {}
    for e in m.files:
        if e.readable and e.album:
            by_album.setdefault(e.album, []).append(e)
    for album, entries in by_album.items():
        kind, path = covers[album]
        folder = {e.folder_cover for e in entries} - {None}
        if folder:
            assert (kind, path) == (1, min(folder)), album
        elif any(e.has_embedded_cover for e in entries):
            assert kind == 2 and path in {e.path for e in entries if e.has_embedded_cover}, album
        else:
            assert (kind, path) == (0, None), album
    # Folder image beats embedded: Vespertine has both.
    assert covers["Vespertine"] == (1, "Björk/2001 - Vespertine/cover.jpg")


def test_cold_scan_flac_technical_fields(lib):
    rows = q(lib.url, """SELECT path, total_samples, bit_depth, sample_rate, duration_ms, audio_offset,
                                seek_index FROM tracks WHERE suffix = 'flac'""")
    assert len(rows) >= 8
    for path, samples, bits, rate, dur, offset, index in rows:
        e = lib.manifest.entry(path)
        assert (bits, rate) == (e.bit_depth, e.sample_rate), path
        assert samples and samples > 0 and abs(samples / rate * 1000 - dur) < 50, path
        assert offset and offset > 4, path
        assert index and len(index) % 16 == 0, path
        pairs = [struct.unpack(">QQ", index[i:i + 16]) for i in range(0, len(index), 16)]
        assert pairs[0] == (0, offset), path
        assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(pairs)), path
        assert pairs[-1][1] < (lib.root / path).stat().st_size
    [(n,)] = q(lib.url, "SELECT count(*) FROM tracks WHERE suffix <> 'flac' AND seek_index IS NOT NULL")
    assert n == 0


# ---------------------------------------------------------------------------- rescans

def test_no_change_rescan_reads_nothing(lib, monkeypatch):
    calls: list[str] = []
    real = scanner_mod._read_one
    monkeypatch.setattr(scanner_mod, "_read_one", lambda p, options=None: calls.append(p) or real(p, options))
    ids_before = q(lib.url, "SELECT id, path, updated_at FROM tracks ORDER BY id")
    report = lib.rescan(workers=1)
    assert (report.read, report.added, report.updated, report.removed, report.skipped) == (0, 0, 0, 0, 0)
    assert report.unchanged == report.files_seen == lib.manifest.n_audio_files
    assert calls == []                       # not even the known-unreadable broken.flac
    assert q(lib.url, "SELECT id, path, updated_at FROM tracks ORDER BY id") == ids_before
    # broken.flac changes: it is read (and skipped) again, once.
    broken = lib.root / "Unsorted/broken.flac"
    with open(broken, "ab") as fh:
        fh.write(b"\0" * 16)
    report = lib.rescan(workers=1)
    assert calls == [str(broken)]
    assert (report.read, report.skipped, report.added, report.updated) == (1, 1, 0, 0)
    [(size,)] = q(lib.url, "SELECT size FROM unreadable_files WHERE path = 'Unsorted/broken.flac'")
    assert size == broken.stat().st_size
    calls.clear()
    assert lib.rescan(workers=1).read == 0 and calls == []
    # Fixed (a good file in its place): indexed, and the memo is forgotten.
    shutil.copy(lib.root / "Nils Frahm/2015 - Solo/01 Ballet Mecanique.flac", broken)
    retitle(broken, "Repaired")
    report = lib.rescan(workers=1)
    assert (report.read, report.added, report.skipped) == (1, 1, 0)
    assert q(lib.url, "SELECT title FROM tracks WHERE path = 'Unsorted/broken.flac'") == [("Repaired",)]
    assert q(lib.url, "SELECT * FROM unreadable_files") == []
    # Broken again (say, caught half-written by a tag editor): the track keeps its id and
    # last good tags, and the file is not re-read until it changes again.
    tid = track_id(lib.url, "Unsorted/broken.flac")
    broken.write_bytes(b"\0" * 4096)
    report = lib.rescan(workers=1)
    assert (report.read, report.skipped, report.removed) == (1, 1, 0)
    assert q(lib.url, "SELECT path FROM unreadable_files") == [("Unsorted/broken.flac",)]
    assert track_id(lib.url, "Unsorted/broken.flac") == tid
    calls.clear()
    assert lib.rescan(workers=1).read == 0 and calls == []
    # Gone: the track and the memo go with the file.
    broken.unlink()
    report = lib.rescan(workers=1)
    assert report.removed == 1 and q(lib.url, "SELECT * FROM unreadable_files") == []


def test_full_rescan_rereads_everything_and_keeps_ids(lib):
    before = q(lib.url, "SELECT id, path, album_id, artist_id FROM tracks ORDER BY id")
    albums = q(lib.url, "SELECT id, name, cover_kind, cover_path FROM albums ORDER BY id")
    report = lib.rescan(full=True)
    assert report.read == lib.manifest.n_audio_files
    assert report.updated == lib.manifest.n_readable_audio
    assert report.added == report.removed == 0 and report.skipped == 1
    assert q(lib.url, "SELECT id, path, album_id, artist_id FROM tracks ORDER BY id") == before
    assert q(lib.url, "SELECT id, name, cover_kind, cover_path FROM albums ORDER BY id") == albums


def test_retagged_file_keeps_its_id(lib, client):
    path = "Sigur Rós/1999 - Ágætis byrjun/02 Starálfur.ogg"
    tid = track_id(lib.url, path)
    retitle(lib.root / path, "Starálfur (remaster)")
    report = lib.rescan()
    assert (report.read, report.updated, report.added, report.removed) == (1, 1, 0, 0)
    assert track_id(lib.url, path) == tid
    song = client.ok("getSong", id=public_id("tr", tid))["song"]
    assert song["title"] == "Starálfur (remaster)"
    hits = client.ok("search3", query="remaster")["searchResult3"].get("song", [])
    assert [s["id"] for s in hits] == [public_id("tr", tid)]


def test_deleted_file_disappears(lib, client):
    path = "Motörhead/1980 - Ace of Spades/03 Shoot You.mp3"
    tid = track_id(lib.url, path)
    al, _ = album_of(lib.url, "Ace of Spades")
    (lib.root / path).unlink()
    report = lib.rescan()
    assert (report.removed, report.read, report.added) == (1, 0, 0)
    album = client.ok("getAlbum", id=public_id("al", al))["album"]
    assert album["songCount"] == 2 and public_id("tr", tid) not in [s["id"] for s in album["song"]]
    client.fail("getSong", 70, id=public_id("tr", tid))


def test_deleted_album_folder_and_star_survives_restore(lib, client, test_library):
    folder = "Miles Davis/1959 - Kind of Blue"
    al, _ = album_of(lib.url, "Kind of Blue")
    [(artist,)] = q(lib.url, "SELECT id FROM artists WHERE name = 'Miles Davis'")
    client.ok("star", albumId=public_id("al", al), artistId=public_id("ar", artist))
    shutil.rmtree(lib.root / folder)
    report = lib.rescan()
    assert report.removed == 2
    client.fail("getAlbum", 70, id=public_id("al", al))
    names = [a["name"] for i in client.ok("getArtists")["artists"].get("index", []) for a in i["artist"]]
    assert "Miles Davis" not in names and "Björk" in names
    assert q(lib.url, "SELECT count(*) FROM directories WHERE path LIKE 'Miles Davis%%'") == [(0,)]
    # The stars stay in the annotations table...
    assert q(lib.url, "SELECT kind, item_id FROM annotations WHERE starred_at IS NOT NULL ORDER BY kind") == [
        (2, al), (3, artist)]
    assert client.ok("getStarred2")["starred2"].get("album", []) == []
    # ...and come back with the folder (album and artist ids derive from the tags).
    shutil.copytree(test_library[0] / folder, lib.root / folder)
    report = lib.rescan()
    assert report.added == 2
    starred = client.ok("getStarred2")["starred2"]
    assert [a["id"] for a in starred["album"]] == [public_id("al", al)]
    assert [a["id"] for a in starred["artist"]] == [public_id("ar", artist)]
    assert client.ok("getAlbum", id=public_id("al", al))["album"]["starred"]


def test_moved_file_keeps_id_star_and_plays(lib, client):
    src = "Motörhead/1980 - Ace of Spades/02 Love Me Like a Reptile.mp3"
    dst = "Elsewhere/Reptile.mp3"
    tid = track_id(lib.url, src)
    sid = public_id("tr", tid)
    client.ok("star", id=sid)
    for _ in range(2):   # raw: ok() would call twice (XML and JSON)
        assert client.raw("scrobble", id=sid, submission=True).json()["subsonic-response"]["status"] == "ok"
    (lib.root / "Elsewhere").mkdir()
    os.rename(lib.root / src, lib.root / dst)
    report = lib.rescan()
    assert (report.read, report.added, report.removed, report.updated) == (1, 0, 0, 1)
    assert track_id(lib.url, src) is None and track_id(lib.url, dst) == tid
    song = client.ok("getSong", id=sid)["song"]
    assert song["path"] == dst and song["starred"] and song["playCount"] == 2
    [(folder_id,)] = q(lib.url, "SELECT id FROM music_folders")
    assert parse_id(song["parent"])[1] == dir_id(folder_id, "Elsewhere")
    assert [s["id"] for s in client.ok("getStarred2")["starred2"]["song"]] == [sid]


@pytest.mark.parametrize("src", ["Sigur Rós/1999 - Ágætis byrjun/03 Olsen Olsen.ogg",
                                 "Motörhead/1980 - Ace of Spades/03 Shoot You.mp3",
                                 "Daft Punk/2013 - Random Access Memories/03 Touch.m4a",
                                 "Björk/2001 - Vespertine/03 It's Not Up to You.flac",
                                 "Aphex Twin/1992 - Selected Ambient Works/02 Tha.wav"])
def test_moved_and_retagged_file_keeps_id_star_and_rating(lib, client, src):
    """A file moved *and* retagged between two scans is matched by its audio-stream
    checksum (not its tags), so its id, star and rating survive (issue 6 §4)."""
    dst = "Elsewhere/" + src.rpartition("/")[2]
    tid = track_id(lib.url, src)
    assert tid is not None, src
    sid = public_id("tr", tid)
    client.ok("star", id=sid)
    client.ok("setRating", id=sid, rating=4)
    (lib.root / "Elsewhere").mkdir()
    os.rename(lib.root / src, lib.root / dst)
    retitle(lib.root / dst, "Retitled (live)")
    report = lib.rescan()
    assert (report.added, report.removed, report.updated) == (0, 0, 1)
    assert track_id(lib.url, src) is None and track_id(lib.url, dst) == tid
    song = client.ok("getSong", id=sid)["song"]
    assert song["title"] == "Retitled (live)" and song["path"] == dst
    assert song["starred"] and song["userRating"] == 4


def test_move_of_a_track_scanned_before_audio_checksums(lib, client, monkeypatch):
    """Tracks indexed by an older version carry the tag fingerprint as pid until they are
    read again; a move is still matched by it."""
    from orbsonic.scanner import tags as tags_mod

    monkeypatch.setattr(tags_mod, "audio_hash", lambda *a, **k: None)
    lib.rescan(workers=1, full=True)
    monkeypatch.undo()
    src, dst = "Miles Davis/1959 - Kind of Blue/01 So What.m4a", "Elsewhere/So What.m4a"
    [(pid,)] = q(lib.url, "SELECT pid FROM tracks WHERE path = %s", src)
    assert not pid.startswith("a|")
    tid = track_id(lib.url, src)
    (lib.root / "Elsewhere").mkdir()
    os.rename(lib.root / src, lib.root / dst)
    report = lib.rescan(workers=1)
    assert (report.added, report.removed) == (0, 0) and track_id(lib.url, dst) == tid
    [(pid,)] = q(lib.url, "SELECT pid FROM tracks WHERE path = %s", dst)
    assert pid.startswith("a|")


def test_directory_star_follows_a_renamed_directory(lib, client):
    """DSub's folder-mode star (star id=dr-…) moves with the directory: matched by the
    tracks that moved with it, also when the files are retagged in the same scan."""
    [(folder_id,)] = q(lib.url, "SELECT id FROM music_folders")
    old_album, old_artist = "Nils Frahm/2015 - Solo", "Nils Frahm"
    album_dir, artist_dir = dir_id(folder_id, old_album), dir_id(folder_id, old_artist)
    client.ok("star", id=public_id("dr", album_dir))
    client.ok("star", id=public_id("dr", artist_dir))
    other = dir_id(folder_id, "Björk/2001 - Vespertine")
    client.ok("star", id=public_id("dr", other))
    os.rename(lib.root / old_artist, lib.root / "Frahm, Nils")
    os.rename(lib.root / "Frahm, Nils/2015 - Solo", lib.root / "Frahm, Nils/Solo (2015)")
    retitle(lib.root / "Frahm, Nils/Solo (2015)/01 Ballet Mecanique.flac", "Ballet Mécanique")
    report = lib.rescan()
    assert (report.added, report.removed) == (0, 0)
    new_album, new_artist = dir_id(folder_id, "Frahm, Nils/Solo (2015)"), dir_id(folder_id, "Frahm, Nils")
    starred = {i for (i,) in q(lib.url, "SELECT item_id FROM annotations"
                                        " WHERE kind = 4 AND starred_at IS NOT NULL")}
    assert starred == {new_album, new_artist, other}
    for d in (new_album, new_artist, other):
        assert client.ok("getMusicDirectory", id=public_id("dr", d))["directory"].get("starred")


def test_album_star_and_rating_follow_a_renamed_album(lib, client):
    """Every track of an album retagged to a new album name (a new album id), and an untagged
    folder album whose folder is renamed: the album's star and rating follow its tracks."""
    [(kob,)] = q(lib.url, "SELECT id FROM albums WHERE name = 'Kind of Blue'")
    [(loose,)] = q(lib.url, "SELECT id FROM albums WHERE name = 'Unsorted'")
    for al in (kob, loose):
        client.ok("star", albumId=public_id("al", al))
        client.ok("setRating", id=public_id("al", al), rating=5)
    for f in sorted((lib.root / "Miles Davis/1959 - Kind of Blue").glob("*.m4a")):
        g = mutagen.File(f, easy=True)
        g["album"] = ["Kind of Blue (Legacy Edition)"]
        g.save()
    os.rename(lib.root / "Unsorted", lib.root / "Misc")
    report = lib.rescan()
    assert (report.added, report.removed) == (0, 0)
    [(new_kob,)] = q(lib.url, "SELECT id FROM albums WHERE name = 'Kind of Blue (Legacy Edition)'")
    [(new_loose,)] = q(lib.url, "SELECT id FROM albums WHERE name = 'Misc'")
    assert {new_kob, new_loose}.isdisjoint({kob, loose})
    for al in (new_kob, new_loose):
        album = client.ok("getAlbum", id=public_id("al", al))["album"]
        assert album["starred"] and album["userRating"] == 5, album["name"]
    starred = [a["id"] for a in client.ok("getStarred2")["starred2"]["album"]]
    assert sorted(starred) == sorted([public_id("al", new_kob), public_id("al", new_loose)])


def test_new_album_is_newest_and_indexes_change(lib, client, test_library):
    before = client.ok("getIndexes")["indexes"]["lastModified"]
    time.sleep(0.01)
    src = test_library[0] / "Nils Frahm/2015 - Solo"
    dest = lib.root / "Nils Frahm/2024 - Day"
    shutil.copytree(src, dest)
    for n, f in enumerate(sorted(dest.glob("*.flac")), 1):
        g = mutagen.File(f, easy=True)
        g["album"] = ["Day"]
        g["title"] = [f"Day {n}"]
        g.save()
        os.utime(f)
    report = lib.rescan()
    assert (report.added, report.updated, report.removed) == (2, 0, 0)
    newest = client.ok("getAlbumList2", type="newest", size=1)["albumList2"]["album"]
    assert [a["name"] for a in newest] == ["Day"]
    after = client.ok("getIndexes")["indexes"]["lastModified"]
    assert after > before
    # Nothing changed: lastModified stays (clients cache getIndexes by it).
    lib.rescan()
    assert client.ok("getIndexes")["indexes"]["lastModified"] == after


def test_folder_image_changes_update_album_covers(lib):
    """Removing a folder image falls back to the embedded picture (or none); the image of
    the album folder above CD1/CD2 counts for the discs' album."""
    (lib.root / "Björk/2001 - Vespertine/cover.jpg").unlink()
    (lib.root / "Nine Inch Nails/1999 - The Fragile/cover.jpg").unlink()
    report = lib.rescan()
    assert report.read == 0
    covers = {n: (k, p) for n, k, p in q(lib.url, "SELECT name, cover_kind, cover_path FROM albums")}
    assert covers["Vespertine"] == (2, "Björk/2001 - Vespertine/01 Hidden Place.flac")
    assert covers["The Fragile"] == (0, None)
    shutil.copy(lib.root / "Pink Floyd/1979 - The Wall/front.jpg", lib.root / "Nine Inch Nails/1999 - The Fragile/folder.jpg")
    lib.rescan()
    [(kind, path)] = q(lib.url, "SELECT cover_kind, cover_path FROM albums WHERE name = 'The Fragile'")
    assert (kind, path) == (1, "Nine Inch Nails/1999 - The Fragile/folder.jpg")


def test_folder_dropped_from_configuration(fresh_db, test_library, tmp_path):
    """A music folder no longer configured leaves with its tracks, albums and artists."""
    main = copy_library(test_library[0], tmp_path / "main")
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.move(main / "Aphex Twin", extra / "Aphex Twin")
    report = scan(fresh_db, [main, extra], workers=WORKERS)
    assert report.folders == 2 and report.added == test_library[1].n_readable_audio
    [(n,)] = q(fresh_db, "SELECT count(*) FROM artists WHERE name = 'Aphex Twin'")
    assert n == 1
    report = scan(fresh_db, [main], workers=WORKERS)
    assert report.folders == 1 and report.removed == 2
    assert q(fresh_db, "SELECT path FROM music_folders") == [(str(main.resolve()),)]
    assert q(fresh_db, "SELECT count(*) FROM tracks") == [(test_library[1].n_readable_audio - 2,)]
    assert q(fresh_db, "SELECT name FROM albums WHERE name = 'Selected Ambient Works'") == []
    assert q(fresh_db, "SELECT name FROM artists WHERE name = 'Aphex Twin'") == []


# ---------------------------------------------------------------------------- safety

def _snapshot(url: str) -> list[tuple[Any, ...]]:
    return q(url, "SELECT id, path, album_id FROM tracks ORDER BY id")


def test_missing_music_folder_removes_nothing(lib):
    before = _snapshot(lib.url)
    dirs = q(lib.url, "SELECT id FROM directories ORDER BY id")
    resolved = str(lib.root.resolve())
    moved = lib.root.with_name("music-unmounted")
    lib.root.rename(moved)
    report = lib.rescan()
    assert report.removed == 0 and report.files_seen == 0
    assert any(resolved in e and "does not exist" in e for e in report.errors), report.errors
    assert _snapshot(lib.url) == before
    assert q(lib.url, "SELECT id FROM directories ORDER BY id") == dirs
    [(error,)] = q(lib.url, "SELECT error FROM scan_status")
    assert error and "does not exist" in error
    moved.rename(lib.root)
    report = lib.rescan()
    assert (report.read, report.removed, report.errors) == (0, 0, [])


def test_empty_music_folder_removes_nothing(lib, tmp_path):
    """An unmounted disk often leaves its empty mount point behind."""
    before = _snapshot(lib.url)
    lib.root.rename(tmp_path / "elsewhere")
    lib.root.mkdir()
    report = lib.rescan()
    assert report.removed == 0
    assert any("is empty" in e for e in report.errors), report.errors
    assert _snapshot(lib.url) == before


def test_unreadable_subdirectory_removes_nothing_below_it(lib, monkeypatch):
    """Root bypasses chmod 000, so the walk's os.scandir is made to fail for one folder."""
    denied = str(lib.root / "Björk")
    real = os.scandir

    def scandir(path: Any = ".") -> Any:
        if os.fspath(path) == denied:
            raise PermissionError(13, "Permission denied", denied)
        return real(path)

    monkeypatch.setattr(walk_mod.os, "scandir", scandir)
    before = _snapshot(lib.url)
    bjork = q(lib.url, "SELECT id FROM tracks WHERE path LIKE 'Björk/%%' ORDER BY id")
    assert len(bjork) == 3
    # A file deleted outside the unreadable folder is still removed: it is provably gone.
    (lib.root / "Motörhead/1980 - Ace of Spades/03 Shoot You.mp3").unlink()
    report = lib.rescan(workers=1)
    assert any(denied in e for e in report.errors), report.errors
    assert q(lib.url, "SELECT id FROM tracks WHERE path LIKE 'Björk/%%' ORDER BY id") == bjork
    assert report.removed == 1
    assert len(_snapshot(lib.url)) == len(before) - 1
    assert q(lib.url, "SELECT count(*) FROM directories WHERE path LIKE 'Björk%%'") == [(2,)]
    assert album_of(lib.url, "Vespertine")[1] == 3
    monkeypatch.undo()
    report = lib.rescan()
    assert (report.removed, report.read, report.errors) == (0, 0, [])


# ---------------------------------------------------------------------------- concurrency

def test_second_scan_while_locked_returns_already_running(lib):
    with psycopg.connect(lib.url) as other:
        other.execute("SELECT pg_advisory_lock(%s)", (SCAN_LOCK_KEY,))
        report = lib.rescan()
        assert report.already_running and report.read == 0 and report.files_seen == 0
        other.execute("SELECT pg_advisory_unlock(%s)", (SCAN_LOCK_KEY,))
    assert not lib.rescan().already_running


@pytest.fixture(scope="module")
def generated_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from bench.libgen import default_template_dir, generate_library

    root = tmp_path_factory.mktemp("generated") / "music"
    stats = generate_library(root, 2000, seed=7, workers=2, template_dir=default_template_dir())
    assert stats.audio_files == 2000
    return root


@pytest.mark.slow
def test_api_answers_during_scan(pg, template_url, generated_library, tmp_path, monkeypatch, capsys):
    """A 2,000-track cold scan in a thread while a live server answers getAlbumList2,
    search3, ping and getScanStatus: every response is a valid envelope, and the status
    shows the scan running with a growing count, then idle with the track count."""
    url = clone_db(pg, template_url)
    add_users(url, tmp_path)
    monkeypatch.setattr(scanner_mod, "BATCH", 200)   # more progress steps to observe
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["report"] = scan(url, [generated_library], workers=WORKERS)
        except BaseException as exc:  # noqa: BLE001
            result["error"] = exc

    app = make_app(url, tmp_path, (generated_library,))
    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        api = Subsonic(http)
        assert api.ok("getScanStatus")["scanStatus"] == {"scanning": False, "count": 0}
        thread = threading.Thread(target=run)
        thread.start()
        counts: list[int] = []
        calls = 0
        while thread.is_alive():
            status = api.ok("getScanStatus")["scanStatus"]
            if status["scanning"]:
                counts.append(status["count"])
            api.ok("getAlbumList2", type="newest", size=20)
            api.ok("search3", query="a", songCount=5)
            api.ok("ping")
            calls += 4
        thread.join()
        assert "error" not in result, result.get("error")
        report: ScanReport = result["report"]
        assert report.added == 2000 and not report.errors
        assert calls >= 8
        print(f"\n  status counts seen: {counts}")
        assert len(set(counts)) >= 2 and counts == sorted(counts), counts
        assert api.ok("getScanStatus")["scanStatus"] == {"scanning": False, "count": 2000}
        assert len(api.ok("getAlbumList2", type="newest", size=500)["albumList2"]["album"]) == \
            q(url, "SELECT count(*) FROM albums")[0][0]
        rescan = scan(url, [generated_library], workers=WORKERS)
        assert rescan.read == 0 and not rescan.changed
    with capsys.disabled():
        print(f"\n  cold scan of 2,000 generated tracks: {report.seconds:.2f} s "
              f"({report.read / report.seconds:.0f} files/s, {WORKERS} workers, during API load); "
              f"no-change rescan: {rescan.seconds:.3f} s")


def test_start_scan_through_the_api_spawns_the_scanner(fresh_db, test_library, tmp_path):
    root = copy_library(test_library[0], tmp_path / "music")
    add_users(fresh_db, tmp_path)
    app = make_app(fresh_db, tmp_path, (root,))
    with TestClient(app) as http:
        api = Subsonic(http)
        assert api.ok("getScanStatus")["scanStatus"] == {"scanning": False, "count": 0}
        api.as_user("alice", "alice-pass").fail("startScan", 50)
        status = api.ok("startScan")["scanStatus"]
        assert status["scanning"] is True
        deadline = time.monotonic() + 60
        while True:
            status = api.ok("getScanStatus")["scanStatus"]
            if not status["scanning"]:
                break
            assert time.monotonic() < deadline, "scan did not finish"
            time.sleep(0.1)
        assert status["count"] == test_library[1].n_readable_audio
        albums = api.ok("getAlbumList2", type="alphabeticalByName", size=100)["albumList2"]["album"]
        assert "Vespertine" in [a["name"] for a in albums]
        [(path,)] = q(fresh_db, "SELECT path FROM music_folders")
        assert path == str(root.resolve())
        # A new file and a second startScan: the child scans incrementally.
        shutil.copy(root / "Loose Track.m4a", root / "Unsorted/Loose Track copy.m4a")
        retitle(root / "Unsorted/Loose Track copy.m4a", "Loose Track Copy")
        assert api.ok("startScan")["scanStatus"]["scanning"] is True
        deadline = time.monotonic() + 60
        while api.ok("getScanStatus")["scanStatus"]["scanning"]:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert api.ok("getScanStatus")["scanStatus"]["count"] == test_library[1].n_readable_audio + 1
        [(n, done)] = q(fresh_db, "SELECT added, files_done FROM scan_status")
        assert n == 1 and done == test_library[1].n_audio_files + 1
