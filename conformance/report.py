"""The report: one row per endpoint and per check, a summary line, and a JSON form.

``render(rows)`` gives the text table (``pass``, ``fail — reason``, ``n/i``, ``skip — reason``)
with endpoints first (alphabetical) then checks; ``summary(rows)`` the counts;
``as_json(rows, meta)`` the machine form written by ``--json REPORT``; ``markdown(rows)`` the
table the README quotes.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from conformance.runner import Row

__all__ = ["as_json", "markdown", "render", "summary"]

_ORDER = {"endpoint": 0, "check": 1}


def _sorted(rows: list[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (_ORDER[r.kind], r.name.lower()))


def summary(rows: list[Row]) -> str:
    endpoints = Counter(r.status for r in rows if r.kind == "endpoint")
    checks = Counter(r.status for r in rows if r.kind == "check")
    def part(c: Counter[str]) -> str:
        return ", ".join(f"{c[k]} {k}" for k in ("pass", "fail", "n/i", "skip") if c[k])
    verdict = "FAIL" if endpoints["fail"] or checks["fail"] else "PASS"
    return (f"{verdict}: endpoints {sum(endpoints.values())} ({part(endpoints)}); "
            f"checks {sum(checks.values())} ({part(checks)})")


def render(rows: list[Row]) -> str:
    width = max(len(r.name) for r in rows) + 2
    lines = []
    for row in _sorted(rows):
        reason = row.reason
        lines.append(f"{row.name:<{width}}{row.status:<6}{(' ' + reason) if reason else ''}".rstrip())
    return "\n".join(lines)


def markdown(rows: list[Row]) -> str:
    out = ["| endpoint / check | result | reason |", "|---|---|---|"]
    for row in _sorted(rows):
        reason = row.reason.replace("|", "\\|")
        if len(reason) > 160:
            reason = reason[:157] + "..."
        out.append(f"| `{row.name}` | {row.status} | {reason} |")
    return "\n".join(out)


def as_json(rows: list[Row], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        **meta,
        "summary": summary(rows),
        "rows": [
            {"name": r.name, "kind": r.kind, "status": r.status, "reason": r.reason,
             "failures": list(dict.fromkeys(r.failures)), "passes": r.passes}
            for r in _sorted(rows)
        ],
    }
