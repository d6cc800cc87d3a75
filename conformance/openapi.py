"""The vendored OpenSubsonic OpenAPI tree as a ``referencing`` registry of JSON Schemas.

The tree (``schemas/opensubsonic/openapi``) is read as JSON Schema draft 4 (the dialect OpenAPI
3.0 schema objects are based on): each file is loaded on demand through the registry's retrieve
function, patched in memory by the slips of ``conformance.slips`` (``apply_slips``) and rewritten
from OpenAPI 3.0 to draft 4. ``openapi_tree(legacy)`` is the per-process tree of one mode; its
``endpoint(name)`` says where an endpoint's JSON response schema lives and which payload keys it
has, its ``validator(uri)`` gives a cached ``jsonschema`` draft 4 validator.
"""

from __future__ import annotations

import copy
import json
import threading
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urldefrag, urljoin

import jsonschema
import jsonschema.protocols
import referencing
import referencing.jsonschema

from conformance.common import ENVELOPE_KEYS, ROOT_KEY, SCHEMA_DIR
from conformance.slips import KNOWN_SCHEMA_SLIPS, LEGACY_RELAXATIONS, SchemaSlip

__all__ = ["BASE_URI", "FAILURE_URI", "OPENAPI_DIR", "apply_slips", "openapi30_to_draft4", "openapi_tree"]

OPENAPI_DIR = SCHEMA_DIR / "opensubsonic" / "openapi"
# A synthetic base URI for the OpenAPI tree, so that $refs resolve (and error messages read)
# the same wherever the repository is checked out. The retrieve function maps it to OPENAPI_DIR.
BASE_URI = "file:///opensubsonic/openapi/"
FAILURE_URI = BASE_URI + "schemas/SubsonicResponse/SubsonicFailureResponse.json"


def openapi30_to_draft4(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 schema quirks into draft 4, recursively (returns a new object).

    ``{"type": T, "nullable": true}`` becomes ``{"type": [T, "null"]}`` (and an ``enum``
    gains ``None``); ``nullable: false`` is dropped. Other OpenAPI-only keywords (``example``,
    ``externalDocs``, ``deprecated``, ``format``) are annotations to draft 4 and stay.
    """
    if isinstance(node, list):
        return [openapi30_to_draft4(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: openapi30_to_draft4(v) for k, v in node.items()}
    if isinstance(out.get("nullable"), bool):
        nullable = out.pop("nullable")
        if nullable and "type" in out:
            types = out["type"] if isinstance(out["type"], list) else [out["type"]]
            out["type"] = [*types, "null"] if "null" not in types else types
            if isinstance(out.get("enum"), list) and None not in out["enum"]:
                out["enum"] = [*out["enum"], None]
    return out


def _pointer_get(doc: Any, pointer: str) -> Any:
    node = doc
    for part in _pointer_parts(pointer):
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _pointer_parts(pointer: str) -> list[str]:
    if pointer in ("", "/"):
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]


def _pointer_set(doc: Any, pointer: str, value: Any) -> Any:
    parts = _pointer_parts(pointer)
    if not parts:
        return value
    parent = _pointer_get(doc, "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts[:-1]))
    key: Any = int(parts[-1]) if isinstance(parent, list) else parts[-1]
    if not isinstance(parent, list) and key not in parent:
        raise LookupError(f"no {pointer}")
    parent[key] = value
    return doc


def apply_slips(rel: str, doc: Any, slips: tuple[SchemaSlip, ...]) -> Any:
    """Return a patched deep copy of the OpenAPI file ``rel`` (relative to ``openapi/``).

    Raises ``RuntimeError`` when a slip no longer matches the upstream text (the vendored
    tree was updated: re-check the slip instead of silently validating something else).
    """
    out = copy.deepcopy(doc)
    for slip in slips:
        if slip.file != rel or slip.replace is None or slip.pointer is None:
            continue
        try:
            out = _pointer_set(out, slip.pointer, slip.replace(_pointer_get(out, slip.pointer)))
        except (LookupError, TypeError, ValueError) as exc:
            raise RuntimeError(f"schema slip {rel}#{slip.pointer} no longer applies: {exc}") from exc
    return openapi30_to_draft4(out)


# Subsonic methods whose success is never JSON and that the OpenSubsonic OpenAPI files do not
# describe (hls answers an M3U8 playlist): only their error envelopes are JSON, checked generically.
UNDESCRIBED_NON_JSON = frozenset({"hls"})


@dataclass(frozen=True)
class _Endpoint:
    name: str
    schema_uri: str | None  # whole-body schema (None: no JSON success body: binary endpoint)
    success_uri: str | None  # schema of the inner object when status is ok
    payload_keys: frozenset[str]
    required_payload: frozenset[str]


class _OpenAPI:
    """The vendored OpenAPI tree, patched, as a ``referencing`` registry (one per mode)."""

    def __init__(self, legacy: bool) -> None:
        self.legacy = legacy
        self.slips = KNOWN_SCHEMA_SLIPS + (LEGACY_RELAXATIONS if legacy else ())
        self._docs: dict[str, Any] = {}
        self._lock = threading.Lock()
        # (cast: mypy's attrs plugin does not see the `retrieve` alias of Registry's field)
        self.registry: referencing.Registry[Any] = cast(Any, referencing.Registry)(retrieve=self._retrieve)
        self._endpoints: dict[str, _Endpoint] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}

    def document(self, uri: str) -> Any:
        """The patched JSON document at ``uri`` (a ``BASE_URI`` file URI, no fragment)."""
        if not uri.startswith(BASE_URI):
            raise LookupError(f"not in the vendored OpenAPI tree: {uri}")
        rel = uri[len(BASE_URI) :]
        with self._lock:
            doc = self._docs.get(rel)
            if doc is None:
                path = (OPENAPI_DIR / rel).resolve()
                if not path.is_relative_to(OPENAPI_DIR.resolve()) or not path.is_file():
                    raise LookupError(f"not in the vendored OpenAPI tree: {uri}")
                doc = apply_slips(rel, json.loads(path.read_text(encoding="utf-8")), self.slips)
                self._docs[rel] = doc
            return doc

    def _retrieve(self, uri: str) -> referencing.Resource[Any]:
        return referencing.jsonschema.DRAFT4.create_resource(self.document(uri))

    def _follow(self, uri: str, pointer: str) -> tuple[str, str, Any]:
        """Follow ``$ref`` chains (also through non-schema OpenAPI objects) from a node."""
        for _ in range(32):
            node = _pointer_get(self.document(uri), pointer)
            if not (isinstance(node, dict) and isinstance(node.get("$ref"), str)):
                return uri, pointer, node
            uri, fragment = urldefrag(urljoin(uri, node["$ref"]))
            pointer = fragment
        raise RuntimeError(f"$ref loop at {uri}#{pointer}")

    def _properties(self, uri: str, pointer: str, required: bool) -> set[str]:
        uri, pointer, node = self._follow(uri, pointer)
        keys: set[str] = set(node.get("required", ()) if required else node.get("properties", {}))
        for i, _ in enumerate(node.get("allOf", ())):
            keys |= self._properties(uri, f"{pointer}/allOf/{i}", required)
        return keys

    def endpoint(self, name: str) -> _Endpoint:
        """Where the JSON response schema of endpoint ``name`` lives and what payload it has.

        Raises ``ValueError`` for an endpoint the OpenAPI does not describe.
        """
        name = name.removesuffix(".view")
        with self._lock:
            found = self._endpoints.get(name)
        if found is not None:
            return found
        uri = BASE_URI + f"endpoints/{name}.json"
        if name in UNDESCRIBED_NON_JSON:
            found = _Endpoint(name, None, None, frozenset(), frozenset())
            with self._lock:
                self._endpoints[name] = found
            return found
        if "/" in name or not (OPENAPI_DIR / "endpoints" / f"{name}.json").is_file():
            raise ValueError(f"unknown Subsonic endpoint {name!r} (no openapi/endpoints/{name}.json)")
        path_item = self.document(uri)
        method = "get" if "get" in path_item else "post"
        ruri, rptr, response = self._follow(uri, f"/{method}/responses/200")
        if "application/json" not in response.get("content", {}):
            found = _Endpoint(name, None, None, frozenset(), frozenset())
        else:
            suri, sptr, schema = self._follow(ruri, f"{rptr}/content/application~1json/schema")
            branches = schema.get("properties", {}).get(ROOT_KEY, {}).get("oneOf", [])
            success_ptr = None
            for i, branch in enumerate(branches):
                if not str(branch.get("$ref", "")).endswith("SubsonicFailureResponse.json"):
                    success_ptr = f"{sptr}/properties/{ROOT_KEY}/oneOf/{i}"
            if success_ptr is None:
                raise RuntimeError(f"{name}: response schema has no success branch")
            buri, bptr, _ = self._follow(suri, success_ptr)
            found = _Endpoint(
                name,
                f"{suri}#{sptr}",
                f"{buri}#{bptr}",
                frozenset(self._properties(buri, bptr, False) - ENVELOPE_KEYS),
                frozenset(self._properties(buri, bptr, True) - ENVELOPE_KEYS),
            )
        with self._lock:
            self._endpoints[name] = found
        return found

    def validator(self, uri: str) -> jsonschema.protocols.Validator:
        """A draft 4 validator for the schema at ``uri`` (cached)."""
        with self._lock:
            validator = self._validators.get(uri)
            if validator is None:
                validator = jsonschema.Draft4Validator({"$ref": uri}, registry=self.registry)
                self._validators[uri] = validator
            return validator


_openapi_lock = threading.Lock()
_openapi_cache: dict[bool, _OpenAPI] = {}


def openapi_tree(legacy: bool) -> _OpenAPI:
    """The patched tree of one mode (with the legacy relaxations when ``legacy``), built once per process."""
    with _openapi_lock:
        found = _openapi_cache.get(legacy)
        if found is None:
            found = _openapi_cache[legacy] = _OpenAPI(legacy)
        return found

