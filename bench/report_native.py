"""The native API part of the benchmark report: its scenarios table and its targets."""

from __future__ import annotations

from typing import Any

from bench.tables import api_table


def _native_groups(sc: dict[str, Any]) -> dict[str, list[str]]:
    return {
        "page": [k for k in sc if k.startswith("native ") and k.endswith(" page")],
        "search": [k for k in sc if k.startswith("native search ")],
        "sync": [k for k in sc if k.startswith("native sync")],
        "stream": [k for k in sc if k.startswith("native stream")],
    }


def native_targets(nat: dict[str, Any], at: str) -> list[tuple[str, str, bool | None]]:
    """Issue 9's native API targets: (target, measured, met)."""
    sc = nat.get("scenarios", {})
    out: list[tuple[str, str, bool | None]] = []
    if not sc:
        return out
    g = _native_groups(sc)

    def errors(names: list[str]) -> int:
        return sum(sc[k][c]["errors"] for k in names for c in sc[k])

    for key, label, limit in (
        ("page", "Native library page (tracks/albums/artists, first and deep) ≤ 10 ms p50", 10),
        ("search", "Native search-as-you-type ≤ 20 ms p50 for any prefix", 20),
        ("sync", "Native delta sync of 1,000 changes ≤ 50 ms (p50)", 50),
    ):
        names = g[key]
        if names:
            worst = max(names, key=lambda k: sc[k]["c1"]["p50_ms"])
            v = sc[worst]["c1"]["p50_ms"]
            out.append((label + at, f"worst {v:.2f} ms ({worst})", v <= limit and not errors(names)))
    if g["stream"]:
        v = sc[g["stream"][0]]["c1"]["ttfb_p50_ms"]
        out.append(("Native stream (Range) time to first byte ≤ 5 ms (p50)" + at, f"{v:.2f} ms",
                    v <= 5 and not errors(g["stream"])))
    rt = nat.get("realtime")
    if rt:
        out.append(("Real-time event client → client ≤ 50 ms p99 (loopback)" + at,
                    f"p99 {rt['p99_ms']:.1f} ms, p50 {rt['p50_ms']:.1f} ms ({rt['received']} of "
                    f"{rt['rounds']} round trips, {rt['lost']} lost)", rt["p99_ms"] <= 50 and not rt["lost"]))
    return out


def native_section(nat: dict[str, Any], tracks: int) -> list[str]:
    """The "Native API" section: the scenarios' table and the real-time round trips."""
    L = [f"## Native API ({tracks:,} tracks)", ""]
    L += api_table(nat.get("scenarios", {}))
    walked = nat.get("library", {})
    L += [
        "`/api/v1` with an API key (`Authorization: Bearer`). Pages of 50 (the web client's), deep pages "
        f"start at a cursor about 90 % into the list (walked: {walked}); search prefixes are the library's "
        "own word prefixes, *common* the most frequent of their length, *rare* ones that begin one or two "
        "words (20 results per kind); `native stream (Range)` asks `Range: bytes=0-65535` of a track "
        "(206; its time to first byte is the target); `native sync` reads back, as one page "
        "(`GET /sync?since=…&limit=1000`), the changes of starring that many tracks through Subsonic.",
        "",
    ]
    rt = nat.get("realtime")
    if rt:
        L += [
            f"Real-time: client A `POST /playback`, client B's `GET /events` stream receives it, "
            f"{rt['rounds']} sequential round trips on one server (PostgreSQL LISTEN/NOTIFY): p50 "
            f"{rt['p50_ms']:.2f} ms, p99 {rt['p99_ms']:.2f} ms, max {rt['max_ms']:.2f} ms, {rt['lost']} lost "
            "(measured from A sending to B having the event).",
            "",
        ]
    return L
