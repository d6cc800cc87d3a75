"""Validate Subsonic / OpenSubsonic response bodies against the vendored schemas: the public front.

Works on raw response bytes from *any* Subsonic server; it does not import ``orbsonic``.

* XML: ``validate_xml`` (``conformance.xmlcheck``): lxml + XSD
  (``schemas/subsonic-rest-api-1.16.1-opensubsonic.xsd``, or the official
  ``schemas/subsonic-rest-api-1.16.1.xsd`` with ``legacy=True``).
* JSON: ``validate_json`` (``conformance.jsoncheck``) against the OpenSubsonic OpenAPI tree
  (``schemas/opensubsonic/openapi``), read as JSON Schema draft 4 through a ``referencing``
  registry (``conformance.openapi``). Known upstream slips are patched in memory
  (``KNOWN_SCHEMA_SLIPS``, ``conformance.slips``); the vendored files are never edited.
* Envelope rules the schemas do not enforce (root key, status, version pattern, OpenSubsonic
  attributes, no JSON ``null``, string ids, one payload per response).
* ``validate_response`` (here) dispatches on the ``Content-Type``, JSONP included.

Every failure raises ``ConformanceError`` (``conformance.common``); its ``violations`` lists each
problem with its location (XML: line number; JSON: a ``$.subsonic-response...`` path).
"""

from __future__ import annotations

import re

from conformance.common import ROOT_KEY, SCHEMA_DIR, ConformanceError
from conformance.jsoncheck import ID_KEYS, NUMERIC_ID_PATHS, validate_json
from conformance.openapi import BASE_URI, OPENAPI_DIR, apply_slips, openapi30_to_draft4, openapi_tree
from conformance.slips import KNOWN_SCHEMA_SLIPS, LEGACY_RELAXATIONS, SchemaSlip, drop_required
from conformance.xmlcheck import SUBSONIC_NS, XSD_LEGACY, XSD_OPENSUBSONIC, validate_xml, xml_schema

__all__ = [
    "ID_KEYS",
    "KNOWN_SCHEMA_SLIPS",
    "LEGACY_RELAXATIONS",
    "NUMERIC_ID_PATHS",
    "OPENAPI_DIR",
    "ROOT_KEY",
    "SCHEMA_DIR",
    "SUBSONIC_NS",
    "XSD_LEGACY",
    "XSD_OPENSUBSONIC",
    "ConformanceError",
    "SchemaSlip",
    "apply_slips",
    "validate_json",
    "validate_response",
    "validate_xml",
]

# Internals the unit tests reach as ``conformance.validate.<name>``, under their names before the split.
_BASE_URI = BASE_URI
_openapi = openapi_tree
_openapi30_to_draft4 = openapi30_to_draft4
_drop_required = drop_required
_xml_schema = xml_schema

_JSONP_RE = re.compile(
    r"\A\s*(?P<callback>[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)*)\s*\("
    r"(?P<body>.*)\)\s*;?\s*\Z",
    re.DOTALL,
)

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
