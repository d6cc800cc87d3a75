"""Where a request's milliseconds go: `python -m bench.profile --port P [--pid PID] [--seconds S]`.

Sends one endpoint at a time (concurrency 1, keep-alive) to a running `orbsonic serve`
while py-spy samples the server process (`--format raw`, collapsed stacks), then
attributes the samples of each endpoint to the stages of the request path: HTTP (uvicorn,
h11), dispatch and params, authentication, pool checkout/commit, the handler's queries,
shaping and rendering. Prints a Markdown table: wall ms per request, and the server's CPU
ms per request in each stage (py-spy's active samples ÷ rate ÷ requests).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.api import auth_query
from bench.load import Connection

STAGES = [  # (stage, substrings of a frame; the first stage whose marker is on the stack wins)
    ("auth", ("subsonic_api/auth.py", "auth/ratelimit.py", "auth/cache.py", "auth/users.py")),
    ("render", ("subsonic_api/response.py", "orjson", "lxml")),
    ("shaping", ("subsonic_api/shapes.py",)),
    ("queries", ("orbsonic/library/", "orbsonic/covers.py")),
    ("pool", ("psycopg_pool", "orbsonic/db/pool.py")),
    ("handler", ("subsonic_api/endpoints/",)),
    ("dispatch", ("subsonic_api/__init__.py", "subsonic_api/params.py", "starlette")),
    ("http", ("uvicorn", "h11", "httptools")),
]


RATE = 500  # py-spy samples per second (active samples only: idle waits are not counted)


def stage_of(stack: str) -> str:
    for name, marks in STAGES:
        if any(m in stack for m in marks):
            return name
    return "loop/other"


async def drive(port: int, path: str, seconds: float) -> int:
    conn = Connection("127.0.0.1", port)
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        await conn.get(path)
        n += 1
    await conn.close()
    return n


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("--port", type=int, help="a running server (with --pid)")
    p.add_argument("--pid", type=int, help="the serving process")
    p.add_argument("--work", type=Path,
                   help="else: serve the bench database bench_<--tracks> of this work dir")
    p.add_argument("--tracks", type=int, default=2000)
    p.add_argument("--src", type=Path,
                   help="serve the Orbsonic source in this checkout (e.g. main: 'before')")
    p.add_argument("--user", default="bench")
    p.add_argument("--password", default="bench-pass")
    p.add_argument("--seconds", type=float, default=8)
    args = p.parse_args()
    if args.work is None:
        return profile(args)
    from bench.target import BenchCluster, Orbsonic

    work = args.work.resolve()
    if args.src:
        os.chdir(args.src)  # `python -m orbsonic` imports from the working directory
    with BenchCluster(work / "pg") as cluster:
        url = cluster.url.rsplit("/", 1)[0] + f"/bench_{args.tracks}"
        orb = Orbsonic(url, work / f"orbsonic-data-{args.tracks}")
        orb.serve()
        try:
            assert orb.proc is not None
            args.port, args.pid = orb.port, orb.proc.pid
            return profile(args)
        finally:
            orb.stop()


def profile(args: argparse.Namespace) -> int:
    auth = auth_query(args.user, args.password)
    base = f"http://127.0.0.1:{args.port}/rest"

    def get(method: str, q: str = "") -> dict:
        with urllib.request.urlopen(f"{base}/{method}.view?{auth}{q}") as r:
            return json.loads(r.read())["subsonic-response"]

    album = get("getAlbumList2", "&type=newest&size=1")["albumList2"]["album"][0]
    eps = {"ping": "ping", "getArtists": "getArtists", "getAlbum": f"getAlbum&id={album['id']}",
           "getCoverArt cached": f"getCoverArt&id={album.get('coverArt', album['id'])}&size=300",
           "search3 no match": "search3&query=zzqxj"}
    stages = " | ".join(s for s, _ in STAGES)
    print(f"| endpoint | req | wall ms/req | CPU ms/req | {stages} | loop/other |")
    print("|---" * (len(STAGES) + 5) + "|")
    for label, call in eps.items():
        method, _, q = call.partition("&")
        path = f"/rest/{method}.view?{auth}" + ("&" + q if q else "")
        out = Path(tempfile.mktemp(suffix=".txt"))
        spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(args.pid),
                                "--format", "raw", "--rate", str(RATE), "--duration", str(int(args.seconds)),
                                "--nonblocking", "-o", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        t0 = time.monotonic()
        n = asyncio.run(drive(args.port, path, args.seconds - 1))
        wall = time.monotonic() - t0
        spy.wait()
        counts: collections.Counter[str] = collections.Counter()
        for line in out.read_text().splitlines():
            stack, _, k = line.rpartition(" ")
            counts[stage_of(stack)] += int(k)
        ms = wall * 1000 / max(n, 1)
        cpu = {s: counts[s] * 1000 / RATE / max(n, 1) for s in counts}  # CPU ms per request
        cells = [f"{cpu.get(s, 0):.2f}" for s, _ in STAGES] + [f"{cpu.get('loop/other', 0):.2f}"]
        row = " | ".join(cells)
        print(f"| {label} | {n} | {ms:.2f} | {sum(cpu.values()):.2f} | {row} |", flush=True)
        out.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
