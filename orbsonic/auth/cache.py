"""A short-lived cache of verified credentials: the users row a request's credentials
named, so that the hot path of authentication needs no database round trip (issue 13).

* Key: SHA-256 of (mechanism, username, credential material) — `p` as sent, `t`+`s`, or
  the API key — never the clear password itself. A hit means these exact credentials were
  verified against the database within `ttl_s` while the name was not locked out, so the
  login limiter's query is skipped too; a different salt or a new guess is a miss and
  takes the full path (orbsonic.auth.ratelimit still sees every guess).
* Value: the User row. The password/token comparison (constant time) still runs on every
  request against that row; only the fetch is saved.
* Invalidation: triggers on `users` and `api_keys` (schema/0017) send NOTIFY orbsonic_auth
  '<user id>' for any change by any writer, delivered on commit to every worker and replica
  of the database; orbsonic/auth/users.py's write paths also call `notify_user_changed`,
  which drops this process's entries at once (no wait for the NOTIFY to come back).
  `lookup` first drains the notifications already received (a non-blocking read). Between
  a commit elsewhere and this process reading its NOTIFY lies the listening backend's
  wake-up (tens of µs idle, a few ms on an overloaded machine): the only window in which
  another process's change is not yet seen. A lost LISTEN connection empties the cache.
"""

from __future__ import annotations

import hashlib
import time
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING

from psycopg import AsyncConnection

from orbsonic.kv import pgnotify
from orbsonic.metrics import defs as metrics

if TYPE_CHECKING:
    from orbsonic.auth.users import User

CHANNEL = "orbsonic_auth"
ALL = "*"  # message: forget every entry
# message "lockout:<seconds>": a login lockout began somewhere (orbsonic/auth/ratelimit.py). A
# locked-out user name or address must be refused even with credentials cached before, so the
# cache serves no hit for that long (the rate-limit check runs again on every request); only
# an optimisation is lost, never a lockout.
LOCKOUT = "lockout:"
# The caches of this process: a change written here drops their entries before the write
# returns (the NOTIFY reaches the other processes on commit, ours a little later).
_LOCAL: weakref.WeakSet[CredentialCache] = weakref.WeakSet()


def credential_key(mechanism: str, username: str, *material: str) -> bytes:
    """The cache key of one set of credentials (32 bytes). `mechanism`: "p", "t" or "k"."""
    h = hashlib.sha256(mechanism.encode())
    for part in (username, *material):
        b = part.encode("utf-8", "surrogatepass")
        h.update(len(b).to_bytes(4, "big"))
        h.update(b)
    return h.digest()


async def notify_user_changed(conn: AsyncConnection, user_id: int | None = None) -> None:
    """User `user_id` (None: any user) changed — password, roles, folders, API keys or
    deletion: drop this process's cached credentials now. The other processes learn it from
    the NOTIFY that schema/0017's triggers send on commit; for `user_id` None (no row of
    users/api_keys changed) a NOTIFY is sent here, inside the caller's transaction."""
    message = ALL if user_id is None else str(user_id)
    for cache in list(_LOCAL):
        cache._on_message(message)  # early is safe: a drop never serves a stale row
    if user_id is None:
        await pgnotify.notify(conn, CHANNEL, message)


class CredentialCache:
    """Verified credentials → User, for `ttl_s` seconds, at most `max_entries` (LRU).

    `channel` is an orbsonic.kv.pgnotify.PgChannel (or None: a cache that only trusts
    notifications sent from this process — tests of a single instance)."""

    def __init__(self, channel: pgnotify.PgChannel | None, ttl_s: float = 30.0,
                 max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[bytes, tuple[User, float]] = OrderedDict()
        self._channel = channel
        self._listening = channel is not None
        self._generation = 0  # invalidations received so far
        self._no_hits_until = 0.0  # monotonic time; see LOCKOUT
        if channel is not None:
            channel.subscribe(CHANNEL, self._on_message)
        _LOCAL.add(self)

    def start(self) -> None:
        """Open the LISTEN connection (blocking; call at startup, e.g. in a thread)."""
        if self._channel is not None:
            self._channel.start()

    def close(self) -> None:
        """Close the LISTEN connection; the cache then answers misses only."""
        if self._channel is not None:
            self._channel.close()
        self._listening = False
        self._entries.clear()

    def generation(self) -> int:
        """Take before fetching a row to `store` later: an invalidation received in between
        makes that `store` a no-op (the row fetched may predate the change)."""
        self._fresh()
        return self._generation

    def _on_message(self, message: str) -> None:
        self._generation += 1
        if message.startswith(LOCKOUT):
            self._entries.clear()
            try:
                seconds = float(message[len(LOCKOUT):])
            except ValueError:
                seconds = 3600.0
            self._no_hits_until = max(self._no_hits_until, time.monotonic() + min(seconds, 86400.0))
            return
        if message == ALL:
            self._entries.clear()
            return
        try:
            uid = int(message)
        except ValueError:
            self._entries.clear()
            return
        for k in [k for k, (u, _) in self._entries.items() if u.id == uid]:
            del self._entries[k]

    def _fresh(self) -> bool:
        """Apply received invalidations; False when the cache cannot be trusted now."""
        if not self._listening or self._channel is None:
            return False
        if not self._channel.drain():
            self._entries.clear()
            self._generation += 1
            return False
        return True

    def lookup(self, key: bytes) -> User | None:
        """The cached user for `key`, or None (absent, expired, or invalidations unknown)."""
        user = self._lookup(key)
        metrics.cache_lookup("auth", user is not None)
        return user

    def _lookup(self, key: bytes) -> User | None:
        if not self._fresh() or time.monotonic() < self._no_hits_until:
            return None
        item = self._entries.get(key)
        if item is None:
            return None
        user, expires = item
        if expires <= time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return user

    def store(self, key: bytes, user: User, generation: int) -> None:
        """Remember verified credentials (call only after the check passed). `generation`:
        what `generation()` said before the row was fetched; if an invalidation arrived
        since, nothing is stored."""
        if not self._fresh() or generation != self._generation:
            return
        self._entries[key] = (user, time.monotonic() + self.ttl_s)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
