"""The native API dispatcher: one Starlette route per registered path, all methods of that path.

For each request it: authenticates (native_api/auth.py) and checks the route's admin/role; parses
the query string and the JSON body into the route's pydantic models (the body read with a byte
cap, whatever Content-Length says); runs the handler on one pooled connection, inside one
transaction, with the Idempotency-Key rule for writes (native_api/idempotency.py); and renders
the result as JSON (orjson), or passes a Starlette Response through. Every failure is RFC 9457
problem+json, chosen in native_api/errors.py.
"""

from __future__ import annotations

import asyncio
import logging
import typing
from typing import Any

import orjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from native_api import auth, idempotency
from native_api.errors import problem, to_problem
from native_api.registry import ROUTES, WRITE_METHODS, Ctx, NativeRoute
from orbsonic.errors import BadParam, NotAuthorized
from orbsonic.state import AppState

log = logging.getLogger("orbsonic.native")
MAX_JSON_BYTES = 1024 * 1024  # JSON bodies (playlists of thousands of ids fit easily)
JSON_TYPE = "application/json"


class InvalidInput(Exception):
    """A query string or body that does not fit the route's model: 422 with `errors`."""

    def __init__(self, where: str, errors: list[dict[str, str]]) -> None:
        self.where, self.errors = where, errors
        first = errors[0] if errors else {"field": where, "message": "invalid"}
        super().__init__(f"{first['field']}: {first['message']}")


def _validation_errors(where: str, exc: ValidationError) -> InvalidInput:
    errors = [{"field": ".".join(str(p) for p in e["loc"]) or where, "message": e["msg"]}
              for e in exc.errors(include_url=False, include_input=False)]
    return InvalidInput(where, errors)


def _is_list(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (list, tuple, set, frozenset):
        return True
    return any(_is_list(a) for a in typing.get_args(annotation)) if origin is typing.Union else False


def _nul_field(data: Any, path: str = "") -> str | None:
    """The dotted path of the first string (or key) in `data` holding a NUL character
    (PostgreSQL text cannot store one: found by schemathesis as a 500), else None."""
    if isinstance(data, str):
        return (path or "body") if "\x00" in data else None
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        where = f"{path}.{k}" if path else str(k)
        if isinstance(k, str) and "\x00" in k:
            return where
        if (found := _nul_field(v, where)) is not None:
            return found
    return None


def parse_query(model: type[BaseModel], request: Request) -> BaseModel:
    """Validate the query string into `model`; repeated keys fill list fields. Raises InvalidInput
    (also for a value holding a NUL character)."""
    data: dict[str, Any] = {}
    qp = request.query_params
    for name, f in model.model_fields.items():
        key = f.alias or name
        if key not in qp:
            continue
        if any("\x00" in v for v in qp.getlist(key)):
            raise InvalidInput("query", [{"field": key, "message": "must not contain NUL characters"}])
        data[key] = qp.getlist(key) if _is_list(f.annotation) else qp[key]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _validation_errors("query", exc) from None


async def read_body(request: Request, limit: int = MAX_JSON_BYTES) -> bytes:
    """The request body, read in chunks and refused past `limit` bytes (chunked bodies too).
    Raises BadParam("body")."""
    declared = request.headers.get("content-length")
    if (declared and declared.isascii() and declared.isdigit() and len(declared) < 19
            and int(declared) > limit):
        raise BadParam("body", f"larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadParam("body", f"larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse_body(model: type, request: Request) -> Any:
    """Validate a JSON body into `model` (a pydantic model or any type pydantic accepts).
    Raises BadParam (not JSON, too large) or InvalidInput (also for a NUL character in a string)."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    raw = await read_body(request)
    if ctype and ctype != JSON_TYPE and not ctype.endswith("+json"):
        raise BadParam("body", f"expected {JSON_TYPE}, got {ctype}")
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError as exc:
        raise BadParam("body", f"not valid JSON: {exc.msg} at position {exc.pos}") from None
    if b"\\u0000" in raw and (where := _nul_field(data)) is not None:
        # PostgreSQL text cannot hold NUL: an invalid value like any other (422 naming the field)
        raise InvalidInput("body", [{"field": where, "message": "must not contain NUL characters"}])
    try:
        if isinstance(model, type) and issubclass(model, BaseModel):
            return model.model_validate(data if data is not None else {})
        return TypeAdapter(model).validate_python(data)
    except ValidationError as exc:
        raise _validation_errors("body", exc) from None


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json", by_alias=True)
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, (bytes, memoryview)):
        return bytes(obj).hex()
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def json_bytes(result: Any) -> bytes:
    """Serialise a handler result (model, dataclass, dict, list …) to JSON bytes."""
    if isinstance(result, BaseModel):
        result = result.model_dump(mode="json", by_alias=True)
    return orjson.dumps(result, default=_default, option=orjson.OPT_NON_STR_KEYS)


def json_response(result: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response of `result` (204 with no body when `result` is None and status is 204)."""
    if status == 204:
        return Response(status_code=204, headers=headers)
    return Response(json_bytes(result), status, headers=headers, media_type=JSON_TYPE)


def client_name(request: Request) -> str:
    """The client's name: X-Orb-Client, else the User-Agent's first product, else "web"."""
    name = request.headers.get("x-orb-client") or request.headers.get("user-agent", "").split(" ")[0]
    return (name or "web")[:64]


async def _run(r: NativeRoute, request: Request, state: AppState) -> Response:
    query = parse_query(r.query, request) if r.query is not None else None
    body = await parse_body(r.body, request) if r.body is not None else None
    async with state.pool.connection() as conn:
        user = None
        if r.auth:
            user = await auth.authenticate(request, conn, state, allow_query_token=r.binary is not None)
            if r.admin and not user.is_admin:
                raise NotAuthorized(f"{r.method} {r.path} needs an admin user")
            if r.role is not None and not user.has_role(r.role):
                raise NotAuthorized(f"{r.method} {r.path} needs the {r.role} role")
        ctx = Ctx(request, user, conn, state, dict(request.path_params), query, body, client_name(request))
        key = request.headers.get("idempotency-key")
        if key is not None and r.method in WRITE_METHODS and user is not None:
            stored = await idempotency.claim(conn, user.id, key, r.method, request.url.path)
            if stored is not None:
                return Response(stored.body, stored.status, media_type=JSON_TYPE if stored.body else None,
                                headers={"Idempotent-Replayed": "true"})
            result = await r.handler(ctx)
            response = result if isinstance(result, Response) else json_response(result, r.status)
            await idempotency.store(conn, user.id, key, response)
        else:
            result = await r.handler(ctx)
            response = result if isinstance(result, Response) else json_response(result, r.status)
    if user is not None and r.method in WRITE_METHODS and state.answers is not None:
        # Committed: this user's kept Subsonic answers (subsonic_api/answers.py) may show what
        # the request changed; other processes learn it from the NOTIFY of schema/0022/0033.
        state.answers.forget_user(user.id)
    return response


def _endpoint(routes: dict[str, NativeRoute]) -> Any:
    async def endpoint(request: Request) -> Response:
        r = routes.get(request.method) or (routes.get("GET") if request.method == "HEAD" else None)
        if r is None:
            return problem(405, "method-not-allowed", f"{request.method} is not allowed here",
                           headers={"Allow": ", ".join(sorted(routes))})
        state: AppState = request.app.state.orbsonic
        try:
            return await _run(r, request, state)
        except InvalidInput as exc:
            return problem(422, "invalid-input", str(exc), errors=exc.errors)
        except ClientDisconnect:
            log.debug("client went away during %s %s", request.method, request.url.path)
            return Response(status_code=499)
        except Exception as exc:  # noqa: BLE001  (the single mapping point: native_api.errors)
            # A slowed failed login (orbsonic.auth.ratelimit) waits with its connection back in
            # the pool: slowed guesses must not starve it.
            delay = getattr(exc, "delay_s", 0)
            if isinstance(delay, (int, float)) and delay > 0:
                await asyncio.sleep(min(delay, 5.0))
            return to_problem(exc)

    return endpoint


def starlette_routes() -> list[Route]:
    """One Starlette Route per registered path (relative to the /api/v1 mount)."""
    by_path: dict[str, dict[str, NativeRoute]] = {}
    for r in ROUTES:
        by_path.setdefault(r.path, {})[r.method] = r
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    # Literal paths before parameterised ones: /tracks/recent must not match /tracks/{id}.
    order = sorted(by_path, key=lambda p: (p.count("{"), p))
    return [Route(p, _endpoint(by_path[p]), methods=methods) for p in order]
