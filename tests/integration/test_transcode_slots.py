"""The transcoding slots are per machine, not per worker (orbsonic/kv/semaphore.py).

The counting semaphore is checked on its two shared stores — PostgreSQL (`kv_leases`) and
a real valkey-server — between independent handles (what two workers are), including a
holder that is SIGKILLed (its lease expires) and a live holder past the TTL (renewed, not
stolen). Then end to end: two app instances on one database, two slots in all — a
request on the second server queues while the first holds both, and gets its slot when
one is released there.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from psycopg_pool import AsyncConnectionPool

from orbsonic.kv.semaphore import MemorySemaphore, PgSemaphore, Semaphore, ValkeySemaphore
from orbsonic.scanner.scanner import scan
from tests.conftest import LiveServer, Subsonic, add_users, clone_db, make_app
from tests.integration.test_kv import valkey_url  # noqa: F401  (the valkey-server fixture)
from tests.integration.test_transcode import _encode, ffprobe

Factory = Callable[[str, int, float], Awaitable[tuple[Semaphore, Callable[[], Awaitable[None]]]]]


@pytest.fixture(scope="module")
def db(pg: Any, template_url: str) -> str:
    return clone_db(pg, template_url)


def _stores(db: str, valkey: str) -> dict[str, tuple[Factory, str]]:
    async def pg_store(name: str, limit: int, ttl: float) -> tuple[Semaphore, Callable[[], Awaitable[None]]]:
        pool = AsyncConnectionPool(db, min_size=1, max_size=4, open=False)
        await pool.open()
        sem = PgSemaphore(pool, name, limit, ttl)

        async def close() -> None:
            await sem.close()
            await pool.close()
        return sem, close

    async def valkey_store(name: str, limit: int, ttl: float) -> tuple[Semaphore, Callable[[], Awaitable[None]]]:
        sem = ValkeySemaphore(valkey, name, limit, ttl, prefix="slots-test:")
        return sem, sem.close

    holder_pg = f"""
        import asyncio
        from psycopg_pool import AsyncConnectionPool
        from orbsonic.kv.semaphore import PgSemaphore
        async def main():
            pool = AsyncConnectionPool({db!r}, min_size=1, open=False)
            await pool.open()
            sem = PgSemaphore(pool, NAME, 2, TTL)
            assert await sem.acquire(5)
            print("held", flush=True)
            await asyncio.sleep(600)
        asyncio.run(main())"""
    holder_valkey = f"""
        import asyncio
        from orbsonic.kv.semaphore import ValkeySemaphore
        async def main():
            sem = ValkeySemaphore({valkey!r}, NAME, 2, TTL, prefix="slots-test:")
            assert await sem.acquire(5)
            print("held", flush=True)
            await asyncio.sleep(600)
        asyncio.run(main())"""
    return {"postgresql": (pg_store, holder_pg), "valkey": (valkey_store, holder_valkey)}


@pytest.fixture(params=["postgresql", "valkey"])
def store(request: pytest.FixtureRequest, db: str) -> tuple[Factory, str]:
    valkey = request.getfixturevalue("valkey_url")
    return _stores(db, valkey)[request.param]


def test_two_handles_share_one_limit(store: tuple[Factory, str]) -> None:
    make, _ = store

    async def go() -> None:
        name = f"share-{time.monotonic_ns()}"
        a, close_a = await make(name, 2, 30)
        b, close_b = await make(name, 2, 30)  # another worker
        try:
            la = await a.acquire(1)
            lb = await b.acquire(1)
            assert la and lb and await a.in_use() == 2 == await b.in_use()
            t0 = time.monotonic()
            assert await a.acquire(0.3) is None  # full across both handles: queued, then refused
            assert time.monotonic() - t0 >= 0.25
            waiting = asyncio.create_task(a.acquire(5))  # queued on a ...
            await asyncio.sleep(0.3)
            assert not waiting.done()
            await lb.release()  # ... freed on b: a's poll sees it
            lc = await asyncio.wait_for(waiting, 5)
            assert lc is not None and await b.in_use() == 2
            await la.release()
            await lc.release()
            await la.release()  # idempotent
            assert await b.in_use() == 0
        finally:
            await close_a()
            await close_b()

    asyncio.run(go())


def _holder(script: str, name: str, ttl: float) -> subprocess.Popen[str]:
    code = f"NAME = {name!r}\nTTL = {ttl!r}\n" + textwrap.dedent(script)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_dead_workers_lease_expires_and_a_live_one_is_renewed(store: tuple[Factory, str]) -> None:
    make, script = store
    name, ttl = f"expiry-{time.monotonic_ns()}", 1.5
    alive = _holder(script, name, ttl)
    doomed = _holder(script, name, ttl)
    try:
        async def go() -> None:
            sem, close = await make(name, 2, ttl)
            try:
                assert await sem.in_use() == 2
                os.kill(doomed.pid, signal.SIGKILL)  # dies holding its slot: no release
                doomed.wait(10)
                t0 = time.monotonic()
                lease = await sem.acquire(3 * ttl)  # queued until the dead lease expires
                waited = time.monotonic() - t0
                assert lease is not None and waited <= ttl + 1.0, waited
                # the live holder has renewed past several TTLs: its slot is still taken
                await asyncio.sleep(2 * ttl)
                assert await sem.acquire(0.3) is None and await sem.in_use() == 2
                await lease.release()
            finally:
                await close()

        asyncio.run(go())
    finally:
        for p in (alive, doomed):
            if p.poll() is None:
                p.kill()
            p.wait(10)


def test_memory_semaphore() -> None:
    async def go() -> None:
        sem = MemorySemaphore(1)
        lease = await sem.acquire(0)
        assert lease and await sem.in_use() == 1 and await sem.acquire(0.05) is None
        waiting = asyncio.create_task(sem.acquire(2))
        await asyncio.sleep(0.05)
        await lease.release()
        assert await waiting is not None

    asyncio.run(go())


# ---------------------------------------------------------------------------- two app instances

@pytest.fixture(scope="module")
def two_servers(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    base = tmp_path_factory.mktemp("slots")
    root = base / "music"
    _encode(root / "Tones/01 Very Long.flac", 900, "Very Long", ["-c:a", "flac", "-compression_level", "0"])
    _encode(root / "Tones/02 Short.flac", 5, "Short", ["-c:a", "flac"])
    url = clone_db(pg, template_url)
    assert scan(url, [root], workers=1).added == 2
    add_users(url, base)
    # two workers' worth of apps on one database: `workers=2` makes each use PostgreSQL
    apps = [make_app(url, base / f"data{i}", (root,), workers=2, transcode_max_concurrent=2,
                     transcode_queue_wait_s=3, transcode_cache_size_mb=0) for i in (1, 2)]
    with LiveServer(apps[0]) as one, LiveServer(apps[1]) as two:
        yield one, two, base


def test_the_limit_holds_across_two_app_instances(two_servers: Any) -> None:
    one, two, tmp = two_servers
    with httpx.Client(base_url=one.url, timeout=60) as h1, httpx.Client(base_url=two.url, timeout=60) as h2:
        api1, api2 = Subsonic(h1), Subsonic(h2)
        songs = {s["title"]: s["id"] for s in api1.ok("search3", query="", songCount=10, albumCount=0,
                                                      artistCount=0)["searchResult3"]["song"]}
        params = {**api1.auth(), "f": "json", "id": songs["Very Long"], "format": "mp3"}
        transcoder1 = one.server.config.app.state.orbsonic.transcoding.transcoder
        with h1.stream("GET", "/rest/stream", params={**params, "maxBitRate": 320}) as a:
            with httpx.Client(base_url=one.url, timeout=60) as h1b, \
                    h1b.stream("GET", "/rest/stream", params={**params, "maxBitRate": 256}) as b:
                readers = [a.iter_raw(), b.iter_raw()]  # both slots taken on server one
                assert all(next(r) for r in readers) and len(transcoder1.running) == 2
                t0 = time.monotonic()
                err = api2.fail("stream", 0, id=songs["Short"], format="mp3", maxBitRate=64)
                assert "busy" in err["message"] and time.monotonic() - t0 >= 2.5
                result: list[httpx.Response] = []
                waiter = threading.Thread(target=lambda: result.append(
                    api2.raw("stream", id=songs["Short"], format="opus", maxBitRate=48)))
                waiter.start()
                time.sleep(0.5)
                assert not result  # queued on server two
            # b closed on server one: its slot frees, server two's request takes it
            waiter.join(30)
        assert result and result[0].status_code == 200 and result[0].headers["content-type"] == "audio/ogg"
        (tmp / "short.opus").write_bytes(result[0].content)
        assert ffprobe(result[0].content, tmp)["codec"] == "opus"
