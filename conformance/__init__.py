"""Conformance checks for Subsonic/OpenSubsonic responses (XSD + OpenAPI), for the test suite.

Self-contained: depends on lxml, jsonschema and referencing only, never on ``orbsonic``, so it
can judge the bytes of any Subsonic server. The schemas are vendored in ``schemas/`` (see its
README for their origin and licences).
"""

from __future__ import annotations

from conformance.validate import (
    KNOWN_SCHEMA_SLIPS,
    LEGACY_RELAXATIONS,
    ConformanceError,
    SchemaSlip,
    validate_json,
    validate_response,
    validate_xml,
)

__all__ = [
    "KNOWN_SCHEMA_SLIPS",
    "LEGACY_RELAXATIONS",
    "ConformanceError",
    "SchemaSlip",
    "validate_json",
    "validate_response",
    "validate_xml",
]
