"""The read path of RangeResponse over real local files (orbsonic/http/ranges.py,
orbsonic/storage/local.py): page-cached reads on the event loop (preadv RWF_NOWAIT), the
worker-thread fallback (a file not in the page cache, a file system that refuses the
flag, the switch off), the cached open (openat2 RESOLVE_CACHED), a file that shrinks
while it is sent, and many concurrent range answers. Every body is compared byte for byte
with the file."""

from __future__ import annotations

import asyncio
import errno
import os
from pathlib import Path
from typing import Any

import anyio
import pytest

from orbsonic.errors import NotFound
from orbsonic.http import ranges
from orbsonic.http.ranges import CHUNK, RangeResponse
from orbsonic.storage import local
from orbsonic.storage.local import LocalStorage

SIZE = 5 * CHUNK + 12_345  # more than SHORT_BODY: the whole file goes through the disconnect watcher


@pytest.fixture
def music(tmp_path: Path) -> tuple[LocalStorage, bytes]:
    """A storage holding `a.bin` (SIZE random bytes, read once: in the page cache)."""
    data = os.urandom(SIZE)
    (tmp_path / "a.bin").write_bytes(data)
    assert (tmp_path / "a.bin").read_bytes() == data
    return LocalStorage(tmp_path), data


def scope(headers: dict[str, str] | None = None, spec: str = "2.3", method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "method": method, "asgi": {"spec_version": spec},
            "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]}


async def serve(fh: Any, headers: dict[str, str] | None = None, spec: str = "2.3",
                on_body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of a RangeResponse over `fh`, called as an ASGI app.
    `on_body(n_chunks_so_far)` runs after each body message."""
    messages: list[dict[str, Any]] = []
    done = anyio.Event()

    async def receive() -> dict[str, Any]:
        await done.wait()  # a client that stays connected
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.body" and on_body is not None:
            on_body(len(messages) - 1)

    try:
        await RangeResponse(fh, "audio/flac")(scope(headers, spec), receive, send)
    finally:
        done.set()
    start = messages[0]
    assert start["type"] == "http.response.start"
    head = {k.decode(): v.decode() for k, v in start["headers"]}
    body = b"".join(m["body"] for m in messages[1:])
    assert messages[-1]["more_body"] is False
    return start["status"], head, body


def check(storage: LocalStorage, data: bytes) -> None:
    """Whole file, a single range, a suffix and a multipart answer: exact bytes."""
    status, head, body = asyncio.run(serve(storage.open("a.bin")))
    assert (status, int(head["content-length"]), body) == (200, SIZE, data)
    status, head, body = asyncio.run(serve(storage.open("a.bin"), {"Range": f"bytes={CHUNK - 7}-{2 * CHUNK + 9}"}))
    assert status == 206 and body == data[CHUNK - 7:2 * CHUNK + 10]
    assert int(head["content-length"]) == len(body)
    status, head, body = asyncio.run(serve(storage.open("a.bin"), {"Range": "bytes=-1000"}, spec="2.4"))
    assert status == 206 and body == data[-1000:]
    status, head, body = asyncio.run(serve(storage.open("a.bin"), {"Range": "bytes=0-9,500000-500019"}))
    assert status == 206 and head["content-type"].startswith("multipart/byteranges")
    assert data[:10] in body and data[500000:500020] in body and int(head["content-length"]) == len(body)


def test_page_cached_reads_on_the_loop_are_exact(music: tuple[LocalStorage, bytes]) -> None:
    storage, data = music
    fh = storage.open("a.bin")
    try:
        chunk = ranges.read_cached(fh.fileno(), CHUNK, 5, fh.dev)
        assert chunk is None or chunk == data[5:5 + CHUNK]  # None: this file system cannot say
        if ranges.NOWAIT and fh.dev not in ranges._NOWAIT_REFUSED:
            assert chunk == data[5:5 + CHUNK]  # a file just written and read is in the page cache
        assert ranges.read_cached(fh.fileno(), CHUNK, SIZE, fh.dev) in (b"", None)  # at the end: nothing
        # the shared buffer is reused: a second read does not change the first's bytes
        again = ranges.read_cached(fh.fileno(), 100, 0, fh.dev)
        assert again in (None, data[:100]) and chunk in (None, data[5:5 + CHUNK])
    finally:
        fh.close()
    check(storage, data)


def test_thread_reads_when_the_switch_is_off(music: tuple[LocalStorage, bytes],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    storage, data = music
    monkeypatch.setattr(ranges, "NOWAIT", False)
    monkeypatch.setattr(local, "CACHED_OPEN", None)
    fh = storage.open("a.bin")
    try:
        assert ranges.read_cached(fh.fileno(), CHUNK, 0, fh.dev) is None
        assert storage.open_cached("a.bin") is None
    finally:
        fh.close()
    check(storage, data)


def test_file_not_in_the_page_cache(music: tuple[LocalStorage, bytes]) -> None:
    """After POSIX_FADV_DONTNEED the pages are (usually) gone: the nowait read says None and
    a thread reads them; either way the bytes are the file's."""
    storage, data = music
    fd = os.open(storage.path_of("a.bin"), os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        assert ranges.read_cached(fd, CHUNK, 0, os.fstat(fd).st_dev) in (None, data[:CHUNK])
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
    status, _, body = asyncio.run(serve(storage.open("a.bin")))
    assert status == 200 and body == data


def test_a_file_system_that_refuses_nowait_is_remembered(music: tuple[LocalStorage, bytes],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """EOPNOTSUPP (a file system without RWF_NOWAIT): that device goes to threads from then
    on, and the answer is still exact."""
    storage, data = music
    calls = []

    def refusing(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        calls.append(flags)
        raise OSError(errno.EOPNOTSUPP, "not supported")

    monkeypatch.setattr(ranges, "NOWAIT", True)
    monkeypatch.setattr(ranges, "_NOWAIT_REFUSED", set())
    monkeypatch.setattr(os, "preadv", refusing, raising=False)
    status, _, body = asyncio.run(serve(storage.open("a.bin")))
    assert status == 200 and body == data
    assert len(calls) == 1  # asked once, then straight to threads
    assert storage.open("a.bin").dev in ranges._NOWAIT_REFUSED


@pytest.mark.parametrize("spec", ["2.3", "2.4"])
@pytest.mark.parametrize("window", [None, f"bytes=0-{2 * CHUNK - 1}"])  # the watcher path, the short path
def test_file_truncated_while_sent_ends_short(music: tuple[LocalStorage, bytes], spec: str,
                                              window: str | None) -> None:
    """A file cut while it is sent: the body stops at the new end (never padded, never
    beyond), and the answer fails so the server closes the connection."""
    storage, data = music
    path = storage.path_of("a.bin")
    fh = storage.open("a.bin")
    got: list[bytes] = []

    def cut(n_body: int) -> None:
        if n_body == 1:
            os.truncate(path, CHUNK + 100)

    async def run() -> None:
        messages: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            await anyio.sleep(3600)
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            messages.append(message)
            if message["type"] == "http.response.body":
                got.append(message["body"])
                cut(len(got))

        await RangeResponse(fh, "audio/flac")(scope({"Range": window} if window else None, spec), receive, send)

    with pytest.raises((OSError, ExceptionGroup)) as info:
        asyncio.run(run())
    if isinstance(info.value, ExceptionGroup):
        assert info.value.subgroup(OSError) is not None
    body = b"".join(got)
    assert body == data[:CHUNK + 100]
    assert fh.closed


def test_cached_open_obeys_the_rules(tmp_path: Path) -> None:
    """open_cached: the same file and ObjectInfo as open; None for a missing file (open
    says NotFound); NotFound for a link leaving the folder and for a FIFO (no hang)."""
    root, outside = tmp_path / "music", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "t.flac").write_bytes(b"fLaC" + os.urandom(5000))
    (outside / "secret").write_bytes(b"nope")
    (root / "link.flac").symlink_to(outside / "secret")
    os.mkfifo(root / "fifo.flac")
    storage = LocalStorage(root)
    os.stat(root / "t.flac")  # the lookup is now in the dcache
    fh = storage.open_cached("t.flac")
    if local.CACHED_OPEN is None:
        assert fh is None  # not Linux 5.12+: the thread path
    else:
        assert fh is not None
        with fh, storage.open("t.flac") as ref:
            assert fh.info == ref.info and fh.read() == (root / "t.flac").read_bytes()
            assert fh.dev == os.stat(root / "t.flac").st_dev
    assert storage.open_cached("missing.flac") is None
    with pytest.raises(NotFound):
        storage.open("missing.flac")
    for name in ("link.flac", "fifo.flac"):
        os.lstat(root / name)
        try:
            opened = storage.open_cached(name)
        except NotFound:
            continue
        assert opened is None  # not cached: open (in a thread) refuses it
        with pytest.raises(NotFound):
            storage.open(name)
    with pytest.raises(NotFound):
        storage.open_cached("../outside/secret")


def test_many_concurrent_ranges_are_exact(music: tuple[LocalStorage, bytes]) -> None:
    """200 range answers interleaved on one loop (they yield between chunks and share one
    read buffer): each body is exactly its range."""
    storage, data = music
    import random

    rng = random.Random(7)
    jobs = []
    for _ in range(200):
        first = rng.randrange(SIZE)
        last = rng.randrange(first, min(SIZE, first + 6 * CHUNK))  # short answers and watched ones
        jobs.append((first, last))

    async def run() -> list[tuple[int, dict[str, str], bytes]]:
        return await asyncio.gather(*(serve(storage.open("a.bin"), {"Range": f"bytes={a}-{b}"}, spec="2.4")
                                      for a, b in jobs))

    for (first, last), (status, head, body) in zip(jobs, asyncio.run(run())):
        assert status == 206 and head["content-range"] == f"bytes {first}-{last}/{SIZE}"
        assert body == data[first:last + 1]
