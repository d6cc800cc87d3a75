"""Request ids, request metrics and `GET /metrics` (issue 12, Observability).

`RequestContext` is an ASGI middleware around the whole app:

* Request id: the client's `X-Request-Id` when it is sane (1–128 characters of
  `A-Z a-z 0-9 . _ : @ / + = -`), else a new random one (32 hex digits). It is set in
  `orbsonic.logs.request_id` while the request is handled (so every log line of the request
  carries it) and returned in the response's `X-Request-Id` header.
* Metrics (orbsonic/metrics/defs.py): the request's duration by endpoint and its count by endpoint
  and status; the number of streams being sent (STREAM_ENDPOINTS, from the response's start to
  the end of its body). The endpoint label is the Subsonic method name
  (`getAlbumList2`, `unknown` for a name that is none), or the template of the route that matched
  (`/api/v1/albums/{album_id}`), or `unmatched` — never the raw path, so the label set stays small.
* In the app's lifespan it samples, every SAMPLE_S seconds, this process's PostgreSQL pool and
  running transcodes; at shutdown it takes this process out of the live gauges.

`/metrics` (`routes`) answers Prometheus' text format for all the server's worker processes
(prometheus_client's multi-process mode), plus what PostgreSQL knows at scrape time: scan progress
and the last scan's duration, and the job queue's depth. Access: with the `metrics_token` setting,
a request must carry `Authorization: Bearer <token>` (401 otherwise); without it, only loopback
clients are answered (403 otherwise) — the address is the one uvicorn reports, i.e. the
`X-Forwarded-For` client behind a trusted proxy, so a reverse proxy on the same machine does not
open it to the world.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Collection
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orbsonic import logs
from orbsonic.metrics import defs

log = logging.getLogger("orbsonic.http")

SAMPLE_S = 5.0
_SANE_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
# Subsonic methods and native routes whose responses are streams of a track
STREAM_ENDPOINTS = frozenset({"stream", "download", "hls", "/api/v1/stream/{track_id}",
                              "/share/{token}/stream/{n}"})
SUBSONIC_ROUTE = "/rest/{method}"


def request_id_of(scope: Scope) -> str:
    """The request's id: a sane incoming `X-Request-Id`, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            try:
                text = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if _SANE_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def endpoint_label(scope: Scope, root_path: str, subsonic_methods: Collection[str]) -> str:
    """The bounded `endpoint` label of a request the router has seen (Starlette leaves the
    matched route in `scope["route"]`; a Mount's prefix is in `root_path`)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    if path == SUBSONIC_ROUTE:
        method = str(scope.get("path_params", {}).get("method", ""))
        if method.endswith(".view"):
            method = method[:-5]
        elif method in ("hls.m3u8", "hls.ts"):
            method = "hls"
        return method if method in subsonic_methods else "unknown"
    prefix = str(scope.get("root_path", ""))[len(root_path):]
    return prefix + path


class RequestContext:
    """ASGI middleware: request id, request metrics, the metrics sampler (module docstring).
    `subsonic_methods`: the method names that may appear as endpoint labels."""

    def __init__(self, app: ASGIApp, subsonic_methods: Collection[str] = ()) -> None:
        self.app = app
        self.subsonic_methods = frozenset(subsonic_methods)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
        elif scope["type"] == "http":
            await self._http(scope, receive, send)
        else:  # websocket: the request id for its log lines
            token = logs.request_id.set(request_id_of(scope))
            try:
                await self.app(scope, receive, send)
            finally:
                logs.request_id.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = request_id_of(scope)
        token = logs.request_id.set(rid)
        root_path = str(scope.get("root_path", ""))
        started = time.perf_counter()
        status = 500
        label: str | None = None
        streaming = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, label, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (b"x-request-id", rid.encode("ascii"))]}
                label = endpoint_label(scope, root_path, self.subsonic_methods)
                if label in STREAM_ENDPOINTS and not streaming:
                    streaming = True
                    defs.ACTIVE_STREAMS.inc()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if streaming:
                defs.ACTIVE_STREAMS.dec()
            label = label or endpoint_label(scope, root_path, self.subsonic_methods)
            defs.REQUEST_SECONDS.labels(label).observe(time.perf_counter() - started)
            defs.REQUESTS.labels(label, str(status)).inc()
            logs.request_id.reset(token)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        task: asyncio.Task[None] | None = None

        async def send_and_start(message: Message) -> None:
            nonlocal task
            if message["type"] == "lifespan.startup.complete" and task is None:
                state = getattr(scope["app"].state, "orbsonic", None)
                if state is not None:
                    task = asyncio.create_task(_sample_forever(state))
            await send(message)

        async def receive_and_stop() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown" and task is not None:
                task.cancel()
            return message

        try:
            await self.app(scope, receive_and_stop, send_and_start)
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            defs.process_exiting()


def sample(state: Any) -> None:
    """Record this process's pool and transcodes now."""
    defs.sample_pool(state.pool)
    transcoding = getattr(state, "transcoding", None)
    if transcoding is not None:
        defs.ACTIVE_TRANSCODES.set(len(transcoding.transcoder.running))


async def _sample_forever(state: Any) -> None:
    while True:
        try:
            sample(state)
        except Exception:  # noqa: BLE001  (a metric must never take the server down)
            log.debug("metrics sample failed", exc_info=True)
        await asyncio.sleep(SAMPLE_S)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def access_denied(request: Request, token: str) -> Response | None:
    """None when `request` may read /metrics (module docstring), else the answer to give."""
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
            return None
        return PlainTextResponse("a valid bearer token (metrics_token) is needed\n", status_code=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if request.client is not None and _loopback(request.client.host):
        return None
    return PlainTextResponse("/metrics answers loopback clients only; set metrics_token to scrape "
                             "from elsewhere\n", status_code=403)


async def database_families(state: Any) -> list[Metric]:
    """Scan status and job-queue depth, read from PostgreSQL now (shared by every replica);
    `orbsonic_database_up` 0 and nothing else when the database cannot be read."""
    from orbsonic.scanner.launcher import read_state

    up = GaugeMetricFamily("orbsonic_database_up", "1 when /metrics could read PostgreSQL.")
    try:
        async with state.pool.connection() as conn:
            scan = await read_state(conn)
            cur = await conn.execute(
                """SELECT extract(epoch FROM finished_at - started_at), extract(epoch FROM finished_at),
                          files_seen, files_done
                     FROM scan_status WHERE id = 1""")
            row = await cur.fetchone()
            cur = await conn.execute(
                """SELECT queue_name, status::text, count(*) FROM procrastinate_jobs
                    WHERE status IN ('todo', 'doing') GROUP BY 1, 2 ORDER BY 1, 2""")
            queue = await cur.fetchall()
    except Exception as exc:  # noqa: BLE001  (the process metrics are still worth answering)
        log.warning("metrics: cannot read the database: %s", exc)
        up.add_metric([], 0)
        return [up]
    up.add_metric([], 1)
    duration, finished, seen, done = row if row is not None else (None, None, 0, 0)
    running = GaugeMetricFamily("orbsonic_scan_running", "1 while a library scan runs (any replica).")
    running.add_metric([], 1 if scan.scanning else 0)
    files = GaugeMetricFamily("orbsonic_scan_files", "Files of the running scan, or of the last one: "
                              "found by the walk (seen) and done so far (done).", labels=["state"])
    files.add_metric(["seen"], float(seen or 0))
    files.add_metric(["done"], float(done or 0))
    families: list[Metric] = [up, running, files]
    if duration is not None and not scan.scanning:
        last = GaugeMetricFamily("orbsonic_scan_last_duration_seconds", "Duration of the last finished scan.")
        last.add_metric([], float(duration))
        at = GaugeMetricFamily("orbsonic_scan_last_finished_timestamp_seconds",
                               "When the last scan finished (Unix time).")
        at.add_metric([], float(finished))
        families += [last, at]
    jobs = GaugeMetricFamily("orbsonic_jobs", "Background jobs waiting (todo) and running (doing), by queue.",
                             labels=["queue", "status"])
    for name, status, count in queue:
        jobs.add_metric([name, status], float(count))
    return families + [jobs]


async def metrics(request: Request) -> Response:
    """GET /metrics: Prometheus text exposition (module docstring for who may read it)."""
    state = request.app.state.orbsonic
    if (denied := access_denied(request, state.settings.metrics_token)) is not None:
        return denied
    sample(state)  # this worker's figures as of now; the others' are at most SAMPLE_S old
    extra = await database_families(state)
    body = await asyncio.to_thread(defs.exposition, extra)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def routes() -> list[Route]:
    """The /metrics route."""
    return [Route("/metrics", metrics, methods=["GET"])]
