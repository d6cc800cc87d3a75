"""Real-time events through Valkey (issue 12 "Valkey"; orbsonic/eventbus.py): two real uvicorn
servers sharing PostgreSQL and a real valkey-server. An event sent through one reaches an SSE
client of the other by Valkey pub/sub (seen passing on the Valkey channel, with neither server
holding its own LISTEN); valkey-server killed mid-test → requests still succeed and events
still arrive, through PostgreSQL; valkey-server started again → back to Valkey."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import valkey

from orbsonic import eventbus
from tests.conftest import ADMIN, LiveServer, Subsonic, make_app
from tests.integration.native_client import api_key_for
from tests.integration.test_native_events import Stream, track
from tests.integration.valkey_server import ValkeyServer


class Tap:
    """The test's own subscriber on the Valkey event channel: what passed through Valkey."""

    def __init__(self, url: str) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._client = valkey.Valkey.from_url(url)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._pubsub.subscribe(eventbus.CHANNEL)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                msg = self._pubsub.get_message(timeout=0.1)
            except (valkey.ConnectionError, OSError):
                return
            if msg is not None:
                self.payloads.append(orjson.loads(msg["data"]))

    def saw(self, position_ms: int) -> bool:
        return any(p["e"] == "playback" and p["d"].get("positionMs") == position_ms for p in self.payloads)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._client.close()


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def valkey_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ValkeyServer]:
    server = ValkeyServer(tmp_path_factory.mktemp("valkey")).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def servers(library_db: str, test_library: tuple[Path, Any], valkey_server: ValkeyServer,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, LiveServer, Any, Any]]:
    app_a = make_app(library_db, tmp_path_factory.mktemp("vk_a"), (test_library[0],),
                     valkey_url=valkey_server.url)
    app_b = make_app(library_db, tmp_path_factory.mktemp("vk_b"), (test_library[0],),
                     valkey_url=valkey_server.url)
    with LiveServer(app_a) as a, LiveServer(app_b) as b:
        yield a, b, app_a.state.events, app_b.state.events


def on_valkey(*listeners: Any) -> bool:
    """Every listener is fed by Valkey and none holds its own LISTEN; one process relays."""
    return (all(lis.mode == "valkey" and not lis.listening for lis in listeners)
            and sum(lis.relaying for lis in listeners) == 1)


def play(http: httpx.Client, tr: str, position_ms: int) -> None:
    r = http.post("/api/v1/playback", json={"deviceId": "phone", "trackId": tr, "positionMs": position_ms,
                                            "state": "playing"})
    assert r.status_code == 204, r.text


def expect(stream: Stream, position_ms: int, timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        data, _ = stream.next("playback", timeout=max(0.01, deadline - time.monotonic()))
        if data["positionMs"] == position_ms:
            return


def requests_succeed(base: str, key: str, tr: str) -> None:
    """Reads and writes through both APIs answer without a 5xx (Valkey on the path or not)."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        for path in ("/api/v1/me", "/api/v1/albums", f"/api/v1/tracks/{tr}", "/api/v1/queue", "/readyz"):
            r = http.get(path)
            assert r.status_code == 200, (path, r.status_code, r.text[:200])
        assert Subsonic(http).ok("getAlbumList2", type="newest")["albumList2"]["album"]
        assert Subsonic(http).ok("getNowPlaying") is not None


def test_events_ride_valkey_fall_back_to_postgresql_and_come_back(
        servers: Any, valkey_server: ValkeyServer, library_db: str) -> None:
    a, b, events_a, events_b = servers
    key = api_key_for(library_db, ADMIN[0])
    tr = track(library_db)
    wait_for(lambda: on_valkey(events_a, events_b), "both servers are fed by Valkey")
    stream = Stream(b.url, key)
    tap = Tap(valkey_server.url)
    try:
        with httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
            # 1. through Valkey: A's write → the relay's NOTIFY → Valkey → B's stream
            for pos in range(1000, 6000, 1000):
                play(http, tr, pos)
                expect(stream, pos)
                wait_for(lambda pos=pos: tap.saw(pos), "the event passed through Valkey", 2)
            assert on_valkey(events_a, events_b)

            # 2. valkey-server dies: no request fails, both fall back to their own LISTEN
            valkey_server.kill()
            requests_succeed(a.url, key, tr)
            requests_succeed(b.url, key, tr)
            wait_for(lambda: events_a.mode == events_b.mode == "postgresql"
                     and events_a.listening and events_b.listening, "both listen on PostgreSQL")
            for pos in range(11000, 16000, 1000):
                play(http, tr, pos)
                expect(stream, pos)  # the same SSE stream, never closed
            requests_succeed(b.url, key, tr)

            # 3. valkey-server is back (empty): a relay is elected again, own LISTENs close
            valkey_server.start()
            wait_for(lambda: on_valkey(events_a, events_b), "both servers are back on Valkey")
            tap.close()
            tap = Tap(valkey_server.url)
            for pos in range(21000, 26000, 1000):
                play(http, tr, pos)
                expect(stream, pos)
                wait_for(lambda pos=pos: tap.saw(pos), "the event passed through Valkey again", 2)
            requests_succeed(a.url, key, tr)
    finally:
        stream.close()
        tap.close()


def test_a_stopped_relay_is_replaced(library_db: str, test_library: tuple[Path, Any],
                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    """The relay's process ends: the other takes the lock over and events keep flowing through
    Valkey (a Valkey of this test's own, so that the module's servers play no part)."""
    own = ValkeyServer(tmp_path_factory.mktemp("valkey2")).start()
    key = api_key_for(library_db, ADMIN[0])
    tr = track(library_db)
    apps = [make_app(library_db, tmp_path_factory.mktemp(f"vk_{n}"), (test_library[0],), valkey_url=own.url)
            for n in "cd"]
    try:
        with LiveServer(apps[0]) as c, LiveServer(apps[1]) as d:
            ev_c, ev_d = apps[0].state.events, apps[1].state.events
            wait_for(lambda: on_valkey(ev_c, ev_d), "both servers are fed by Valkey")
            relay, (survivor, ev_survivor) = (c, (d, ev_d)) if ev_c.relaying else (d, (c, ev_c))
            stream = Stream(survivor.url, key)
            try:
                relay.__exit__(None, None, None)  # the relay's server stops
                wait_for(lambda: on_valkey(ev_survivor), "the other server took the relay over", 10)
                with httpx.Client(base_url=survivor.url, headers={"Authorization": f"Bearer {key}"},
                                  timeout=10) as http:
                    play(http, tr, 31000)
                    expect(stream, 31000)
            finally:
                stream.close()
    finally:
        own.stop()


def test_a_server_started_while_valkey_is_down_serves_and_moves_to_valkey_later(
        library_db: str, test_library: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    """VALKEY_URL names a server that is not running yet: the app starts, requests and events
    work through PostgreSQL; once valkey-server runs, events move to it."""
    own = ValkeyServer(tmp_path_factory.mktemp("valkey3"))  # not started
    key = api_key_for(library_db, ADMIN[0])
    tr = track(library_db)
    app = make_app(library_db, tmp_path_factory.mktemp("vk_e"), (test_library[0],), valkey_url=own.url)
    try:
        with LiveServer(app) as e:
            ev = app.state.events
            assert ev.mode == "postgresql" and ev.listening and not ev.relaying
            requests_succeed(e.url, key, tr)
            stream = Stream(e.url, key)
            try:
                with httpx.Client(base_url=e.url, headers={"Authorization": f"Bearer {key}"},
                                  timeout=10) as http:
                    play(http, tr, 41000)
                    expect(stream, 41000)
                    own.start()
                    wait_for(lambda: on_valkey(ev), "the server moved to Valkey")
                    tap = Tap(own.url)
                    try:
                        play(http, tr, 42000)
                        expect(stream, 42000)
                        wait_for(lambda: tap.saw(42000), "the event passed through Valkey", 2)
                    finally:
                        tap.close()
            finally:
                stream.close()
    finally:
        own.stop()
