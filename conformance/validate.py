"""Validate Subsonic / OpenSubsonic response bodies against the vendored schemas.

Works on raw response bytes from *any* Subsonic server; it does not import ``orbsonic``.

* XML: lxml + XSD (``schemas/subsonic-rest-api-1.16.1-opensubsonic.xsd``, or the official
  ``schemas/subsonic-rest-api-1.16.1.xsd`` with ``legacy=True``).
* JSON: the OpenSubsonic OpenAPI tree (``schemas/opensubsonic/openapi``), read as JSON Schema
  draft 4 (the dialect OpenAPI 3.0 schema objects are based on) with ``jsonschema`` and a
  ``referencing`` registry whose retrieve function loads the relative ``$ref`` files from the
  vendored tree. Known upstream slips are patched in memory (``KNOWN_SCHEMA_SLIPS``); the
  vendored files are never edited.
* Envelope rules the schemas do not enforce (root key, status, version pattern, OpenSubsonic
  attributes, no JSON ``null``, string ids, one payload per response).

Every failure raises ``ConformanceError``; its ``violations`` lists each problem with its
location (XML: line number; JSON: a ``$.subsonic-response...`` path).
"""

from __future__ import annotations

import copy
import io
import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast
from urllib.parse import urldefrag, urljoin

import jsonschema
import jsonschema.protocols
import referencing
import referencing.jsonschema
from lxml import etree

__all__ = [
    "KNOWN_SCHEMA_SLIPS",
    "LEGACY_RELAXATIONS",
    "OPENAPI_DIR",
    "SCHEMA_DIR",
    "XSD_LEGACY",
    "XSD_OPENSUBSONIC",
    "ConformanceError",
    "SchemaSlip",
    "validate_json",
    "validate_response",
    "validate_xml",
]

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
XSD_OPENSUBSONIC = SCHEMA_DIR / "subsonic-rest-api-1.16.1-opensubsonic.xsd"
XSD_LEGACY = SCHEMA_DIR / "subsonic-rest-api-1.16.1.xsd"
OPENAPI_DIR = SCHEMA_DIR / "opensubsonic" / "openapi"

SUBSONIC_NS = "http://subsonic.org/restapi"
ROOT_KEY = "subsonic-response"
# A synthetic base URI for the OpenAPI tree, so that $refs resolve (and error messages read)
# the same wherever the repository is checked out. The retrieve function maps it to OPENAPI_DIR.
_BASE_URI = "file:///opensubsonic/openapi/"
_FAILURE_URI = _BASE_URI + "schemas/SubsonicResponse/SubsonicFailureResponse.json"

_VERSION_RE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
_ENVELOPE_KEYS = frozenset({"status", "version", "type", "serverVersion", "openSubsonic"})
_OPENSUBSONIC_KEYS = ("type", "serverVersion", "openSubsonic")
# Keys whose value is an id: ids are strings in Subsonic (xs:string), never JSON numbers.
ID_KEYS = frozenset({"id", "parent", "albumId", "artistId", "coverArt", "channelId", "streamId"})
# Paths (below subsonic-response) where a numeric id is correct: MusicFolder@id and User/folder
# are xs:int in the XSD. "*" matches any array index.
NUMERIC_ID_PATHS: tuple[tuple[str, ...], ...] = (
    ("musicFolders", "musicFolder", "*", "id"),
    ("user", "folder", "*"),
    ("users", "user", "*", "folder", "*"),
)
_JSONP_RE = re.compile(
    r"\A\s*(?P<callback>[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*)\s*\("
    r"(?P<body>.*)\)\s*;?\s*\Z",
    re.DOTALL,
)
_MAX_MESSAGE = 240


class ConformanceError(AssertionError):
    """A response body does not conform.

    ``violations`` holds one line per problem: ``"line 3: <xsd message>"`` for XML, or
    ``"$.subsonic-response.album.song[0].id: <message>"`` for JSON. ``str(error)`` joins them.
    It subclasses ``AssertionError`` so a failed check reads as a test failure.
    """

    def __init__(self, what: str, violations: list[str]) -> None:
        self.violations: tuple[str, ...] = tuple(dict.fromkeys(violations))
        lines = "\n  ".join(self.violations)
        super().__init__(f"{what}: {len(self.violations)} violation(s)\n  {lines}")


# --------------------------------------------------------------------------------------------
# Known slips of the upstream OpenAPI schemas
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchemaSlip:
    """One deliberate deviation from the vendored OpenAPI tree.

    ``file`` is relative to ``openapi/`` (``"*"``: a rule for the whole tree that is handled by
    how we validate, not by a patch). ``pointer`` is the JSON pointer of the node that
    ``replace`` (old node -> new node) rewrites in the loaded copy; ``replace`` raises
    ``LookupError`` when the upstream text no longer has the slip. ``change`` says what we do
    and ``reason`` why the upstream schema would misjudge a correct response.
    """

    file: str
    pointer: str | None
    change: str
    reason: str
    replace: Callable[[Any], Any] | None = None


def _drop_required(*names: str) -> Callable[[Any], Any]:
    def replace(required: Any) -> Any:
        missing = [n for n in names if n not in required]
        if missing:
            raise LookupError(f"{missing} not in required {required}")
        return [n for n in required if n not in names]

    return replace


def _without_property(name: str) -> Callable[[Any], Any]:
    def replace(properties: Any) -> Any:
        if name not in properties:
            raise LookupError(f"no property {name!r}")
        return {k: v for k, v in properties.items() if k != name}

    return replace


def _forbid_album_song(items: Any) -> Any:
    if items != {"$ref": "./AlbumID3.json"}:
        raise LookupError(f"expected a $ref to AlbumID3.json, got {items}")
    return {"allOf": [items, {"properties": {"song": {"not": {}}}}]}


def _jukebox_gain_properties(properties: Any) -> Any:
    if "volume" not in properties or "gain" in properties:
        raise LookupError("JukeboxStatus no longer declares volume instead of gain")
    fixed = {k: v for k, v in properties.items() if k != "volume"}
    fixed["gain"] = {"type": "number", "description": "xs:float gain (0.0-1.0), as in the XSD"}
    return fixed


def _jukebox_gain_required(required: Any) -> Any:
    if "volume" not in required:
        raise LookupError("JukeboxStatus no longer requires volume")
    return ["gain" if n == "volume" else n for n in required]


def _wrap_transcode_decision(schema: Any) -> Any:
    if "subsonic-response" in json.dumps(schema):
        raise LookupError("TranscodeDecisionResponse already has the subsonic-response envelope")
    payload = {
        "type": "object",
        "properties": {"transcodeDecision": {"$ref": "./TranscodeDecision.json"}},
        "required": ["transcodeDecision"],
    }
    return {
        "type": "object",
        "properties": {
            ROOT_KEY: {
                "oneOf": [
                    {"allOf": [{"$ref": "./SubsonicResponse/SubsonicSuccessResponse.json"}, payload]},
                    {"$ref": "./SubsonicResponse/SubsonicFailureResponse.json"},
                ]
            }
        },
    }


def _legacy_base_required(required: Any) -> Any:
    return _drop_required(*_OPENSUBSONIC_KEYS)(required)


def _legacy_play_queue_current(current: Any) -> Any:
    if current.get("type") != "string":
        raise LookupError(f"PlayQueue.current is no longer a string: {current}")
    return {**current, "type": ["string", "integer"]}


_SONG_IN_ALBUMID3 = (
    "the XSD AlbumID3 has no song child (only AlbumWithSongsID3 has), but upstream AlbumID3.json "
    "declares `song`, so an album list carrying songs would pass"
)

KNOWN_SCHEMA_SLIPS: tuple[SchemaSlip, ...] = (
    SchemaSlip(
        "schemas/AlbumID3WithSongs.json",
        "/allOf/1/required",
        "`song` is optional",
        "XSD song minOccurs=0 and empty legacy lists are left out: an album without songs has no `song`",
        _drop_required("song"),
    ),
    SchemaSlip(
        "schemas/ArtistWithAlbumsID3.json",
        "/allOf/1/required",
        "`album` is optional",
        "XSD album minOccurs=0 and empty legacy lists are left out: an artist without albums has no `album`",
        _drop_required("album"),
    ),
    SchemaSlip(
        "schemas/NowPlaying.json",
        "/required",
        "`entry` is optional",
        'XSD entry minOccurs=0: nobody playing is `"nowPlaying": {}`',
        _drop_required("entry"),
    ),
    SchemaSlip(
        "schemas/JukeboxStatus.json",
        "/properties",
        "`volume` (integer, format float) becomes `gain` (number)",
        'the XSD attribute is `gain` xs:float (and the upstream docs example sends "gain": 0.9); '
        "an integer volume rejects every fractional gain",
        _jukebox_gain_properties,
    ),
    SchemaSlip(
        "schemas/JukeboxStatus.json",
        "/required",
        "require `gain` instead of `volume`",
        "XSD JukeboxStatus@gain is use=required and there is no volume attribute",
        _jukebox_gain_required,
    ),
    SchemaSlip(
        "schemas/AlbumID3.json",
        "/properties",
        "drop the `song` property",
        _SONG_IN_ALBUMID3,
        _without_property("song"),
    ),
    SchemaSlip(
        "schemas/AlbumList2.json",
        "/properties/album/items",
        "AlbumID3 items must not carry `song`",
        _SONG_IN_ALBUMID3,
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/SearchResult3.json",
        "/properties/album/items",
        "AlbumID3 items must not carry `song`",
        _SONG_IN_ALBUMID3,
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/Starred2.json",
        "/properties/album/items",
        "AlbumID3 items must not carry `song` (starred2 albums are AlbumID3 as in the XSD, not Child)",
        _SONG_IN_ALBUMID3 + "; the starred2 docs table calls them Child, the XSD and OpenAPI say AlbumID3",
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/ArtistWithAlbumsID3.json",
        "/allOf/1/properties/album/items",
        "AlbumID3 items must not carry `song`",
        _SONG_IN_ALBUMID3,
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/TranscodeDecisionResponse.json",
        "/content/application~1json/schema",
        "wrap `transcodeDecision` in the subsonic-response success/failure envelope",
        "upstream puts `transcodeDecision` at the top level, so it checks nothing of a real "
        '`{"subsonic-response": {..., "transcodeDecision": {...}}}` (see its docs example)',
        _wrap_transcode_decision,
    ),
    SchemaSlip(
        "*",
        None,
        "`format` is an annotation only (no FormatChecker)",
        "format date-time is RFC 3339 but xs:dateTime also allows no zone; `format: float` sits on integers",
    ),
    SchemaSlip(
        "*",
        None,
        "read as JSON Schema draft 4: `integer` is any JSON integer without a fraction",
        "OpenAPI 3.0 has no long: Python ints are unbounded so xs:long fits; 1.0 is rejected as xs:int is",
    ),
    SchemaSlip(
        "*",
        None,
        "OpenAPI 3.0 `nullable: true` becomes a `null` type (the tree has none today)",
        "draft 4 ignores `nullable`; nulls are rejected anyway by the envelope rule (tempus #540)",
    ),
    SchemaSlip(
        "*",
        None,
        "the root key `subsonic-response` is checked by the envelope rules",
        "no *Response.json lists `subsonic-response` as required, so `{}` would pass",
    ),
    SchemaSlip(
        "*",
        None,
        "binary endpoints (stream, download, getCoverArt, getAvatar, getCaptions, hls, "
        "getTranscodeStream) accept only a failed JSON envelope",
        "their 200 response has no application/json schema; on error they send the error document",
    ),
)

LEGACY_RELAXATIONS: tuple[SchemaSlip, ...] = (
    SchemaSlip(
        "schemas/SubsonicResponse/SubsonicBaseResponse.json",
        "/required",
        "`type`, `serverVersion`, `openSubsonic` are optional",
        "a plain Subsonic 1.16.1 server does not send the OpenSubsonic attributes",
        _legacy_base_required,
    ),
    SchemaSlip(
        "schemas/PlayQueue.json",
        "/properties/current",
        "`current` may be an integer",
        "the official XSD has PlayQueue@current xs:int; the string form is an OpenSubsonic erratum",
        _legacy_play_queue_current,
    ),
)


# --------------------------------------------------------------------------------------------
# XML
# --------------------------------------------------------------------------------------------

_xsd_lock = threading.Lock()
_xsd_cache: dict[bool, etree.XMLSchema] = {}


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


def _xml_schema(legacy: bool) -> etree.XMLSchema:
    """The compiled XSD (official when ``legacy``), built once per process."""
    with _xsd_lock:
        schema = _xsd_cache.get(legacy)
        if schema is None:
            path = XSD_LEGACY if legacy else XSD_OPENSUBSONIC
            schema = etree.XMLSchema(etree.parse(str(path), _safe_parser()))
            _xsd_cache[legacy] = schema
        return schema


def validate_xml(body: bytes | str, *, legacy: bool = False, endpoint: str | None = None) -> None:
    """Validate an XML ``subsonic-response`` document.

    ``body``: the raw response bytes (a ``str`` is encoded as UTF-8). It is parsed without
    network access, DTD loading or entity resolution; a DOCTYPE is itself a violation.

    Checks: the XSD (OpenSubsonic-extended, or the official 1.16.1 one when ``legacy``); UTF-8;
    ``status="failed"`` iff there is an ``error`` child; without ``legacy`` the OpenSubsonic
    attributes ``type``, ``serverVersion`` and ``openSubsonic="true"`` must be present. With
    ``endpoint`` (e.g. ``"getAlbum"``), the payload element must be one the OpenAPI declares for
    that endpoint (none for ``ping``-like endpoints).

    Raises ``ConformanceError`` listing the violations (XSD errors as ``line N: message``).
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    try:
        tree = etree.parse(io.BytesIO(raw), _safe_parser())
    except etree.XMLSyntaxError as exc:
        raise ConformanceError("XML is not well-formed", [f"line {exc.lineno}: {exc.msg}"]) from None
    violations: list[str] = []
    docinfo: Any = tree.docinfo  # lxml-stubs lack DocInfo.doctype
    if docinfo.doctype:
        violations.append(f"line 1: DOCTYPE not allowed in a Subsonic response: {docinfo.doctype}")
    if (docinfo.encoding or "UTF-8").upper() not in ("UTF-8", "UTF8"):
        violations.append(f"line 1: encoding must be UTF-8, not {docinfo.encoding}")
    schema = _xml_schema(legacy)
    with _xsd_lock:  # an XMLSchema's error_log belongs to its last validate() call
        if not schema.validate(tree):
            log: Any = schema.error_log
            violations.extend(f"line {e.line}: {e.message}" for e in log)
    root = tree.getroot()
    if root.tag == f"{{{SUBSONIC_NS}}}{ROOT_KEY}":
        violations.extend(_xml_envelope_violations(root, legacy=legacy, endpoint=endpoint))
    if violations:
        xsd = XSD_LEGACY.name if legacy else XSD_OPENSUBSONIC.name
        raise ConformanceError(f"XML response does not conform to {xsd}", violations)


def _xml_envelope_violations(root: Any, *, legacy: bool, endpoint: str | None) -> list[str]:
    violations: list[str] = []
    where = f"line {root.sourceline}"
    if not legacy:
        for name in _OPENSUBSONIC_KEYS:
            if root.get(name) is None:
                violations.append(f"{where}: OpenSubsonic attribute {name!r} missing on subsonic-response")
        if root.get("openSubsonic") not in (None, "true", "1"):
            violations.append(f"{where}: openSubsonic must be true, got {root.get('openSubsonic')!r}")
    children = [c for c in root if isinstance(c.tag, str)]
    names = [etree.QName(c).localname for c in children]
    status = root.get("status")
    if status == "failed" and names != ["error"]:
        violations.append(f'{where}: status="failed" needs exactly one <error> child, got {names}')
    if status == "ok" and "error" in names:
        violations.append(f'{where}: status="ok" with an <error> child')
    if endpoint is not None and status == "ok":
        info = _openapi(legacy).endpoint(endpoint)
        for child, name in zip(children, names, strict=True):
            if name not in info.payload_keys:
                expected = sorted(info.payload_keys) or "no payload"
                violations.append(
                    f"line {child.sourceline}: <{name}> is not a {endpoint} payload ({expected})"
                )
        for name in sorted(info.required_payload - set(names)):
            violations.append(f"{where}: {endpoint} response lacks its <{name}> payload")
    return violations


# --------------------------------------------------------------------------------------------
# JSON: the OpenAPI tree as a referencing registry
# --------------------------------------------------------------------------------------------


def _openapi30_to_draft4(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 schema quirks into draft 4, recursively (returns a new object).

    ``{"type": T, "nullable": true}`` becomes ``{"type": [T, "null"]}`` (and an ``enum``
    gains ``None``); ``nullable: false`` is dropped. Other OpenAPI-only keywords (``example``,
    ``externalDocs``, ``deprecated``, ``format``) are annotations to draft 4 and stay.
    """
    if isinstance(node, list):
        return [_openapi30_to_draft4(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30_to_draft4(v) for k, v in node.items()}
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
    return _openapi30_to_draft4(out)


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
        """The patched JSON document at ``uri`` (a ``_BASE_URI`` file URI, no fragment)."""
        if not uri.startswith(_BASE_URI):
            raise LookupError(f"not in the vendored OpenAPI tree: {uri}")
        rel = uri[len(_BASE_URI) :]
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
        uri = _BASE_URI + f"endpoints/{name}.json"
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
                frozenset(self._properties(buri, bptr, False) - _ENVELOPE_KEYS),
                frozenset(self._properties(buri, bptr, True) - _ENVELOPE_KEYS),
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


def _openapi(legacy: bool) -> _OpenAPI:
    with _openapi_lock:
        found = _openapi_cache.get(legacy)
        if found is None:
            found = _openapi_cache[legacy] = _OpenAPI(legacy)
        return found


# --------------------------------------------------------------------------------------------
# JSON validation
# --------------------------------------------------------------------------------------------


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
        for key in _OPENSUBSONIC_KEYS:
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
    api = _openapi(legacy)
    info = api.endpoint(endpoint)
    data = body if isinstance(body, Mapping) else _parse_json(body)
    violations, inner = _envelope_violations(data, legacy=legacy)
    if inner is not None:
        violations.extend(_value_violations(inner))
        status = inner.get("status")
        allowed_extra = {"xmlns"} if legacy else set()  # old Subsonic JSON carried the namespace
        payload = [k for k in inner if k not in _ENVELOPE_KEYS and k not in allowed_extra]
        where = f"$.{ROOT_KEY}"
        if status == "failed":
            violations.extend(_schema_violations(api.validator(_FAILURE_URI), inner))
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


# --------------------------------------------------------------------------------------------
# Dispatch on the content type
# --------------------------------------------------------------------------------------------

_XML_TYPES = frozenset({"text/xml", "application/xml"})
_JSON_TYPES = frozenset({"application/json"})
_JSONP_TYPES = frozenset({"text/javascript", "application/javascript", "application/x-javascript"})


def validate_response(endpoint: str, body: bytes, content_type: str, *, legacy: bool = False) -> None:
    """Validate a response body by its ``Content-Type`` header value.

    ``text/xml``/``application/xml`` -> ``validate_xml`` (with the endpoint's payload check);
    ``application/json`` -> ``validate_json``; ``text/javascript``/``application/javascript``
    (JSONP) -> the ``callback(...)`` wrapper (optionally ``;``-terminated, callback a JS
    identifier path) is stripped and the inside validated as JSON. A ``charset`` other than
    UTF-8 is a violation.

    Raises ``ConformanceError``; ``ValueError`` for an unknown endpoint.
    """
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    charset = re.search(r"charset\s*=\s*\"?([^\";\s]+)", params, re.IGNORECASE)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise ConformanceError(
            "response content type", [f"Content-Type charset must be UTF-8: {content_type!r}"]
        )
    if media_type in _XML_TYPES:
        validate_xml(body, legacy=legacy, endpoint=endpoint)
    elif media_type in _JSON_TYPES:
        validate_json(endpoint, body, legacy=legacy)
    elif media_type in _JSONP_TYPES:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConformanceError("JSONP response", [f"not UTF-8: {exc}"]) from None
        match = _JSONP_RE.match(text)
        if match is None:
            raise ConformanceError("JSONP response", ["body is not `callback(<json>)` with a JS identifier"])
        validate_json(endpoint, match.group("body"), legacy=legacy)
    else:
        raise ConformanceError(
            "response content type", [f"not a Subsonic XML/JSON/JSONP type: {content_type!r}"]
        )
