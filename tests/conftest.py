"""Shared fixtures: a real PostgreSQL, the generated test library, the app, a live server.

* `pg`: a throwaway embedded PostgreSQL cluster for the whole session.
* `template_url`: a migrated, empty database; `fresh_db` clones it per test (fast,
  CREATE DATABASE … TEMPLATE).
* `test_library`: bench.libgen.build_test_library, written once (FLAC 16/44.1, 24/96,
  24/192, MP3 ID3v2.3/2.4, Ogg, Opus, M4A AAC/ALAC, WAV; covers, compilation, unicode,
  multi-disc, missing tags, one corrupt file).
* `library_db`: a database with that library scanned and two users (admin, alice).
* `api` / `dsub`: Subsonic clients over the in-process app. Every XML, JSON and JSONP
  response they see is validated against the XSD / OpenAPI schemas (conformance/); the
  DSub profile against the original 1.16.1 XSD.
* `live_server`: the app served by uvicorn on a loopback port, for real client libraries.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, settings

# Tests assert behaviour, not timings: Hypothesis's own timing checks (the per-example
# deadline and "input generation is slow") fail at random on a loaded 2-core CI machine —
# an NSP parser property failed with one 4 s draw while the machine was busy.
settings.register_profile("orbsonic", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("orbsonic")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance import validate_response  # noqa: E402
from orbsonic.config import Settings  # noqa: E402

ADMIN = ("admin", "admin-pass")
ALICE = ("alice", "alice-pass")
SECRET = "0" * 64
REALWORLD_DEFAULT = ROOT.parent / "shared" / "testdata" / "realworld"
_db_counter = itertools.count()


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from orbsonic.db.embedded import ephemeral_postgres

    server = ephemeral_postgres(tmp_path_factory.mktemp("pg"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _db_url(base: str, name: str) -> str:
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def template_url(pg: Any) -> str:
    from orbsonic.db.migrate import migrate

    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE orbsonic_template")
    url = _db_url(pg.url, "orbsonic_template")
    migrate(url)
    return url


def clone_db(pg: Any, template_url: str) -> str:
    """A new database copied from the migrated template; returns its URL."""
    name = f"t_{os.getpid()}_{next(_db_counter)}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE orbsonic_template")
    return _db_url(pg.url, name)


@pytest.fixture
def fresh_db(pg: Any, template_url: str) -> str:
    """An empty, migrated database of this test's own."""
    return clone_db(pg, template_url)


@pytest.fixture(scope="session")
def test_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """(root, manifest) of the generated test library. Read-only: copy it to modify it."""
    from bench.libgen import build_test_library

    root = tmp_path_factory.mktemp("library") / "music"
    manifest = build_test_library(root)
    return root, manifest


def heard_sql(url: str, query: str, params: Any = None) -> None:
    """Run `query` (a change to users or to the library, as an admin with psql would make
    it) and wait until every cache of this process listening on that database has read the
    NOTIFY it sends (credentials: schema/0017; kept answers: schema/0022, 0033).

    The app learns of a change made behind its back by that message, not at once: between
    the commit and the listening backend's wake-up lies a window of µs idle, a few ms on
    a loaded 2-core CI machine (orbsonic/auth/cache.py). A test of folder access or roles
    that asserted on the very next request failed at random there. After the change, a
    sentinel NOTIFY on the credential channel ('0': no user has that id, nothing is
    dropped) is sent in a later transaction; the answer and credential caches share one
    LISTEN connection, which delivers in commit order, so a credential cache that has
    counted the sentinel has also delivered the change to every subscriber. The wait goes
    through the real invalidation path; it fails after 5 s (no NOTIFY reached the app)."""
    from psycopg.conninfo import conninfo_to_dict

    from orbsonic.auth import cache

    def dbname(conninfo: str) -> Any:
        return conninfo_to_dict(conninfo).get("dbname")

    # (NOTIFY is per database: the caches of other tests' apps never hear this one)
    caches = [c for c in list(cache._LOCAL) if c._listening and c._channel is not None
              and dbname(c._channel._conninfo) == dbname(url)]
    before = [c.generation() for c in caches]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(query, params)
        conn.execute("SELECT pg_notify(%s, '0')", (cache.CHANNEL,))
    deadline = time.monotonic() + 5.0
    while any(c._listening and c.generation() == g for c, g in zip(caches, before)):
        assert time.monotonic() < deadline, "the app's caches never heard of the change"
        time.sleep(0.002)


def users_sql(url: str, query: str, params: Any = None) -> None:
    """`heard_sql` for a change to users (roles, folder access, passwords)."""
    heard_sql(url, query, params)


def make_settings(data_dir: Path, folders: tuple[Path, ...] = (), **kw: Any) -> Settings:
    # No login rate limit unless a test asks for one: the suite's deliberate wrong passwords
    # all come from one address and share one database (tests/integration/test_hostile.py).
    kw.setdefault("login_max_failures", 0)
    return Settings(music_folders=folders, data_dir=data_dir, secret_key=SECRET, scan_on_start=False, **kw)


def add_users(url: str, data_dir: Path) -> None:
    import asyncio

    from orbsonic.auth import users
    from orbsonic.auth.passwords import SecretKey

    key = SecretKey.from_text(SECRET)

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await users.verify_secret_key(conn, key)
            await users.create_user(conn, key, *ADMIN, is_admin=True, email="admin@example.org")
            await users.create_user(conn, key, *ALICE, email="alice@example.org")
            await conn.commit()

    asyncio.run(go())


@pytest.fixture(scope="session")
def library_db(pg: Any, template_url: str, test_library: tuple[Path, Any],
               tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test library scanned into its own database, with users admin and alice."""
    from orbsonic.scanner.scanner import scan

    url = clone_db(pg, template_url)
    report = scan(url, [test_library[0]], workers=2)
    assert report.added > 0 and not report.errors, report
    add_users(url, tmp_path_factory.mktemp("data"))
    return url


class Subsonic:
    """A small Subsonic client for tests. Every response that is not binary is validated
    (XSD for XML, OpenAPI for JSON, with the legacy XSD for legacy client names)."""

    def __init__(self, http: Any, user: str = ADMIN[0], password: str = ADMIN[1], *,
                 client: str = "pytest", version: str = "1.16.1") -> None:
        self.http, self.user, self.password = http, user, password
        self.client, self.version = client, version
        self.legacy = client.lower().startswith("dsub")

    def auth(self) -> dict[str, str]:
        return {"u": self.user, "p": self.password, "v": self.version, "c": self.client}

    def raw(self, method: str, *, fmt: str | None = "json", http_method: str = "GET", auth: bool = True,
            headers: dict[str, str] | None = None, suffix: str = "", **params: Any) -> httpx.Response:
        """Call /rest/<method><suffix>; validate the body unless it is binary. Params with a
        list value are repeated; None values are dropped."""
        q: list[tuple[str, str]] = list(self.auth().items()) if auth else []
        if fmt is not None:
            q.append(("f", fmt))
        for k, v in params.items():
            for item in v if isinstance(v, (list, tuple)) else [v]:
                if item is not None:
                    q.append((k, str(item).lower() if isinstance(item, bool) else str(item)))
        url = f"/rest/{method}{suffix}"
        if http_method == "POST":
            form = {"content-type": "application/x-www-form-urlencoded", **(headers or {})}
            r = self.http.post(url, content=urlencode(q), headers=form)
        else:
            r = self.http.request(http_method, url, params=q, headers=headers)
        ctype = r.headers.get("content-type", "")
        if http_method != "HEAD" and ctype.split(";")[0].strip() in (
                "text/xml", "application/xml", "application/json", "application/javascript",
                "text/javascript"):
            validate_response(method, r.content, ctype, legacy=self.legacy)
        return r

    def ok(self, method: str, **params: Any) -> dict[str, Any]:
        """Call in XML and in JSON (both validated); assert status ok; return the JSON body."""
        xml = self.raw(method, fmt="xml", **params)
        assert xml.status_code == 200 and b'status="ok"' in xml.content, xml.text[:500]
        r = self.raw(method, **params)
        body = r.json()["subsonic-response"]
        assert body["status"] == "ok", body
        return body

    def fail(self, method: str, code: int, **params: Any) -> dict[str, Any]:
        """Assert an error envelope with `code` in XML and JSON; return the JSON error."""
        xml = self.raw(method, fmt="xml", **params)
        assert f'code="{code}"'.encode() in xml.content, xml.text[:500]
        body = self.raw(method, **params).json()["subsonic-response"]
        assert body["status"] == "failed" and body["error"]["code"] == code, body
        return body["error"]

    def as_user(self, user: str, password: str) -> "Subsonic":
        return Subsonic(self.http, user, password, client=self.client, version=self.version)


def make_app(url: str, data_dir: Path, folders: tuple[Path, ...] = (), **kw: Any) -> Any:
    from orbsonic.app import create_app

    return create_app(make_settings(data_dir, folders, **kw), url, background=False)


@pytest.fixture(scope="session")
def app_http(library_db: str, test_library: tuple[Path, Any],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Starlette TestClient over the app on library_db (lifespan run once)."""
    from starlette.testclient import TestClient

    app = make_app(library_db, tmp_path_factory.mktemp("appdata"), (test_library[0],))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def api(app_http: Any) -> Subsonic:
    return Subsonic(app_http)


@pytest.fixture
def dsub(app_http: Any) -> Subsonic:
    """DSub's way of calling: XML only, protocol 1.2.0, c=DSub (client-compat §4.1)."""
    return Subsonic(app_http, client="DSub", version="1.2.0")


def wait_ready(url: str, alive: Any, output: Any, timeout_s: float = 90) -> None:
    """Poll `url`/readyz until it answers 200. `alive()` False (the server process died) or
    the timeout fails the test with `output()` (the server's log)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert alive(), output()
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server did not get ready:\n" + output()
        time.sleep(0.2)


class LiveServer:
    """uvicorn serving an app in a background thread on 127.0.0.1:<random port>."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "LiveServer":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        return self.server.servers[0].sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="session")
def live_server(library_db: str, test_library: tuple[Path, Any],
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    app = make_app(library_db, tmp_path_factory.mktemp("livedata"), (test_library[0],))
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="session")
def realworld_dir() -> Path:
    """The shared real-world tag corpus (../shared/testdata/realworld), or skip."""
    path = Path(os.environ.get("ORBSONIC_REALWORLD_DIR") or REALWORLD_DEFAULT)
    if not path.is_dir():
        pytest.skip(f"realworld corpus not found at {path}: set ORBSONIC_REALWORLD_DIR")
    return path
