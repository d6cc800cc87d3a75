"""The server scans by itself: on start, on a schedule, and when files change (watch).

Each test runs the real app (uvicorn on loopback) with background triggers on, so the
scan runs in the child process the launcher spawns, against a database of its own.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx

from orbsonic.app import create_app
from tests.conftest import ADMIN, LiveServer, add_users, make_settings


def _library(src: Path, dest: Path, albums: int) -> Path:
    """A small library: the first `albums` artist folders of the test library."""
    dest.mkdir()
    for artist in sorted(p for p in src.iterdir() if p.is_dir())[:albums]:
        shutil.copytree(artist, dest / artist.name)
    return dest


def _song_count(url: str) -> int:
    r = httpx.get(f"{url}/rest/getScanStatus", params={"u": ADMIN[0], "p": ADMIN[1], "v": "1.16.1",
                                                         "c": "t", "f": "json"}, timeout=10)
    status = r.json()["subsonic-response"]["scanStatus"]
    return -1 if status["scanning"] else status["count"]


def _wait_for(url: str, predicate, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while True:
        count = _song_count(url)
        if count >= 0 and predicate(count):
            return count
        if time.monotonic() > deadline:
            raise AssertionError(f"scan state never matched; last count {count}")
        time.sleep(0.25)


def _serve(db: str, tmp: Path, folder: Path, **settings):
    add_users(db, tmp)
    app = create_app(make_settings(tmp / "data", (folder,), **settings).replace(scan_on_start=True), db)
    return LiveServer(app)


def test_scan_on_start_and_on_file_change(fresh_db, test_library, tmp_path):
    music = _library(test_library[0], tmp_path / "music", 2)
    with _serve(fresh_db, tmp_path, music, scan_watch=True) as server:
        first = _wait_for(server.url, lambda n: n > 0)
        shutil.copytree(sorted(p for p in test_library[0].iterdir() if p.is_dir())[3],
                        music / "added by watch")
        more = _wait_for(server.url, lambda n: n > first)
        assert more > first


def test_scheduled_scan(fresh_db, test_library, tmp_path):
    music = _library(test_library[0], tmp_path / "music", 1)
    with _serve(fresh_db, tmp_path, music, scan_interval_s=1) as server:
        first = _wait_for(server.url, lambda n: n > 0)
        shutil.copytree(sorted(p for p in test_library[0].iterdir() if p.is_dir())[2], music / "later")
        assert _wait_for(server.url, lambda n: n > first) > first

