"""Counting semaphores with leases, shared by the workers that must agree on a limit.

A `Semaphore` hands out at most `limit` `Lease`s under one name; `acquire(wait_s)` queues
for up to `wait_s` seconds (None when no slot freed up: callers answer "busy", they do not
fail at once). Three stores, chosen as docs/architecture.md says for shared state:

* `MemorySemaphore`: an asyncio semaphore — only for a server running as one process;
* `PgSemaphore`: rows in the UNLOGGED table `kv_leases` (schema/0020), counted under a
  transaction-scoped advisory lock, so every worker and replica of one database agrees;
* `ValkeySemaphore`: a sorted set (member = holder, score = expiry in ms), checked and
  added in one Lua script, when a Valkey is configured.

Leases expire `ttl_s` after their last renewal; each process renews the ones it holds
every `ttl_s / 3`, so a worker that dies (SIGKILL, OOM) frees its slots within `ttl_s`.
A waiter is woken at once by a release in its own process and polls every `POLL_S`
for releases elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
import uuid
from typing import Any, Protocol

from psycopg_pool import AsyncConnectionPool

log = logging.getLogger("orbsonic.kv")
POLL_S = 0.1


class Lease:
    """One slot held. `release()` gives it back (idempotent)."""

    def __init__(self, owner: _Shared | MemorySemaphore, holder: str) -> None:
        self._owner, self.holder = owner, holder
        self._released = False

    async def release(self) -> None:
        if not self._released:
            self._released = True
            await self._owner._release(self.holder)


class Semaphore(Protocol):
    """At most `limit` leases at once under one name, across the processes sharing the store."""

    limit: int

    async def acquire(self, wait_s: float) -> Lease | None:
        """A lease, waiting up to `wait_s` seconds for one; None when none freed up."""
        ...

    async def in_use(self) -> int:
        """Leases held now (all processes; expired ones not counted)."""
        ...

    async def close(self) -> None:
        """Stop renewing (leases still held expire) and release connections."""
        ...


class MemorySemaphore:
    """The one-process semaphore: nothing expires, nothing to renew."""

    def __init__(self, limit: int) -> None:
        self.limit = max(1, limit)
        self._sem: asyncio.Semaphore | None = None  # made in the running loop
        self._held = 0

    async def acquire(self, wait_s: float) -> Lease | None:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.limit)
        try:
            await asyncio.wait_for(self._sem.acquire(), max(wait_s, 0.001))
        except TimeoutError:
            return None
        self._held += 1
        return Lease(self, "")

    async def _release(self, holder: str) -> None:
        self._held -= 1
        assert self._sem is not None
        self._sem.release()

    async def in_use(self) -> int:
        return self._held

    async def close(self) -> None:
        return None


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class _Shared:
    """What the PostgreSQL and Valkey semaphores share: the wait loop, local wake-ups and
    the renewal task. Subclasses implement `_try(holder)`, `_drop(holder)`, `_renew(holders)`
    and `in_use()`."""

    def __init__(self, name: str, limit: int, ttl_s: float) -> None:
        self.name, self.limit, self.ttl_s = name, max(1, limit), max(1.0, ttl_s)
        self._held: set[str] = set()
        self._freed: asyncio.Event | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def _try(self, holder: str) -> bool:
        raise NotImplementedError

    async def _drop(self, holder: str) -> None:
        raise NotImplementedError

    async def _renew(self, holders: list[str]) -> None:
        raise NotImplementedError

    async def acquire(self, wait_s: float) -> Lease | None:
        holder = _holder()
        deadline = time.monotonic() + max(0.0, wait_s)
        if self._freed is None:
            self._freed = asyncio.Event()
        while True:
            self._freed.clear()
            if await self._try(holder):
                self._held.add(holder)
                if self._renewer is None or self._renewer.done():
                    self._renewer = asyncio.create_task(self._renew_loop())
                return Lease(self, holder)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._freed.wait(), min(POLL_S, left))

    async def _release(self, holder: str) -> None:
        self._held.discard(holder)
        try:
            await asyncio.shield(self._drop(holder))
        except Exception as exc:  # noqa: BLE001  (the store is down: the lease expires by itself)
            log.warning("semaphore %s: release failed (%s); the lease expires in %.0f s", self.name, exc, self.ttl_s)
        if self._freed is not None:
            self._freed.set()

    async def _renew_loop(self) -> None:
        while self._held:
            await asyncio.sleep(self.ttl_s / 3)
            if self._held:
                try:
                    await self._renew(sorted(self._held))
                except Exception as exc:  # noqa: BLE001  (try again next time; expiry is the fallback)
                    log.warning("semaphore %s: renewal failed (%s)", self.name, exc)

    async def close(self) -> None:
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(BaseException):
                await self._renewer


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(b"kv_leases:" + name.encode()).digest()[:8], "big", signed=True)


class PgSemaphore(_Shared):
    """Leases as rows of `kv_leases`; taking one is a short transaction on `pool`."""

    def __init__(self, pool: AsyncConnectionPool, name: str, limit: int, ttl_s: float = 30.0) -> None:
        super().__init__(name, limit, ttl_s)
        self._pool = pool
        self._pending: dict[str, asyncio.Future[bool]] = {}
        self._taker: asyncio.Task[None] | None = None

    async def _try(self, holder: str) -> bool:
        # Every taker of this process that arrives while a transaction is out joins the next
        # one: 50 players pressing play at once cost a few transactions, not 50 queued
        # behind one advisory lock (and 50 pooled connections).
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending[holder] = future
        if self._taker is None or self._taker.done():
            self._taker = asyncio.create_task(self._take_batches())
        return await future

    async def _take_batches(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, {}
            try:
                granted = await self._try_many(list(batch))
            except Exception as exc:  # noqa: BLE001  (each taker sees the store's failure)
                for future in batch.values():
                    if not future.done():
                        future.set_exception(exc)
                continue
            for holder, future in batch.items():
                if not future.done():
                    future.set_result(holder in granted)
                elif holder in granted:  # its request went away meanwhile: give it back
                    await self._release(holder)

    async def _try_many(self, holders: list[str]) -> set[str]:
        """Leases for as many of `holders` (in order) as there are free slots; the holders
        granted. One round trip (pipeline mode): BEGIN, lock, delete, insert and COMMIT go
        out together, so the advisory lock that serialises the takers of this name across
        processes is held for the server's work only."""
        async with self._pool.connection() as conn, conn.pipeline():
            async with conn.transaction():
                # Serialise the count-then-insert of this name only (a row lock cannot guard a count).
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(self.name),))
                await conn.execute("DELETE FROM kv_leases WHERE name = %s AND expires_at <= now()",
                                   (self.name,))
                cur = await conn.execute(
                    """INSERT INTO kv_leases (name, holder, expires_at)
                       SELECT %(name)s, x.holder, now() + make_interval(secs => %(ttl)s)
                         FROM unnest(%(holders)s::text[]) WITH ORDINALITY AS x(holder, n)
                        WHERE x.n <= %(limit)s - (SELECT count(*) FROM kv_leases WHERE name = %(name)s)
                       RETURNING holder""",
                    {"name": self.name, "holders": holders, "ttl": self.ttl_s, "limit": self.limit})
            return {row[0] for row in await cur.fetchall()}

    async def _drop(self, holder: str) -> None:
        async with self._pool.connection() as conn:
            await conn.execute("DELETE FROM kv_leases WHERE name = %s AND holder = %s", (self.name, holder))

    async def _renew(self, holders: list[str]) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(
                """UPDATE kv_leases SET expires_at = now() + make_interval(secs => %s)
                    WHERE name = %s AND holder = ANY(%s)""", (self.ttl_s, self.name, holders))

    async def in_use(self) -> int:
        async with self._pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(*) FROM kv_leases WHERE name = %s AND expires_at > now()", (self.name,))
            row = await cur.fetchone()
            return int(row[0]) if row else 0


# KEYS[1] the set; ARGV: limit, ttl ms, holder. Server time, so hosts need no common clock.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) * 2)
  return 1
end
return 0
"""
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]) * 2)
return 1
"""
_COUNT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
"""


class ValkeySemaphore(_Shared):
    """Leases as members of the sorted set `<prefix>sem:<name>` scored by expiry (ms)."""

    def __init__(self, url: str, name: str, limit: int, ttl_s: float = 30.0, prefix: str = "orbsonic:") -> None:
        import valkey.asyncio as valkey_async

        super().__init__(name, limit, ttl_s)
        self._client: Any = valkey_async.Valkey.from_url(url, decode_responses=True)
        self._key = f"{prefix}sem:{name}"
        self._acquire = self._client.register_script(_ACQUIRE)
        self._renew_script = self._client.register_script(_RENEW)
        self._count = self._client.register_script(_COUNT)

    async def _try(self, holder: str) -> bool:
        return bool(await self._acquire(keys=[self._key], args=[self.limit, int(self.ttl_s * 1000), holder]))

    async def _drop(self, holder: str) -> None:
        await self._client.zrem(self._key, holder)

    async def _renew(self, holders: list[str]) -> None:
        await self._renew_script(keys=[self._key], args=[int(self.ttl_s * 1000), *holders])

    async def in_use(self) -> int:
        return int(await self._count(keys=[self._key]))

    async def close(self) -> None:
        await super().close()
        await self._client.aclose()


def open_semaphore(name: str, limit: int, *, processes: int, pool: AsyncConnectionPool,
                   valkey_url: str = "", ttl_s: float = 30.0) -> Semaphore:
    """The semaphore `name` in the store the deployment shares: Valkey when `valkey_url`
    is set, else memory for one process, else PostgreSQL (`pool`)."""
    if valkey_url:
        return ValkeySemaphore(valkey_url, name, limit, ttl_s)
    if processes <= 1:
        return MemorySemaphore(limit)
    return PgSemaphore(pool, name, limit, ttl_s)
