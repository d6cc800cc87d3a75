"""Symlinks never lead out of a music folder (issue 6 §2), through the real server.

A track or `cover.jpg` replaced by a link to /etc/passwd after the scan, or a link to a
directory outside the folder, is neither indexed nor served: stream, download and
getCoverArt answer 70. Links that stay inside the folder keep working, and the
`allowed_outside_roots` setting names outside directories that links may point into.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orbsonic.scanner.scanner import scan
from tests.conftest import LiveServer, Subsonic, add_users, clone_db, make_app

ALBUM = "Nils Frahm/2015 - Solo"
BEATLES = "The Beatles/1969 - Abbey Road"


@dataclass
class Lib:
    root: Path
    outside: Path
    api: Subsonic
    songs: dict[str, dict[str, Any]]


def _build(base: Path, src: Path) -> tuple[Path, Path]:
    root, outside = base / "music", base / "outside"
    for album in (ALBUM, BEATLES):
        shutil.copytree(src / album, root / album)
    (outside / "Elsewhere").mkdir(parents=True)
    shutil.copy2(src / "Nils Frahm/2015 - Solo/02 Wall.flac", outside / "Elsewhere/01 Outside.flac")
    (root / "Linked").symlink_to(outside / "Elsewhere", target_is_directory=True)  # leaves the folder
    (root / "passwd.mp3").symlink_to("/etc/passwd")  # a "track" that is a link out
    (root / "Inside").mkdir()
    (root / "Inside/01 Alias.mp3").symlink_to(root / BEATLES / "01 Come Together.mp3")  # stays inside
    return root, outside


def _songs(api: Subsonic) -> dict[str, dict[str, Any]]:
    found = api.ok("search3", query="", songCount=100, albumCount=0, artistCount=0)["searchResult3"]["song"]
    return {s["path"]: s for s in found}


@pytest.fixture(scope="module")
def lib(pg: Any, template_url: str, test_library: Any,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    base = tmp_path_factory.mktemp("symlinks")
    root, outside = _build(base, test_library[0])
    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert not report.errors, report
    add_users(url, base)
    with LiveServer(make_app(url, base / "data", (root,))) as live, \
            httpx.Client(base_url=live.url, timeout=30) as http:
        api = Subsonic(http)
        yield Lib(root, outside, api, _songs(api))


def test_links_leaving_the_folder_are_not_indexed(lib: Lib) -> None:
    assert not any(p.startswith("Linked/") for p in lib.songs), sorted(lib.songs)
    assert "passwd.mp3" not in lib.songs
    assert f"{ALBUM}/01 Ballet Mecanique.flac" in lib.songs


def test_link_inside_the_folder_is_served(lib: Lib) -> None:
    song = lib.songs["Inside/01 Alias.mp3"]
    r = lib.api.raw("stream", id=song["id"], format="raw")
    assert r.status_code == 200 and r.content == (lib.root / BEATLES / "01 Come Together.mp3").read_bytes()


def test_track_replaced_by_a_link_to_etc_passwd(lib: Lib) -> None:
    path = lib.root / ALBUM / "01 Ballet Mecanique.flac"
    song = lib.songs[f"{ALBUM}/01 Ballet Mecanique.flac"]
    assert lib.api.raw("stream", id=song["id"], format="raw").status_code == 200
    saved = path.read_bytes()
    path.unlink()
    path.symlink_to("/etc/passwd")
    try:
        for method in ("stream", "download"):
            lib.api.fail(method, 70, id=song["id"])
            r = lib.api.raw(method, id=song["id"], headers={"Range": "bytes=0-99"})
            assert b"root:" not in r.content
            assert r.json()["subsonic-response"]["error"]["code"] == 70
        # a transcode must not read it either
        r = lib.api.raw("stream", id=song["id"], format="mp3", maxBitRate=128)
        assert r.headers["content-type"].startswith("application/json"), r.headers
        assert r.json()["subsonic-response"]["error"]["code"] == 70
    finally:
        path.unlink()
        path.write_bytes(saved)
    assert lib.api.raw("stream", id=song["id"], format="raw").content == saved


def test_cover_replaced_by_a_link_to_etc_passwd(lib: Lib) -> None:
    song = lib.songs[f"{ALBUM}/02 Wall.flac"]
    cover = song["coverArt"]
    path = lib.root / ALBUM / "cover.jpg"
    saved = path.read_bytes()
    path.unlink()
    path.symlink_to("/etc/passwd")
    try:
        for params in ({}, {"size": 32}):
            r = lib.api.raw("getCoverArt", id=cover, **params)
            assert b"root:" not in r.content
            assert r.json()["subsonic-response"]["error"]["code"] == 70, r.content[:200]
    finally:
        path.unlink()
        path.write_bytes(saved)
    r = lib.api.raw("getCoverArt", id=cover)
    assert r.status_code == 200 and r.content == saved


def test_allowed_outside_roots(pg: Any, template_url: str, test_library: Any, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    """With `allowed_outside_roots` naming ../outside, the directory link is scanned and
    served; the link to /etc/passwd still is not."""
    root, outside = _build(tmp_path, test_library[0])
    monkeypatch.setenv("ORBSONIC_ALLOWED_OUTSIDE_ROOTS", str(outside))  # what the scan child reads
    url = clone_db(pg, template_url)
    assert not scan(url, [root], workers=1).errors
    add_users(url, tmp_path)
    app = make_app(url, tmp_path / "data", (root,), allowed_outside_roots=(outside,))
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=30) as http:
        api = Subsonic(http)
        songs = _songs(api)
        assert "passwd.mp3" not in songs
        song = songs["Linked/01 Outside.flac"]
        data = (outside / "Elsewhere/01 Outside.flac").read_bytes()
        r = api.raw("stream", id=song["id"], format="raw")
        assert r.status_code == 200 and r.content == data
        r = api.raw("stream", id=song["id"], format="raw", headers={"Range": "bytes=-100"})
        assert r.status_code == 206 and r.content == data[-100:]
