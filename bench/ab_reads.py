"""A/B of the small per-user reads (issue 13): `python -m bench.ab_reads --work DIR
[--tracks 10000] [--seconds 3] [--side NAME=SRC[:cache_mb]] ...`.

Run it from a directory that holds no Orbsonic source (the work dir), with PYTHONPATH naming
this checkout: `python -m orbsonic` puts the working directory first on sys.path, ahead of
the side's SRC. For example (main against this branch, with and without the answer cache):

    git archive main | tar -x -C W/main-src; git archive HEAD | tar -x -C W/branch-src
    cd W && PYTHONPATH=<checkout> <checkout>/.venv/bin/python -m bench.ab_reads --work W \
        --side main=W/main-src --side branch=W/branch-src --side branch-miss=W/branch-src:0

Each side is an Orbsonic source tree (SRC: a checkout or a `git archive` of a branch, put
first on PYTHONPATH) served with `ORBSONIC_ANSWER_CACHE_MB=cache_mb` when given (`0`: every
request a miss); each gets its own database scanned from the same library in the work dir's
cluster, the same seeding as the side-by-side run (bench/api.py), and the peer scenario set's
getAlbum, getArtist, getSong, getPlayQueue, search3 no match, search3 text and getStarred2,
at concurrency 1 and 16, one side after the other. Printed: p50/p95 ms, req/s, and the
server's and the database's CPU ms per request; written to <work>/ab_reads.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from bench.api import Api, auth_query, discover, scenarios, seed_annotations, seed_reads
from bench.library import ensure_library
from bench.run import HOST, log, run_scenarios
from bench.target import PASSWORD, USER, BenchCluster, Orbsonic

WANTED = ("getAlbum", "getArtist", "getSong", "getPlayQueue", "search3 no match", "search3 text",
          "getStarred2")


async def _measure(orb: Orbsonic, cluster: BenchCluster, seconds: float, seed: int) -> dict[str, Any]:
    api = Api(HOST, orb.port, auth_query(USER, PASSWORD))
    lib = await discover(api, seed)
    await seed_annotations(api, lib, seed)
    await seed_reads(api, lib)
    scs = [s for s in scenarios(api, lib, peer_set=True, seed=seed) if s.name in WANTED]
    await api.close()
    return await run_scenarios(orb.port, scs, seconds, orb.pids, cluster.cpu_seconds)


def _per_request(r: dict[str, Any], key: str) -> str:
    rps = r.get("rps") or 0
    return f"{10 * r.get(key, 0) / rps:.2f}" if rps else "–"  # pct/100 CPU s per s / rps * 1000 ms


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--tracks", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--side", action="append", required=True, help="NAME=SRC[:cache_mb]")
    args = p.parse_args(argv)
    library, _ = ensure_library(args.work, args.tracks, args.seed, log=log)
    results: dict[str, Any] = {}
    t0 = time.perf_counter()
    with BenchCluster(args.work / "pg") as cluster:
        for spec in args.side:
            name, _, rest = spec.partition("=")
            src, _, cache = rest.partition(":")
            path = [str(Path(src).resolve()), os.environ.get("PYTHONPATH", "")]
            env = {"PYTHONPATH": os.pathsep.join(path)}
            if cache:
                env["ORBSONIC_ANSWER_CACHE_MB"] = cache
            url = cluster.fresh_database(f"ab_{name}".replace("-", "_"))
            orb = Orbsonic(url, args.work / f"ab-data-{name}", extra_env=env)
            orb.reset_data_dir()
            log(f"{name}: scanning {args.tracks} tracks with {src} ...")
            orb.scan([library])
            orb.serve()
            try:
                log(f"{name}: measuring ...")
                results[name] = asyncio.run(_measure(orb, cluster, args.seconds, args.seed))
            finally:
                orb.stop()
    (args.work / "ab_reads.json").write_text(json.dumps(results, indent=1))
    print(f"\n{'scenario':18s} {'side':14s} {'c':>3s} {'p50 ms':>8s} {'p95 ms':>8s} {'req/s':>8s}"
          f" {'srv ms/req':>10s} {'db ms/req':>10s}")
    for sc in WANTED:
        for name, res in results.items():
            for c in ("c1", "c16"):
                r = res.get(sc, {}).get(c)
                if r:
                    print(f"{sc:18s} {name:14s} {c[1:]:>3s} {r['p50_ms']:8.2f} {r['p95_ms']:8.2f}"
                          f" {r['rps']:8.1f}"
                          f" {_per_request(r, 'server_cpu_pct'):>10s} {_per_request(r, 'db_cpu_pct'):>10s}")
    print(f"\n{time.perf_counter() - t0:.0f} s in all")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
