"""The load generator: a small asyncio HTTP/1.1 client (standard library only).

    result = asyncio.run(run_load("127.0.0.1", 4040, paths, concurrency=16, seconds=3))

Each of `concurrency` workers holds one keep-alive connection and sends GET requests
back to back (closed loop: a worker waits for its response before the next request).
A request's latency runs from writing the request to reading the last body byte; the
time to the first body byte is kept too. A response counts as an error when the status
is not the expected one, when a Subsonic JSON body is not `"status":"ok"`, or when the
connection fails. The generator's own CPU time (process_time) is returned with the
figures, because on a 2-core machine it competes with the server for the same cores.

Why not httpx: its per-request CPU cost is several times that of this client, which
would take cores from the server under test; wrk/hey cannot check bodies per request
or read ids from a list, and are not always installed.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
import contextlib

READ_CHUNK = 256 * 1024


class HttpError(Exception):
    pass


@dataclass(slots=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes  # empty when the body was discarded
    length: int  # body bytes received
    ttfb: float  # seconds from sending to the first body byte (or the headers if none)
    seconds: float  # seconds from sending to the last body byte


class Connection:
    """One HTTP/1.1 keep-alive connection. `get` reconnects when the server closed it."""

    def __init__(self, host: str, port: int, timeout: float = 60.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=READ_CHUNK)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        *,
        keep_body: bool = True,
        max_body: int | None = None,
    ) -> Reply:
        """GET `path`. With keep_body=False the body is read and counted but not kept. With
        max_body, at most that many bytes are read and the connection is closed after."""
        # asyncio.timeout, not wait_for: no task per request (the client's CPU per request is
        # taken from the servers under test on these 2 cores).
        async with asyncio.timeout(self.timeout):
            return await self._get(path, headers, keep_body, max_body)

    async def request(self, method: str, path: str, body: bytes = b"",
                      headers: dict[str, str] | None = None) -> Reply:
        """Any method with an optional body (JSON writes of the native API), body kept."""
        hdrs = {**(headers or {}), "Content-Length": str(len(body))} if body or method != "GET" else headers
        async with asyncio.timeout(self.timeout):
            return await self._get(path, hdrs, True, None, method, body)

    async def _get(
        self, path: str, headers: dict[str, str] | None, keep_body: bool, max_body: int | None,
        method: str = "GET", body: bytes = b"",
    ) -> Reply:
        for attempt in (0, 1):
            if self.writer is None:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                    "User-Agent: orbsonic-bench\r\n")
            for k, v in (headers or {}).items():
                head += f"{k}: {v}\r\n"
            t0 = time.perf_counter()
            try:
                self.writer.write((head + "\r\n").encode("latin-1") + body)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("server closed the connection")
            except (ConnectionError, OSError):
                await self.close()
                if attempt:
                    raise
                continue  # a keep-alive connection the server had closed: retry once, fresh
            return await self._response(status_line, t0, keep_body, max_body)
        raise AssertionError("unreachable")

    async def _response(self, status_line: bytes, t0: float, keep_body: bool, max_body: int | None) -> Reply:
        assert self.reader is not None
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise HttpError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        hdrs: dict[str, str] = {}
        try:  # the whole head in one read (one await, not one per header line)
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            head = exc.partial
        for line in head.decode("latin-1").split("\r\n"):
            if line:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
        chunks: list[bytes] = []
        length = 0
        ttfb = None
        close = hdrs.get("connection", "").lower() == "close"
        if status in (204, 304) or status < 200:  # no body (RFC 9110 §6.4.1), even without a length
            pass
        elif hdrs.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size_line = await self.reader.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = await self.reader.readexactly(size)
                ttfb = ttfb or time.perf_counter() - t0
                length += size
                if keep_body:
                    chunks.append(data)
                await self.reader.readexactly(2)
        elif "content-length" in hdrs:
            remaining = int(hdrs["content-length"])
            if max_body is not None and remaining > max_body:
                remaining, close = max_body, True
            while remaining > 0:
                data = await self.reader.read(min(remaining, READ_CHUNK))
                if not data:
                    raise ConnectionResetError("body cut short")
                ttfb = ttfb or time.perf_counter() - t0
                remaining -= len(data)
                length += len(data)
                if keep_body:
                    chunks.append(data)
        else:  # body until close
            close = True
            while data := await self.reader.read(READ_CHUNK):
                ttfb = ttfb or time.perf_counter() - t0
                length += len(data)
                if keep_body:
                    chunks.append(data)
        end = time.perf_counter()
        if close:
            await self.close()
        return Reply(status, hdrs, b"".join(chunks), length, ttfb if ttfb is not None else end - t0, end - t0)


def subsonic_ok(reply: Reply) -> bool:
    """A Subsonic JSON answer with status ok (binary answers only need HTTP 200/206)."""
    ctype = reply.headers.get("content-type", "")
    ends = reply.body[:400] + reply.body[-400:]  # the status is first (Orbsonic) or last (supysonic)
    if "json" in ctype:
        return b'"status":"ok"' in ends or b'"status": "ok"' in ends
    if "xml" in ctype:
        return b'status="ok"' in ends
    return True


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0–100) of ascending values; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    bytes: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    ttfbs: list[float] = field(default_factory=list)
    client_cpu: float = 0.0  # CPU seconds of this process
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies)
        tt = sorted(self.ttfbs)
        ms = 1000.0
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "bytes": self.bytes,
            "rps": round(self.rps, 1),
            "mb_s": round(self.bytes / 1e6 / self.seconds, 1) if self.seconds else 0,
            "p50_ms": round(percentile(lat, 50) * ms, 2),
            "p95_ms": round(percentile(lat, 95) * ms, 2),
            "p99_ms": round(percentile(lat, 99) * ms, 2),
            "mean_ms": round(sum(lat) / len(lat) * ms, 2) if lat else 0.0,
            "ttfb_p50_ms": round(percentile(tt, 50) * ms, 2),
            "ttfb_p99_ms": round(percentile(tt, 99) * ms, 2),
            "client_cpu_pct": round(100 * self.client_cpu / self.seconds, 1) if self.seconds else 0.0,
            "first_error": self.first_error,
        }


Check = Callable[[Reply], bool]


async def run_load(
    host: str,
    port: int,
    paths: Sequence[str] | Callable[[int], str],
    *,
    concurrency: int = 1,
    seconds: float = 3.0,
    max_requests: int | None = None,
    min_requests: int = 0,
    max_seconds: float | None = None,
    warmup: int = 0,
    headers: dict[str, str] | None = None,
    check: Check = subsonic_ok,
    keep_body: bool = True,
    expect: tuple[int, ...] = (200,),
    on_reply: Callable[[Reply], None] | None = None,
    ports: Sequence[int] | None = None,
) -> LoadResult:
    """Closed-loop load: `concurrency` workers send GETs of `paths` (cycled; or a function of
    the request number) until `seconds` have passed and at least `min_requests` were sent
    (but never beyond `max_seconds`), or `max_requests` were sent. `warmup` requests per
    worker are sent first and not counted. With `ports`, the connections are dealt over those
    ports in turn (replicas behind a round-robin proxy) instead of all going to `port`."""
    counter = itertools.count()
    path_of = paths if callable(paths) else (lambda i, p=list(paths): p[i % len(p)])
    res = LoadResult()
    stop_at = 0.0
    hard_stop = 0.0

    def more() -> bool:
        now = time.perf_counter()
        if max_requests is not None and res.requests >= max_requests:
            return False
        if now >= hard_stop:
            return False
        return now < stop_at or res.requests < min_requests

    async def worker(conn: Connection) -> None:
        while more():
            res.requests += 1
            path = path_of(next(counter))
            try:
                reply = await conn.get(path, headers, keep_body=keep_body)
            except Exception as exc:  # noqa: BLE001  (an error is a figure, not a crash)
                res.errors += 1
                res.first_error = res.first_error or f"{type(exc).__name__}: {exc} ({path[:120]})"
                await conn.close()
                continue
            if reply.status not in expect or not check(reply):
                res.errors += 1
                res.first_error = (
                    res.first_error or f"HTTP {reply.status} {reply.body[:200]!r} ({path[:120]})"
                )
                continue
            res.latencies.append(reply.seconds)
            res.ttfbs.append(reply.ttfb)
            res.bytes += reply.length
            if on_reply is not None:
                on_reply(reply)

    spread = list(ports) if ports else [port]
    conns = [Connection(host, spread[i % len(spread)]) for i in range(concurrency)]
    try:
        if warmup:

            async def warm(conn: Connection) -> None:
                for _ in range(warmup):
                    try:
                        await conn.get(path_of(next(counter)), headers, keep_body=False)
                    except Exception:  # noqa: BLE001
                        await conn.close()

            await asyncio.gather(*(warm(c) for c in conns))
        cpu0, t0 = time.process_time(), time.perf_counter()
        stop_at = t0 + seconds
        hard_stop = t0 + (max_seconds if max_seconds is not None else max(seconds * 5, seconds + 30))
        await asyncio.gather(*(worker(c) for c in conns))
        res.seconds = time.perf_counter() - t0
        res.client_cpu = time.process_time() - cpu0
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return res


# ---------------------------------------------------------------------------- /proc sampling


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def proc_status_kb(pid: int, key: str) -> int:
    """A `kB` field of /proc/<pid>/status (VmRSS, VmHWM); 0 when the process is gone."""
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def proc_pss_kb(pid: int) -> int:
    for line in _read(f"/proc/{pid}/smaps_rollup").splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Every descendant of `pid` (from /proc/<pid>/task/*/children)."""
    out: list[int] = []
    stack = [pid]
    while stack:
        p = stack.pop()
        for task in os.listdir(f"/proc/{p}/task") if os.path.isdir(f"/proc/{p}/task") else ():
            for c in _read(f"/proc/{p}/task/{task}/children").split():
                out.append(int(c))
                stack.append(int(c))
    return out


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the processes (clock ticks → seconds)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        stat = _read(f"/proc/{pid}/stat")
        if stat:
            fields = stat.rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / tick


class TreeSampler:
    """Samples the RSS (and PSS) of a process and its descendants in a thread, every
    `interval` s: peak of the tree's summed RSS and PSS, and the root's VmHWM."""

    def __init__(self, pid: int, interval: float = 0.1, pss: bool = True) -> None:
        import threading

        self.pid, self.interval, self.pss = pid, interval, pss
        self.peak_rss_kb = self.peak_pss_kb = self.root_hwm_kb = self.max_procs = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def sample(self) -> None:
        pids = [self.pid, *children(self.pid)]
        self.max_procs = max(self.max_procs, len(pids))
        self.peak_rss_kb = max(self.peak_rss_kb, sum(proc_status_kb(p, "VmRSS") for p in pids))
        if self.pss:
            self.peak_pss_kb = max(self.peak_pss_kb, sum(proc_pss_kb(p) for p in pids))
        self.root_hwm_kb = max(self.root_hwm_kb, proc_status_kb(self.pid, "VmHWM"))

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, ValueError):
                self.sample()
            self._stop.wait(self.interval)
