"""orbsonic.auth.ratelimit on a real PostgreSQL: counting per user name and per address,
slowing, refusing, forgetting (the HTTP side is in test_hostile.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import psycopg
import pytest

from orbsonic.auth import ratelimit
from orbsonic.auth.ratelimit import LoginBlocked, Policy, Standing

T = TypeVar("T")
POLICY = Policy(max_failures=3, lockout_s=600, delay_step_ms=500)


def run(url: str, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            result = await fn(conn)
            await conn.commit()
            return result
    return asyncio.run(go())


def fail(url: str, user: str | None, address: str | None, policy: Policy = POLICY) -> float:
    return run(url, lambda c: ratelimit.record_failure(c, policy, user, address))


def check(url: str, user: str | None, address: str | None, policy: Policy = POLICY) -> Standing:
    return run(url, lambda c: ratelimit.check(c, policy, user, address))


def test_failures_slow_down_then_refuse(fresh_db: str) -> None:
    delays = [fail(fresh_db, "bob", f"10.0.0.{i}") for i in range(3)]
    assert delays == [0.0, 0.5, 1.0]  # (n - 1) × step
    with pytest.raises(LoginBlocked) as exc:
        check(fresh_db, "bob", "10.0.0.9")  # the user name is refused from any address
    assert exc.value.reason == "wrong_credentials"
    assert check(fresh_db, "carol", "10.0.0.9") == Standing(0, 0)  # others are not
    many = [fail(fresh_db, "dave", "10.0.1.1", Policy(100, 600, 500)) for _ in range(20)]
    assert max(many) == ratelimit.MAX_DELAY_S


def test_an_address_is_refused_for_every_name(fresh_db: str) -> None:
    for name in ("a", "b", "c"):
        fail(fresh_db, name, "192.0.2.1")
    with pytest.raises(LoginBlocked):
        check(fresh_db, "someone-else", "192.0.2.1")
    with pytest.raises(LoginBlocked):
        check(fresh_db, None, "192.0.2.1")  # API key logins: the address only
    assert check(fresh_db, "someone-else", "192.0.2.2") == Standing(0, 0)


def test_success_forgets_the_name_not_the_address(fresh_db: str) -> None:
    fail(fresh_db, "erin", "198.51.100.1")
    fail(fresh_db, "erin", "198.51.100.1")
    standing = check(fresh_db, "erin", "198.51.100.7")
    assert standing == Standing(2, 0)
    run(fresh_db, lambda c: ratelimit.record_success(c, POLICY, "erin", standing))
    assert check(fresh_db, "erin", "198.51.100.1") == Standing(0, 2)


def test_lockout_ends_and_old_failures_are_forgotten(fresh_db: str) -> None:
    for _ in range(3):
        fail(fresh_db, "frank", "203.0.113.5")
    with pytest.raises(LoginBlocked):
        check(fresh_db, "frank", None)
    with psycopg.connect(fresh_db, autocommit=True) as conn:  # the lockout has passed
        conn.execute("UPDATE login_failures SET last_at = now() - interval '11 minutes'")
    assert check(fresh_db, "frank", "203.0.113.5") == Standing(0, 0)
    assert fail(fresh_db, "frank", "203.0.113.5") == 0.0  # counting starts again at 1
    with psycopg.connect(fresh_db) as conn:
        rows = conn.execute("SELECT scope, failures FROM login_failures ORDER BY scope").fetchall()
    assert rows == [("address", 1), ("user", 1)]


def test_expired_rows_are_deleted(fresh_db: str) -> None:
    fail(fresh_db, "old", "203.0.113.9")
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("UPDATE login_failures SET last_at = now() - interval '1 day'")
    fail(fresh_db, "new", "203.0.113.10")
    with psycopg.connect(fresh_db) as conn:
        subjects = {r[0] for r in conn.execute("SELECT subject FROM login_failures")}
    assert subjects == {"new", "203.0.113.10"}


def test_off_means_no_queries(fresh_db: str) -> None:
    off = Policy(max_failures=0)

    async def go(conn: psycopg.AsyncConnection[Any]) -> None:
        await conn.execute("DROP TABLE login_failures")  # any query would now fail
        assert await ratelimit.check(conn, off, "x", "1.2.3.4") == Standing()
        assert await ratelimit.record_failure(conn, off, "x", "1.2.3.4") == 0.0
        await ratelimit.record_success(conn, off, "x", Standing(5, 5))
        await conn.rollback()

    run(fresh_db, go)


def test_huge_names_are_counted_not_stored_whole(fresh_db: str) -> None:
    """A 1 MB `u` must not become a 1 MB key (a btree entry over 2.7 KB is an error)."""
    huge = "é" * 1_000_000
    for _ in range(3):
        fail(fresh_db, huge, "192.0.2.50")
    with pytest.raises(LoginBlocked):
        check(fresh_db, huge, None)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT max(length(subject)) FROM login_failures").fetchone() == (200,)
