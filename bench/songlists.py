"""Where a large song list's server time goes, in process: `python -m bench.songlists URL
[--songs 5000] [--reps 7]` on a benchmark database (bench/sqllib.py or a scanned one).

Times, as CPU ms of this process (best of `--reps`; on a loaded machine CPU time varies
far less than wall time): hydrating N track ids into rows (orbsonic.library.tracks.hydrate:
the query and the row conversion), shaping them into Child objects (subsonic_api.shapes.song,
OpenSubsonic and legacy), and rendering the envelope as JSON and XML
(subsonic_api.response). The ids are the first N tracks in id order. The database's own
time is the wall time of the hydrate query minus its CPU time here, printed alongside.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import psycopg

from orbsonic.library import tracks
from subsonic_api import shapes
from subsonic_api.response import Payload, envelope, to_json, to_xml


def _best(reps: int, run: Callable[[], Any]) -> tuple[float, float, Any]:
    """(best CPU ms, best wall ms, last result) of `reps` runs."""
    cpu, wall, out = [], [], None
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        out = run()
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
    return min(cpu), min(wall), out


async def measure(url: str, n: int, reps: int) -> list[tuple[str, float, float]]:
    """(step, CPU ms, wall ms) for hydrate, shape (os / legacy), JSON and XML of n songs."""
    out = []
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cur = await conn.execute("SELECT id FROM tracks ORDER BY id LIMIT %s", (n,))
        ids = [r[0] for r in await cur.fetchall()]
        cpu, wall = [], []
        rows: list[dict[str, Any]] = []
        for _ in range(reps):
            c0, w0 = time.process_time(), time.perf_counter()
            rows = await tracks.hydrate(conn, ids, 1)
            cpu.append((time.process_time() - c0) * 1000)
            wall.append((time.perf_counter() - w0) * 1000)
        out.append((f"hydrate {len(rows)} rows", min(cpu), min(wall)))
    for os_ in (True, False):
        c, w, songs = _best(reps, lambda: [shapes.song(r, os_) for r in rows])
        out.append((f"shape ({'OpenSubsonic' if os_ else 'legacy'})", c, w))
        root = envelope(Payload("playlist", {"id": "pl-1", "name": "bench", "entry": songs}), opensubsonic=os_)
        c, w, body = _best(reps, lambda: to_json(root))
        out.append((f"JSON ({len(body) / 1e6:.1f} MB)", c, w))
        c, w, body = _best(reps, lambda: to_xml(root))
        out.append((f"XML ({len(body) / 1e6:.1f} MB)", c, w))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.songlists", description=__doc__.split("\n\n")[0])
    p.add_argument("url")
    p.add_argument("--songs", type=int, default=5000)
    p.add_argument("--reps", type=int, default=7)
    args = p.parse_args(argv)
    print("| step | CPU ms (best) | wall ms (best) |\n|---|---|---|")
    for step, c, w in asyncio.run(measure(args.url, args.songs, args.reps)):
        print(f"| {step} | {c:.1f} | {w:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
