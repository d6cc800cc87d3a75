"""Real-time events per user, across workers and replicas (issue 9 "Real-time";
docs/native-api.md "Real-time").

The seam is PostgreSQL LISTEN/NOTIFY on one channel, `orbsonic_events`:

* `publish(conn, user_id, event, data)` sends a NOTIFY inside the writer's transaction, so the
  event leaves only if the change commits. Triggers send the same payloads for playlist and
  queue writes and scan progress (schema/0015_changes.sql), whichever API made them.
* `Listener` is one dedicated connection per process that LISTENs and fans each notification
  out to this process's subscribers (the SSE streams of native_api/endpoints/realtime.py).
  It reconnects after a database outage (events sent meanwhile are lost: clients resync state
  with GET /queue, /sync on reconnect, as EventSource does).
* With VALKEY_URL, orbsonic/eventbus.py relays these NOTIFYs to Valkey pub/sub (one LISTEN per
  cluster) and runs this listener only while Valkey is away.

A payload is `{"u": user_id (0: every user), "e": event name, "d": small data}` — ids and a
few fields, never a whole Queue (PostgreSQL caps a payload below 8000 bytes); a subscriber
hydrates what it needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection

log = logging.getLogger("orbsonic.events")
CHANNEL = "orbsonic_events"
MAX_PAYLOAD = 7900  # bytes; PostgreSQL refuses 8000 and more
BROADCAST = 0
# application_name of the LISTEN connections (pg_stat_activity tells which processes listen)
LISTEN_APP = "orbsonic-events"
QUEUE_SIZE = 256  # events a slow subscriber may lag behind before the oldest are dropped


@dataclass(frozen=True, slots=True)
class Event:
    """A received event: `user_id` (0: every user), `name` (playback, queue, playlist, scan,
    takeover), `data` (a small dict)."""

    user_id: int
    name: str
    data: dict[str, Any]


def encode(user_id: int, event: str, data: dict[str, Any] | None = None) -> str:
    """The NOTIFY payload of an event. Raises ValueError when it would exceed MAX_PAYLOAD bytes."""
    payload = orjson.dumps({"u": user_id, "e": event, "d": data or {}}).decode()
    if len(payload.encode()) > MAX_PAYLOAD:
        raise ValueError(f"event payload of {len(payload)} bytes is too large; send ids")
    return payload


def decode(payload: str) -> Event | None:
    """The event in a NOTIFY payload, or None for a payload that is not one (logged)."""
    try:
        raw = orjson.loads(payload)
        return Event(int(raw["u"]), str(raw["e"]), dict(raw.get("d") or {}))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("ignoring a malformed event payload: %.80r", payload)
        return None


async def publish(conn: AsyncConnection, user_id: int, event: str,
                  data: dict[str, Any] | None = None) -> None:
    """Send `event` to user `user_id`'s streams on every worker and replica when `conn`'s
    transaction commits (at once on an autocommit connection). Raises ValueError (too large)."""
    await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, encode(user_id, event, data)))


class Listener:
    """This process's LISTEN connection and its subscribers. `start()` in the app lifespan,
    `aclose()` at its end; `subscribe(user_id)` gives an async iterator of that user's events."""

    def __init__(self, conninfo: str, *, retry_s: float = 1.0) -> None:
        self.conninfo, self.retry_s = conninfo, retry_s
        self.mode = "postgresql"  # where events come from (orbsonic.eventbus may say "valkey")
        self._subs: dict[int, set[asyncio.Queue[Event]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        """Start listening in the background; waits (up to 10 s) for the first LISTEN."""
        self._task = asyncio.create_task(self._run(), name="orbsonic-events")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), 10)

    async def aclose(self) -> None:
        """Stop listening (the subscriptions stay open: `start()` again resumes feeding them)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self.connected.clear()

    @property
    def listening(self) -> bool:
        """This process holds its own LISTEN connection (or is opening it)."""
        return self._task is not None

    async def _run(self) -> None:
        while True:
            try:
                async with await AsyncConnection.connect(self.conninfo, autocommit=True,
                                                         application_name=LISTEN_APP) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.connected.set()
                    async for note in conn.notifies():
                        event = decode(note.payload)
                        if event is not None:
                            self.fan_out(event)
            except asyncio.CancelledError:
                raise
            except (psycopg.Error, OSError) as exc:
                self.connected.clear()
                log.warning("event listener lost its connection (%s); retrying", exc)
                await asyncio.sleep(self.retry_s)

    def fan_out(self, event: Event) -> None:
        """Hand `event` to this process's subscribers of its user (all of them for a broadcast)."""
        targets = self._subs.get(event.user_id, set()) if event.user_id != BROADCAST else \
            set().union(*self._subs.values()) if self._subs else set()
        for q in targets:
            if q.full():  # a stalled client: drop its oldest event rather than grow without bound
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait(event)

    @contextlib.asynccontextmanager
    async def subscribe(self, user_id: int) -> AsyncIterator[asyncio.Queue[Event]]:
        """A queue receiving user `user_id`'s events (and broadcasts) while the block runs."""
        q: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE)
        self._subs.setdefault(user_id, set()).add(q)
        try:
            yield q
        finally:
            subs = self._subs.get(user_id)
            if subs is not None:
                subs.discard(q)
                if not subs:
                    del self._subs[user_id]

    def subscribers(self) -> int:
        """How many subscriptions are open in this process."""
        return sum(len(s) for s in self._subs.values())


async def started(conninfo: str) -> Listener:
    """A started Listener on `conninfo` (the app lifespan keeps it in app.state.events)."""
    listener = Listener(conninfo)
    await listener.start()
    return listener
