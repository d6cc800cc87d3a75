"""Real-time events (docs/native-api.md "Real-time"; orbsonic/events.py,
native_api/endpoints/realtime.py): two real uvicorn servers on one database — an event sent
through one reaches an SSE client of the other (LISTEN/NOTIFY); playback feeds getNowPlaying;
queue and playlist writes made through Subsonic, scan progress and takeover are events; a user
sees only their own; a client that goes away ends its stream."""

from __future__ import annotations

import contextlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from orbsonic.ids import public_id
from tests.conftest import ADMIN, ALICE, LiveServer, Subsonic, make_app
from tests.integration.native_client import api_key_for


class Stream:
    """An SSE client in a thread: parsed (event, data, arrival monotonic time) in `events`."""

    def __init__(self, base: str, token: str, *, query_token: bool = False) -> None:
        self.events: queue.Queue[tuple[str, dict[str, Any], float]] = queue.Queue()
        self.connected = threading.Event()
        self.comments: list[str] = []
        self._stop = threading.Event()
        self.status = 0
        params = {"token": token} if query_token else {}
        headers = {} if query_token else {"Authorization": f"Bearer {token}"}
        self._thread = threading.Thread(target=self._run, args=(base, params, headers), daemon=True)
        self._thread.start()
        assert self.connected.wait(10), "stream did not open"

    def _run(self, base: str, params: dict[str, str], headers: dict[str, str]) -> None:
        try:
            self._read(base, params, headers)
        except Exception:
            if not self._stop.is_set():  # a hang-up from close() is expected
                raise

    def _read(self, base: str, params: dict[str, str], headers: dict[str, str]) -> None:
        with httpx.Client(base_url=base, timeout=httpx.Timeout(5, read=None)) as http, \
                http.stream("GET", "/api/v1/events", params=params, headers=headers) as r:
            self._response = r
            self.status = r.status_code
            self.content_type = r.headers.get("content-type", "")
            name, data = "", ""
            for line in r.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith(":"):
                    self.comments.append(line)
                    self.connected.set()
                elif line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: "):
                    data = line[6:]
                elif line == "" and name:
                    self.events.put((name, json.loads(data), time.monotonic()))
                    name, data = "", ""

    def next(self, name: str, timeout: float = 5.0) -> tuple[dict[str, Any], float]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {name} event"
            ev, data, at = self.events.get(timeout=left)
            if ev == name:
                return data, at

    def none(self, name: str, wait: float = 0.7) -> bool:
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            try:
                ev, _, _ = self.events.get(timeout=left)
            except queue.Empty:
                return True
            if ev == name:
                return False
        return True

    def close(self) -> None:
        """Hang up (closing the response from here ends the reader thread's iter_lines)."""
        self._stop.set()
        r = getattr(self, "_response", None)
        if r is not None:
            with contextlib.suppress(Exception):
                r.close()


@pytest.fixture(scope="module")
def servers(library_db: str, test_library: tuple[Path, Any],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer, Any]]:
    app_a = make_app(library_db, tmp_path_factory.mktemp("ev_a"), (test_library[0],))
    app_b = make_app(library_db, tmp_path_factory.mktemp("ev_b"), (test_library[0],))
    with LiveServer(app_a) as a, LiveServer(app_b) as b:
        yield a, b, app_b


@pytest.fixture(scope="module")
def keys(library_db: str) -> dict[str, str]:
    return {"admin": api_key_for(library_db, ADMIN[0]), "alice": api_key_for(library_db, ALICE[0])}


def track(library_db: str, n: int = 0) -> str:
    with psycopg.connect(library_db) as conn:
        row = conn.execute("SELECT id FROM tracks ORDER BY id OFFSET %s LIMIT 1", (n,)).fetchone()
    assert row is not None
    return public_id("tr", row[0])


def post(base: str, key: str, path: str, body: Any) -> httpx.Response:
    return httpx.post(base + "/api/v1" + path, json=body, headers={"Authorization": f"Bearer {key}"})


def test_a_client_that_goes_away_ends_its_stream(servers: Any, keys: dict[str, str]) -> None:
    _, b, app_b = servers
    listener = app_b.state.events
    before = listener.subscribers()  # 0: this test runs before the others open streams
    alice = {"Authorization": f"Bearer {keys['alice']}"}
    with httpx.Client(base_url=b.url, timeout=5) as http, \
            http.stream("GET", "/api/v1/events", headers=alice) as r:
        assert r.status_code == 200
        lines = r.iter_lines()  # kept: a dropped iterator closes the connection
        assert next(lines).startswith(":")
        assert listener.subscribers() == before + 1
    deadline = time.monotonic() + 5
    while listener.subscribers() != before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listener.subscribers() == before


def test_playback_through_one_server_reaches_a_client_of_the_other(servers: Any, keys: dict[str, str],
                                                                     library_db: str) -> None:
    a, b, _ = servers
    tr = track(library_db)
    stream = Stream(b.url, keys["admin"], query_token=True)
    other = Stream(b.url, keys["alice"])
    try:
        assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
        latencies = []
        with httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {keys['admin']}"}) as http:
            for i in range(50):
                sent = time.monotonic()
                r = http.post("/api/v1/playback", json={"deviceId": "phone", "deviceName": "Phone",
                                                        "trackId": tr,
                                                        "positionMs": i * 1000, "state": "playing"})
                assert r.status_code == 204, r.text
                data, at = stream.next("playback", timeout=1.0)
                assert data["positionMs"] == i * 1000 and data["trackId"] == tr
                assert data["deviceId"] == "phone"
                assert data["state"] == "playing" and data["deviceName"] == "Phone" and data["at"]
                latencies.append(at - sent)
        latencies.sort()
        p99 = latencies[int(len(latencies) * 0.99) - 1]
        p50 = latencies[len(latencies) // 2]
        print(f"\nplayback event A→B latency over {len(latencies)}: p50 {p50 * 1000:.1f} ms, "
              f"p99 {p99 * 1000:.1f} ms (includes the POST)")
        assert all(t < 1.0 for t in latencies)
        assert other.none("playback"), "alice saw admin's playback"
        # The report also feeds Subsonic getNowPlaying, on the other server too.
        with httpx.Client(base_url=b.url) as http:
            entries = Subsonic(http).ok("getNowPlaying")["nowPlaying"].get("entry", [])
        assert any(e["id"] == tr and e["playerName"] == "Phone" and e["username"] == "admin" for e in entries)
    finally:
        stream.close()
        other.close()


def test_takeover_queue_playlist_and_scan_events(servers: Any, keys: dict[str, str], library_db: str) -> None:
    a, b, _ = servers
    tr0, tr1 = track(library_db, 0), track(library_db, 1)
    stream = Stream(b.url, keys["admin"])
    other = Stream(b.url, keys["alice"])
    try:
        assert post(a.url, keys["admin"], "/playback/takeover", {"deviceId": "laptop"}).status_code == 204
        assert stream.next("takeover")[0] == {"deviceId": "laptop"}
        with httpx.Client(base_url=a.url) as http:
            sub = Subsonic(http)
            sub.raw("savePlayQueue", id=[tr0, tr1], current=tr1, position=1500)
            q, _ = stream.next("queue")
            assert [e["trackId"] for e in q["entries"]] == [tr0, tr1]
            assert q["currentIndex"] == 1 and q["positionMs"] == 1500 and q["changedBy"] == "pytest"
            body = sub.raw("createPlaylist", name="live", songId=tr0).json()["subsonic-response"]
            pl = body["playlist"]["id"]
            assert stream.next("playlist")[0] == {"id": pl}
            sub.raw("deletePlaylist", id=pl)
            assert stream.next("playlist")[0] == {"id": pl}
        assert other.none("queue") and other.none("playlist") and other.none("takeover")
        with psycopg.connect(library_db) as conn:  # the scanner's progress row (orbsonic/scanner/scanner.py)
            conn.execute("UPDATE scan_status SET phase = 'reading', files_done = 7 WHERE id = 1")
        try:
            assert stream.next("scan")[0] == {"scanning": True, "count": 7}
            assert other.next("scan")[0] == {"scanning": True, "count": 7}  # every user's stream
        finally:
            with psycopg.connect(library_db) as conn:
                conn.execute("UPDATE scan_status SET phase = 'idle' WHERE id = 1")
    finally:
        stream.close()
        other.close()


def test_bad_requests(servers: Any, keys: dict[str, str], library_db: str) -> None:
    a, _, _ = servers
    assert httpx.get(a.url + "/api/v1/events").status_code == 401
    assert httpx.get(a.url + "/api/v1/events", params={"token": "nope"}).status_code == 401
    good = {"deviceId": "d", "trackId": track(library_db), "positionMs": 0, "state": "paused"}
    r = post(a.url, keys["admin"], "/playback", {**good, "state": "dancing"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "state"
    r = post(a.url, keys["admin"], "/playback", {**good, "positionMs": -1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "positionMs"
    r = post(a.url, keys["admin"], "/playback", {**good, "trackId": "al-1"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "trackId"
    r = post(a.url, keys["admin"], "/playback", {**good, "trackId": "tr-zzzzzzzz"})
    assert r.status_code == 404 and r.json()["code"] == "not-found"
    assert post(a.url, keys["admin"], "/playback/takeover", {}).status_code == 422
    assert post(a.url, keys["admin"], "/playback", {**good, "extra": 1}).status_code == 422
