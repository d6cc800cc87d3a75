"""XML responses: the vendored XSDs, and ``validate_xml``.

``validate_xml`` parses a ``subsonic-response`` document safely (no network, DTD or
entities), validates it against the OpenSubsonic-extended XSD
(``schemas/subsonic-rest-api-1.16.1-opensubsonic.xsd``, or the official
``schemas/subsonic-rest-api-1.16.1.xsd`` with ``legacy=True``) and checks the envelope rules
the XSD does not enforce (OpenSubsonic attributes, status vs. error, and the endpoint's payload
element as the OpenAPI declares it). Violations carry line numbers.
"""

from __future__ import annotations

import io
import threading
from typing import Any

from lxml import etree

from conformance.common import OPENSUBSONIC_KEYS, ROOT_KEY, SCHEMA_DIR, ConformanceError
from conformance.openapi import openapi_tree

__all__ = ["SUBSONIC_NS", "XSD_LEGACY", "XSD_OPENSUBSONIC", "validate_xml", "xml_schema"]

XSD_OPENSUBSONIC = SCHEMA_DIR / "subsonic-rest-api-1.16.1-opensubsonic.xsd"
XSD_LEGACY = SCHEMA_DIR / "subsonic-rest-api-1.16.1.xsd"

SUBSONIC_NS = "http://subsonic.org/restapi"
# OpenSubsonic payloads that are JSON arrays at the root, repeated elements in XML.
_ROOT_ARRAYS = frozenset({"openSubsonicExtensions", "sonicMatch"})

_xsd_lock = threading.Lock()
_xsd_cache: dict[bool, etree.XMLSchema] = {}


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
    )


def xml_schema(legacy: bool) -> etree.XMLSchema:
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
    schema = xml_schema(legacy)
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
        for name in OPENSUBSONIC_KEYS:
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
        info = openapi_tree(legacy).endpoint(endpoint)
        for child, name in zip(children, names, strict=True):
            if name not in info.payload_keys:
                expected = sorted(info.payload_keys) or "no payload"
                violations.append(
                    f"line {child.sourceline}: <{name}> is not a {endpoint} payload ({expected})"
                )
        # A root array (spec §5 rule 8) repeats its element at the root: empty, there is none.
        for name in sorted(info.required_payload - set(names) - _ROOT_ARRAYS):
            violations.append(f"{where}: {endpoint} response lacks its <{name}> payload")
    return violations
