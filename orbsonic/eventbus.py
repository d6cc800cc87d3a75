"""Real-time events through Valkey pub/sub when VALKEY_URL is set (issue 12 "Valkey"),
falling back to PostgreSQL LISTEN/NOTIFY while Valkey is away.

PostgreSQL stays the source of every event: `orbsonic.events.publish` and the triggers of
schema/0015 send a NOTIFY inside the writer's transaction, so an event leaves only if its
change commits, whichever process (API, scanner, job worker) wrote. With Valkey:

* one **relay** per database — the process holding the Valkey lock `events:relay` — LISTENs
  on PostgreSQL and republishes every payload on the Valkey channel `events`. Every process
  runs the relay loop; the others wait for the lock, which lapses RELAY_TTL_S after its
  holder stops renewing it (a dead process), so another takes over;
* every process **subscribes** to that channel and fans the events out to its SSE streams
  (orbsonic.events.Listener.subscribe). So a cluster holds one LISTEN connection instead of
  one per process (LISTEN needs a session: it cannot go through PgBouncer's transaction
  pooling, the relay's connection can go around it).

Valkey going away: the subscription breaks at once (the socket closes) and the process opens
its own LISTEN, as without Valkey; requests never touch this path, so none fails. It retries
Valkey every `retry_s`; once subscribed again *and* a relay is ready, it closes its own
LISTEN. Around a switch an event may arrive twice (the LISTEN stays open until the Valkey path
is confirmed) — events are state notices, a repeat is harmless; one sent in the instant
between the loss and the fallback LISTEN is lost, as in a database outage (clients resync
with GET /queue and /sync, as EventSource reconnects do).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid

import psycopg
import valkey.asyncio as valkey_async
from psycopg import AsyncConnection
from valkey.exceptions import ValkeyError

from orbsonic import events

log = logging.getLogger("orbsonic.events")
PREFIX = "orbsonic:"
CHANNEL = PREFIX + "events"
RELAY_KEY = PREFIX + "events:relay"  # value "pending:<id>" while it opens LISTEN, then "ready:<id>"
RELAY_TTL_S = 3.0
# Extend the lock only while it is still ours (a lapsed lock taken by another is left alone).
_RENEW = ("if redis.call('GET', KEYS[1]) == ARGV[1] then "
          "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0")
# Release it only if ours (either state), so a successor's lock is never dropped.
_RELEASE = ("local v = redis.call('GET', KEYS[1]) if v == ARGV[1] or v == ARGV[2] then "
            "return redis.call('DEL', KEYS[1]) end return 0")


def _client(url: str) -> valkey_async.Valkey:
    # Bounded waits: a Valkey that hangs (not only one that is gone) must not hold events back.
    return valkey_async.Valkey.from_url(url, decode_responses=True, socket_connect_timeout=1.0,
                                        socket_timeout=5.0)


class ValkeyListener(events.Listener):
    """An orbsonic.events.Listener fed by Valkey pub/sub (see the module docstring); its
    own PostgreSQL LISTEN (the parent's loop) runs only while Valkey or the relay is away.
    `mode` says which feeds the streams now: "valkey" or "postgresql"."""

    def __init__(self, conninfo: str, valkey_url: str, *, retry_s: float = 1.0,
                 relay_ttl_s: float = RELAY_TTL_S) -> None:
        super().__init__(conninfo, retry_s=retry_s)
        self.valkey_url, self.relay_ttl_s = valkey_url, relay_ttl_s
        self._id = uuid.uuid4().hex
        self._bus: list[asyncio.Task[None]] = []
        self._settled = asyncio.Event()  # the first Valkey attempt succeeded or failed
        self.relaying = False  # this process is the relay now

    async def start(self) -> None:
        """Start the relay and subscriber loops; waits (up to 10 s) until events flow by
        Valkey, or no longer when Valkey cannot be reached (then this process's own LISTEN
        feeds the streams, and Valkey is tried again every `retry_s`)."""
        await super().start()  # listen on PostgreSQL until the Valkey path is confirmed
        self._bus = [asyncio.create_task(self._relay_loop(), name="orbsonic-events-relay"),
                     asyncio.create_task(self._subscribe_loop(), name="orbsonic-events-valkey")]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), 10)

    async def aclose(self) -> None:
        for task in self._bus:
            task.cancel()
        for task in self._bus:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._bus = []
        await super().aclose()

    # ------------------------------------------------------------------ the fallback LISTEN

    async def _to_postgresql(self, why: str) -> None:
        if self.mode != "postgresql":
            log.warning("real-time events: %s; listening on PostgreSQL", why)
        self.mode = "postgresql"
        if not self.listening:
            await super().start()

    async def _to_valkey(self) -> None:
        if self.mode != "valkey":
            log.info("real-time events: through Valkey pub/sub")
        self.mode = "valkey"
        if self.listening:
            await super().aclose()
        self._settled.set()

    # ------------------------------------------------------------------ subscriber

    async def _relay_ready(self, client: valkey_async.Valkey) -> bool:
        value = await client.get(RELAY_KEY)
        return value is not None and value.startswith("ready:")

    async def _subscribe_loop(self) -> None:
        while True:
            client = _client(self.valkey_url)
            try:
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                await pubsub.subscribe(CHANNEL)
                checked = 0.0
                loop = asyncio.get_running_loop()
                while True:
                    now = loop.time()
                    if now - checked >= self.retry_s / 2:
                        checked = now
                        # Only leave PostgreSQL once a relay forwards; go back when none does.
                        if await self._relay_ready(client):
                            await self._to_valkey()
                        else:
                            await self._to_postgresql("no relay holds the Valkey lock")
                    msg = await pubsub.get_message(timeout=self.retry_s / 2)
                    if msg is not None and msg.get("type") == "message":
                        event = events.decode(str(msg["data"]))
                        if event is not None:
                            self.fan_out(event)
            except asyncio.CancelledError:
                raise
            except (ValkeyError, OSError) as exc:
                await self._to_postgresql(f"Valkey subscription lost ({exc})")
                self._settled.set()
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(self.retry_s)

    # ------------------------------------------------------------------ relay

    async def _relay_loop(self) -> None:
        ttl_ms = int(self.relay_ttl_s * 1000)
        while True:
            client = _client(self.valkey_url)
            try:
                if await client.set(RELAY_KEY, "pending:" + self._id, nx=True, px=ttl_ms):
                    await self._relay(client, ttl_ms)
            except asyncio.CancelledError:
                raise
            except (ValkeyError, OSError, psycopg.Error) as exc:
                if self.relaying:
                    log.warning("event relay stopped (%s)", exc)
            finally:
                self.relaying = False
                with contextlib.suppress(Exception):  # let another process take over at once
                    await client.eval(_RELEASE, 1, RELAY_KEY, "pending:" + self._id, "ready:" + self._id)
                with contextlib.suppress(Exception):
                    await client.aclose()
            await asyncio.sleep(self.retry_s)

    async def _relay(self, client: valkey_async.Valkey, ttl_ms: int) -> None:
        """Holding the lock: LISTEN, say "ready", forward every notification until the lock
        or a connection is lost (raises) or the task is cancelled (the lock is released)."""
        renew = client.register_script(_RENEW)
        async with await AsyncConnection.connect(self.conninfo, autocommit=True,
                                                 application_name=events.LISTEN_APP + "-relay") as conn:
            await conn.execute(f"LISTEN {events.CHANNEL}")
            await client.set(RELAY_KEY, "ready:" + self._id, xx=True, px=ttl_ms)
            self.relaying = True
            log.info("event relay: forwarding PostgreSQL NOTIFY to Valkey")

            async def keep_lock() -> None:
                while True:
                    await asyncio.sleep(self.relay_ttl_s / 3)
                    if not await renew(keys=[RELAY_KEY], args=["ready:" + self._id, ttl_ms]):
                        raise ValkeyError("the relay lock was taken over")

            keeper = asyncio.create_task(keep_lock())
            forward = asyncio.create_task(self._forward(conn, client))
            try:
                done, _ = await asyncio.wait({keeper, forward}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # raise what stopped it
            finally:
                keeper.cancel()
                forward.cancel()
                for task in (keeper, forward):
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task

    async def _forward(self, conn: AsyncConnection, client: valkey_async.Valkey) -> None:
        async for note in conn.notifies():
            await client.publish(CHANNEL, note.payload)


async def started(conninfo: str, valkey_url: str = "") -> events.Listener:
    """The app's event listener: through Valkey when `valkey_url` is set, else PostgreSQL
    LISTEN (orbsonic.events.Listener). Started; `aclose()` it at the end of the lifespan."""
    listener = ValkeyListener(conninfo, valkey_url) if valkey_url else events.Listener(conninfo)
    await listener.start()
    return listener
