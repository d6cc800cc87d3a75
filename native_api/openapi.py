"""The OpenAPI 3.1 document of the native API, built from the route table (native_api/registry.py).

Served at GET /api/v1/openapi.json. Every registered route is in it with its parameters, request
body and response schemas (from the pydantic models the route declares) and the problem+json
error responses; tests check that every route is there and schemathesis fuzzes the live server
against it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

from native_api.registry import ROUTES, NativeRoute
from orbsonic import __version__

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{([a-z_]+)\}")

PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "detail": {"type": "string"}, "code": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
_ERROR_TEXT = {400: "Bad request", 401: "Not authenticated", 403: "Not allowed", 404: "Not found",
               409: "Conflict", 410: "Gone", 413: "Too large", 416: "Range not satisfiable",
               422: "Invalid input", 429: "Too many requests", 503: "Unavailable"}

_EXTRA_TEXT = {201: "Created", 202: "Accepted: the answer is being computed (retry after `Retry-After` s)",
               204: "No content", 304: "Not modified"}


def _schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(ref_template=REF, mode="serialization")
    defs.update(schema.pop("$defs", {}))
    return schema


def _input_schema(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:
    schema = TypeAdapter(tp).json_schema(ref_template=REF, mode="validation")
    defs.update(schema.pop("$defs", {}))
    return schema


def _operation(r: NativeRoute, defs: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": r.operation_id, "summary": r.summary, "tags": [r.tag]}
    if r.description:
        op["description"] = r.description
    params: list[dict[str, Any]] = [
        {"name": n, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
        for n in _PARAM.findall(r.path)]
    if r.query is not None and issubclass(r.query, BaseModel):
        qs = _input_schema(r.query, defs)
        required = set(qs.get("required", []))
        for name, prop in qs.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": name in required, "schema": prop,
                           **({"style": "form", "explode": True} if prop.get("type") == "array" else {})})
    if r.binary is not None and r.auth:
        params.append({"name": "token", "in": "query", "required": False, "schema": {"type": "string"},
                       "description": "the bearer credential, for media elements that cannot send headers"})
    if params:
        op["parameters"] = params
    if r.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": _input_schema(r.body, defs)}}}
    ok: dict[str, Any] = {"description": "OK"}
    if r.binary is not None:
        ok["content"] = {r.binary: {"schema": {"type": "string", "format": "binary"}}}
    elif r.status != 204:
        ok["content"] = {"application/json": {"schema": _schema(r.response, defs) if r.response is not None
                                              else {}}}
    responses: dict[str, Any] = {str(r.status): ok}
    for code, model in r.responses:
        extra: dict[str, Any] = {"description": _EXTRA_TEXT.get(code, "Success")}
        if model is not None:
            extra["content"] = {"application/json": {"schema": _schema(model, defs)}}
        if code == 202:
            extra["headers"] = {"Retry-After": {"description": "seconds to wait before asking again",
                                                "schema": {"type": "integer"}}}
        responses[str(code)] = extra
    codes = set(r.errors) | {400, 422}
    if params and params[0]["in"] == "path":
        # A path value Starlette's router cannot match (e.g. one with a line break) falls to
        # the catch-all "no such route": any route with path parameters can answer 404.
        codes.add(404)
    if r.auth:
        codes |= {401, 403}
    if r.binary is not None:
        responses["206"] = {"description": "Partial content",
                            "content": {r.binary: {"schema": {"type": "string", "format": "binary"}}}}
    for code in sorted(codes):
        responses[str(code)] = {"description": _ERROR_TEXT.get(code, "Error"), "content": {
            "application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}}
    op["responses"] = responses
    if r.auth:
        op["security"] = [{"bearer": []}]
    return op


@lru_cache(maxsize=1)
def _document(n_routes: int) -> dict[str, Any]:
    defs: dict[str, Any] = {"Problem": PROBLEM}
    paths: dict[str, Any] = {}
    for r in sorted(ROUTES, key=lambda r: (r.path, r.method)):
        paths.setdefault("/api/v1" + r.path, {})[r.method.lower()] = _operation(r, defs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Orbsonic native API", "version": __version__,
                 "description": "Orb's native API: library, lossless streaming, playlists, queue, "
                                "sync and real-time playback. Errors are RFC 9457 problem+json."},
        "paths": paths,
        "components": {"schemas": defs, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "an access token from POST /api/v1/auth/login, or an API key"}}},
    }


def document() -> dict[str, Any]:
    """The OpenAPI document (built once per set of routes)."""
    return _document(len(ROUTES))
