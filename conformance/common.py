"""Shared ground of the conformance checks: schema location, envelope keys, ConformanceError.

``SCHEMA_DIR`` is the vendored ``schemas/`` tree; ``ROOT_KEY``, ``ENVELOPE_KEYS`` and
``OPENSUBSONIC_KEYS`` name the ``subsonic-response`` envelope the XML and JSON checks both
look at. Every failed check raises ``ConformanceError``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ENVELOPE_KEYS", "OPENSUBSONIC_KEYS", "ROOT_KEY", "SCHEMA_DIR", "ConformanceError"]

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"

ROOT_KEY = "subsonic-response"
ENVELOPE_KEYS = frozenset({"status", "version", "type", "serverVersion", "openSubsonic"})
OPENSUBSONIC_KEYS = ("type", "serverVersion", "openSubsonic")


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

