"""The report sections of the phases that run on their own (bench/scaling.py): range
streams per worker count (`--streams-only`) and replica scaling (`--replicas-only`)."""

from __future__ import annotations

from typing import Any

from bench.tables import fmt as _f
from bench.tables import table as _table


def scaling_section(res: dict[str, Any]) -> list[str]:
    """Markdown lines for `streams_only` and `replicas` of results.json ([] when absent)."""
    L: list[str] = []
    so = res.get("streams_only")
    if so:
        L += ["## Range streams alone (`--streams-only`)", ""]
        runs = so["runs"]
        closed = {w: r for w, r in runs.items() if "ranges" in r}
        if closed:
            L += ["### Saturation (closed loop)", ""]
            rows = []
            for w, r in closed.items():
                g = r["ranges"]
                rows.append([w, f"{g['requests']:,}", g["errors"], _f(g["mb_s"]), _f(g["ttfb_p50_ms"]),
                             _f(g["ttfb_p99_ms"]), _f(g["client_cpu_pct"]), _f(r.get("server_cpu_pct_phase")),
                             _f(r.get("db_cpu_pct_phase")), " → ".join("/".join(x) for x in r["loadavg"])])
            L += _table(["serve --workers", "requests", "errors", "MB/s", "TTFB p50 ms", "TTFB p99 ms",
                         "load gen CPU %", "server CPU % (phase)", "PostgreSQL CPU % (phase)", "load average"],
                        rows)
            L += ["", f"{so['tracks']:,}-track library; {next(iter(closed.values()))['ranges']['clients']} "
                  "closed-loop clients asking ranges back to back with no pause for the stream seconds: "
                  "this measures a saturated server's queueing (TTFB ≈ clients / req/s), not what "
                  "listeners experience. CPU % of one core over the whole stream phase.", ""]
        paced = {w: r["paced"] for w, r in runs.items() if "paced" in r}
        if paced:
            n = next(iter(paced.values()))
            L += [f"### {n['listeners']} paced listeners", ""]
            rows = [[w, f"{p['requests']:,}", p["errors"], _f(p["mb_s"]), _f(p["ttfb_p50_ms"]),
                     _f(p["ttfb_p95_ms"]), _f(p["ttfb_p99_ms"]), _f(p["ttfb_max_ms"]),
                     f"{p['underrun_listeners']} ({_f(p['stall_s'])} s)", p["seeks"],
                     _f(p["client_cpu_pct"]), _f(p.get("server_cpu_pct")), _f(p.get("db_cpu_pct"))]
                    for w, p in paced.items()]
            L += _table(["serve --workers", "requests", "errors", "MB/s", "TTFB p50 ms", "TTFB p95 ms",
                         "TTFB p99 ms", "TTFB max ms", "listeners that stalled (stall time)", "seeks",
                         "load gen CPU %", "server CPU %", "PostgreSQL CPU %"], rows)
            kb = n["kbps_min_median_max"]
            mix = ", ".join(f"{k} {v}" for k, v in n["tracks_pool_suffixes"].items())
            L += ["", f"bench/paced.py: each listener plays random tracks of the library "
                  f"({n['tracks_pool']} tracks: {mix}; {kb[0]}/{kb[1]}/{kb[2]} kbit/s "
                  f"min/median/max from size/duration) at the file's own bitrate, asking "
                  f"{n['chunk_bytes'] // 1024} KiB ranges whenever less than {_f(n['buffer_low_s'])} s "
                  f"are buffered, seeking with p={n['seek_p']} per range, for {_f(n['seconds'])} s; "
                  f"listeners start staggered evenly over the first {_f(n['stagger_s'])} s. CPU % of one "
                  "core during the paced run. Target: zero errors, TTFB p99 ≤ 100 ms.", ""]
    rp = res.get("replicas")
    if rp:
        L += [f"## Replica scaling (`--replicas-only`), getAlbumList2 at c={rp['concurrency']}", ""]
        rows = []
        for name, v in rp["scenarios"].items():
            a, b = v["r1"], v["r2"]
            rows.append([name, _f(a["rps"]), _f(b["rps"]), f"{b['rps'] / a['rps']:.2f}×" if a["rps"] else "–",
                         f"{_f(a['server_cpu_pct'])} / {_f(b['server_cpu_pct'])}",
                         f"{_f(a['db_cpu_pct'])} / {_f(b['db_cpu_pct'])}",
                         f"{_f(a['client_cpu_pct'])} / {_f(b['client_cpu_pct'])}", a["errors"] + b["errors"]])
        L += _table(["type", "req/s 1 replica", "req/s 2 replicas", "ratio", "servers CPU % (1 / 2)",
                     "PostgreSQL CPU % (1 / 2)", "load gen CPU % (1 / 2)", "errors"], rows)
        la = rp.get("loadavg", {})
        L += ["", f"All types together: {rp['ratio_all']}× (target ≥ 1.7×). {rp['tracks']:,}-track library; "
              f"each replica an `orbsonic serve` process sharing PostgreSQL"
              + (", one valkey-server" if rp.get("valkey") else " (no valkey-server found)")
              + " and the secret key; connections dealt over the replicas in turn. CPU % of one core; "
              "the 2 cores are shared by the replicas, PostgreSQL and the load generator, so a second "
              "replica only gets what the others leave. Load average (1/5/15 min): "
              + "; ".join(f"{k} {'/'.join(v)}" for k, v in la.items()) + ".", ""]
    return L
