"""Streaming figures: time to first byte, one stream's throughput, many concurrent range streams.

The range test mimics players that seek: each of `clients` connections asks, back to back,
for `Range: bytes=a-b` windows (1 MiB by default) at random offsets of the big test file,
and half of them for `bytes=a-` of a random benchmark track (read to its end). Every answer
must be 206 with exactly the asked length; anything else is an error.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

from bench.load import Connection, LoadResult, percentile

MiB = 1024 * 1024


async def single_stream(host: str, port: int, path: str, repeats: int = 3) -> dict[str, Any]:
    """Read the whole file `repeats` times over one connection; best and median MB/s."""
    conn = Connection(host, port, timeout=300)
    rates = []
    size = 0
    try:
        for _ in range(repeats):
            reply = await conn.get(path, keep_body=False)
            if reply.status != 200:
                raise RuntimeError(f"stream answered {reply.status}")
            size = reply.length
            rates.append(reply.length / 1e6 / reply.seconds)
    finally:
        await conn.close()
    rates.sort()
    return {"bytes": size, "mb_s_median": round(rates[len(rates) // 2], 1), "mb_s_best": round(rates[-1], 1)}


async def range_streams(
    host: str,
    port: int,
    big_path: str,
    big_size: int,
    track_paths: list[str],
    track_sizes: dict[str, int],
    *,
    clients: int = 200,
    seconds: float = 10.0,
    window: int = MiB,
    sample_rss: Callable[[], float] | None = None,
    seed: int = 1,
) -> dict[str, Any]:
    """`clients` concurrent connections of range requests for `seconds`."""
    rng = random.Random(f"orbsonic-bench-ranges:{seed}")
    res = LoadResult()
    peak_rss = [0.0]
    errors: dict[str, int] = {}
    stop_at = time.perf_counter() + seconds

    def error(kind: str) -> None:
        res.errors += 1
        errors[kind] = errors.get(kind, 0) + 1

    async def client(n: int) -> None:
        conn = Connection(host, port, timeout=120)
        try:
            while time.perf_counter() < stop_at:
                if n % 2 == 0 or not track_paths:
                    start = rng.randrange(0, max(1, big_size - window))
                    path, end = big_path, start + window - 1
                    want = window
                    rng_header = f"bytes={start}-{end}"
                else:
                    path = rng.choice(track_paths)
                    size = track_sizes[path]
                    start = rng.randrange(0, max(1, size // 2))
                    want = size - start
                    rng_header = f"bytes={start}-"
                res.requests += 1
                try:
                    reply = await conn.get(path, {"Range": rng_header}, keep_body=False)
                except Exception as exc:  # noqa: BLE001
                    error(type(exc).__name__)
                    res.first_error = res.first_error or f"{type(exc).__name__}: {exc}"
                    await conn.close()
                    continue
                if reply.status != 206 or reply.length != want:
                    error(f"HTTP {reply.status}" if reply.status != 206 else "short body")
                    continue
                res.latencies.append(reply.seconds)
                res.ttfbs.append(reply.ttfb)
                res.bytes += reply.length
        finally:
            await conn.close()

    async def sampler() -> None:
        while time.perf_counter() < stop_at + 1:
            if sample_rss is not None:
                peak_rss[0] = max(peak_rss[0], sample_rss())
            await asyncio.sleep(0.2)

    cpu0, t0 = time.process_time(), time.perf_counter()
    watch = asyncio.create_task(sampler())
    await asyncio.gather(*(client(n) for n in range(clients)))
    res.seconds = time.perf_counter() - t0
    res.client_cpu = time.process_time() - cpu0
    watch.cancel()
    s = res.summary()
    tt = sorted(res.ttfbs)
    s.update(
        clients=clients,
        window_bytes=window,
        errors_by_kind=errors,
        server_rss_peak_mb=round(peak_rss[0], 1),
        ttfb_p50_ms=round(percentile(tt, 50) * 1000, 2),
        ttfb_p99_ms=round(percentile(tt, 99) * 1000, 2),
    )
    return s


async def track_sizes(host: str, port: int, paths: list[str]) -> dict[str, int]:
    """Content-Length of each stream path (a HEAD-like GET of one byte range)."""
    conn = Connection(host, port)
    sizes = {}
    try:
        for p in paths:
            reply = await conn.get(p, {"Range": "bytes=0-0"}, keep_body=False)
            total = reply.headers.get("content-range", "").rpartition("/")[2]
            if reply.status == 206 and total.isdigit():
                sizes[p] = int(total)
    finally:
        await conn.close()
    return sizes
