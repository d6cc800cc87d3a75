"""The 1M targets of issue 12 (and issue 7's getRandomSongs, issue 11's instant mixes) on the
library generated in SQL, with the server-side figures of bench/sqlprobe.py: rendered into
the SQL section of bench/report.py."""

from __future__ import annotations

from typing import Any

from bench.tables import table

# (target, scenario name prefixes, limit in ms p50 at concurrency 1)
TARGETS: list[tuple[str, tuple[str, ...], float]] = [
    ('search3 `""` page of 500 ≤ 50 ms at every offset', ('search3 "" ',), 50),
    ("getAlbumList2 every type ≤ 20 ms", ("getAlbumList2",), 20),
    ("getRandomSongs ≤ 20 ms", ("getRandomSongs",), 20),
    ("text search, common words ≤ 30 ms", ("search3 common word", "search3 two common words",
                                           "search3 one-letter prefix", "search3 text"), 30),
    ("getArtists / getIndexes ≤ 20 ms", ("getArtists", "getIndexes"), 20),
    ("getSimilarSongs / getSimilarSongs2 / getTopSongs ≤ 50 ms", ("getSimilarSongs", "getTopSongs"), 50),
]


def _exact(name: str, prefixes: tuple[str, ...]) -> bool:
    # "getRandomSongs" is the 50-song page; "getRandomSongs size=500" is reported, not judged
    return any(name.startswith(p) for p in prefixes) and name != "getRandomSongs size=500"


def targets_table(sql: dict[str, Any]) -> list[str]:
    """One row per target: the worst scenario's p50 (concurrency 1), met or not."""
    sc = sql.get("scenarios", {})
    rows = []
    for label, prefixes, limit in TARGETS:
        names = [k for k in sc if _exact(k, prefixes) and "c1" in sc[k]]
        if not names:
            rows.append([label, "not measured", "–"])
            continue
        worst = max(names, key=lambda k: sc[k]["c1"]["p50_ms"])
        v = sc[worst]["c1"]["p50_ms"]
        errs = sum(sc[k][c]["errors"] for k in names for c in sc[k])
        rows.append([label, f"worst {v:.1f} ms ({worst}; {len(names)} scenario(s), {errs} errors)",
                     "yes" if v <= limit and not errs else "**no**"])
    return [f"Targets at {sql['tracks']:,} tracks (wall p50, concurrency 1):", "",
            *table(["target", "measured", "met"], rows)]


def server_table(sql: dict[str, Any]) -> list[str]:
    """bench/sqlprobe.py's figures: the SQL of one request, wall from Python and in the database."""
    srv = sql.get("server")
    if not srv:
        return []
    rows = [[name, r["wall_ms"], r["db_exec_ms"]] for name, r in srv.get("probes", {}).items()]
    return [
        "Server side (bench/sqlprobe.py): the library calls of one request of each scenario, without HTTP "
        "or rendering — median wall time from Python, and the database's execution time (sum of EXPLAIN "
        f"(ANALYZE, TIMING OFF) over its statements). Load average {srv.get('load_before')} before, "
        f"{srv.get('load_after')} after.",
        "",
        *table(["probe", "wall (ms)", "database (ms)"], rows),
    ]
