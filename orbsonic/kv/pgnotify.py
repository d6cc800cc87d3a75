"""Invalidation messages between the workers and replicas of one PostgreSQL database
(LISTEN/NOTIFY). Senders call `notify(conn, channel, message)` inside their write's
transaction: PostgreSQL delivers it on commit, never on rollback, to every listener."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict

import psycopg
from psycopg import AsyncConnection, sql

from orbsonic.kv.base import Subscriber

log = logging.getLogger("orbsonic.kv")


async def notify(conn: AsyncConnection, channel: str, message: str) -> None:
    """Queue `message` on `channel`, sent when `conn`'s transaction commits (at once in
    autocommit). One statement, no result rows."""
    await conn.execute("SELECT pg_notify(%s, %s)", (channel, message))


class PgChannel:
    """One LISTEN connection per process. `drain()` reads what the socket already holds
    (libpq's PQconsumeInput never blocks) and calls the subscribers; a lost connection is
    reopened on the next drain, which then answers False (messages may have been missed)."""

    def __init__(self, conninfo: str) -> None:
        self._conninfo = conninfo
        self._subs: dict[str, list[Subscriber]] = defaultdict(list)
        self._conn: psycopg.Connection | None = None

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        self._subs[channel].append(subscriber)
        self._close()  # LISTEN to the full set on the next drain

    def _open(self) -> None:
        conn = psycopg.connect(self._conninfo, autocommit=True)
        for channel in self._subs:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    def start(self) -> None:
        """Open the LISTEN connection now (blocking connect: call at startup)."""
        self._open()

    def drain(self) -> bool:
        """Deliver received notifications without waiting; False when the connection had
        to be (re)opened or failed."""
        if self._conn is None:
            try:
                self._open()
            except psycopg.Error as exc:
                log.warning("LISTEN connection failed (%s)", exc)
            return False
        pgconn = self._conn.pgconn
        try:
            pgconn.consume_input()
            if pgconn.status != psycopg.pq.ConnStatus.OK:
                raise psycopg.OperationalError("connection closed by the server")
        except psycopg.OperationalError as exc:
            log.warning("LISTEN connection lost (%s); dropping cached state", exc)
            self._close()
            return False
        while (n := pgconn.notifies()) is not None:
            channel = n.relname.decode()
            for sub in self._subs.get(channel, ()):
                sub(n.extra.decode())
        return True

    def close(self) -> None:
        self._close()
