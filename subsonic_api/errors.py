"""The one place where Subsonic error codes are chosen (docs/subsonic-spec.md §2.5).

Handlers and services raise domain errors (orbsonic.errors) or the two protocol-version
errors below; `to_failure` maps each to a code and message. Unexpected exceptions
become code 0 and are logged with their traceback, never a 500 (DSub retries ≥ 500).
"""

from __future__ import annotations

import logging

from orbsonic.db.pool import unavailable
from orbsonic.errors import (
    AuthFailed,
    BadParam,
    IndexOutOfRange,
    MissingParam,
    NotAuthorized,
    NotFound,
    TranscodeError,
    Unavailable,
)
from subsonic_api.response import Failure

log = logging.getLogger("orbsonic.subsonic")

HELP_URL = "https://opensubsonic.netlify.app/docs/api-reference/#error-handling"


class ClientTooOld(Exception):
    """Client protocol major version below ours: error 20 (client must upgrade)."""


class ServerTooOld(Exception):
    """Client protocol newer than ours: error 30 (server must upgrade)."""


class NotImplementedEndpoint(Exception):
    """A Subsonic method we know of but do not serve yet (listed in the README)."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(method)


class UnknownMethod(Exception):
    """A method name that is not part of Subsonic or OpenSubsonic."""

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(method)


# AuthFailed.reason → Subsonic code. 42–44 come from the apiKeyAuthentication extension.
AUTH_CODES = {
    "missing": 10,
    "wrong_credentials": 40,
    "token_unsupported": 41,
    "mechanism_unsupported": 42,
    "conflict": 43,
    "invalid_api_key": 44,
}


def to_failure(exc: BaseException) -> Failure:
    """Map an exception raised while serving a Subsonic request to its error response."""
    if isinstance(exc, MissingParam):
        return Failure(10, str(exc))
    if isinstance(exc, IndexOutOfRange):  # OpenSubsonic savePlayQueueByIndex: out of range is 10
        return Failure(10, str(exc))
    if isinstance(exc, AuthFailed):
        code = AUTH_CODES.get(exc.reason, 40)
        return Failure(code, str(exc), HELP_URL if code >= 41 else None)
    if isinstance(exc, ClientTooOld):
        return Failure(20, f"Incompatible Subsonic REST protocol version. Client must upgrade. ({exc})")
    if isinstance(exc, ServerTooOld):
        return Failure(30, f"Incompatible Subsonic REST protocol version. Server must upgrade. ({exc})")
    if isinstance(exc, NotAuthorized):
        return Failure(50, str(exc) or "User is not authorized for the given operation.")
    if isinstance(exc, NotFound):
        return Failure(70, str(exc))
    if isinstance(exc, BadParam):
        return Failure(0, str(exc))
    if isinstance(exc, TranscodeError):
        return Failure(0, f"cannot transcode: {exc}")
    if isinstance(exc, Unavailable):
        return Failure(0, str(exc))
    if isinstance(exc, NotImplementedEndpoint):
        return Failure(0, f"'{exc.method}' is not implemented by this server yet")
    if isinstance(exc, UnknownMethod):
        return Failure(0, f"unknown method '{exc.method}'")
    if (down := unavailable(exc)) is not None:
        # PostgreSQL is down or restarting: a clean, fast code 0 (the spec has no better code;
        # clients show the message and retry); the pool logs the outage once.
        log.debug("database unavailable: %s", down.reason or down)
        return Failure(0, "database unavailable")
    log.exception("internal error", exc_info=exc)
    return Failure(0, f"internal error: {type(exc).__name__}")
