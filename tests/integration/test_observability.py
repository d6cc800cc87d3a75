"""Observability (issue 12): /metrics, request ids, JSON logs, scan logging.

In-process app on the test library for the exposition and the access rule; real `orbsonic serve
--workers 2` subprocesses (on the session PostgreSQL) for multi-process aggregation, dead workers,
JSON logs with request ids, and what a server-started scan logs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from tests.conftest import ADMIN, SECRET, LiveServer, Subsonic, clone_db, make_app, wait_ready

TOKEN = "s3cret-metrics-token"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels); parsing fails on bad text."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def token_app(library_db: str, test_library: tuple[Path, Any],
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    app = make_app(library_db, tmp_path_factory.mktemp("obsdata"), (test_library[0],), metrics_token=TOKEN)
    with TestClient(app) as client:
        yield client


def scrape(http: Any, token: str | None = TOKEN) -> str:
    r = http.get("/metrics", headers={"Authorization": f"Bearer {token}"} if token else {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return r.text


def test_metrics_parse_and_count_the_requests_of_a_method(token_app: TestClient) -> None:
    api = Subsonic(token_app)
    before = scrape(token_app)
    for _ in range(3):
        assert api.raw("getAlbumList2", type="newest").status_code == 200
    api.raw("getSong.view", id="tr-999999999")  # an error envelope, still HTTP 200
    token_app.get("/rest/noSuchMethod-4711")
    after = scrape(token_app)
    assert value(after, "orbsonic_http_requests_total", endpoint="getAlbumList2", status="200") - \
        value(before, "orbsonic_http_requests_total", endpoint="getAlbumList2", status="200") == 3
    assert value(after, "orbsonic_http_request_duration_seconds_count", endpoint="getAlbumList2") - \
        value(before, "orbsonic_http_request_duration_seconds_count", endpoint="getAlbumList2") == 3
    assert value(after, "orbsonic_http_requests_total", endpoint="getSong", status="200") >= 1
    assert value(after, "orbsonic_http_requests_total", endpoint="unknown", status="200") >= 1
    endpoints = {dict(labels).get("endpoint") for (_, labels) in samples(after)} - {None}
    # bounded labels: method names and templates, never a raw path, id or unknown name
    assert not any("4711" in e or "999999999" in e or ".view" in e for e in endpoints), endpoints
    s = samples(after)
    for name in ("orbsonic_active_streams", "orbsonic_active_transcodes", "orbsonic_db_pool_max_connections",
                 "orbsonic_scan_running", "orbsonic_database_up"):
        assert (name, ()) in s, name
    assert value(after, "orbsonic_database_up") == 1
    assert value(after, "orbsonic_db_pool_max_connections") >= 20  # this app's pool at least
    assert value(after, "orbsonic_db_pool_connections", state="idle") >= 1
    assert value(after, "orbsonic_scan_files", state="seen") > 0  # the library was scanned
    assert value(after, "orbsonic_scan_last_duration_seconds") > 0
    assert any(n == "orbsonic_jobs" for n, _ in s) or "# TYPE orbsonic_jobs gauge" in after


def test_native_routes_are_labelled_by_template(token_app: TestClient) -> None:
    token_app.get("/api/v1/albums/al-123456789")  # 401 without a token, but the route matched
    after = scrape(token_app)
    assert value(after, "orbsonic_http_requests_total", endpoint="/api/v1/albums/{album_id}", status="401") >= 1


def test_cache_hits_and_misses_are_counted(token_app: TestClient) -> None:
    api = Subsonic(token_app)
    before = scrape(token_app)
    for _ in range(2):
        api.raw("getArtists")  # a cached answer: the second is a hit
    after = scrape(token_app)
    hits = (value(after, "orbsonic_cache_lookups_total", cache="answer", result="hit")
            - value(before, "orbsonic_cache_lookups_total", cache="answer", result="hit"))
    misses = (value(after, "orbsonic_cache_lookups_total", cache="answer", result="miss")
              - value(before, "orbsonic_cache_lookups_total", cache="answer", result="miss"))
    assert hits >= 1 and hits + misses == 2
    auth = sum(value(after, "orbsonic_cache_lookups_total", cache="auth", result=r) for r in ("hit", "miss"))
    assert auth > 0
    album = api.ok("getAlbumList2", type="newest", size=1)["albumList2"]["album"][0]
    for _ in range(2):
        assert token_app.get("/rest/getCoverArt", params={**api.auth(), "id": album["coverArt"],
                                                          "size": 16}).status_code == 200
    third = scrape(token_app)
    assert value(third, "orbsonic_cache_lookups_total", cache="cover", result="hit") - \
        value(after, "orbsonic_cache_lookups_total", cache="cover", result="hit") >= 1


def test_metrics_access_rule(token_app: TestClient, library_db: str, test_library: tuple[Path, Any],
                             tmp_path: Path) -> None:
    assert token_app.get("/metrics").status_code == 401
    r = token_app.get("/metrics", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    # no token configured: loopback only (the test client's address is "testclient")
    app = make_app(library_db, tmp_path / "d1", (test_library[0],))
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 403
    with LiveServer(make_app(library_db, tmp_path / "d2", (test_library[0],))) as live:
        assert httpx.get(f"{live.url}/metrics").status_code == 200


def test_request_id_round_trip(token_app: TestClient) -> None:
    r = token_app.get("/rest/ping", params={"f": "json"}, headers={"X-Request-Id": "abc-123.DEF_4:5"})
    assert r.headers["x-request-id"] == "abc-123.DEF_4:5"
    for bad in ("has space", "x" * 129, "semi;colon", ""):
        r = token_app.get("/rest/ping", headers={"X-Request-Id": bad})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), bad
    one, two = (token_app.get("/healthz").headers["x-request-id"] for _ in range(2))
    assert one != two


# -- real servers ----------------------------------------------------------------------------------


class Serve:
    """`orbsonic serve --workers N` on a free loopback port, on a database of the session cluster."""

    def __init__(self, url: str, data: Path, music: Path, workers: int, **env: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.data = data
        self.log = data.parent / f"serve-{self.port}.log"
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("ORBSONIC_", "PROMETHEUS"))}
        full_env.update(DATABASE_URL=url, ORBSONIC_DATA_DIR=str(data), ORBSONIC_SECRET_KEY=SECRET,
                        ORBSONIC_ADMIN_PASSWORD=ADMIN[1], ORBSONIC_JOB_WORKER="false", **env)
        self.fh = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orbsonic", "serve", str(music), "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers), "--no-scan"],
            env=full_env, stdout=self.fh, stderr=subprocess.STDOUT, text=True)
        self.wait_ready()

    def wait_ready(self) -> None:
        wait_ready(self.url, lambda: self.proc.poll() is None, self.output)

    def output(self) -> str:
        self.fh.flush()
        return self.log.read_text()

    def get(self, path: str, **params: Any) -> httpx.Response:
        q = {"u": ADMIN[0], "p": ADMIN[1], "v": "1.16.1", "c": "t", "f": "json", **params}
        return httpx.get(f"{self.url}{path}", params=q, timeout=20)

    @property
    def metrics_dir(self) -> Path:
        return self.data / "metrics" / str(self.proc.pid)

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self.fh.close()
        return self.log.read_text()


def per_process_count(metrics_dir: Path, endpoint: str) -> dict[int, float]:
    """orbsonic_http_requests_total{endpoint} of each process, read from its own counter file
    (the public MultiProcessCollector over a directory holding just that file)."""
    import tempfile

    from prometheus_client import CollectorRegistry, generate_latest, multiprocess

    out = {}
    for f in metrics_dir.glob("counter_*.db"):
        pid = int(f.stem.split("_")[1])
        with tempfile.TemporaryDirectory() as one:
            shutil.copy(f, one)
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=one)
            text = generate_latest(registry).decode()
        out[pid] = value(text, "orbsonic_http_requests_total", endpoint=endpoint, status="200")
    return out


def is_worker(p: psutil.Process) -> bool:
    """A live uvicorn worker (multiprocessing spawn child) of `orbsonic serve`."""
    try:
        return p.status() != psutil.STATUS_ZOMBIE and "spawn_main" in " ".join(p.cmdline())
    except psutil.Error:
        return False


@pytest.fixture
def serve_db(pg: Any, template_url: str) -> str:
    return clone_db(pg, template_url)


def test_two_workers_aggregate_and_a_dead_worker_leaves_the_live_gauges(
        serve_db: str, tmp_path: Path) -> None:
    (tmp_path / "music").mkdir()
    serve = Serve(serve_db, tmp_path / "data", tmp_path / "music", workers=2)
    try:
        sent = 0
        counts: dict[int, float] = {}
        # new connections until both workers have answered some (the kernel spreads accepts)
        while sent < 400 and sum(1 for c in counts.values() if c > 0) < 2:
            for _ in range(10):
                assert serve.get("/rest/ping").json()["subsonic-response"]["status"] == "ok"
                sent += 1
            counts = per_process_count(serve.metrics_dir, "ping")
        workers = [pid for pid, c in counts.items() if c > 0]
        assert len(workers) == 2, counts
        assert sum(counts.values()) == sent
        for _ in range(6):  # whichever worker answers the scrape reports both
            text = httpx.get(f"{serve.url}/metrics").text
            assert value(text, "orbsonic_http_requests_total", endpoint="ping", status="200") == sent
            assert value(text, "orbsonic_db_pool_max_connections") == 40  # two pools of 20
        victim = workers[0]
        assert (serve.metrics_dir / f"gauge_livesum_{victim}.db").exists()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:  # uvicorn's supervisor starts a new worker
            workers_now = [p.pid for p in psutil.Process(serve.proc.pid).children() if is_worker(p)]
            if len(workers_now) == 2 and victim not in workers_now and \
                    httpx.get(f"{serve.url}/readyz").status_code == 200:
                break
            assert time.monotonic() < deadline, serve.output()
            time.sleep(0.3)
        text = httpx.get(f"{serve.url}/metrics").text
        assert not (serve.metrics_dir / f"gauge_livesum_{victim}.db").exists()
        # the dead worker's requests still count; its pool no longer does
        assert value(text, "orbsonic_http_requests_total", endpoint="ping", status="200") == sent
        assert value(text, "orbsonic_db_pool_max_connections") <= 40
    finally:
        serve.stop()


def test_json_logs_request_ids_and_a_scan_without_per_file_lines(
        serve_db: str, tmp_path: Path, test_library: tuple[Path, Any]) -> None:
    music = tmp_path / "music"
    shutil.copytree(test_library[0], music)
    serve = Serve(serve_db, tmp_path / "data", music, workers=1, ORBSONIC_LOG_FORMAT="json")
    try:
        r = serve.get("/rest/startScan", **{})
        assert r.status_code == 200
        rid = r.headers["x-request-id"]
        r = httpx.get(f"{serve.url}/rest/startScan", headers={"X-Request-Id": "scan-req-42"}, params={
            "u": ADMIN[0], "p": ADMIN[1], "v": "1.16.1", "c": "t", "f": "json"})
        assert r.headers["x-request-id"] == "scan-req-42"
        deadline = time.monotonic() + 120
        while "scan done" not in serve.output():
            assert time.monotonic() < deadline, serve.output()
            time.sleep(0.3)
        time.sleep(0.5)
    finally:
        out = serve.stop()
    records = []
    for line in out.splitlines():
        if line.startswith("{"):
            records.append(json.loads(line))
    started = [r for r in records if r["msg"].startswith("scan started")]
    assert started and started[0].get("request_id") == rid, records
    scanner = [r for r in records if r["logger"].startswith("orbsonic.scanner") and r["level"] == "INFO"]
    assert any(r["msg"].startswith("scan done") for r in scanner)
    assert any(r["msg"].startswith("scan: reading the tags of") for r in scanner)
    files = list(music.rglob("*.*"))
    names = [f.name for f in files if f.suffix.lower() in (".flac", ".mp3", ".ogg", ".opus", ".m4a", ".wav")]
    per_file = [r for r in scanner if any(n in r["msg"] for n in names)]
    assert per_file == []
    assert len(scanner) < 10  # a start line, a few progress lines, a summary


def test_a_scan_logs_progress_and_a_summary_not_a_line_per_file(
        pg: Any, template_url: str, test_library: tuple[Path, Any], caplog: pytest.LogCaptureFixture) -> None:
    from orbsonic.scanner.scanner import scan

    url = clone_db(pg, template_url)
    root = test_library[0]
    with caplog.at_level(logging.DEBUG, logger="orbsonic"):
        report = scan(url, [root])
    assert report.read > 20
    info = [r for r in caplog.records if r.levelno == logging.INFO and r.name.startswith("orbsonic.scanner")]
    messages = [r.getMessage() for r in info]
    assert any(m.startswith("scan: reading the tags of") for m in messages), messages
    assert any(m.startswith("scan done in") for m in messages), messages
    assert not [m for m in messages if str(root) in m], messages  # no file (nor folder path) at INFO
    assert len(info) <= 2 + 10 + 2  # start, tenths, summary (+ playlist summaries)


def test_a_stream_counts_as_active_while_its_body_is_sent(pg: Any, template_url: str, tmp_path: Path) -> None:
    import wave

    from orbsonic.scanner.scanner import scan
    from tests.conftest import add_users

    music = tmp_path / "music"
    music.mkdir()
    # 40 MB: more than the loopback socket buffers hold, so the response cannot finish unread
    with wave.open(str(music / "long.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(44100)
        w.writeframes(b"\x01\x00" * 2 * 44100 * 240)
    url = clone_db(pg, template_url)
    assert scan(url, [music]).added == 1
    add_users(url, tmp_path)
    with LiveServer(make_app(url, tmp_path / "data", (music,))) as live:
        api = Subsonic(httpx.Client(base_url=live.url, timeout=20))
        song = api.ok("getRandomSongs", size=1)["randomSongs"]["song"][0]

        def active() -> float:
            return value(httpx.get(f"{live.url}/metrics").text, "orbsonic_active_streams")

        idle = active()
        with httpx.stream("GET", f"{live.url}/rest/stream", timeout=20,
                          params={**api.auth(), "id": song["id"], "format": "raw"}) as r:
            assert r.status_code == 200
            deadline = time.monotonic() + 10
            while active() != idle + 1:  # the server is blocked sending: one active stream
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert sum(len(c) for c in r.iter_bytes()) == (music / "long.wav").stat().st_size
        deadline = time.monotonic() + 10
        while active() != idle:  # the body was sent: no longer active
            assert time.monotonic() < deadline
            time.sleep(0.05)
