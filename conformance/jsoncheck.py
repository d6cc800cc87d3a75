"""JSON responses: ``validate_json`` and the rules the OpenAPI schemas do not enforce.

A body must parse (no duplicate keys, no NaN), have the single root key ``subsonic-response``
with a valid envelope (status, version, OpenSubsonic fields), hold no JSON ``null`` and no
numeric ids (``ID_KEYS``, bar ``NUMERIC_ID_PATHS``), validate against the endpoint's schema
from ``conformance.openapi``, and carry only the payload keys the endpoint declares.
Violations carry ``$.subsonic-response...`` paths.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema.protocols

from conformance.common import ENVELOPE_KEYS, OPENSUBSONIC_KEYS, ROOT_KEY, ConformanceError
from conformance.openapi import FAILURE_URI, openapi_tree

__all__ = ["ID_KEYS", "NUMERIC_ID_PATHS", "validate_json"]

_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
# Keys whose value is an id: ids are strings in Subsonic (xs:string), never JSON numbers.
ID_KEYS = frozenset({"id", "parent", "albumId", "artistId", "coverArt", "channelId", "streamId"})
# Paths (below subsonic-response) where a numeric id is correct: MusicFolder@id and User/folder
# are xs:int in the XSD. "*" matches any array index.
NUMERIC_ID_PATHS: tuple[tuple[str, ...], ...] = (
    ("musicFolders", "musicFolder", "*", "id"),
    ("user", "folder", "*"),
    ("users", "user", "*", "folder", "*"),
)
_MAX_MESSAGE = 240


def _json_path(parts: tuple[str | int, ...] | list[str | int]) -> str:
    out = "$"
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else f".{p}"
    return out


def _parse_json(body: bytes | str) -> Any:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConformanceError("JSON response does not parse", [f"$: {exc}"]) from None
    if duplicates:
        raise ConformanceError(
            "JSON response has duplicate keys", [f"$: duplicate key {k!r}" for k in duplicates]
        )
    return data


def _walk(node: Any, path: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*path, i))


def _matches(path: tuple[str | int, ...], pattern: tuple[str, ...]) -> bool:
    return len(path) == len(pattern) and all(
        (p == "*" and isinstance(x, int)) or p == x for x, p in zip(path, pattern, strict=True)
    )


def _value_violations(inner: Any) -> list[str]:
    """No JSON null anywhere; id-like keys never hold numbers (bar the xs:int paths)."""
    violations: list[str] = []
    for path, value in _walk(inner, ()):
        where = _json_path((ROOT_KEY, *path))
        if value is None:
            violations.append(f"{where}: null is not allowed (clients crash on null lists: tempus #540)")
        elif (
            path
            and isinstance(path[-1], str)
            and path[-1] in ID_KEYS
            and isinstance(value, int | float)
            and not isinstance(value, bool)
            and not any(_matches(path, p) for p in NUMERIC_ID_PATHS)
        ):
            violations.append(f"{where}: id {value!r} must be a string, not a JSON number")
    return violations


def _envelope_violations(data: Any, *, legacy: bool) -> tuple[list[str], Any]:
    if not isinstance(data, dict) or ROOT_KEY not in data:
        return [f"$: root must be an object with the single key {ROOT_KEY!r}"], None
    violations = [f"$.{k}: unexpected root key (only {ROOT_KEY!r})" for k in data if k != ROOT_KEY]
    inner = data[ROOT_KEY]
    where = f"$.{ROOT_KEY}"
    if not isinstance(inner, dict):
        return [*violations, f"{where}: must be an object"], None
    if inner.get("status") not in ("ok", "failed"):
        violations.append(f"{where}.status: must be 'ok' or 'failed', got {inner.get('status')!r}")
    version = inner.get("version")
    if not (isinstance(version, str) and _VERSION_RE.fullmatch(version)):
        violations.append(f"{where}.version: must match ^\\d+\\.\\d+\\.\\d+$, got {version!r}")
    if not legacy:
        for key in OPENSUBSONIC_KEYS:
            if key not in inner:
                violations.append(f"{where}.{key}: OpenSubsonic envelope field missing")
        if "openSubsonic" in inner and inner["openSubsonic"] is not True:
            violations.append(f"{where}.openSubsonic: must be true, got {inner['openSubsonic']!r}")
    return violations, inner


def _schema_violations(validator: jsonschema.protocols.Validator, inner: Any) -> list[str]:
    errors = sorted(
        validator.iter_errors(inner), key=lambda e: (_json_path(list(e.absolute_path)), e.message)
    )
    out = []
    for error in errors:
        message = (
            error.message if len(error.message) <= _MAX_MESSAGE else error.message[:_MAX_MESSAGE] + "..."
        )
        out.append(f"{_json_path((ROOT_KEY, *error.absolute_path))}: {message}")
    return out


def validate_json(endpoint: str, body: bytes | str | Mapping[str, Any], *, legacy: bool = False) -> None:
    """Validate a JSON response ``{"subsonic-response": {...}}`` of ``endpoint``.

    ``endpoint``: the method name without ``.view`` (``"getAlbum"``; a ``.view`` suffix is
    tolerated). ``body``: the raw bytes (UTF-8), text, or an already decoded mapping.

    Checks, all reported together:

    * envelope: the only root key is ``subsonic-response``; ``status`` is ok/failed; ``version``
      matches ``^\\d+\\.\\d+\\.\\d+$``; ``type``, ``serverVersion`` and ``openSubsonic: true`` are
      present unless ``legacy`` (then they may be present or not);
    * no JSON ``null`` anywhere; keys in ``ID_KEYS`` never hold numbers (except the xs:int
      paths in ``NUMERIC_ID_PATHS``); no duplicate keys, no NaN;
    * the OpenAPI schema: ``status: ok`` against the endpoint's success schema (from
      ``openapi/endpoints/<endpoint>.json``, GET, 200, application/json; POST for POST-only
      endpoints), ``status: failed`` against ``SubsonicFailureResponse``; binary endpoints
      accept only a failed envelope;
    * payload keys: an ok response carries only payload keys the endpoint declares (none for
      ``ping``-like endpoints), a failed one only ``error``.

    Raises ``ConformanceError`` (every violation with its JSON path), or ``ValueError`` for an
    endpoint the OpenAPI does not describe.
    """
    api = openapi_tree(legacy)
    info = api.endpoint(endpoint)
    data = body if isinstance(body, Mapping) else _parse_json(body)
    violations, inner = _envelope_violations(data, legacy=legacy)
    if inner is not None:
        violations.extend(_value_violations(inner))
        status = inner.get("status")
        allowed_extra = {"xmlns"} if legacy else set()  # old Subsonic JSON carried the namespace
        payload = [k for k in inner if k not in ENVELOPE_KEYS and k not in allowed_extra]
        where = f"$.{ROOT_KEY}"
        if status == "failed":
            violations.extend(_schema_violations(api.validator(FAILURE_URI), inner))
            violations.extend(
                f"{where}.{k}: a failed response carries only `error`" for k in payload if k != "error"
            )
        elif status == "ok":
            if info.success_uri is None:
                violations.append(
                    f"{where}: {info.name} returns binary data on success, not a JSON ok envelope"
                )
            else:
                violations.extend(_schema_violations(api.validator(info.success_uri), inner))
                expected = sorted(info.payload_keys) or "none"
                violations.extend(
                    f"{where}.{k}: not a {info.name} payload key (expected: {expected})"
                    for k in payload
                    if k not in info.payload_keys
                )
                if len([k for k in payload if k in info.payload_keys]) > 1:
                    violations.append(f"{where}: more than one payload element {payload}")
    if violations:
        mode = " (legacy)" if legacy else ""
        raise ConformanceError(f"JSON response of {info.name}{mode} does not conform", violations)
