"""Many players pressing play at once (issue 8, "a concurrency limit that queues rather than
failing"; bench/transcode.py's 50 clients on `serve --workers 2`).

The transcoding slots of a multi-worker server live in PostgreSQL (orbsonic.kv.semaphore.
PgSemaphore), taken on the request pool. A stream request used to wait for its slot while
holding its own pooled connection, so with more waiting players than pooled connections
(20 per worker) the slot's own query found no connection: every waiter hung for the pool's
busy timeout (10 s) and failed. Here more clients than the pool holds start at once against
a real uvicorn server with few slots: every one of them is served a real transcode, queued
until a slot frees up.
"""

from __future__ import annotations

import shutil
import threading
from typing import Any

import httpx
import pytest

from orbsonic.scanner.scanner import scan
from tests.conftest import LiveServer, Subsonic, add_users, clone_db, make_app
from tests.integration.test_transcode import _encode, ffprobe

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                                reason="needs ffmpeg and ffprobe")
CLIENTS = 26  # more than the 20 connections of the request pool
SLOTS = 3


@pytest.fixture(scope="module")
def server(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    base = tmp_path_factory.mktemp("queue")
    root = base / "music"
    _encode(root / "Tones/01 Short.flac", 4, "Short", ["-c:a", "flac"])
    url = clone_db(pg, template_url)
    assert scan(url, [root], workers=1).added == 1
    add_users(url, base)
    # workers=2: the slots are PostgreSQL leases, as with `serve --workers 2`; no cache, so
    # every request is its own ffmpeg
    app = make_app(url, base / "data", (root,), workers=2, transcode_max_concurrent=SLOTS,
                   transcode_queue_wait_s=120, transcode_cache_size_mb=0)
    with LiveServer(app) as live:
        yield live, base


def test_players_beyond_the_slots_queue_and_are_all_served(server: Any) -> None:
    live, tmp = server
    with httpx.Client(base_url=live.url, timeout=120) as h:
        api = Subsonic(h)
        [song] = api.ok("search3", query="Short", songCount=5, albumCount=0, artistCount=0)["searchResult3"]["song"]
        params = {**api.auth(), "f": "json", "id": song["id"], "format": "mp3", "maxBitRate": 64}
    results: list[httpx.Response | BaseException] = []
    start = threading.Barrier(CLIENTS)

    def player() -> None:
        try:
            with httpx.Client(base_url=live.url, timeout=120) as c:
                start.wait()
                results.append(c.get("/rest/stream", params=params))
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            results.append(exc)

    threads = [threading.Thread(target=player) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert len(results) == CLIENTS
    bad = [r if isinstance(r, BaseException) else (r.status_code, r.headers.get("content-type"), r.content[:200])
           for r in results if isinstance(r, BaseException) or r.headers.get("content-type") != "audio/mpeg"]
    assert not bad, bad
    probe = ffprobe(results[0].content, tmp)  # type: ignore[union-attr]
    assert probe["codec"] == "mp3" and abs(float(probe["duration"]) - 4) < 0.2
    transcoder = live.server.config.app.state.orbsonic.transcoding.transcoder
    assert transcoder.started >= CLIENTS and not transcoder.running
