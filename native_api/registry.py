"""The native API's route table: `@route("GET", "/albums", ...)` registers a handler under /api/v1.

Each route declares what the dispatcher (native_api/dispatch.py) checks before the handler
runs and what the OpenAPI document (native_api/openapi.py) says about it:

* `auth`: a logged-in user is required (Bearer access token or API key; native_api/auth.py);
* `role`: a Subsonic role the user must hold (orbsonic.auth.users.ROLE_ATTRS keys, e.g.
  "playlist", "upload"); admins hold every role — the same roles as the Subsonic API;
* `admin`: admins only;
* `query` / `body`: pydantic models the query string / JSON body are validated into
  (a wrong type, a missing field, an unknown value → 422 problem+json naming the field);
* `response`: the model (or type) of the 2xx JSON body, for the OpenAPI document; handlers may
  return a model instance, plain data matching it, or a Starlette Response (streams, 204 …);
* `responses`: further documented answers besides `status`, e.g. `{202: WaveformPending}` for
  a route that answers 202 while a background job runs: status → model of the JSON body
  (None: no body). The handler returns those as a Starlette Response;
* `idempotent_writes`: POST/PUT/PATCH/DELETE honour an `Idempotency-Key` header (a retried
  request with the same key and user answers the stored response without applying twice).

A handler reads: typed params → one library call → one response object, like the Subsonic
handlers (subsonic_api/endpoints/lists.py:get_album_list2).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from starlette.requests import Request

from orbsonic.auth.users import ROLE_ATTRS, User
from orbsonic.state import AppState

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PATH = re.compile(r"(/[a-z0-9\-._]*|/\{[a-z_]+\})+")


@dataclass(frozen=True, slots=True)
class Ctx:
    """Everything a native handler may use.

    `user` is None only on routes with auth=False. `conn` is one pooled connection for the
    request (committed when the handler returns normally, rolled back when it raises).
    `path` holds the path parameters as strings, `query`/`body` the validated models (None when
    the route declares none). `client` is the client's name (`X-Orb-Client` header or the
    User-Agent), used as Subsonic's `changedBy`/player name."""

    request: Request
    user: User | None
    conn: AsyncConnection
    state: AppState
    path: dict[str, str]
    query: Any
    body: Any
    client: str

    @property
    def me(self) -> User:
        """The authenticated user (routes with auth=True always have one)."""
        assert self.user is not None
        return self.user


Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class NativeRoute:
    """One registered route: `path` is relative to /api/v1 with `{name}` parameters."""

    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    auth: bool = True
    admin: bool = False
    role: str | None = None
    query: type | None = None
    body: type | None = None
    response: Any = None
    status: int = 200
    errors: tuple[int, ...] = ()
    binary: str | None = None  # media type of a non-JSON 2xx body ("audio/*", "image/*" …)
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # further documented answers: status → model of their JSON body (None: no body)
    responses: tuple[tuple[int, Any], ...] = ()

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


ROUTES: list[NativeRoute] = []


def route(method: str, path: str, *, summary: str, tag: str, auth: bool = True, admin: bool = False,
          role: str | None = None, query: type | None = None, body: type | None = None,
          response: Any = None, status: int = 200, errors: tuple[int, ...] = (),
          binary: str | None = None,
          responses: dict[int, Any] | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for `method path` under /api/v1 (see the module docstring).

    Raises ValueError for an unknown method or role, a malformed path, a route registered twice,
    or an extra response that is not a 2xx/3xx status other than `status`.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method}")
    if not _PATH.fullmatch(path):
        raise ValueError(f"malformed route path {path!r}")
    if role is not None and role not in ROLE_ATTRS:
        raise ValueError(f"{role} is not a role")
    extra_responses = tuple(sorted((responses or {}).items()))
    for code, _model in extra_responses:
        if not 200 <= code < 400 or code == status:
            raise ValueError(f"extra response {code} of {method} {path}: a 2xx/3xx other than {status}")

    def register(fn: Handler) -> Handler:
        if any(r.method == method and r.path == path for r in ROUTES):
            raise ValueError(f"{method} {path} registered twice")
        ROUTES.append(NativeRoute(method, path, fn, summary, tag, auth, admin, role, query, body,
                                  response, status, errors, binary, (fn.__doc__ or "").strip(),
                                  responses=extra_responses))
        return fn

    return register
