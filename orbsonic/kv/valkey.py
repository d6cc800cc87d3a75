"""The Valkey kv (orbsonic.kv.base.KV), used when VALKEY_URL is set: every worker and
replica pointing at the same Valkey shares keys and messages."""

from __future__ import annotations

import logging
from collections import defaultdict

import valkey.asyncio as valkey_async
from valkey.exceptions import ValkeyError

from orbsonic.kv.base import Subscriber

log = logging.getLogger("orbsonic.kv")


class ValkeyKV:
    """Keys under `prefix`; pub/sub on one PubSub connection, drained without waiting."""

    def __init__(self, url: str, prefix: str = "orbsonic:") -> None:
        self._client = valkey_async.Valkey.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._subs: dict[str, list[Subscriber]] = defaultdict(list)
        self._pubsub: valkey_async.client.PubSub | None = None

    async def get(self, key: str) -> str | None:
        return await self._client.get(self._prefix + key)

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        await self._client.set(self._prefix + key, value, px=px)

    async def delete(self, key: str) -> None:
        await self._client.delete(self._prefix + key)

    async def incr(self, key: str) -> int:
        return int(await self._client.incr(self._prefix + key))

    async def publish(self, channel: str, message: str) -> None:
        await self._client.publish(self._prefix + channel, message)

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        self._subs[channel].append(subscriber)
        self._pubsub = None  # (re)subscribe to the full set on the next drain

    async def start(self) -> None:
        """Open the subscription now (so that messages published from here on are kept)."""
        await self.drain()

    async def drain(self) -> bool:
        try:
            if self._pubsub is None:
                ps = self._client.pubsub(ignore_subscribe_messages=True)
                await ps.subscribe(*(self._prefix + c for c in self._subs))
                self._pubsub = ps
                return False  # messages before the subscription are unknown
            while (msg := await self._pubsub.get_message(timeout=0.0)) is not None:
                channel = str(msg.get("channel", ""))[len(self._prefix):]
                for sub in self._subs.get(channel, ()):
                    sub(str(msg.get("data", "")))
            return True
        except (ValkeyError, OSError) as exc:
            log.warning("valkey subscription lost (%s); dropping cached state", exc)
            self._pubsub = None
            return False

    async def close(self) -> None:
        if self._pubsub is not None:
            await self._pubsub.aclose()
        await self._client.aclose()
