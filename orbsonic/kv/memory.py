"""The in-process kv (orbsonic.kv.base.KV): only for a server running as one process."""

from __future__ import annotations

import time
from collections import defaultdict

from orbsonic.kv.base import Subscriber


class MemoryKV:
    """A dict with expiry times; publish calls this process's subscribers at once."""

    def __init__(self) -> None:
        self._data: dict[str, tuple[str, float | None]] = {}
        self._subs: dict[str, list[Subscriber]] = defaultdict(list)

    async def get(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= time.monotonic():
            del self._data[key]
            return None
        return value

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        self._data[key] = (value, None if ttl_s is None else time.monotonic() + ttl_s)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str) -> int:
        n = int(await self.get(key) or 0) + 1
        expires = self._data.get(key, ("", None))[1]
        self._data[key] = (str(n), expires)
        return n

    async def publish(self, channel: str, message: str) -> None:
        for sub in list(self._subs.get(channel, ())):
            sub(message)

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        self._subs[channel].append(subscriber)

    async def drain(self) -> bool:
        return True  # publish delivers synchronously

    async def close(self) -> None:
        self._data.clear()
