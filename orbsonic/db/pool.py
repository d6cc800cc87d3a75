"""The PostgreSQL connection pool of the server: fast failure during an outage, at once back after.

psycopg_pool alone serves a web server badly through a database restart (issue 6 §1): every
idle connection is dead at once, and getconn checks them one at a time, sleeping 1, 2, 4 … s
between failed checks, so each request hangs for the whole pool timeout and fails with
PoolTimeout; after a stop, the pool's reconnection attempts back off exponentially, so
requests keep failing long after PostgreSQL is back. `Pool` changes three things:

* getconn checks an idle connection before handing it out (a round trip only when its socket
  has something waiting, see `_quick_check`) and drops a dead one without sleeping; the
  first dead one starts a background `check()` that drops the others (they died together)
  and lets the pool refill.
* while the database is known to be unhealthy (a dead connection, a lost connection, a
  failed reconnection), a request waits at most `down_wait_s` for a pooled connection. When
  the pool has none ready it tries one direct connection itself (a few at a time): refused →
  `DatabaseUnavailable` at once; accepted → PostgreSQL is back, the request is served on that
  connection (closed afterwards) and the pool is told to refill, so the first request after
  the outage succeeds.
* `connection()` raises `DatabaseUnavailable` instead of PoolTimeout, and instead of the
  OperationalError of a connection that broke mid-request.
"""

from __future__ import annotations

import asyncio
import logging
import select
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from time import monotonic
from typing import Any

import psycopg
from psycopg.pq import ConnStatus
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from orbsonic.errors import DatabaseUnavailable

log = logging.getLogger("orbsonic.db")

# Waiting for a connection while the database is healthy means the pool is busy, not down.
BUSY_TIMEOUT_S = 10.0
# While it is unhealthy: the longest a request waits for the pool before its own connection try.
DOWN_WAIT_S = 1.0
# libpq's connect_timeout (its minimum is 2 s): bounds a connection try to an unreachable host.
CONNECT_TIMEOUT_S = 2
# The pool gives up a failed reconnection after this long (one retry) and regrows on demand —
# a waiting request, or the refill after a direct connection worked — instead of retrying
# with backoff (1, 2, 4 … s, for 5 minutes by default) while PostgreSQL is already back.
RECONNECT_TIMEOUT_S = 0.5
# Direct connection attempts at a time while the pool refills.
MAX_DIRECT = 4


def unavailable(exc: BaseException) -> DatabaseUnavailable | None:
    """The DatabaseUnavailable that `exc` means, or None when it is not a lost database.

    Connection-level failures only: PoolTimeout, a connection attempt that failed (no
    SQLSTATE), the server shutting down or refusing connections (SQLSTATE 57P01–57P03, 53300).
    A query cancelled by statement_timeout, a lock timeout or a constraint are other errors.
    """
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, PoolTimeout):
        return DatabaseUnavailable(str(exc))
    if isinstance(exc, psycopg.OperationalError) and (
            exc.sqlstate is None or exc.sqlstate in ("57P01", "57P02", "57P03", "53300")):
        return DatabaseUnavailable(_first_line(exc))
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class Pool(AsyncConnectionPool):
    """An AsyncConnectionPool that fails fast while PostgreSQL is down (see the module doc).

    Same constructor as AsyncConnectionPool, except `check` (the pool always checks) and the
    defaults: `timeout` BUSY_TIMEOUT_S, `reconnect_timeout` RECONNECT_TIMEOUT_S, and
    `connect_timeout` CONNECT_TIMEOUT_S in `kwargs`. `down_wait_s`: see DOWN_WAIT_S.
    Use `connection()`; `healthy` says what the last attempt found.
    """

    def __init__(self, conninfo: str, *, kwargs: dict[str, Any] | None = None,
                 timeout: float = BUSY_TIMEOUT_S, reconnect_timeout: float = RECONNECT_TIMEOUT_S,
                 down_wait_s: float = DOWN_WAIT_S, **options: Any) -> None:
        super().__init__(conninfo, kwargs={"connect_timeout": CONNECT_TIMEOUT_S, **(kwargs or {})},
                         timeout=timeout, reconnect_timeout=reconnect_timeout,
                         reconnect_failed=self._reconnect_gave_up, **options)
        self.down_wait_s = down_wait_s
        self._healthy = True
        self._refill: asyncio.Task[None] | None = None
        self._direct: asyncio.Semaphore | None = None  # created in the running loop

    @property
    def healthy(self) -> bool:
        """False from a lost connection or a failed connection try until a pooled one works again."""
        return self._healthy

    @asynccontextmanager
    async def connection(self, timeout: float | None = None) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A working connection for one request (commit on success, rollback on error).

        `timeout` (s): the longest wait for a free connection while the database is healthy
        (default `self.timeout`). Raises DatabaseUnavailable within about `down_wait_s` while
        the database is down, and when the connection breaks during the block.
        """
        conn, pooled = await self._acquire(timeout)
        try:
            async with conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            if not conn.closed:  # statement timeout, lock timeout...: not an outage
                raise
            self._mark_down(f"connection lost: {_first_line(exc)}")
            raise DatabaseUnavailable(_first_line(exc)) from exc
        finally:
            if pooled:
                await self.putconn(conn)
            else:
                await conn.close()

    async def getconn(self, timeout: float | None = None) -> psycopg.AsyncConnection[Any]:
        """A checked pooled connection; dead idle ones are dropped without waiting.

        Raises PoolTimeout after `timeout` (default `self.timeout`), or after `down_wait_s`
        once the database is found unhealthy. Pair with `putconn()`; prefer `connection()`.
        """
        deadline = monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if not self._healthy:
                deadline = min(deadline, monotonic() + self.down_wait_s)
            conn = await super().getconn(max(deadline - monotonic(), 0.001))
            try:
                await self._quick_check(conn)
            except Exception as exc:  # noqa: BLE001  (whatever the check hit, the connection is unusable)
                await conn.close()  # (if it is not closed already) so that the pool replaces it
                await self.putconn(conn)
                self._mark_down(f"dead pooled connection: {_first_line(exc)}")
                continue
            except BaseException:  # cancelled (the client went away): do not lose the connection
                await self.putconn(conn)
                raise
            self._mark_up()
            return conn

    async def _quick_check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Raise when `conn` is not usable. A quiet socket is trusted without a round trip
        (issue 13: the check was one of every request's round trips): a connection whose server
        went away — a restart, a terminated backend — has its FATAL message or EOF waiting on
        the socket, and an idle pooled connection is sent nothing else (no LISTEN on pool
        connections). Anything waiting, or a bad libpq status, takes the full check."""
        if conn.closed or conn.pgconn.status != ConnStatus.OK:
            raise psycopg.OperationalError("connection is closed")
        try:
            readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
        except (OSError, ValueError):
            readable = [True]
        if readable:
            await self.check_connection(conn)

    async def close(self, timeout: float = 5.0) -> None:
        """Stop the background refill, then close the pool (AsyncConnectionPool.close)."""
        if self._refill is not None:
            self._refill.cancel()
        await super().close(timeout)

    async def _acquire(self, timeout: float | None) -> tuple[psycopg.AsyncConnection[Any], bool]:
        """(connection, pooled?). Raises DatabaseUnavailable."""
        # While down with nothing pooled, the truth at once: refused (still down), or accepted
        # (back: serve on it).
        if (not self._healthy and not self.get_stats().get("pool_available")
                and (conn := await self._try_direct()) is not None):
            return conn, False
        try:
            return await self.getconn(timeout), True
        except PoolTimeout as exc:
            if self._healthy:  # busy, not down
                raise DatabaseUnavailable(f"no free connection: {exc}") from exc
        if (conn := await self._try_direct()) is None:
            raise DatabaseUnavailable(f"no connection within {self.down_wait_s} s")
        return conn, False

    async def _try_direct(self) -> psycopg.AsyncConnection[Any] | None:
        """One connection outside the pool, and the pool told to refill; None when MAX_DIRECT
        attempts already run (a burst of clients right after an outage must not stampede
        PostgreSQL: they wait for the pool instead). Raises DatabaseUnavailable when refused."""
        if self._direct is None:
            self._direct = asyncio.Semaphore(MAX_DIRECT)
        if self._direct.locked():
            return None
        kwargs = dict(self.kwargs) if isinstance(self.kwargs, dict) else {}
        async with self._direct:
            try:
                conn = await self.connection_class.connect(str(self.conninfo), **kwargs)
            except psycopg.Error as exc:
                # No refill: pool connections would fail the same way (and log each failure).
                self._mark_down(f"cannot connect: {_first_line(exc)}", refill=False)
                raise DatabaseUnavailable(_first_line(exc)) from exc
        log.debug("database answers: serving on a direct connection while the pool refills")
        self._kick()
        return conn

    def _mark_down(self, reason: str, *, refill: bool = True) -> None:
        if self._healthy:
            log.warning("database unavailable (%s): requests fail fast until it is back", reason)
        self._healthy = False
        if refill:
            self._kick()

    def _mark_up(self) -> None:
        if not self._healthy:
            log.warning("database available again")
        self._healthy = True

    def _kick(self) -> None:
        """Drop the other dead idle connections and let the pool grow back, in the background."""
        if self._closed or (self._refill is not None and not self._refill.done()):
            return
        self._refill = asyncio.get_running_loop().create_task(self._check_all())

    async def _check_all(self) -> None:
        try:
            await self.check()
        except Exception as exc:  # noqa: BLE001  (a background chore: log, never crash the loop)
            log.debug("pool check failed: %s", exc)

    async def _reconnect_gave_up(self, pool: AsyncConnectionPool) -> None:
        # No refill from here: that would retry forever; the next request tries again.
        self._mark_down("reconnection failed", refill=False)
