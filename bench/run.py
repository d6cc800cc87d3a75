"""The benchmark: `python -m bench.run [--tracks 100000] [--peer-tracks 10000] [--work DIR]
[--skip-peer] [--quick] [--results FILE] [--sql-tracks 1000000 [--sql-only]]` (or
`scripts/bench`, which sets up first).

1. Libraries of N and of peer N tracks are generated once into the work dir (default
   bench/out/, cached by size and seed; bench/library.py).
2. Orbsonic gets an embedded PostgreSQL cluster in the work dir and a fresh database.
   `orbsonic scan` runs as a subprocess: a cold scan, a no-change rescan and a rescan
   after 1 % of the files were retitled, each timed, with the peak RSS of the scanning
   process tree sampled from /proc. Then `orbsonic serve --no-scan` runs as a
   subprocess; annotations are seeded through the API (stars, ratings, scrobbles).
3. Every scenario of bench/api.py runs at concurrency 1 and 16 with the load generator of
   bench/load.py (asyncio, closed loop, keep-alive); then the streaming figures
   (bench/streams.py): time to first byte, one stream's MB/s, 200 range streams; then the
   transcoding and cover figures (bench/transcode.py).
4. Unless --skip-peer: supysonic 0.7.9 (own venv in the work dir) and Orbsonic each scan
   the peer library and answer the same scenarios with the same client, one server at a
   time; the table gives Orbsonic/supysonic ratios of requests/s.
5. With --sql-tracks N: a library of N tracks generated straight into the schema
   (bench/sqllib.py, no audio files; seconds and CPU per step reported), served and
   seeded the same way, and the API scenarios measured on it (no streams or covers).
   --sql-only skips 1–4. The playlist of getPlaylist has --playlist-size entries (5,000),
   created through the API; getNowPlaying reads a few players seeded with scrobble
   submission=false right before it is measured.
6. The results go to <work>/results.json and, as Markdown, to --results (default
   <work>/RESULTS.md), and the tables are printed.

--quick: short measurements (a smoke run; figures are not meaningful).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import report
from bench.api import Api, Library, Scenario, auth_query, discover, scenarios, seed_annotations, seed_reads
from bench.library import big_stream_file, ensure_library
from bench.load import TreeSampler, cpu_seconds, run_load
from bench.machine import disk_read_mb, machine_info
from bench.options import parse_args
from bench.streams import range_streams, single_stream, track_sizes
from bench.target import BenchCluster, Orbsonic, free_port, wait_http
from bench.transcode import transcode_folder, transcode_phase

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"


def log(msg: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- measuring


async def measure(
    port: int, sc: Scenario, concurrency: int, seconds: float, server_pids: Any, db_cpu: Any
) -> dict[str, Any]:
    """One scenario at one concurrency, with the server's and the database's CPU share."""
    paths = sc.paths
    kw: dict[str, Any] = {
        "seconds": seconds,
        "min_requests": 10 if seconds >= 1 else 3,
        "warmup": 2,
        "max_seconds": max(4 * seconds, 20.0),
    }
    if sc.cold:  # every cover once: the first quarter at c=1, the rest at c=16
        split = max(1, len(paths) // 4)
        paths = paths[:split] if concurrency == 1 else paths[split:]
        kw = {"seconds": 3600, "max_requests": len(paths), "warmup": 0, "max_seconds": 600}
    srv0, db0 = cpu_seconds(server_pids()), db_cpu()
    res = await run_load(
        HOST,
        port,
        paths,
        concurrency=concurrency,
        keep_body=sc.keep_body,
        expect=sc.expect,
        headers=sc.headers,
        **({"check": sc.check} if sc.check is not None else {}),
        **kw,
    )
    s = res.summary()
    if res.seconds:
        s["server_cpu_pct"] = round(100 * (cpu_seconds(server_pids()) - srv0) / res.seconds, 1)
        s["db_cpu_pct"] = round(100 * (db_cpu() - db0) / res.seconds, 1)
    return s


async def run_scenarios(
    port: int,
    scs: list[Scenario],
    seconds: float,
    server_pids: Any,
    db_cpu: Any,
    concurrencies: tuple[int, ...] = (1, 16),
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for sc in scs:
        if sc.setup:
            await run_setup(port, sc)
        out[sc.name] = {}
        for c in concurrencies:
            r = await measure(port, sc, c, seconds, server_pids, db_cpu)
            out[sc.name][f"c{c}"] = r
            log(
                f"  {sc.name:38s} c={c:<3d} p50 {r['p50_ms']:8.2f} ms  p99 {r['p99_ms']:8.2f} ms  "
                f"{r['rps']:8.1f} req/s  err {r['errors']}  (load gen {r['client_cpu_pct']}% CPU)"
            )
    return out


async def run_setup(port: int, sc: Scenario) -> None:
    """A scenario's setup requests, once each, in order (each must answer 200 and ok)."""
    from bench.load import Connection, subsonic_ok

    conn = Connection(HOST, port)
    try:
        for path in sc.setup:
            reply = await conn.get(path)
            if reply.status != 200 or not subsonic_ok(reply):
                raise RuntimeError(f"{sc.name} setup {path.split('?')[0]}: {reply.status} {reply.body[:200]!r}")
    finally:
        await conn.close()


# ---------------------------------------------------------------------------- Orbsonic, main library


def warm_page_cache(root: Path) -> dict[str, float]:
    """Read every file under `root` once, so the cold scan measures the scanner and not
    the disk (its files come from the page cache; `disk_read_mb` of the scan shows it)."""
    t0, d0, total = time.perf_counter(), disk_read_mb(), 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(dirpath, name), "rb", buffering=0) as fh:
                while chunk := fh.read(1 << 20):
                    total += len(chunk)
    return {
        "seconds": round(time.perf_counter() - t0, 1),
        "mb": round(total / 1e6),
        "disk_read_mb": round(disk_read_mb() - d0),
    }


def scan_phase(
    orb: Orbsonic, library: Path, stream_dir: Path, seed: int, warm: bool = True,
    extra: tuple[Path, ...] = (),
) -> dict[str, Any]:
    from bench.libgen import touch_fraction

    out: dict[str, Any] = {}
    if warm:
        log("reading the library once (page cache) ...")
        out["warm"] = warm_page_cache(library)
        log(f"  {out['warm']}")
    log("cold scan ...")
    out["cold"] = orb.scan([library])
    log(f"  {out['cold']}")
    log("no-change rescan ...")
    out["nochange"] = orb.scan([library])
    log(f"  {out['nochange']}")
    t0 = time.perf_counter()
    changed = touch_fraction(library, 0.01, seed=seed)
    out["touched_files"] = len(changed)
    out["touch_s"] = round(time.perf_counter() - t0, 2)
    log(f"rescan after retitling {len(changed)} files (1 %) ...")
    out["one_percent"] = orb.scan([library])
    log(f"  {out['one_percent']}")
    out["add_stream_folder"] = orb.scan([library, stream_dir, *extra])
    return out


async def api_phase(
    orb: Orbsonic,
    cluster: BenchCluster,
    *,
    seconds: float,
    seed: int,
    peer_set: bool,
    streams: bool,
    clients: int,
    stream_seconds: float,
    playlist_size: int = 5000,
    no_files: bool = False,
    transcode_clients: int = 0,
    quick: bool = False,
    native_rounds: int = 300,
) -> dict[str, Any]:
    port = orb.port
    api = Api(HOST, port, auth_query(orb_user(), orb_password()))
    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    lib = await discover(api, seed)
    lib.no_files = no_files
    out["library"] = library_summary(lib)
    out["seeded"] = await seed_annotations(api, lib, seed)
    out["seeded_reads"] = await seed_reads(api, lib, playlist_size)
    out["library"] = library_summary(lib)
    out["discovery_s"] = round(time.perf_counter() - t0, 1)
    scs = scenarios(api, lib, peer_set=peer_set, seed=seed)
    await api.close()
    out["rss_mb_before"] = round(orb.rss_mb(), 1)
    with TreeSampler(orb.proc.pid, interval=0.2, pss=False) as sampler:  # type: ignore[union-attr]
        out["scenarios"] = await run_scenarios(port, scs, seconds, orb.pids, cluster.cpu_seconds)
    out["rss_mb_peak_api"] = round(sampler.peak_rss_kb / 1024, 1)
    log("native API: discovery, 1,000 changes, scenarios, real-time round trips ...")
    out["native"] = await native_phase(orb, cluster, seconds=seconds, seed=seed, rounds=native_rounds)
    if streams:
        out["streams"] = await stream_phase(port, api, lib, orb, clients, stream_seconds)
    if transcode_clients:
        log("transcoding and covers ...")
        out["transcode"] = await transcode_phase(HOST, port, api, lib.covers, orb.url, quick=quick, log=log,
                                                 clients=transcode_clients,
                                                 cover_cache=orb.data_dir / "cache" / "covers",
                                                 env=orb.env())
    out["rss_mb_after"] = round(orb.rss_mb(), 1)
    return out


async def native_phase(orb: Orbsonic, cluster: BenchCluster, *, seconds: float, seed: int,
                       rounds: int) -> dict[str, Any]:
    """The native API's scenarios (bench/native.py) on the same server and library."""
    from bench import native

    t0 = time.perf_counter()
    lib = await native.discover(HOST, orb.port, orb_user(), orb_password())
    api = Api(HOST, orb.port, auth_query(orb_user(), orb_password()))
    try:
        scs = native.scenarios(lib, seed)
        scs.append(await native.sync_scenario(HOST, orb.port, api, lib))
    finally:
        await api.close()
    out: dict[str, Any] = {"library": lib.totals, "discovery_s": round(time.perf_counter() - t0, 1)}
    out["scenarios"] = await run_scenarios(orb.port, scs, seconds, orb.pids, cluster.cpu_seconds)
    out["realtime"] = await native.realtime(HOST, orb.port, lib, rounds)
    log(f"  real-time round trips: {out['realtime']}")
    return out


def orb_user() -> str:
    from bench.target import USER

    return USER


def orb_password() -> str:
    from bench.target import PASSWORD

    return PASSWORD


def library_summary(lib: Library) -> dict[str, Any]:
    return {
        "albums": len(lib.albums),
        "tracks": lib.tracks,
        "album_artists": len(lib.artists),
        "artists": lib.all_artists,
        "genres": len(lib.genres),
        "folders_sampled": len(lib.album_dirs),
        "songs_sampled": len(lib.songs),
        "covers": len(lib.covers),
        "list_counts": lib.list_counts,
    }


async def stream_phase(
    port: int, api: Api, lib: Library, orb: Orbsonic, clients: int, seconds: float,
    paced: int = 0, paced_seconds: float = 30.0, cpu_probe: Any = None,
) -> dict[str, Any]:
    """The closed-loop figures (one stream, `clients` range streams; none when clients is 0),
    then, with `paced` > 0, that many paced player-like listeners (bench/paced.py)."""
    out: dict[str, Any] = {}
    if paced:
        from bench.paced import library_tracks, paced_listeners

        pool = await library_tracks(api, lib.songs)
        log(f"{paced} paced listeners for {paced_seconds:.0f} s over {len(pool)} tracks ...")
        out["paced"] = await paced_listeners(HOST, port, pool, listeners=paced, seconds=paced_seconds,
                                             stagger_s=min(5.0, paced_seconds / 4), cpu_probe=cpu_probe)
        log(f"  {out['paced']}")
    if not clients:
        await api.close()
        return out
    big = await api.call("search3", query="Stream Test", songCount=1, albumCount=0, artistCount=0)
    song = (big.get("searchResult3", {}).get("song") or [None])[0]
    if song is None:
        raise RuntimeError("the big stream test file is not in the library")
    big_path = api.path("stream", id=song["id"])
    log("single stream ...")
    out["single"] = await single_stream(HOST, port, big_path)
    out["single"]["file_mb"] = round(int(song["size"]) / 1e6, 1)
    log(f"  {out['single']}")
    paths = [api.path("stream", id=s) for s in lib.songs[:300]]
    sizes = await track_sizes(HOST, port, paths)
    await api.close()
    log(f"{clients} concurrent range streams for {seconds:.0f} s ...")
    out["ranges"] = await range_streams(
        HOST,
        port,
        big_path,
        int(song["size"]),
        list(sizes),
        sizes,
        clients=clients,
        seconds=seconds,
        sample_rss=orb.rss_mb,
    )
    log(f"  {out['ranges']}")
    return out


def run_orbsonic(cluster: BenchCluster, work: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    library, gen = ensure_library(work, n, args.seed, log=log)
    stream_dir = big_stream_file(work, 16 if args.quick else 256)
    extra = (transcode_folder(work),) if args.transcode_clients else ()
    url = cluster.fresh_database(f"bench_{n}")
    # every concurrent transcode client gets a slot (the default, 16, would queue them)
    orb = Orbsonic(url, work / f"orbsonic-data-{n}", workers=args.workers,
                   extra_env={"ORBSONIC_TRANSCODE_MAX_CONCURRENT": "64"})
    orb.reset_data_dir()
    out: dict[str, Any] = {"tracks": n, "generation": gen}
    out["scan"] = scan_phase(orb, library, stream_dir, args.seed, warm=not args.no_warm, extra=extra)
    from bench.sonic import seed_vectors

    out["sonic_vectors"] = seed_vectors(url, args.seed)  # the similarity scenarios' index
    orb.serve()
    try:
        log(f"Orbsonic serving {n} tracks on port {orb.port}; seeding annotations, measuring ...")
        out.update(
            asyncio.run(
                api_phase(
                    orb,
                    cluster,
                    seconds=args.seconds,
                    seed=args.seed,
                    peer_set=False,
                    streams=True,
                    clients=args.clients,
                    stream_seconds=args.stream_seconds,
                    playlist_size=args.playlist_size,
                    transcode_clients=args.transcode_clients,
                    quick=args.quick,
                    native_rounds=30 if args.quick else 300,
                )
            )
        )
    finally:
        orb.stop()
    return out


# ---------------------------------------------------------------------------- Orbsonic, SQL library


def run_sql(cluster: BenchCluster, work: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The API scenarios on a library of `n` tracks generated in SQL (bench/sqllib.py): no
    scan, no audio files (no stream or cover scenarios), the same seeding and scenarios."""
    from bench import sqllib

    url = cluster.fresh_database(f"bench_sql_{n}")
    orb = Orbsonic(url, work / f"orbsonic-data-sql-{n}", workers=args.workers)
    orb.reset_data_dir()

    def migrate(_url: str) -> None:
        subprocess.run([sys.executable, "-m", "orbsonic", "migrate"], env=orb.env(), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    log(f"a library of {n} tracks in SQL (cached between runs) ...")
    stats, cached = sqllib.cached_database(url, n, work / f"sql-music-{n}", seed=args.seed,
                                           migrate=migrate, log=log)
    out: dict[str, Any] = {"tracks": n, "generation": stats, "generation_cached": cached}
    if not args.sql_probe_only:
        orb.serve()
        try:
            log(f"Orbsonic serving the SQL library of {n} tracks on port {orb.port}; measuring ...")
            out.update(asyncio.run(api_phase(orb, cluster, seconds=args.seconds, seed=args.seed,
                                             peer_set=False, streams=False, clients=args.clients,
                                             stream_seconds=args.stream_seconds,
                                             playlist_size=args.playlist_size, no_files=True)))
        finally:
            orb.stop()
    if not args.no_sql_probe:  # the server-side figures, with the server stopped (bench/sqlprobe.py)
        from bench import sqlprobe

        log("server-side figures of the SQL behind the scenarios ...")
        out["server"] = sqlprobe.probe(url, log=log)
    return out


# ---------------------------------------------------------------------------- the peer


def run_peer(cluster: BenchCluster, work: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    from bench import peer as supy

    library, gen = ensure_library(work, n, args.seed, log=log)
    out: dict[str, Any] = {"tracks": n, "generation": gen}
    venv = supy.ensure_supysonic(work, log=log)
    # supysonic first (its own server only), then Orbsonic on the same library.
    s = supy.Supysonic(venv, work / f"supysonic-{n}", library)
    s.prepare()
    if not args.no_warm:
        out["warm"] = warm_page_cache(library)
    log(f"supysonic {supy.VERSION}: cold scan of {n} tracks ...")
    out["supysonic_scan"] = s.scan()
    out["supysonic_scan"]["files_per_s"] = round(n / out["supysonic_scan"]["seconds"], 1)
    log(f"  {out['supysonic_scan']}")
    port = free_port()
    s.serve(port)
    try:
        wait_http(port, "/rest/ping.view", 60, s.proc)
        log(f"supysonic serving on port {port}; measuring ...")
        out["supysonic"] = asyncio.run(
            peer_api(
                port, supy.USER, supy.PASSWORD, args, lambda: [s.proc.pid] if s.proc else [], lambda: 0.0
            )
        )
        out["supysonic"]["rss_mb"] = round(rss_mb(s.proc.pid) if s.proc else 0.0, 1)
    finally:
        s.stop()
    if not args.skip_maneki:
        out.update(run_maneki(work, library, n, args))
    url = cluster.fresh_database(f"bench_{n}")
    orb = Orbsonic(url, work / f"orbsonic-data-{n}", workers=args.workers)
    orb.reset_data_dir()
    if not args.no_warm:
        warm_page_cache(library)
    log(f"Orbsonic: cold scan of {n} tracks ...")
    out["orbsonic_scan"] = orb.scan([library])
    log(f"  {out['orbsonic_scan']}")
    orb.serve()
    try:
        log(f"Orbsonic serving on port {orb.port}; measuring ...")
        out["orbsonic"] = asyncio.run(
            peer_api(orb.port, orb_user(), orb_password(), args, orb.pids, cluster.cpu_seconds)
        )
        out["orbsonic"]["rss_mb"] = round(orb.rss_mb(), 1)
    finally:
        orb.stop()
    return out


def run_maneki(work: Path, library: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """maneki's figures on the peer library ({"maneki": …}, or {"maneki_skipped": why})."""
    from bench import maneki as mk

    python = mk.find_python313()
    if python is None:
        log("maneki: no Python >= 3.13 on this machine; skipped")
        return {"maneki_skipped": "no Python >= 3.13 on this machine"}
    venv = mk.ensure_maneki(work, python, log=log)
    m = mk.Maneki(venv, work / f"maneki-{n}", library)
    m.prepare()
    out: dict[str, Any] = {"maneki_version": mk.VERSION, "maneki_python": python}
    port = free_port()
    m.serve(port)
    try:
        out["maneki_scan"] = {"seconds_to_ready": m.wait_ready(n)}
        log(f"maneki {mk.VERSION} ready after {out['maneki_scan']['seconds_to_ready']} s; measuring ...")
        out["maneki"] = asyncio.run(peer_api(port, mk.USER, mk.PASSWORD, args,
                                             lambda: [m.proc.pid] if m.proc else [], lambda: 0.0,
                                             prefix=mk.PREFIX))
        out["maneki"]["rss_mb"] = round(rss_mb(m.proc.pid) if m.proc else 0.0, 1)
    finally:
        m.stop()
    return out


def rss_mb(pid: int) -> float:
    """RSS of a process and its descendants now, MB."""
    t = TreeSampler(pid, pss=False)
    t.sample()
    return t.peak_rss_kb / 1024


async def peer_api(
    port: int, user: str, password: str, args: argparse.Namespace, pids: Any, db_cpu: Any,
    prefix: str = "/rest",
) -> dict[str, Any]:
    api = Api(HOST, port, auth_query(user, password), prefix=prefix)
    lib = await discover(api, args.seed)
    out: dict[str, Any] = {"library": library_summary(lib)}
    out["seeded"] = await seed_annotations(api, lib, args.seed)
    out["seeded_reads"] = await seed_reads(api, lib)
    out["library"] = library_summary(lib)
    scs = scenarios(api, lib, peer_set=True, seed=args.seed)
    await api.close()
    out["scenarios"] = await run_scenarios(port, scs, args.seconds, pids, db_cpu)
    return out


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client_loop == "uvloop":
        import uvloop  # uvicorn[standard]'s, already a dependency of the servers

        # Every asyncio.run of the load generator (bench/load.py) then runs on uvloop. The
        # client shares the 2 cores with the servers: its CPU per request is taken from theirs,
        # most visibly at c=16 and in the replica phase (issue 12).
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "machine": machine_info(work),
        "config": {
            "tracks": args.tracks,
            "peer_tracks": None if args.skip_peer else args.peer_tracks,
            "quick": args.quick,
            "seconds": args.seconds,
            "workers": args.workers,
            "clients": args.clients,
            "stream_seconds": args.stream_seconds,
            "transcode_clients": args.transcode_clients,
            "seed": args.seed,
            "client_loop": args.client_loop,
            "sql_tracks": args.sql_tracks,
            "playlist_size": args.playlist_size,
            "scan_only": args.scan_only,
            "scan_baseline": args.scan_baseline,
        },
    }
    t0 = time.perf_counter()
    with BenchCluster(work / "pg") as cluster:
        results["machine"]["postgresql"] = cluster.version()
        alone = args.scan_only or args.streams_only or args.replicas_only  # phases run on their own
        if args.scan_only:
            from bench.scanbig import run_scan_only

            results["scan_only"] = run_scan_only(cluster, work, args)
        if args.streams_only or args.replicas_only:
            from bench import scaling

            if args.streams_only:
                results["streams_only"] = scaling.run_streams(cluster, work, args.tracks, args)
            if args.replicas_only:
                results["replicas"] = scaling.run_replicas(cluster, work, args.tracks, args)
        if not alone and not args.sql_only:
            results["main"] = run_orbsonic(cluster, work, args.tracks, args)
        if args.sql_tracks and not alone:
            results["sql"] = run_sql(cluster, work, args.sql_tracks, args)
        if not args.skip_peer and not args.sql_only and not alone:
            results["peer"] = run_peer(cluster, work, args.peer_tracks, args)
            results["peer"]["supysonic_version"] = "0.7.9"
    results["machine"]["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    results["total_s"] = round(time.perf_counter() - t0, 1)
    (work / "results.json").write_text(json.dumps(results, indent=1, default=str))
    text = report.markdown(results)
    out = args.results or work / "RESULTS.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(text)
    log(f"done in {results['total_s']:.0f} s: {out}, {work / 'results.json'}")
    return 0


if __name__ == "__main__":
    if shutil.which("git") is None:
        print("note: git not found, the commit is not recorded", file=sys.stderr)
    raise SystemExit(main())
