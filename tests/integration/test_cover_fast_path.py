"""getCoverArt's fast path (issue 13): a cached cover is served with no database round trip,
and still only to users who may see it.

Two music folders, A and B, one album each (folder images: a 600 px JPEG in A, a 100 px JPEG
in B), users admin (every folder) and carol (folder A only). "No database" is checked by
taking the pool away from the app (its `connection` raises): what the fast path answers then
came from the cover cache and the credential cache alone. The cache is shared by every user,
so the folder rule is checked too: a cover cached by the admin stays error 70 for carol.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image
from starlette.testclient import TestClient

from orbsonic import covers
from orbsonic.ids import public_id
from orbsonic.kv.pgnotify import PgChannel
from orbsonic.library.cover_access import CoverAccess
from orbsonic.scanner.scanner import scan
from tests.conftest import SECRET, Subsonic, add_users, clone_db, make_app

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")
CAROL = ("carol", "carol-pass-1")


def _flac(path: Path, album: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-f", "lavfi", "-i",
                    "sine=duration=1", "-metadata", f"album={album}", "-metadata", f"artist={album} Artist",
                    "-metadata", "title=One", str(path)], check=True)


def _jpeg(size: int, rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _colour(body: bytes) -> tuple[int, ...]:
    with Image.open(io.BytesIO(body)) as img:
        return img.convert("RGB").getpixel((img.width // 2, img.height // 2))  # type: ignore[return-value]


@dataclass
class Lib:
    root: Path
    url: str
    http: Any
    admin: Subsonic
    carol: Subsonic

    def cover(self, album: str) -> str:
        with psycopg.connect(self.url) as conn:
            [(ident,)] = conn.execute("SELECT id FROM albums WHERE name = %s", (album,)).fetchall()
        cover = self.admin.ok("getAlbum", id=public_id("al", ident))["album"]["coverArt"]
        assert "_" in cover  # a versioned id: the kind the fast path serves
        return cover

    def get(self, api: Subsonic, cover: str, size: int | None = 300, **headers: str) -> Any:
        return api.raw("getCoverArt", fmt=None, id=cover, size=size, headers=headers or None)

    @property
    def state(self) -> Any:
        return self.http.app.state.orbsonic

    def rescan(self) -> None:
        report = scan(self.url, [self.root / "A", self.root / "B"], workers=1)
        assert not report.errors, report


@pytest.fixture(scope="module")
def lib(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    base = tmp_path_factory.mktemp("fastpath")
    root = base / "music"
    _flac(root / "A/Alpha/01.flac", "Alpha")
    (root / "A/Alpha/cover.jpg").write_bytes(_jpeg(600, (200, 30, 30)))
    _flac(root / "B/Beta/01.flac", "Beta")
    (root / "B/Beta/cover.jpg").write_bytes(_jpeg(100, (30, 30, 200)))
    url = clone_db(pg, template_url)
    assert scan(url, [root / "A", root / "B"], workers=1).added == 2
    add_users(url, base)

    async def carol() -> None:
        from orbsonic.auth import users
        from orbsonic.auth.passwords import SecretKey

        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute("SELECT id FROM music_folders WHERE path = %s", (str(root / "A"),))
            [(folder_a,)] = await cur.fetchall()
            await users.create_user(conn, SecretKey.from_text(SECRET), *CAROL, folder_ids=[folder_a])
            await conn.commit()

    asyncio.run(carol())
    with TestClient(make_app(url, base / "data", (root / "A", root / "B"))) as http:
        admin = Subsonic(http)
        yield Lib(root, url, http, admin, admin.as_user(*CAROL))


class NoDatabase:
    """The app's pool taken away: any request that needs a connection fails the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, lib: Lib) -> None:
        self.monkeypatch, self.pool = monkeypatch, lib.state.pool

    def __enter__(self) -> None:
        def refuse(*_a: Any, **_k: Any) -> Any:
            raise AssertionError("this request was expected to need no database connection")
        self.monkeypatch.setattr(self.pool, "connection", refuse)

    def __exit__(self, *exc: object) -> None:
        self.monkeypatch.undo()


def test_a_cached_cover_needs_no_database_and_answers_like_the_full_path(
        lib: Lib, monkeypatch: pytest.MonkeyPatch) -> None:
    cover = lib.cover("Alpha")
    first = lib.get(lib.admin, cover)  # resolves the source, resizes, caches
    assert first.status_code == 200 and first.headers["content-type"] == "image/jpeg"
    with NoDatabase(monkeypatch, lib):
        again = lib.get(lib.admin, cover)
        assert again.status_code == 200 and again.content == first.content
        for name in ("content-type", "content-length", "etag", "last-modified", "cache-control", "vary"):
            assert again.headers[name] == first.headers[name], name
        with Image.open(io.BytesIO(again.content)) as img:
            assert img.size == (300, 300)
        # If-None-Match with the entry's ETag (also weak, also in a list): 304, no body
        for tag in (first.headers["etag"], f'"x", W/{first.headers["etag"]}'):
            r = lib.get(lib.admin, cover, **{"If-None-Match": tag})
            assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == first.headers["etag"]
        assert lib.get(lib.admin, cover, **{"If-None-Match": '"other"'}).status_code == 200


def test_a_first_request_of_a_common_size_finds_the_jobs_file(lib: Lib, monkeypatch: pytest.MonkeyPatch) -> None:
    """The thumbnail job's work (covers.make_thumbnails) makes every common size of every
    cover — the 100 px original too, kept as its own 300 px entry (the same bytes) — so the
    first request of such a size is a cache hit that resizes nothing."""
    cache = lib.state.covers

    async def job() -> int:
        async with await psycopg.AsyncConnection.connect(lib.url) as conn:
            return await covers.make_thumbnails(conn, cache, (64, 300, 600))

    asyncio.run(job())
    small = lib.cover("Beta")
    for size in (64, 300, 600):
        assert cache.lookup(small, size) is not None and cache.lookup(small, size, webp=True) is not None
    kept = cache.lookup(small, 300)
    assert kept is not None and kept.read_bytes() == (lib.root / "B/Beta/cover.jpg").read_bytes()
    before = covers.resize_count()
    with NoDatabase(monkeypatch, lib):
        r = lib.get(lib.admin, small, 300)
        assert r.status_code == 200 and r.content == kept.read_bytes()
        webp = lib.get(lib.admin, small, 300, Accept="image/webp,*/*")
        assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"
    assert covers.resize_count() == before


def test_an_uncommon_size_is_resized_once_then_served_from_the_cache(
        lib: Lib, monkeypatch: pytest.MonkeyPatch) -> None:
    cover = lib.cover("Alpha")
    before = covers.resize_count()
    r = lib.get(lib.admin, cover, 123)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as img:
        assert img.size == (123, 123)
    assert covers.resize_count() == before + 1
    with NoDatabase(monkeypatch, lib):
        assert lib.get(lib.admin, cover, 123).content == r.content
    assert covers.resize_count() == before + 1


def test_a_cover_cached_for_others_stays_hidden_from_a_user_without_its_folder(
        lib: Lib, monkeypatch: pytest.MonkeyPatch) -> None:
    beta, alpha = lib.cover("Beta"), lib.cover("Alpha")
    assert lib.get(lib.admin, beta).status_code == 200  # cached now, by a user who may see it
    for _ in range(3):  # the visibility answer is kept: still refused
        r = lib.get(lib.carol, beta)
        assert b'code="70"' in r.content and not r.headers["content-type"].startswith("image/")
    # carol's own folder: the first request asks the database, later ones need none
    assert lib.get(lib.carol, alpha).status_code == 200
    with NoDatabase(monkeypatch, lib):
        r = lib.get(lib.carol, alpha)
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    # a playlist's mosaic depends on its reader: never the fast path (here: not a playlist of carol's)
    assert b'code="70"' in lib.get(lib.carol, "pl-zz").content


def test_the_kept_visibility_is_dropped_when_the_library_changes(lib: Lib) -> None:
    channel = PgChannel(lib.url)
    access = CoverAccess(channel)
    channel.start()
    try:
        gen = access.generation()
        access.remember([2, 1], "al", 7, True, gen)
        assert access.known([1, 2], "al", 7) is True and access.known([1], "al", 7) is None
        with psycopg.connect(lib.url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('orbsonic_answers', 'u:1')")  # a user's stars: kept
        assert _eventually(lambda: access.known([1, 2], "al", 7) is True)
        with psycopg.connect(lib.url, autocommit=True) as conn:
            conn.execute("UPDATE albums SET name = name WHERE false")  # any library write notifies '*'
        assert _eventually(lambda: access.known([1, 2], "al", 7) is None)
        stale = access.generation()
        with psycopg.connect(lib.url, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('orbsonic_answers', '*')")
        assert _eventually(lambda: access.generation() != stale)
        access.remember([1], "al", 8, True, stale)  # answered across a change: not kept
        assert access.known([1], "al", 8) is None
    finally:
        access.close()
        channel.close()


def _eventually(check: Any, tries: int = 100) -> bool:
    import time

    for _ in range(tries):
        if check():
            return True
        time.sleep(0.02)
    return False


def test_a_changed_cover_is_served_with_its_new_bytes(lib: Lib, monkeypatch: pytest.MonkeyPatch) -> None:
    old = lib.cover("Beta")
    assert _colour(lib.get(lib.admin, old).content)[2] > 150  # blue, from the cache
    path = lib.root / "B/Beta/cover.jpg"
    path.write_bytes(_jpeg(100, (30, 200, 30)))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # a later second: a new version
    lib.rescan()
    new = lib.cover("Beta")
    assert new != old
    fresh = lib.get(lib.admin, new)
    assert fresh.status_code == 200 and _colour(fresh.content)[1] > 150  # green
    with NoDatabase(monkeypatch, lib):
        assert lib.get(lib.admin, new).content == fresh.content
