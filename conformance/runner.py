"""The runner's ledger and its one way of calling an endpoint: ``Runner.check``.

Every call goes through ``Runner.call`` (one request, its document validated against the XSD or
the OpenAPI schemas, a violation recorded on the endpoint's row) or ``Runner.check`` (the same
call in XML and in JSON, the two compared, optionally also as a form POST and through the
``.view`` alias). Rows: one per endpoint (``ENDPOINTS``, the 87 of the vendored OpenAPI tree) and
one per cross-cutting check (auth modes, error codes, ranges, round trips). A row is ``fail`` as
soon as one call failed, ``n/i`` when the server answers that it does not implement the method,
``pass`` when at least one call passed, ``skip`` (with the reason) when it could not be exercised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from conformance.client import Answer, Server
from conformance.common import ConformanceError
from conformance.compare import differences, normal_json, normal_xml
from conformance.openapi import OPENAPI_DIR
from conformance.validate import validate_response

__all__ = ["ENDPOINTS", "Row", "Runner", "Unexpected"]

ENDPOINTS: tuple[str, ...] = tuple(
    sorted(p.stem.removesuffix(".m3u8") for p in (OPENAPI_DIR / "endpoints").glob("*.json"))
)
# How servers say "I do not have this method": Orbsonic/Navidrome "not implemented", supysonic
# "Unknown method", Airsonic "not supported"; or an HTTP 404/501 without a Subsonic document.
_NOT_IMPLEMENTED = re.compile(r"not (yet )?implemented|unknown method|not supported|unsupported method"
                              r"|no such method|method not found", re.IGNORECASE)


class Unexpected(Exception):
    """A call answered something the check did not accept; the message says what."""


@dataclass
class Row:
    """One line of the report."""

    name: str
    kind: str  # "endpoint" or "check"
    passes: int = 0
    failures: list[str] = field(default_factory=list)
    not_implemented: bool = False
    skipped: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.failures:
            return "fail"
        if self.passes:
            return "pass"
        if self.not_implemented:
            return "n/i"
        return "skip"

    @property
    def reason(self) -> str:
        if self.failures:
            return "; ".join(dict.fromkeys(self.failures))
        if self.status == "skip":
            return self.skipped or "not exercised"
        if self.status == "n/i":
            return "not implemented"
        return "; ".join(self.notes)


class Runner:
    """The ledger of one run against ``server``. ``legacy`` (no OpenSubsonic envelope) selects
    the official XSD and the relaxed OpenAPI; ``extensions`` is what the server advertises."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.rows: dict[str, Row] = {name: Row(name, "endpoint") for name in ENDPOINTS}
        self.legacy = False
        self.extensions: dict[str, list[int]] = {}
        self.fixtures: dict[str, Any] = {}

    # -- ledger -------------------------------------------------------------------------
    def row(self, name: str, kind: str = "check") -> Row:
        if name not in self.rows:
            self.rows[name] = Row(name, kind)
        return self.rows[name]

    def ok(self, name: str, note: str | None = None) -> None:
        row = self.row(name)
        row.passes += 1
        if note and note not in row.notes:
            row.notes.append(note)

    def fail(self, name: str, reason: str) -> None:
        self.row(name).failures.append(reason)

    def skip(self, name: str, reason: str) -> None:
        row = self.row(name)
        row.skipped = row.skipped or reason

    def has(self, extension: str) -> bool:
        return extension in self.extensions

    # -- calls --------------------------------------------------------------------------
    @staticmethod
    def not_implemented(answer: Answer) -> bool:
        if answer.status == "failed":
            return answer.code == 0 and bool(_NOT_IMPLEMENTED.search(answer.message))
        return answer.status is None and answer.http_status in (404, 405, 501)

    def validate(self, endpoint: str, answer: Answer) -> list[str]:
        """Schema violations of a document answer ([] for binary bodies)."""
        if not answer.is_document:
            return []
        if answer.parse_error:
            return [answer.parse_error]
        try:
            validate_response(endpoint, answer.content, answer.headers.get("content-type", ""),
                              legacy=self.legacy)
        except ConformanceError as exc:
            return [f"{answer.media} {v}" for v in exc.violations[:4]]
        except ValueError as exc:
            return [str(exc)]
        return []

    def call(self, endpoint: str, params: dict[str, Any] | None = None, *, row: str | None = None,
             **kw: Any) -> Answer:
        """One call; its document is validated and a violation fails ``row`` (the endpoint's
        row unless named). Returns the answer; raises nothing for a failed envelope."""
        answer = self.server.call(endpoint, params, **kw)
        row = row or endpoint
        if self.not_implemented(answer):
            self.row(endpoint, "endpoint").not_implemented = True
            return answer
        for violation in self.validate(endpoint, answer):
            self.fail(row, violation)
        return answer

    def expect_ok(self, endpoint: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        """A JSON call that must be ``status="ok"``; returns its envelope, else ``Unexpected``."""
        answer = self.call(endpoint, params, **kw)
        if self.not_implemented(answer):
            raise Unexpected(f"{endpoint} is not implemented")
        if answer.status != "ok" or answer.envelope is None:
            raise Unexpected(f"{endpoint}: {answer.describe()}")
        self.ok(endpoint)
        return answer.envelope

    def check(self, endpoint: str, params: dict[str, Any] | None = None, *, stable: bool = True,
              accept: tuple[int, ...] = (), auth: str = "password") -> dict[str, Any] | None:
        """The full probe of one read: XML and JSON (validated, compared when ``stable``), the
        ``.view`` alias, and a form POST equal to the GET when ``formPost`` is advertised.
        ``accept`` lists error codes that count as a correct answer (e.g. 70 for a video id on
        a music server). Returns the JSON envelope, or None when not implemented / failed."""
        xml = self.call(endpoint, params, fmt="xml", auth=auth)
        if self.not_implemented(xml):
            return None
        js = self.call(endpoint, params, fmt="json", auth=auth)
        if self.not_implemented(js):
            return None
        problems = []
        for answer in (xml, js):
            if not answer.is_document:
                problems.append(f"{answer.describe()} instead of a Subsonic document")
            elif answer.status == "failed" and answer.code not in accept:
                problems.append(f"{answer.media} {answer.describe()}")
        if problems:
            for p in problems:
                self.fail(endpoint, p)
            return None
        if xml.http_status != 200 or js.http_status != 200:
            self.fail(endpoint, f"HTTP {xml.http_status}/{js.http_status}: Subsonic answers are HTTP 200")
        if stable and xml.xml is not None and js.envelope is not None:
            diff = differences(normal_xml(xml.xml), normal_json(js.envelope))
            if diff:
                self.fail(endpoint, "XML and JSON differ: " + "; ".join(diff[:3]))
        note = f"error {js.code} accepted" if js.status == "failed" else None
        self._alias(endpoint, params, js, stable, auth)
        if self.has("formPost"):
            post = self.server.call(endpoint, params, http="POST", auth=auth)
            problem = None
            if post.status != js.status:
                problem = f"form POST answers {post.describe()}, GET {js.describe()}"
            elif stable and post.envelope is not None and js.envelope is not None:
                diff = differences(normal_json(js.envelope), normal_json(post.envelope))
                if diff:
                    problem = "form POST differs from GET: " + "; ".join(diff[:3])
            if problem:
                self.fail(endpoint, problem)
                self.fail("GET == POST (formPost)", f"{endpoint}: {problem}")
            else:
                self.ok("GET == POST (formPost)")
        self.ok(endpoint, note)
        return js.envelope

    def _alias(self, endpoint: str, params: Any, js: Answer, stable: bool, auth: str) -> None:
        view = self.server.call(endpoint, params, suffix=".view", auth=auth)
        problem = None
        if view.status != js.status:
            problem = f"{endpoint}.view answers {view.describe()}, {endpoint} {js.describe()}"
        elif stable and view.envelope is not None and js.envelope is not None:
            diff = differences(normal_json(js.envelope), normal_json(view.envelope))
            if diff:
                problem = f"{endpoint}.view differs: " + "; ".join(diff[:3])
        if problem:
            self.fail(endpoint, problem)
            self.fail(".view aliases", problem)
        else:
            self.ok(".view aliases")
