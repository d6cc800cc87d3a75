"""The credential cache (orbsonic/auth/cache.py): verified credentials skip the database,
and every change of a user or an API key, made through ANY app instance (or the CLI's
direct connection), takes effect at once in every other instance on the same database —
through PostgreSQL LISTEN/NOTIFY, sent inside the write's transaction.

Two app instances (A and B, each with its own pool, cache and LISTEN connection) stand in
for two workers or two replicas."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.auth import cache as cache_mod
from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from tests.conftest import ADMIN, ALICE, SECRET, add_users, make_app

BASE = {"v": "1.16.1", "c": "pytest", "f": "json"}


def status(http: TestClient, method: str = "ping", **params: Any) -> int | None:
    """None for status ok, else the Subsonic error code."""
    body = http.get(f"/rest/{method}", params={**BASE, **params}).json()["subsonic-response"]
    return None if body["status"] == "ok" else body["error"]["code"]


def settled(http: TestClient, want: int | None, method: str = "ping", **params: Any) -> None:
    """The answer becomes `want` within the delivery time of a NOTIFY and stays so.

    Invalidation is a message: between the commit and the other instance reading it lies
    the listening backend's wake-up — tens of µs on an idle machine, a few ms on an
    overloaded one (this suite shares 2 cores). 2 s is far inside the cache's 30 s TTL,
    so without an invalidation this fails."""
    deadline = time.monotonic() + 2.0
    while (got := status(http, method, **params)) != want:
        assert time.monotonic() < deadline, f"{method} still answers {got}, want {want}"
        time.sleep(0.005)
    for _ in range(3):
        assert status(http, method, **params) == want


def token(password: str, salt: str) -> dict[str, str]:
    return {"t": hashlib.md5((password + salt).encode()).hexdigest(), "s": salt}


def cache_of(http: TestClient) -> Any:
    return http.app.state.orbsonic.auth_cache  # type: ignore[attr-defined]


@pytest.fixture
def two(fresh_db: str, tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, str]]:
    add_users(fresh_db, tmp_path)
    with TestClient(make_app(fresh_db, tmp_path / "a")) as a, \
            TestClient(make_app(fresh_db, tmp_path / "b")) as b:
        # Each stands for a process of its own: a write through A must reach B by NOTIFY,
        # not by the same-process shortcut (orbsonic.auth.cache._LOCAL).
        cache_mod._LOCAL.discard(cache_of(b))
        yield a, b, fresh_db


def queries_of(url: str) -> int:
    """Statements run so far against the users table (pg_stat_user_tables)."""
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                           " WHERE relname = 'users'").fetchone()
        return int(row[0]) if row else 0


def test_hit_skips_the_database_but_still_checks_the_password(two: Any) -> None:
    a, _, _ = two
    assert status(a, u=ALICE[0], p=ALICE[1]) is None
    assert len(cache_of(a)) == 1
    key = next(iter(cache_of(a)._entries))
    user, _ = cache_of(a)._entries[key]
    assert user.username == ALICE[0]
    assert status(a, u=ALICE[0], p=ALICE[1]) is None
    # Another password for the same name is a miss, checked against the database: wrong.
    assert status(a, u=ALICE[0], p="not-" + ALICE[1]) == 40
    assert status(a, u=ALICE[0], p=ALICE[1]) is None
    assert status(a, u=ALICE[0], **token(ALICE[1], "salt1")) is None
    assert status(a, u=ALICE[0], **token("wrong", "salt1")) == 40


def test_password_change_through_a_fails_the_old_password_through_b(two: Any) -> None:
    a, b, _ = two
    for http in (a, b):  # both instances have the old credentials cached
        assert status(http, u=ALICE[0], p=ALICE[1]) is None
        assert status(http, u=ALICE[0], **token(ALICE[1], "abc")) is None
    assert len(cache_of(b)) == 2
    assert status(a, "changePassword", u=ALICE[0], p=ALICE[1], username=ALICE[0], password="new-pass") is None
    settled(b, 40, u=ALICE[0], p=ALICE[1])
    settled(b, 40, u=ALICE[0], **token(ALICE[1], "abc"))
    settled(a, 40, u=ALICE[0], p=ALICE[1])
    assert status(b, u=ALICE[0], p="new-pass") is None


def test_role_change_and_deletion_reach_the_other_instance(two: Any) -> None:
    a, b, _ = two
    admin = {"u": ADMIN[0], "p": ADMIN[1]}
    assert status(a, "updateUser", **admin, username=ALICE[0], adminRole="true") is None
    assert status(b, "getUsers", u=ALICE[0], p=ALICE[1]) is None  # cached as an admin
    assert status(a, "updateUser", **admin, username=ALICE[0], adminRole="false") is None
    settled(b, 50, "getUsers", u=ALICE[0], p=ALICE[1])
    assert status(b, u=ALICE[0], p=ALICE[1]) is None
    assert status(a, "deleteUser", **admin, username=ALICE[0]) is None
    settled(b, 40, u=ALICE[0], p=ALICE[1])


def test_api_key_revoked_over_a_direct_connection(two: Any) -> None:
    a, b, url = two
    key = SecretKey.from_text(SECRET)

    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            k = await users.create_api_key(conn, ALICE[0], "phone")
            await conn.commit()
            return k

    api_key = asyncio.run(make())
    assert status(a, apiKey=api_key) is None
    assert status(b, apiKey=api_key) is None
    before = queries_of(url)
    for _ in range(5):
        assert status(b, apiKey=api_key) is None
    # (pg_stat counters are flushed at most once a second: allow for a late flush of
    # the requests above, which would show as ≤ 2 — the 5 hits added none of their own.)
    assert queries_of(url) - before <= 2

    # As the CLI does: another process, through orbsonic.auth.users, no app instance.
    revoke = f"""
import asyncio, psycopg
from orbsonic.auth import users
async def go():
    async with await psycopg.AsyncConnection.connect({url!r}) as conn:
        (kid, *_), = await users.list_api_keys(conn, {ALICE[0]!r})
        await users.revoke_api_key(conn, {ALICE[0]!r}, kid)
        await conn.commit()
asyncio.run(go())
"""
    subprocess.run([sys.executable, "-c", revoke], check=True, timeout=60)
    assert key is not None
    settled(b, 44, apiKey=api_key)
    settled(a, 44, apiKey=api_key)


def test_same_process_write_drops_at_once(two: Any) -> None:
    a, _, _ = two
    assert status(a, u=ALICE[0], p=ALICE[1]) is None
    assert status(a, "changePassword", u=ALICE[0], p=ALICE[1], username=ALICE[0], password="n") is None
    assert status(a, u=ALICE[0], p=ALICE[1]) == 40  # no wait at all: dropped before the commit


def test_rolled_back_change_keeps_the_cache_and_a_lost_listener_empties_it(two: Any) -> None:
    _, a, url = two  # B: not in this process's set of caches
    assert status(a, u=ALICE[0], p=ALICE[1]) is None
    assert len(cache_of(a)) == 1

    async def rolled_back() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await users.set_password(conn, SecretKey.from_text(SECRET), ALICE[0], "never")
            await conn.rollback()

    asyncio.run(rolled_back())
    assert status(a, u=ALICE[0], p=ALICE[1]) is None
    assert len(cache_of(a)) == 1  # NOTIFY is transactional: nothing was dropped
    with psycopg.connect(url, autocommit=True) as conn:  # kill the LISTEN connections
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()")
    gen = cache_of(a)._generation
    deadline = time.monotonic() + 2.0  # until this instance notices its lost listener
    while cache_of(a)._generation == gen:  # it then drops every entry
        assert status(a, u=ALICE[0], p=ALICE[1]) is None
        assert time.monotonic() < deadline
        time.sleep(0.005)
    # the listener is reopened in the background (orbsonic/kv/pgnotify.py): then cached again
    deadline = time.monotonic() + 5.0
    while True:
        assert status(a, u=ALICE[0], p=ALICE[1]) is None
        if len(cache_of(a)) == 1:
            break
        assert time.monotonic() < deadline, "the LISTEN connection was not reopened"
        time.sleep(0.01)


def test_sql_by_hand_invalidates_too(two: Any) -> None:
    """schema/0017's triggers: a change no Orbsonic code made (an admin's UPDATE, a restore)
    still reaches every instance."""
    _, b, url = two
    assert status(b, "getUsers", u=ALICE[0], p=ALICE[1]) == 50
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE users SET is_admin = true WHERE username = %s", (ALICE[0],))
    settled(b, None, "getUsers", u=ALICE[0], p=ALICE[1])
    assert status(b, u=ALICE[0], p=ALICE[1]) is None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM users WHERE username = %s", (ALICE[0],))
    settled(b, 40, u=ALICE[0], p=ALICE[1])


def test_cache_off_with_ttl_0(fresh_db: str, tmp_path: Path) -> None:
    add_users(fresh_db, tmp_path)
    with TestClient(make_app(fresh_db, tmp_path, auth_cache_ttl=0)) as http:
        assert cache_of(http) is None
        assert status(http, u=ALICE[0], p=ALICE[1]) is None
        assert status(http, u=ALICE[0], p="wrong") == 40


def test_ping_and_license_with_cached_credentials_take_no_pooled_connection(
        two: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """ping and getLicense need only verified credentials (issue 13): once cached, they are
    answered without a pool checkout, with the same bytes as the full path in every format;
    credentials not in the cache (or wrong) still go to the database and get 40."""
    a, _, _ = two
    formats = [{"f": "json"}, {"f": "xml"}, {"f": "jsonp", "callback": "cb"}]
    full = {}
    for method in ("ping", "getLicense"):
        for fmt in formats:
            r = a.get(f"/rest/{method}", params={**BASE, **fmt, "u": ALICE[0], "p": ALICE[1]})
            assert r.status_code == 200
            full[(method, fmt.get("f"))] = (r.content, r.headers["content-type"])
    pool = a.app.state.orbsonic.pool  # type: ignore[attr-defined]
    checkouts: list[object] = []
    real = pool.connection
    monkeypatch.setattr(pool, "connection", lambda *a_, **k: checkouts.append(1) or real(*a_, **k))
    for method in ("ping", "getLicense"):
        for fmt in formats:
            r = a.get(f"/rest/{method}", params={**BASE, **fmt, "u": ALICE[0], "p": ALICE[1]})
            assert (r.content, r.headers["content-type"]) == full[(method, fmt.get("f"))], (method, fmt)
    assert checkouts == []
    assert status(a, u=ALICE[0], p="not-" + ALICE[1]) == 40  # a miss: checked in the database
    assert checkouts
    body = a.get("/rest/getLicense", params={**BASE, "u": ALICE[0], "p": ALICE[1]}).json()
    assert body["subsonic-response"]["license"]["valid"] is True
