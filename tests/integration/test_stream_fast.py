"""`stream`'s fast path (subsonic_api/endpoints/media.py `stream_fast`): a song sent as it is
with no pool checkout, from cached credentials and the track's kept file row (FileRows).

It must answer exactly what the ordinary path answers: the same bytes and Range semantics,
error 70 for a track outside the user's folders (even when another user's request kept
the row), 50 without streamRole, a transcode when one is asked, the row forgotten when
the library changes (NOTIFY), and the file's current size and ETag. Plus 100 concurrent
range streams over a real uvicorn socket, byte for byte.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from subsonic_api.endpoints import media
from tests.conftest import ALICE, Subsonic, add_users, clone_db, make_app, users_sql


@dataclass
class Lib:
    root: Path
    url: str
    app: Any
    admin: Subsonic
    alice: Subsonic
    songs: dict[str, dict[str, Any]]

    def rows(self) -> media.FileRows:
        rows = media._file_rows(self.app.state.orbsonic)
        assert rows is not None, "the app has an answer cache: FileRows exists"
        return rows

    def ident(self, path: str) -> int:
        return int(self.songs[path]["id"].removeprefix("tr-"))


FILES = {"A/01 One.flac": "Nils Frahm/2015 - Solo/01 Ballet Mecanique.flac",
         "A/02 Two.mp3": "Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3",
         "B/01 Three.ogg": "Sigur Rós/1999 - Ágætis byrjun/01 Svefn-g-englar.ogg"}


@pytest.fixture(scope="module")
def lib(pg: Any, template_url: str, test_library: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    """Copies of three tracks in their own database and app (admin and alice)."""
    from starlette.testclient import TestClient

    from orbsonic.scanner.scanner import scan

    base = tmp_path_factory.mktemp("stream_fast")
    root = base / "music"
    for dest, source in FILES.items():
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(test_library[0] / source, root / dest)
    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert report.added == 3 and not report.errors, report
    add_users(url, base)
    app = make_app(url, base / "data", (root,))
    with TestClient(app) as http:
        admin = Subsonic(http)
        found = admin.ok("search3", query="", songCount=50, albumCount=0, artistCount=0)["searchResult3"]["song"]
        yield Lib(root, url, app, admin, Subsonic(http, *ALICE), {s["path"]: s for s in found})


def wait_forgotten(lib: Lib, ident: int) -> None:
    """Until the app has heard the library NOTIFY and dropped the kept row (5 s at most)."""
    deadline = time.monotonic() + 5.0
    while lib.rows().get(ident) is not None:
        assert time.monotonic() < deadline, "the app never heard of the library change"
        time.sleep(0.002)


def test_kept_row_serves_the_same_bytes_and_ranges(lib: Lib) -> None:
    path = "A/01 One.flac"
    song, data = lib.songs[path], (lib.root / path).read_bytes()
    first = lib.admin.raw("stream", id=song["id"])  # the ordinary path keeps the row
    assert first.status_code == 200 and first.content == data
    assert lib.rows().get(lib.ident(path)) is not None
    for _ in range(2):  # the fast path
        again = lib.admin.raw("stream", id=song["id"])
        assert again.status_code == 200 and again.content == data
        assert again.headers["etag"] == first.headers["etag"]
        assert again.headers["content-type"] == first.headers["content-type"]
        assert again.headers["cache-control"] == first.headers["cache-control"]
    r = lib.admin.raw("stream", id=song["id"], headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    r = lib.admin.raw("stream", id=song["id"], headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    r = lib.admin.raw("stream", id=song["id"], headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 304 and r.content == b""
    head = lib.admin.http.head("/rest/stream", params={**lib.admin.auth(), "id": song["id"]})
    assert head.status_code == 200 and head.content == b"" and int(head.headers["content-length"]) == len(data)


def test_size_and_etag_are_the_files_now(lib: Lib) -> None:
    path = "A/02 Two.mp3"
    song, file = lib.songs[path], lib.root / path
    original = file.read_bytes()
    before = lib.admin.raw("stream", id=song["id"])
    assert lib.rows().get(lib.ident(path)) is not None
    try:
        file.write_bytes(original[: len(original) // 2])
        after = lib.admin.raw("stream", id=song["id"])
        assert after.status_code == 200 and after.content == original[: len(original) // 2]
        assert after.headers["etag"] != before.headers["etag"]
    finally:
        file.write_bytes(original)


def test_folder_access_holds_with_a_kept_row(lib: Lib) -> None:
    """Admin's request keeps the row; alice, without that folder, still gets 70."""
    path = "B/01 Three.ogg"
    song = lib.songs[path]
    assert lib.alice.raw("stream", id=song["id"]).content == (lib.root / path).read_bytes()
    assert lib.rows().get(lib.ident(path)) is not None
    users_sql(lib.url, "UPDATE users SET folder_ids = '{}' WHERE username = %s", (ALICE[0],))
    try:
        lib.alice.fail("stream", 70, id=song["id"])
        lib.alice.fail("stream", 70, id=song["id"])
        assert lib.admin.raw("stream", id=song["id"]).status_code == 200
    finally:
        users_sql(lib.url, "UPDATE users SET folder_ids = NULL WHERE username = %s", (ALICE[0],))
    assert lib.alice.raw("stream", id=song["id"]).status_code == 200


def test_stream_role_holds_with_a_kept_row(lib: Lib) -> None:
    path = "A/01 One.flac"
    song = lib.songs[path]
    assert lib.alice.raw("stream", id=song["id"]).status_code == 200
    assert lib.rows().get(lib.ident(path)) is not None
    users_sql(lib.url, "UPDATE users SET can_stream = false WHERE username = %s", (ALICE[0],))
    try:
        lib.alice.fail("stream", 50, id=song["id"])
    finally:
        users_sql(lib.url, "UPDATE users SET can_stream = true WHERE username = %s", (ALICE[0],))
    assert lib.alice.raw("stream", id=song["id"]).status_code == 200


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")
def test_a_transcode_asked_is_not_sent_as_the_original(lib: Lib) -> None:
    path = "A/01 One.flac"
    song, data = lib.songs[path], (lib.root / path).read_bytes()
    assert lib.admin.raw("stream", id=song["id"]).content == data
    assert lib.rows().get(lib.ident(path)) is not None
    r = lib.admin.raw("stream", id=song["id"], format="mp3", maxBitRate=128)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    assert r.content and r.content != data
    lib.admin.fail("stream", 0, id=song["id"], timeOffset="soon")  # a bad parameter: its error


def test_a_library_change_forgets_the_row(lib: Lib) -> None:
    """The track's path changes in the database (a rescan would do it): the NOTIFY drops the
    kept row and the next stream sends the file the row names now."""
    one, moved = "A/01 One.flac", "A/03 Moved.mp3"
    shutil.copy2(lib.root / "A/02 Two.mp3", lib.root / moved)  # on disk only, not scanned
    song = lib.songs[one]
    assert lib.admin.raw("stream", id=song["id"]).content == (lib.root / one).read_bytes()
    ident = lib.ident(one)
    assert lib.rows().get(ident) is not None
    with psycopg.connect(lib.url, autocommit=True) as conn:
        conn.execute("UPDATE tracks SET path = %s WHERE id = %s", (moved, ident))
    try:
        wait_forgotten(lib, ident)
        assert lib.admin.raw("stream", id=song["id"]).content == (lib.root / moved).read_bytes()
        assert lib.admin.raw("stream", id=song["id"]).content == (lib.root / moved).read_bytes()
    finally:
        with psycopg.connect(lib.url, autocommit=True) as conn:
            conn.execute("UPDATE tracks SET path = %s WHERE id = %s", (one, ident))
        wait_forgotten(lib, ident)
        (lib.root / moved).unlink()
    assert lib.admin.raw("stream", id=song["id"]).content == (lib.root / one).read_bytes()


def test_unknown_and_foreign_ids_still_get_their_errors(lib: Lib) -> None:
    lib.admin.fail("stream", 70, id="tr-999999")
    lib.admin.fail("stream", 70, id="al-1")
    lib.admin.fail("stream", 10)


def test_hundred_concurrent_range_streams_on_uvicorn(live_server: Any, test_library: Any) -> None:
    """100 range requests at once over real sockets (twice each: the second round takes
    the fast path), byte for byte with exact lengths."""
    root, manifest = test_library
    with httpx.Client(base_url=live_server.url, timeout=30) as http:
        found = Subsonic(http).ok("search3", query="", songCount=500, albumCount=0,
                                  artistCount=0)["searchResult3"]["song"]
    songs = {s["path"]: s for s in found}
    entries = [e for e in manifest.files if e.readable and not e.is_corrupt and e.path in songs][:12]
    blobs = {e.path: (root / e.path).read_bytes() for e in entries}
    rng = random.Random(2026)
    jobs = []
    for n in range(100):
        e = entries[n % len(entries)]
        size = len(blobs[e.path])
        first = rng.randrange(size)
        last = size - 1 if n % 2 else rng.randrange(first, size)
        jobs.append((e.path, f"bytes={first}-" if n % 2 else f"bytes={first}-{last}", first, last))
    auth = Subsonic(None).auth()

    async def run() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=100)
        async with httpx.AsyncClient(base_url=live_server.url, timeout=60, limits=limits) as http:
            return await asyncio.gather(*(
                http.get("/rest/stream", params={**auth, "id": songs[p]["id"]}, headers={"Range": spec})
                for p, spec, _, _ in jobs))

    for _ in range(2):
        for (p, spec, first, last), r in zip(jobs, asyncio.run(run())):
            size = len(blobs[p])
            assert r.status_code == 206, (p, spec, r.status_code)
            assert r.headers["content-range"] == f"bytes {first}-{last}/{size}"
            assert int(r.headers["content-length"]) == last - first + 1 == len(r.content)
            assert r.content == blobs[p][first:last + 1]
