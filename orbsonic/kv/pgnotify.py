"""Invalidation messages between the workers and replicas of one PostgreSQL database
(LISTEN/NOTIFY). Senders call `notify(conn, channel, message)` inside their write's
transaction: PostgreSQL delivers it on commit, never on rollback, to every listener."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import defaultdict
from time import monotonic

import psycopg
from psycopg import AsyncConnection, sql

from orbsonic.kv.base import Subscriber

log = logging.getLogger("orbsonic.kv")

# libpq's connect_timeout (s; its minimum is 2): bounds a reconnect to a database that accepts
# but does not answer (a restart on a loaded machine).
CONNECT_TIMEOUT_S = 2
RETRY_S = 0.25  # the least time between two reconnects while the database is away


async def notify(conn: AsyncConnection, channel: str, message: str) -> None:
    """Queue `message` on `channel`, sent when `conn`'s transaction commits (at once in
    autocommit). One statement, no result rows."""
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, message))


class PgChannel:
    """One LISTEN connection per process. `drain()` reads what the socket already holds
    (libpq's PQconsumeInput never blocks) and calls the subscribers; a lost connection is
    reopened in a background thread, and drain answers False until it is back (messages may
    have been missed).

    Why a thread: drain runs on the event loop (every cached read calls it), and reopening
    there blocked the loop for the whole connect — every request of the process waited while
    PostgreSQL restarted (tests/integration/test_db_faults.py saw a request time out after
    20 s); one try at a time, at most every RETRY_S."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._subs: dict[str, list[Subscriber]] = defaultdict(list)
        self._conn: psycopg.Connection | None = None
        self._version = 0  # bumped by subscribe: a connection opened for fewer channels is dropped
        self._opening: threading.Thread | None = None
        self._next_try = 0.0
        self._closed = False

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        self._subs[channel].append(subscriber)
        self._version += 1
        self._close()  # LISTEN to the full set on the next drain

    def _open(self) -> None:
        """Connect and LISTEN to every subscribed channel (blocking). Raises psycopg.Error."""
        version = self._version
        conn = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        try:
            for channel in list(self._subs):
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        except psycopg.Error:
            conn.close()
            raise
        if version != self._version or self._closed:  # a channel added meanwhile (the next drain
            conn.close()                                 # reopens), or closed for good
            return
        self._conn = conn

    def _reopen(self) -> None:
        """Start one background reopen unless one runs or the last try was under RETRY_S ago."""
        if self._closed or (self._opening is not None and self._opening.is_alive()) \
                or monotonic() < self._next_try:
            return
        self._next_try = monotonic() + RETRY_S

        def run() -> None:
            try:
                self._open()
            except psycopg.Error as exc:
                log.warning("LISTEN connection failed (%s)", exc)

        self._opening = threading.Thread(target=run, name="orbsonic-listen", daemon=True)
        self._opening.start()

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def start(self) -> None:
        """Open the LISTEN connection now (blocking connect: call at startup)."""
        self._open()

    def drain(self) -> bool:
        """Deliver received notifications without waiting; False when the connection is
        being reopened (in the background) or failed."""
        conn = self._conn
        if conn is None:
            self._reopen()
            return False
        pgconn = conn.pgconn
        try:
            pgconn.consume_input()
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("connection closed by the server")
        except psycopg.OperationalError as exc:
            log.warning("LISTEN connection lost (%s); dropping cached state", exc)
            self._close()
            self._reopen()
            return False
        while (n := pgconn.notifies()) is not None:
            channel = n.relname.decode()
            for sub in self._subs.get(channel, ()):
                sub(n.extra.decode())
        return True

    def close(self) -> None:
        """Close the LISTEN connection for good (a reopen in flight closes what it opens)."""
        self._closed = True
        self._close()
