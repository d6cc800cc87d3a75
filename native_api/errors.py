"""The one place where the native API turns domain errors into responses: RFC 9457 problem+json.

Every problem has `type` "about:blank" with the HTTP status phrase as `title` (RFC 9457
§4.2.1), a human `detail`, and the extension member `code`, a stable machine-readable name
(e.g. "database-unavailable"). Unexpected exceptions are logged with their traceback and
answer 500 "internal-error" without the exception's text.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from orbsonic.db.migrate import SchemaNotMigrated
from orbsonic.db.pool import unavailable
from orbsonic.errors import (
    AuthFailed,
    BadParam,
    Conflict,
    Gone,
    RateLimited,
    DatabaseTooNew,
    SyncTokenExpired,
    MissingParam,
    NotAuthorized,
    NotFound,
    Unavailable,
)

log = logging.getLogger("orbsonic.native")
MEDIA_TYPE = "application/problem+json"


def problem(status: int, code: str, detail: str, *, headers: dict[str, str] | None = None,
            **extra: Any) -> JSONResponse:
    """An RFC 9457 problem+json response with HTTP `status`, extension `code` and `detail`;
    `extra` adds extension members (e.g. `errors`, a list of {field, message} for 422)."""
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status,
            "detail": detail, "code": code, **extra}
    return JSONResponse(body, status, media_type=MEDIA_TYPE, headers=headers)


def to_problem(exc: BaseException) -> JSONResponse:
    """Map an exception raised while serving a native API request to its problem response."""
    if (down := unavailable(exc)) is not None:
        log.debug("database unavailable: %s", down.reason or down)
        return problem(503, "database-unavailable", "database unavailable")
    if isinstance(exc, SchemaNotMigrated):
        return problem(503, "schema-too-old", str(exc))
    if isinstance(exc, DatabaseTooNew):
        return problem(503, "schema-too-new", str(exc))
    if isinstance(exc, MissingParam):
        return problem(400, "bad-request", str(exc), errors=[{"field": exc.name, "message": "missing"}])
    if isinstance(exc, BadParam):
        return problem(400, "bad-request", str(exc), errors=[{"field": exc.name, "message": exc.reason}])
    if isinstance(exc, Conflict):
        return problem(409, "conflict", str(exc))
    if isinstance(exc, SyncTokenExpired):
        return problem(410, "full-resync-needed", str(exc))
    if isinstance(exc, Gone):
        return problem(410, "gone", str(exc))
    if isinstance(exc, RateLimited):
        return problem(429, "too-many-requests", str(exc),
                       headers={"Retry-After": str(max(1, int(exc.retry_after_s)))})
    if isinstance(exc, AuthFailed):
        return problem(401, "unauthorized", str(exc), headers={"WWW-Authenticate": "Bearer"})
    if isinstance(exc, NotAuthorized):
        return problem(403, "forbidden", str(exc) or "not allowed")
    if isinstance(exc, NotFound):
        return problem(404, "not-found", str(exc))
    if isinstance(exc, Unavailable):  # a feature that is off, the object store being down
        return problem(503, "unavailable", str(exc))
    log.exception("internal error", exc_info=exc)
    return problem(500, "internal-error", "internal error")
