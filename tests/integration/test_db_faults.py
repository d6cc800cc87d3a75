"""Database faults through the real HTTP server (issue 6 §1): a PostgreSQL restart, a stop and
start, connections killed by an admin — with a pool grown by concurrent clients.

Each test runs its own throwaway cluster (the session `pg` stays untouched), the app under
uvicorn on loopback, and real clients. Before the fix, the first requests after a restart
hung for the pool's 30 s timeout (dead idle connections checked one by one with growing
sleeps) and failed with "internal error: PoolTimeout".
"""

from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from orbsonic.db.embedded import FAST_SETTINGS, EmbeddedPostgres
from orbsonic.db.migrate import migrate
from tests.conftest import LiveServer, Subsonic, add_users, make_app

# A hung request waited 30 s before the fix; a fast failure takes well under a second. The
# bound leaves room for a loaded test machine and still tells the two apart.
FAST_S = 5.0
CLIENTS = 25


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def own_pg(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A migrated cluster of this test's own on a fixed port (so a stop and start keeps its URL)."""
    system_dir = Path(tempfile.mkdtemp(prefix="orbsonic-pgsys-"))
    system_dir.chmod(0o755)  # as root the cluster is relocated here (tmp_path is mode 700)
    pg = EmbeddedPostgres(tmp_path / "pg", port=_free_port(), no_sync=True, server_settings=FAST_SETTINGS,
                          system_dir=system_dir)
    pg.start()
    try:
        migrate(pg.url)
        add_users(pg.url, tmp_path)
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(pg.data_dir, ignore_errors=True)
        shutil.rmtree(system_dir, ignore_errors=True)


@pytest.fixture
def server(own_pg: EmbeddedPostgres, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(make_app(own_pg.url, tmp_path / "data")) as live:
        yield live


def _client(server: LiveServer) -> Subsonic:
    return Subsonic(httpx.Client(base_url=server.url, timeout=FAST_S * 4))


def _server_connections(pg: EmbeddedPostgres) -> int:
    with psycopg.connect(pg.url) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND backend_type = 'client backend' AND pid <> pg_backend_pid()").fetchone()
    return int(row[0]) if row else 0


def _grow_pool(pg: EmbeddedPostgres, server: LiveServer) -> int:
    """Hold `users` locked while CLIENTS concurrent pings wait on it, so the server's pool grows
    to its maximum; return how many connections the server then holds."""
    api = _client(server)
    with psycopg.connect(pg.url) as lock, ThreadPoolExecutor(CLIENTS) as clients:
        lock.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        pings = [clients.submit(api.ok, "ping") for _ in range(CLIENTS)]
        deadline = time.monotonic() + 30
        while (held := _server_connections(pg) - 1) < 15 and time.monotonic() < deadline:
            time.sleep(0.1)  # minus the locking connection itself
        lock.commit()
        for ping in pings:
            ping.result()
    return held


def _timed(fn: Any, *args: Any, **kw: Any) -> tuple[float, Any]:
    t0 = time.monotonic()
    result = fn(*args, **kw)
    return time.monotonic() - t0, result


def _assert_unavailable(api: Subsonic) -> None:
    """One request (XML and JSON, both schema-validated) fails fast with the clean envelope."""
    took, error = _timed(api.fail, "getAlbumList2", 0, type="newest")
    assert error["message"] == "database unavailable", error
    assert took < 2 * FAST_S, f"took {took:.1f} s"


def _assert_readyz(server: LiveServer, status: int, code: str | None = None) -> dict[str, Any]:
    r = httpx.get(f"{server.url}/readyz", timeout=FAST_S * 2)
    assert r.status_code == status, r.text
    body = r.json()
    if code is not None:
        assert r.headers["content-type"] == "application/problem+json"
        assert body["code"] == code and body["status"] == status and body["type"] == "about:blank", body
    return body


def test_restart_with_a_grown_pool_is_served_at_once(own_pg: EmbeddedPostgres, server: LiveServer) -> None:
    """`pg_ctl restart -m fast` kills every pooled connection: the next requests, one at a time
    and then CLIENTS at once, all succeed without waiting out the dead connections."""
    assert _grow_pool(own_pg, server) >= 15
    own_pg.restart()
    api = _client(server)
    for _ in range(5):
        took, body = _timed(api.ok, "getAlbumList2", type="newest")
        assert body["albumList2"] == {} or "album" in body["albumList2"]
        assert took < FAST_S, f"a request after the restart took {took:.1f} s"
    with ThreadPoolExecutor(CLIENTS) as clients:
        timed = list(clients.map(lambda _: _timed(api.ok, "ping"), range(CLIENTS)))
    assert max(t for t, _ in timed) < FAST_S
    _assert_readyz(server, 200)


def test_connections_killed_by_an_admin_are_replaced(own_pg: EmbeddedPostgres, server: LiveServer) -> None:
    """pg_terminate_backend on every server connection (no outage at all): served at once."""
    assert _grow_pool(own_pg, server) >= 15
    with psycopg.connect(own_pg.url, autocommit=True) as conn:
        killed = conn.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE datname = current_database() AND backend_type = 'client backend'"
                              " AND pid <> pg_backend_pid()").fetchone()
    assert killed is not None and killed[0] >= 15
    api = _client(server)
    for _ in range(3):
        took, _body = _timed(api.ok, "ping")
        assert took < FAST_S


def test_outage_fails_fast_and_the_first_request_after_it_succeeds(own_pg: EmbeddedPostgres,
                                                                   server: LiveServer) -> None:
    """While PostgreSQL is stopped every request fails fast with code 0 "database unavailable"
    (a valid envelope, no exception name) and /readyz says 503 problem+json; the first request
    after the start succeeds."""
    assert _grow_pool(own_pg, server) >= 15
    own_pg.stop()
    api = _client(server)
    for _ in range(3):
        _assert_unavailable(api)
    with ThreadPoolExecutor(10) as clients:
        list(clients.map(lambda _: _assert_unavailable(api), range(10)))
    body = _assert_readyz(server, 503, "database-unavailable")
    assert "Error" not in body["detail"] and "Timeout" not in body["detail"]
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # the process itself is fine

    own_pg.start()
    took, _body = _timed(api.ok, "getAlbumList2", type="newest")
    assert took < FAST_S
    _assert_readyz(server, 200)
    with ThreadPoolExecutor(CLIENTS) as clients:
        bodies = list(clients.map(lambda _: api.raw("ping").json()["subsonic-response"], range(CLIENTS)))
    assert [b.get("error") for b in bodies if b["status"] != "ok"] == []


def test_requests_in_flight_during_a_restart_fail_cleanly(own_pg: EmbeddedPostgres,
                                                           server: LiveServer) -> None:
    """Clients hammering the server through a restart: every answer is an ok or the clean
    "database unavailable" envelope, never an internal error; afterwards all are ok."""
    api = _client(server)
    stop = threading.Event()
    seen: list[str] = []

    def hammer() -> None:
        while not stop.is_set():
            body = api.raw("getAlbumList2", type="newest").json()["subsonic-response"]
            seen.append("ok" if body["status"] == "ok" else body["error"]["message"])

    with ThreadPoolExecutor(8) as clients:
        running = [clients.submit(hammer) for _ in range(8)]
        time.sleep(0.5)
        own_pg.restart()
        time.sleep(0.5)
        stop.set()
        for r in running:
            r.result()
    assert set(seen) <= {"ok", "database unavailable"}, set(seen)
    api.ok("ping")
