"""Interleaved A/B of getRandomSongs (issue 7): `python -m bench.ab_random --work DIR
[--tracks 10000] [--seconds 3] [--rounds 3] --side NAME=SRC --side NAME=SRC [--scenario NAME] ...`.

Run it from the work dir with PYTHONPATH naming this checkout (as bench/ab_reads.py explains:
`python -m orbsonic` puts the working directory first on sys.path, ahead of a side's SRC).
Unlike ab_reads, which measures one side after the other, every side is served at once, each
from its own copy of one scanned database (CREATE DATABASE … TEMPLATE, so they read the same
rows), seeded as the side-by-side run is (bench/api.py), and the sides take turns: each round
measures every scenario at concurrency 1 and 16 on each side in turn, so a shared, noisy
machine weighs on both alike. Printed per side and concurrency: the median over rounds of p50
ms and req/s (and each round's); written to <work>/ab_random.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.api import Api, auth_query, discover, scenarios, seed_annotations, seed_reads
from bench.library import ensure_library
from bench.run import HOST, log, measure
from bench.target import PASSWORD, USER, BenchCluster, Orbsonic

DEFAULT_SCENARIOS = ("getRandomSongs", "getRandomSongs size=500")


async def _scenarios(orb: Orbsonic, seed: int, wanted: tuple[str, ...], first: bool) -> list[Any]:
    api = Api(HOST, orb.port, auth_query(USER, PASSWORD))
    lib = await discover(api, seed)
    if first:  # the annotations are rows in the database every copy is made from
        await seed_annotations(api, lib, seed)
        await seed_reads(api, lib)
    scs = [s for s in scenarios(api, lib, peer_set=False, seed=seed) if s.name in wanted]
    await api.close()
    return scs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--tracks", type=int, default=10_000)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--side", action="append", required=True, help="NAME=SRC")
    p.add_argument("--scenario", action="append", help="bench/api.py scenario name (repeatable)")
    args = p.parse_args(argv)
    wanted = tuple(args.scenario or DEFAULT_SCENARIOS)
    library, _ = ensure_library(args.work, args.tracks, args.seed, log=log)
    sides = [(n, s) for n, _, s in (spec.partition("=") for spec in args.side)]
    results: dict[str, dict[str, dict[str, list[dict[str, Any]]]]] = {n: {} for n, _ in sides}
    with BenchCluster(args.work / "pg") as cluster:
        base = cluster.fresh_database("abr_base")
        orb = Orbsonic(base, args.work / "abr-data-base",
                       extra_env={"PYTHONPATH": os.pathsep.join([str(Path(sides[0][1]).resolve()),
                                                                 os.environ.get("PYTHONPATH", "")])})
        orb.reset_data_dir()
        log(f"scanning {args.tracks} tracks with {sides[0][1]} ...")
        orb.scan([library])
        orb.serve()
        try:
            asyncio.run(_scenarios(orb, args.seed, wanted, first=True))
        finally:
            orb.stop()
        admin = cluster.url.rsplit("/", 1)[0] + "/postgres"
        servers: list[tuple[str, Orbsonic]] = []
        try:
            for name, src in sides:
                db = f"abr_{name}".replace("-", "_")
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(db)))
                    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE abr_base").format(sql.Identifier(db)))
                env = {"PYTHONPATH": os.pathsep.join([str(Path(src).resolve()), os.environ.get("PYTHONPATH", "")])}
                o = Orbsonic(base.rsplit("/", 1)[0] + "/" + db, args.work / f"abr-data-{name}", extra_env=env)
                # a copy of the scan's data dir: its secret key encrypted the stored passwords
                shutil.rmtree(o.data_dir, ignore_errors=True)
                shutil.copytree(orb.data_dir, o.data_dir)
                o.serve()
                servers.append((name, o))
            scs = {name: asyncio.run(_scenarios(o, args.seed, wanted, first=False)) for name, o in servers}
            for rnd in range(args.rounds):
                for i in range(len(wanted)):
                    for c in (1, 16):
                        order = servers if rnd % 2 == 0 else servers[::-1]
                        for name, o in order:
                            sc = scs[name][i]
                            r = asyncio.run(measure(o.port, sc, c, args.seconds, o.pids, cluster.cpu_seconds))
                            results[name].setdefault(sc.name, {}).setdefault(f"c{c}", []).append(r)
                            log(f"  round {rnd} {name:10s} {sc.name:26s} c={c:<3d} p50 {r['p50_ms']:7.2f} ms"
                                f"  {r['rps']:8.1f} req/s  err {r['errors']}")
        finally:
            for _, o in servers:
                o.stop()
    (args.work / "ab_random.json").write_text(json.dumps(results, indent=1))
    print(f"\n{'scenario':26s} {'side':10s} {'c':>3s} {'p50 ms':>8s} {'req/s':>8s}  rounds (p50 ms)")
    for sc_name in wanted:
        for name, _ in sides:
            for c in ("c1", "c16"):
                rs = results[name].get(sc_name, {}).get(c, [])
                if rs:
                    p50 = statistics.median(r["p50_ms"] for r in rs)
                    rps = statistics.median(r["rps"] for r in rs)
                    each = " ".join(f"{r['p50_ms']:.2f}" for r in rs)
                    print(f"{sc_name:26s} {name:10s} {c[1:]:>3s} {p50:8.2f} {rps:8.1f}  {each}")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"{time.perf_counter() - t0:.0f} s in all")
    raise SystemExit(code)
