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
        rows = []
        for w, r in so["runs"].items():
            g = r["ranges"]
            rows.append([w, f"{g['requests']:,}", g["errors"], _f(g["mb_s"]), _f(g["ttfb_p50_ms"]),
                         _f(g["ttfb_p99_ms"]), _f(g["client_cpu_pct"]), _f(r.get("server_cpu_pct_phase")),
                         _f(r.get("db_cpu_pct_phase")), " → ".join("/".join(x) for x in r["loadavg"])])
        L += _table(["serve --workers", "requests", "errors", "MB/s", "TTFB p50 ms", "TTFB p99 ms",
                     "load gen CPU %", "server CPU % (phase)", "PostgreSQL CPU % (phase)", "load average"], rows)
        L += ["", f"{so['tracks']:,}-track library; {next(iter(so['runs'].values()))['ranges']['clients']} "
              "closed-loop clients for the stream seconds; CPU % of one core over the whole stream phase "
              "(one stream, sizes, range streams). Target: zero errors, TTFB p99 ≤ 100 ms.", ""]
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
