"""The real-world tag corpus (../shared/testdata/realworld: files from mutagen, tinytag,
mediafile and supysonic test data, many deliberately broken) scanned end to end.

Every file with an audio extension is either indexed or skipped with a logged reason —
no third outcome, and no bad file aborts the scan; every other file is ignored by its
extension. Then every indexed song and album is served through the API, and each XML and
JSON response validates against the Subsonic XSD / OpenSubsonic schemas.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.ids import public_id
from orbsonic.scanner.images import AUDIO_SUFFIXES
from orbsonic.scanner.scanner import ScanReport, scan
from tests.conftest import Subsonic, add_users, make_app


def _files(root: Path) -> list[str]:
    """Relative paths of every file below root, as the scanner names them."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root).as_posix()
        out += [f"{rel}/{n}" if rel != "." else n for n in filenames if not n.startswith(".")]
    return sorted(out)


def _suffix(name: str) -> str:
    stem, dot, suffix = name.rpartition("/")[2].rpartition(".")
    return suffix.lower() if dot and stem else ""


@pytest.fixture(scope="module")
def scanned(pg: Any, template_url: str, realworld_dir: Path,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, ScanReport, list[logging.LogRecord]]:
    from tests.conftest import clone_db

    url = clone_db(pg, template_url)
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep(logging.WARNING)
    logger = logging.getLogger("orbsonic.scanner")
    logger.addHandler(handler)
    try:
        report = scan(url, [realworld_dir], workers=2)
    finally:
        logger.removeHandler(handler)
    return url, realworld_dir.resolve(), report, records


@pytest.mark.slow
def test_every_audio_file_is_indexed_or_skipped_with_a_reason(scanned):
    url, root, report, records = scanned
    assert not report.already_running and report.errors == []
    files = _files(root)
    audio = {f for f in files if _suffix(f) in AUDIO_SUFFIXES}
    other = set(files) - audio
    assert audio and other                                   # the corpus has both
    with psycopg.connect(url) as conn:
        indexed = {p for (p,) in conn.execute("SELECT path FROM tracks")}
        memo = dict(conn.execute("SELECT path, reason FROM unreadable_files").fetchall())
    skipped = {}
    for path, reason in report.skipped_files:
        rel = Path(path).relative_to(root).as_posix()
        assert reason and reason.strip(), path
        skipped[rel] = reason
    assert report.files_seen == len(audio)
    assert indexed.isdisjoint(skipped)
    assert indexed | set(skipped) == audio, sorted(audio - indexed - set(skipped))
    assert report.added == len(indexed) and report.skipped == len(skipped)
    assert memo == skipped
    # Every skip is logged with its reason.
    logged = {r.getMessage() for r in records}
    for rel, reason in skipped.items():
        assert f"skipped {root / rel}: {reason}" in logged, rel
    # Everything else is ignored by its extension, whatever it holds.
    assert indexed.isdisjoint(other) and other.isdisjoint(skipped)
    # A second scan reads nothing: not the indexed files, not the known-unreadable ones.
    again = scan(url, [root], workers=2)
    assert (again.read, again.added, again.updated, again.removed) == (0, 0, 0, 0)


@pytest.mark.slow
def test_every_indexed_song_and_album_validates(scanned, tmp_path):
    url, root, _report, _ = scanned
    add_users(url, tmp_path)
    with psycopg.connect(url) as conn:
        tracks = [r[0] for r in conn.execute("SELECT id FROM tracks ORDER BY id")]
        albums = [r[0] for r in conn.execute("SELECT id FROM albums ORDER BY id")]
    assert tracks and albums
    app = make_app(url, tmp_path, (root,))
    with TestClient(app) as http:
        api = Subsonic(http)
        seen = 0
        for tid in tracks:
            song = api.ok("getSong", id=public_id("tr", tid))["song"]
            assert song["id"] == public_id("tr", tid)
        for al in albums:
            album = api.ok("getAlbum", id=public_id("al", al))["album"]
            assert album["songCount"] == len(album["song"]) > 0
            seen += album["songCount"]
        assert seen == len(tracks)


@pytest.mark.slow
def test_realworld_lyrics_validate(scanned, tmp_path):
    """Every indexed song's getLyricsBySongId validates; the corpus's SYLT (ms stamps) and
    Vorbis unsynced lyrics come out as written."""
    url, root, _report, _ = scanned
    with psycopg.connect(url) as conn:
        has_users = conn.execute("SELECT count(*) FROM users").fetchone()[0] > 0
    if not has_users:  # this test may run alone or after the one that adds them
        add_users(url, tmp_path)
    with psycopg.connect(url) as conn:
        tracks = dict(conn.execute("SELECT path, id FROM tracks").fetchall())
        with_lyrics = {p for (p,) in conn.execute(
            "SELECT DISTINCT t.path FROM track_lyrics l JOIN tracks t ON t.id = l.track_id")}
    assert len(with_lyrics) >= 20
    app = make_app(url, tmp_path, (root,))
    with TestClient(app) as http:
        api = Subsonic(http)
        for path, tid in sorted(tracks.items()):
            sets = api.ok("getLyricsBySongId", id=public_id("tr", tid))["lyricsList"]["structuredLyrics"]
            assert bool(sets) == (path in with_lyrics), path
        [synced] = api.ok("getLyricsBySongId", id=public_id(
            "tr", tracks["tinytag/synced_lyrics_milliseconds.mp3"]))["lyricsList"]["structuredLyrics"]
        assert (synced["lang"], synced["synced"]) == ("eng", True)
        assert [(line.get("start"), line["value"]) for line in synced["line"]] == [
            (0, ""), (1001, "first line"), (1555, "second line"), (5999, "third line")]
        [plain] = api.ok("getLyricsBySongId", id=public_id(
            "tr", tracks["tinytag/unsynced_lyrics.flac"]))["lyricsList"]["structuredLyrics"]
        assert plain["synced"] is False
        assert [line["value"] for line in plain["line"]] == ["some lyrics here", "new line"]
