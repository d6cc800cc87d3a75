"""Domain errors. They carry data, never HTTP or Subsonic codes.

Each API surface maps them in exactly one place: `subsonic_api/errors.py` for the
Subsonic protocol, `native_api` for problem+json responses.
"""

from __future__ import annotations


class OrbsonicError(Exception):
    """Base class of every error the core raises on purpose."""


class ConfigError(OrbsonicError):
    """Invalid configuration (file, environment or command line)."""


class NotFound(OrbsonicError):
    """The requested item does not exist. `kind` is e.g. "album", `ident` the id asked for."""

    def __init__(self, kind: str, ident: object = None) -> None:
        self.kind, self.ident = kind, ident
        super().__init__(f"{kind} not found" + (f": {ident}" if ident is not None else ""))


class MissingParam(OrbsonicError):
    """A required request parameter is absent."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"required parameter '{name}' is missing")


class BadParam(OrbsonicError):
    """A request parameter is present but not valid."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"invalid parameter '{name}': {reason}")


class IndexOutOfRange(BadParam):
    """An index parameter names no entry (savePlayQueueByIndex currentIndex, songIndexToRemove),
    or a queue's `current` is not in its id list."""


class NotAuthorized(OrbsonicError):
    """The authenticated user may not do this (not admin, someone else's data)."""


class AuthFailed(OrbsonicError):
    """Credentials were wrong or missing. `reason` is one of the AuthFailure values."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class DatabaseTooNew(OrbsonicError):
    """The database schema is newer than this server knows; refuse to start."""


class EmbeddedPostgresError(OrbsonicError):
    """The embedded PostgreSQL could not be found, initialised or started."""


class Conflict(OrbsonicError):
    """The request conflicts with the current state (an Idempotency-Key reused for another
    request, a name already taken)."""


class Gone(OrbsonicError):
    """The item existed but is no longer available (an expired share, a sync token older than
    the retained change history)."""


class SyncTokenExpired(Gone):
    """The token is older than the retained change history (or from another database): the
    client must load everything again."""

    def __init__(self, token: int, oldest: int) -> None:
        self.token, self.oldest = token, oldest
        super().__init__(f"sync token {token} is older than the retained history (from {oldest}); "
                         "do a full resync")


class RateLimited(OrbsonicError):
    """Too many attempts; `retry_after_s` seconds until the next one is considered."""

    def __init__(self, message: str, retry_after_s: float) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(message)
class DatabaseUnavailable(OrbsonicError):
    """PostgreSQL does not answer: it is down, restarting, or no connection came in time.

    Raised by the pool (orbsonic.db.pool) instead of psycopg's OperationalError or PoolTimeout,
    fast (within about a second), so that clients see a clean error instead of a hang.
    `reason` is a short description for the log (e.g. "connection refused"), never shown
    to clients.
    """

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__("database unavailable" + (f" ({reason})" if reason else ""))
class TranscodeError(OrbsonicError):
    """A transcode could not be started or failed before its first byte (busy, unreadable
    source, ffmpeg error). The message is safe to show to clients."""


class Unavailable(OrbsonicError):
    """A feature is turned off in the settings, or the local service behind it (the jukebox's
    mpv) is not working. The message is safe to show to clients."""
