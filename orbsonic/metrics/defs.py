"""The server's Prometheus metrics, and their exposition across worker processes.

Every metric here is per process and summed over the processes of one `orbsonic serve` at scrape
time (orbsonic/metrics/__init__.py): counters and histograms over every process that ever ran
(a worker that died keeps its counts), the `livesum` gauges over the processes alive (the files of
dead ones are dropped, `drop_dead_processes`). Values that live in PostgreSQL (scan status, job
queue) are not here: the `/metrics` handler reads them at scrape time (orbsonic/http/metrics.py).

Label values are bounded: `endpoint` is a Subsonic method name or a native route template, never a
raw path; `cache` and `result` are fixed words.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from typing import Any

from prometheus_client import (CollectorRegistry, Counter, Gauge, Histogram, generate_latest,
                               multiprocess, values)
from prometheus_client.core import Metric
from prometheus_client.registry import REGISTRY, Collector

from orbsonic.metrics import ENV, pid_alive

# seconds; a stream's request lasts as long as the stream, hence the long tail
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 120.0)

REQUEST_SECONDS = Histogram(
    "orbsonic_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response body, by endpoint (Subsonic method "
    "name or native route template).", ["endpoint"], buckets=BUCKETS)
REQUESTS = Counter(
    "orbsonic_http_requests", "HTTP requests answered, by endpoint and status code.",
    ["endpoint", "status"])
ACTIVE_STREAMS = Gauge(
    "orbsonic_active_streams", "Responses of stream, download and hls (Subsonic), /api/v1/stream "
    "and shared streams being sent now.", multiprocess_mode="livesum")
ACTIVE_TRANSCODES = Gauge(
    "orbsonic_active_transcodes", "ffmpeg transcodes running now (sampled every few seconds).",
    multiprocess_mode="livesum")
CACHE_LOOKUPS = Counter(
    "orbsonic_cache_lookups", "Cache lookups by cache (cover, transcode, answer, auth) and result "
    "(hit, miss); the hit ratio is rate(hit) / rate(hit + miss).", ["cache", "result"])
POOL_CONNECTIONS = Gauge(
    "orbsonic_db_pool_connections", "PostgreSQL pool connections by state (in_use, idle).",
    ["state"], multiprocess_mode="livesum")
POOL_MAX = Gauge(
    "orbsonic_db_pool_max_connections", "Largest size of the PostgreSQL pools.",
    multiprocess_mode="livesum")
POOL_WAITING = Gauge(
    "orbsonic_db_pool_requests_waiting", "Requests waiting now for a pooled PostgreSQL connection.",
    multiprocess_mode="livesum")
POOL_REQUESTS = Counter(
    "orbsonic_db_pool_requests", "Connections asked of the PostgreSQL pool.")
POOL_QUEUED = Counter(
    "orbsonic_db_pool_requests_queued", "Pool requests that had to wait for a connection.")
POOL_WAIT_SECONDS = Counter(
    "orbsonic_db_pool_wait_seconds", "Time requests spent waiting for a pooled connection.")
POOL_ERRORS = Counter(
    "orbsonic_db_pool_request_errors", "Pool requests that failed (timeout, database down).")
POOL_LOST = Counter(
    "orbsonic_db_pool_connections_lost", "Pooled connections found broken.")

# psycopg_pool's cumulative counters (get_stats) → our counters (ms → s for the wait time)
_POOL_COUNTERS = (("requests_num", POOL_REQUESTS, 1), ("requests_queued", POOL_QUEUED, 1),
                  ("requests_wait_ms", POOL_WAIT_SECONDS, 1000), ("requests_errors", POOL_ERRORS, 1),
                  ("connections_lost", POOL_LOST, 1))
_pool_seen: dict[int, dict[str, int]] = {}  # id(pool) → its counters at the last sample
_FILE = re.compile(r"gauge_live\w+?_(\d+)\.db$")


def multiprocess_mode() -> bool:
    """Whether this process writes its values to PROMETHEUS_MULTIPROC_DIR (decided when
    prometheus_client was imported)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def cache_lookup(cache: str, hit: bool) -> None:
    """Count one lookup of `cache` ("cover", "transcode", "answer", "auth")."""
    CACHE_LOOKUPS.labels(cache, "hit" if hit else "miss").inc()


def sample_pool(pool: Any) -> None:
    """Record a psycopg_pool pool's state (`get_stats`, which resets nothing) in the gauges, and
    its counters' growth since the previous sample in the counters."""
    stats = pool.get_stats()
    size, idle = stats.get("pool_size", 0), stats.get("pool_available", 0)
    POOL_CONNECTIONS.labels("in_use").set(max(size - idle, 0))
    POOL_CONNECTIONS.labels("idle").set(idle)
    POOL_MAX.set(stats.get("pool_max", 0))
    POOL_WAITING.set(stats.get("requests_waiting", 0))
    seen = _pool_seen.setdefault(id(pool), {})
    for key, counter, scale in _POOL_COUNTERS:
        now = stats.get(key, 0)
        if now > seen.get(key, 0):
            counter.inc((now - seen.get(key, 0)) / scale)
        seen[key] = now


def drop_dead_processes(path: str | None = None) -> list[int]:
    """Remove the live-gauge files of processes that no longer exist (a worker that crashed or
    was restarted by uvicorn's supervisor), so that they stop adding to `livesum` gauges; their
    counters stay. Returns the pids dropped."""
    path = path or os.environ.get(ENV)
    if not path:
        return []
    dead = set()
    for name in glob.glob(os.path.join(path, "gauge_live*.db")):
        m = _FILE.search(os.path.basename(name))
        if m and not pid_alive(int(m.group(1))):
            dead.add(int(m.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)
    return sorted(dead)


def process_exiting() -> None:
    """This process stops serving: its live gauges stop counting (multi-process mode)."""
    if multiprocess_mode() and os.environ.get(ENV):
        multiprocess.mark_process_dead(os.getpid(), os.environ[ENV])


class _Fixed(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterable[Metric]:
        return self.families


def exposition(extra: Iterable[Metric] = ()) -> bytes:
    """The text exposition of every process's metrics plus `extra` families. Blocking (reads
    the processes' files): run it in a worker thread."""
    extra_registry = CollectorRegistry(auto_describe=False)
    extra_registry.register(_Fixed(extra))
    if multiprocess_mode() and os.environ.get(ENV):
        drop_dead_processes()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry) + generate_latest(extra_registry)
    return generate_latest(REGISTRY) + generate_latest(extra_registry)
