"""The cover pipeline (issue 8, "Cover art"): real images made with Pillow next to real FLAC files,
scanned into a real PostgreSQL; the scan queues `covers.thumbnails`, a real job worker makes the
pre-sized thumbnails, and getCoverArt then serves those sizes without resizing on the request.
Resized covers are always converted (GIF/BMP → JPEG, PNG when transparent, WebP when Accept
allows), carry an ETag and immutable caching and answer If-None-Match with 304; only images that
are covers by name are folder covers; 100 concurrent requests of a cold cover against a real
uvicorn server all succeed and the cover is resized once."""

from __future__ import annotations

import asyncio
import io
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from mutagen.flac import FLAC, Picture
from PIL import Image
from starlette.testclient import TestClient

from orbsonic import covers
from orbsonic.jobs import worker
from orbsonic.scanner.scanner import scan
from tests.conftest import ADMIN, LiveServer, Subsonic, add_users, make_app

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")
SIZES = (64, 300, 600, 1200)


def q(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def flac(path: Path, album: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    "sine=duration=1", "-metadata", f"album={album}", "-metadata", "artist=Pics",
                    "-metadata", f"title={album}", str(path)], check=True)


def image(path: Path, fmt: str, size: tuple[int, int] = (1500, 1000), mode: str = "RGB") -> None:
    img = Image.new(mode, size, (200, 40, 40, 128) if mode == "RGBA" else (200, 40, 40))
    for x in range(0, size[0], 50):  # some detail, so formats differ in size
        img.paste((20, 20, 200) if mode == "RGB" else (20, 20, 200, 255), (x, 0, x + 10, size[1]))
    img.save(path, fmt)


def picture(size: tuple[int, int], color: tuple[int, int, int], stripes: bool = True) -> bytes:
    img = Image.new("RGB", size, color)
    if stripes:  # the same pattern as `image`, scaled
        for x in range(0, 1500, 50):
            img.paste((20, 20, 200), (x * size[0] // 1500, 0, (x + 10) * size[0] // 1500, size[1]))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


def embed(path: Path, data: bytes) -> None:
    tags = FLAC(path)
    pic = Picture()
    pic.type, pic.mime, pic.data = 3, "image/jpeg", data
    tags.add_picture(pic)
    tags.save()


def pixels(body: bytes) -> tuple[str, tuple[int, int]]:
    with Image.open(io.BytesIO(body)) as img:
        return img.format or "", img.size


class Lib:
    def __init__(self, url: str, root: Path, data: Path, api: Subsonic) -> None:
        self.url, self.root, self.data, self.api = url, root, data, api

    def cover_of(self, album: str) -> str | None:
        [(ident,)] = q(self.url, "SELECT id FROM albums WHERE name = %s", album)
        from orbsonic.ids import public_id

        return self.api.ok("getAlbum", id=public_id("al", ident))["album"].get("coverArt")

    def get(self, cover: str, size: int | None = None,
            headers: dict[str, str] | None = None) -> httpx.Response:
        r = self.api.raw("getCoverArt", fmt=None, id=cover, size=size, headers=headers)
        assert r.status_code in (200, 304), r.text[:300]
        return r


@pytest.fixture
def lib(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lib]:
    root = tmp_path / "music"
    flac(root / "Gif/01.flac", "Gif")
    image(root / "Gif/cover.gif", "GIF")
    flac(root / "Bmp/01.flac", "Bmp")
    image(root / "Bmp/Folder.bmp", "BMP")
    flac(root / "Alpha/01.flac", "Alpha")
    image(root / "Alpha/front.png", "PNG", mode="RGBA")
    flac(root / "Random/01.flac", "Random")
    image(root / "Random/image.jpg", "JPEG")
    image(root / "Random/booklet.jpg", "JPEG")
    flac(root / "Abbey Road/01.flac", "Abbey Road")
    image(root / "Abbey Road/Abbey Road.jpg", "JPEG")
    image(root / "Abbey Road/scan.jpg", "JPEG")
    flac(root / "Small/01.flac", "Small")
    image(root / "Small/cover.jpg", "JPEG", (200, 200))
    # embedded pictures: one the same art as the folder cover (re-encoded smaller), one different
    for name, art in (("01 same.flac", picture((600, 400), (200, 40, 40))),
                      ("02 own.flac", picture((500, 500), (30, 160, 30), stripes=False))):
        flac(root / "Embedded" / name, "Embedded")
        embed(root / "Embedded" / name, art)
    image(root / "Embedded/cover.jpg", "JPEG")
    data = tmp_path / "data"
    # the job worker reads the settings from the environment: the same cache as the app's
    monkeypatch.setenv("ORBSONIC_DATA_DIR", str(data))
    monkeypatch.delenv("ORBSONIC_CONFIG", raising=False)
    report = scan(fresh_db, [root], workers=1)
    assert report.added == 8 and not report.errors, report
    add_users(fresh_db, data)
    with TestClient(make_app(fresh_db, data, (root,))) as http:
        yield Lib(fresh_db, root, data, Subsonic(http))


def run_jobs(url: str) -> None:
    """Run a job worker until no job waits (see tests/integration/test_loudness.py run_jobs)."""
    for _ in range(10):
        asyncio.run(worker.run(url, wait=False, install_signal_handlers=False))
        if not q(url, "SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"):
            return
    raise AssertionError("jobs still waiting after 10 worker rounds")


def test_only_covers_by_name_are_folder_covers(lib: Lib) -> None:
    assert lib.cover_of("Random") is None  # image.jpg and booklet.jpg are not covers
    assert q(lib.url, "SELECT cover_path FROM albums WHERE name = 'Abbey Road'") == [
        ("Abbey Road/Abbey Road.jpg",)]
    assert q(lib.url, "SELECT cover_path FROM albums WHERE name = 'Bmp'") == [("Bmp/Folder.bmp",)]
    for album in ("Gif", "Bmp", "Alpha", "Abbey Road", "Small"):
        assert lib.cover_of(album)


def test_the_scan_queues_thumbnails_and_common_sizes_never_resize_on_request(lib: Lib) -> None:
    assert q(lib.url, "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'covers.thumbnails' "
                      "AND status = 'todo'")
    run_jobs(lib.url)
    for album in ("Gif", "Bmp", "Abbey Road"):
        for size in SIZES:
            assert list((lib.data / "cache" / "covers" / str(size)).glob(f"{lib.cover_of(album)}.*"))
    before = covers.resize_count()
    for album in ("Gif", "Bmp", "Alpha", "Abbey Road"):
        cover = lib.cover_of(album)
        assert cover
        for size in SIZES:
            r = lib.get(cover, size)
            _, dims = pixels(r.content)
            assert max(dims) == min(size, 1500)
            for accept in ("image/webp,*/*",):
                w = lib.get(cover, size, {"Accept": accept})
                assert w.headers["content-type"] == "image/webp" and pixels(w.content)[0] == "WEBP"
    assert covers.resize_count() == before  # every one came from the job's thumbnails


def test_resized_covers_are_converted(lib: Lib) -> None:
    cases = {"Gif": ("image/jpeg", "JPEG"), "Bmp": ("image/jpeg", "JPEG"), "Alpha": ("image/png", "PNG"),
             "Abbey Road": ("image/jpeg", "JPEG")}
    for album, (ctype, fmt) in cases.items():
        cover = lib.cover_of(album)
        assert cover
        r = lib.get(cover, 300)
        assert r.headers["content-type"] == ctype
        assert pixels(r.content) == (fmt, (300, 200))
        assert r.headers["vary"] == "Accept"
    # no size: the original as it is
    r = lib.get(lib.cover_of("Gif") or "")
    assert r.headers["content-type"] == "image/gif" and pixels(r.content)[0] == "GIF"
    # a GIF smaller than the size asked is still converted; a small JPEG is sent as it is
    small = lib.get(lib.cover_of("Small") or "", 300)
    assert pixels(small.content) == ("JPEG", (200, 200))
    assert small.content == (lib.root / "Small/cover.jpg").read_bytes()
    assert pixels(lib.get(lib.cover_of("Gif") or "", 2000).content)[0] == "JPEG"
    # WebP only when Accept allows it
    cover = lib.cover_of("Bmp") or ""
    assert lib.get(cover, 300, {"Accept": "image/webp;q=0, image/*"}).headers["content-type"] == "image/jpeg"
    browser = {"Accept": "image/avif,image/webp,*/*;q=0.8"}
    assert lib.get(cover, 300, browser).headers["content-type"] == "image/webp"


def test_etag_immutable_and_304(lib: Lib) -> None:
    cover = lib.cover_of("Gif") or ""
    for size in (None, 300, 123):
        r = lib.get(cover, size)
        etag = r.headers["etag"]
        assert r.status_code == 200 and etag.startswith('"')
        assert "immutable" in r.headers["cache-control"] and "max-age=31536000" in r.headers["cache-control"]
        again = lib.get(cover, size, {"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert lib.get(cover, size, {"If-None-Match": f'"other", W/{etag}'}).status_code == 304
        assert lib.get(cover, size, {"If-None-Match": '"other"'}).status_code == 200


def test_other_sizes_are_resized_once_and_cached(lib: Lib) -> None:
    cover = lib.cover_of("Abbey Road") or ""
    before = covers.resize_count()
    first = lib.get(cover, 123)
    assert pixels(first.content) == ("JPEG", (123, 82))
    for _ in range(3):
        assert lib.get(cover, 123).content == first.content
    assert covers.resize_count() == before + 1


def test_100_concurrent_requests_of_a_cold_cover(lib: Lib, tmp_path: Path) -> None:
    cover = lib.cover_of("Bmp") or ""
    with LiveServer(make_app(lib.url, lib.data, (lib.root,))) as server:
        async def hammer() -> list[httpx.Response]:
            params = {"u": ADMIN[0], "p": ADMIN[1], "v": "1.16.1", "c": "pytest", "id": cover, "size": "450"}
            limits = httpx.Limits(max_connections=100)
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
                return await asyncio.gather(*(client.get("/rest/getCoverArt", params=params)
                                              for _ in range(100)))

        before = covers.resize_count()
        responses = asyncio.run(hammer())
    statuses = sorted({r.status_code for r in responses})
    assert statuses == [200], statuses
    assert {r.headers["content-type"] for r in responses} == {"image/jpeg"}
    assert len({r.content for r in responses}) == 1
    assert pixels(responses[0].content) == ("JPEG", (450, 300))
    assert covers.resize_count() == before + 1  # one producer, 99 waited for its file
    assert len(list((lib.data / "cache" / "covers" / "450").glob(f"{cover}.*"))) == 1


def test_a_track_with_its_own_picture_keeps_its_own_cover(lib: Lib) -> None:
    album_cover = lib.cover_of("Embedded")
    assert album_cover and album_cover.startswith("al-")
    run_jobs(lib.url)  # covers.thumbnails compares the embedded pictures with the album's cover
    album = lib.api.ok("getAlbum", id=album_cover.split("_")[0])["album"]  # al-<id>_<version>
    songs = {s["path"].rsplit("/", 1)[-1]: s for s in album["song"]}
    assert songs["01 same.flac"]["coverArt"] == album_cover
    own = songs["02 own.flac"]["coverArt"]
    assert own.startswith("tr-") and own != album_cover
    with Image.open(io.BytesIO(lib.get(own, 64).content)) as img:
        assert img.size == (64, 64)
        r, g, _ = img.convert("RGB").getpixel((32, 32))
        assert g > 120 and r < 80  # the track's green picture, not the album's red cover
    assert q(lib.url, "SELECT count(*) FROM tracks WHERE own_cover") == [(1,)]
