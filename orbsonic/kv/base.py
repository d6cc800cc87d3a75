"""The kv protocol: get/set with a TTL, delete, incr, publish/subscribe.

Subscriptions are *drained*, not pushed: `drain()` reads, without waiting, every message
already delivered to this process and calls the subscribers. Callers that must see an
invalidation before acting on cached state (orbsonic.auth.cache) drain first — one
non-blocking socket read, no round trip — so a message sent before a request arrived is
always applied before that request is answered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

Subscriber = Callable[[str], None]  # called with the message text


class KV(Protocol):
    """Keys and values are str; `ttl_s` in seconds (None = no expiry)."""

    async def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""
        ...

    async def set(self, key: str, value: str, ttl_s: float | None = None) -> None:
        """Store `value` under `key`, expiring after `ttl_s` seconds."""
        ...

    async def delete(self, key: str) -> None:
        """Forget `key` (no error when absent)."""
        ...

    async def incr(self, key: str) -> int:
        """Add 1 to the integer under `key` (absent = 0); return the new value."""
        ...

    async def publish(self, channel: str, message: str) -> None:
        """Send `message` to every subscriber of `channel` in every process."""
        ...

    def subscribe(self, channel: str, subscriber: Subscriber) -> None:
        """Call `subscriber(message)` for each message on `channel` (from `drain`)."""
        ...

    async def drain(self) -> bool:
        """Deliver the messages already received, without waiting. False when the
        subscription is broken (messages may have been lost: callers drop what they cached)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
