"""Scan figures only, on libraries of real files (issue 12, "One node at 1M tracks").

    python -m bench.run --scan-only --tracks 1000000 [--scan-baseline 100000] --work DIR

For each library (the baseline first, when given, so both sizes are measured in the same
conditions): a fresh database, a cold scan, two no-change rescans (the second shows the
noise), each with the peak RSS of the scanner's process tree; then `orbsonic serve
--no-scan` on that database, its RSS after start, after a few light API requests (artist
index, album lists, a search, a directory, an album) and after repeating them. The load
average is recorded next to every figure: the machine is shared.

The libraries come from bench/library.py (`<work>/libraries/tracks-N-seed-S/music` with a
`complete.json` marker; a missing one is generated with the default mix). The 1M library
(/work/benchout/libraries/tracks-1000000-seed-1) was written beforehand with small formats
and 0.25 s templates so that it fits the disk (16.8 GB, 19 GB allocated, 6.6 min on 2 cores):

    generate_library(root, 1_000_000, seed=1, workers=2, seconds=0.25, template_dir=base / "templates",
                     formats={"mp3_v23": 30, "mp3_v24": 10, "ogg": 20, "opus": 25, "m4a_aac": 10, "flac16": 5})

and its complete.json written as bench/library.py does (plus template_seconds, format_mix).
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.api import auth_query
from bench.library import ensure_library
from bench.target import PASSWORD, USER, BenchCluster, Orbsonic


def loadavg() -> list[str]:
    """The 1/5/15-minute load averages now (strings, as /proc/loadavg has them)."""
    return Path("/proc/loadavg").read_text().split()[:3]


def _get(port: int, method: str, **params: Any) -> dict[str, Any]:
    """One Subsonic call (JSON); returns the subsonic-response object, raises on failure."""
    from urllib.parse import urlencode

    q = auth_query(USER, PASSWORD) + ("&" + urlencode(params) if params else "")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/rest/{method}?{q}", timeout=120) as resp:
        body = json.loads(resp.read())["subsonic-response"]
    if body.get("status") != "ok":
        raise RuntimeError(f"{method}: {body}")
    return body


def light_api(port: int) -> dict[str, float]:
    """A few typical client calls, each timed (ms): what a client does on opening."""
    out: dict[str, float] = {}

    def call(label: str, method: str, **params: Any) -> dict[str, Any]:
        t0 = time.perf_counter()
        body = _get(port, method, **params)
        out[label] = round((time.perf_counter() - t0) * 1000, 1)
        return body

    call("ping", "ping")
    call("getArtists", "getArtists")
    call("getIndexes", "getIndexes")
    newest = call("getAlbumList2 newest", "getAlbumList2", type="newest", size=50)
    call("getAlbumList2 random", "getAlbumList2", type="random", size=50)
    call("getAlbumList2 alphabeticalByName deep", "getAlbumList2", type="alphabeticalByName", size=50,
         offset=60_000)
    call("search3", "search3", query="love", songCount=20)
    albums = newest.get("albumList2", {}).get("album", [])
    if albums:
        call("getAlbum", "getAlbum", id=albums[0]["id"])
    folders = call("getMusicFolders", "getMusicFolders").get("musicFolders", {}).get("musicFolder", [])
    if folders:
        call("getIndexes folder", "getIndexes", musicFolderId=folders[0]["id"])
    return out


def scan_library(cluster: BenchCluster, work: Path, n: int, seed: int, warm: bool) -> dict[str, Any]:
    """Cold scan, two no-change rescans and the server's RSS on one library of `n` tracks."""
    from bench.run import log, warm_page_cache

    library, gen = ensure_library(work, n, seed, log=log)
    url = cluster.fresh_database(f"bench_scan_{n}")
    orb = Orbsonic(url, work / f"orbsonic-data-scan-{n}")
    orb.reset_data_dir()
    out: dict[str, Any] = {"tracks": n, "library": str(library), "generation": gen}
    if warm:
        log(f"reading the {n:,}-track library once (page cache) ...")
        out["warm"] = warm_page_cache(library)
        log(f"  {out['warm']}")
    for key in ("cold", "nochange", "nochange2"):
        log(f"{key} scan of {n:,} tracks ...")
        before = loadavg()
        out[key] = orb.scan([library]) | {"loadavg_before": before, "loadavg_after": loadavg()}
        log(f"  {out[key]}")
    orb.serve(timeout=180)
    try:
        time.sleep(2)
        out["server_rss_mb_start"] = round(orb.rss_mb(), 1)
        out["api_ms"] = light_api(orb.port)
        out["server_rss_mb_after_api"] = round(orb.rss_mb(), 1)
        out["api_ms_again"] = light_api(orb.port)
        out["server_rss_mb_after_api2"] = round(orb.rss_mb(), 1)
        out["server_loadavg"] = loadavg()
        log(f"  server RSS {out['server_rss_mb_start']} → {out['server_rss_mb_after_api']} → "
            f"{out['server_rss_mb_after_api2']} MB; API ms {out['api_ms']}")
    finally:
        orb.stop()
    return out


def run_scan_only(cluster: BenchCluster, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """{str(tracks): figures} for the baseline library (if any) and the --tracks one."""
    sizes = ([args.scan_baseline] if args.scan_baseline else []) + [args.tracks]
    return {str(n): scan_library(cluster, work, n, args.seed, warm=not args.no_warm) for n in sizes}
