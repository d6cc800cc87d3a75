"""Markdown table helpers of the benchmark report (bench/report.py, bench/report_native.py):
number formatting, tables, and the per-scenario API table (latency, req/s, CPU)."""

from __future__ import annotations

from typing import Any


def fmt(v: Any, digits: int = 1) -> str:
    if v is None or v == "":
        return "–"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def table(head: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return [*out, ""]


def kb(r: dict[str, Any]) -> str:
    ok = r["requests"] - r["errors"]
    return f"{r.get('bytes', 0) / 1000 / ok:,.1f}" if ok > 0 else "–"


def rps(r: dict[str, Any]) -> str:
    if r["errors"] and r["errors"] >= r["requests"]:
        return "error"
    return f"{r['rps']:,.1f}" + (f" ({r['errors']} err)" if r["errors"] else "")


def api_table(sc: dict[str, Any]) -> list[str]:
    rows = []
    for name, v in sc.items():
        a, b = v.get("c1", {}), v.get("c16", {})
        rows.append(
            [
                name,
                a.get("p50_ms"),
                a.get("p95_ms"),
                a.get("p99_ms"),
                a.get("rps"),
                b.get("p50_ms"),
                b.get("p95_ms"),
                b.get("p99_ms"),
                b.get("rps"),
                (a.get("errors") or 0) + (b.get("errors") or 0),
                f"{a.get('client_cpu_pct', 0):.0f} / {b.get('client_cpu_pct', 0):.0f}",
                f"{a.get('server_cpu_pct', 0):.0f} / {b.get('server_cpu_pct', 0):.0f}",
                f"{a.get('db_cpu_pct', 0):.0f} / {b.get('db_cpu_pct', 0):.0f}",
            ]
        )
    return table(
        [
            "endpoint",
            "c=1 p50 ms",
            "p95",
            "p99",
            "req/s",
            "c=16 p50 ms",
            "p95",
            "p99",
            "req/s",
            "errors",
            "load gen CPU % (c1/c16)",
            "server CPU %",
            "PostgreSQL CPU %",
        ],
        rows,
    )
