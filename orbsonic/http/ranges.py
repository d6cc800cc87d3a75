"""HTTP byte ranges over a storage object: one `RangeResponse` for every byte path.

RFC 9110 §14 and §13.1.5: `Range: bytes=…` gives 206 with Content-Range (several ranges:
multipart/byteranges), an unsatisfiable set 416 with `Content-Range: bytes */size`; an
unknown unit or a malformed set is ignored (the whole file, 200: a player that sends one
still plays). `If-Range` with the current strong ETag or Last-Modified date keeps the
range, anything else (weak tags too) gets the whole object. HEAD sends the headers only.
ExoPlayer-based clients seek only with 206 and a correct Content-Length
(client-compat §4.5 #15).

Local files are read from the page cache on the event loop when the bytes are there
(`read_cached`), in a worker thread otherwise; a stream yields the loop between chunks.
"""

from __future__ import annotations

import errno
import io
import os
import re
import threading
from collections.abc import Mapping
from email.utils import formatdate
from secrets import token_hex
from typing import Any
from urllib.parse import quote

import anyio
import anyio.lowlevel
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from orbsonic.storage.base import StoredFile

CHUNK = 256 * 1024  # larger reads than Starlette's 64 KB: fewer sends (and hops) per MB
MAX_RANGES = 100
SHORT_BODY = 4 * CHUNK  # local answers up to this many bytes are sent without a disconnect watcher
_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


class Unsatisfiable(Exception):
    """No range of the set overlaps the object (→ 416)."""


def parse_range(header: str, size: int) -> list[tuple[int, int]]:
    """Byte ranges of a Range header as sorted, merged [start, end) pairs, clipped to `size`.

    Returns [] when the header must be ignored (unknown unit, malformed set, a range with
    last < first, more than MAX_RANGES ranges): the caller sends the whole object. Raises
    Unsatisfiable when the set is valid but nothing in it overlaps `size` bytes.
    """
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return []
    parts = spec.split(",")
    if len(parts) > MAX_RANGES:
        return []
    ranges: list[tuple[int, int]] = []
    for part in parts:
        m = _SPEC.match(part)
        if m is None or (not m.group(1) and not m.group(2)):
            return []
        first, last = m.group(1), m.group(2)
        if len(first) > 20 or len(last) > 20:  # far beyond any file; int() of 4,300 digits fails
            return []
        if not first:  # suffix: the last N bytes
            n = int(last)
            if n > 0 and size > 0:
                ranges.append((max(size - n, 0), size))
            continue
        start = int(first)
        end = size if not last else int(last) + 1
        if last and end <= start:
            return []  # RFC 9110 §14.1.1: invalid, so the whole set may be ignored
        if start < size:
            ranges.append((start, min(end, size)))
    if not ranges:
        raise Unsatisfiable()
    ranges.sort()
    merged = [ranges[0]]
    for start, end in ranges[1:]:
        if start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def content_disposition(kind: str, filename: str) -> str:
    """`attachment; filename=…` (RFC 6266; UTF-8 names as `filename*`)."""
    quoted = quote(filename)
    if quoted != filename:
        return f"{kind}; filename*=utf-8''{quoted}"
    return f'{kind}; filename="{filename}"'


def _none_match(header: str | None, etag: str) -> bool:
    """True when If-None-Match `header` names `etag` or is `*` (weak comparison, RFC 9110
    §8.8.3.2: W/ prefixes ignored)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


class RangeResponse(Response):
    """Serve an opened storage object with Range, If-Range, ETag, Last-Modified and HEAD.

    `file` is closed when the response has been sent (or failed). `headers` are added to
    every answer (Cache-Control …); `filename` adds a Content-Disposition of `disposition`.
    """

    chunk_size = CHUNK

    def __init__(self, file: StoredFile, media_type: str, *, headers: Mapping[str, str] | None = None,
                 filename: str | None = None, disposition: str = "inline") -> None:
        self.file = file
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)
        info = file.info
        self.headers["accept-ranges"] = "bytes"
        self.headers["content-length"] = str(info.size)
        self.headers["etag"] = info.etag
        self.headers["last-modified"] = formatdate(info.mtime, usegmt=True)
        if filename is not None:
            self.headers["content-disposition"] = content_disposition(disposition, filename)

    def _use_range(self, if_range: str | None) -> bool:
        if if_range is None:
            return True
        if if_range.startswith("W/"):
            return False
        return if_range in (self.headers["etag"], self.headers["last-modified"])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._respond(scope, receive, send)
        finally:
            if isinstance(self.file, io.FileIO):  # closing a local descriptor never blocks
                self.file.close()
            else:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(self.file.close)

    async def _respond(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = scope.get("method", "GET").upper()
        head = method == "HEAD"
        req = Headers(scope=scope)
        size = self.file.info.size
        if method in ("GET", "HEAD") and _none_match(req.get("if-none-match"), self.headers["etag"]):
            # RFC 9110 §13.1.2: the client's copy is current (a cover while scrolling back,
            # issue 13): 304, no body, the validators and Cache-Control kept.
            await self._start(send, 304, drop=("content-length", "content-type", "content-disposition",
                                               "accept-ranges"))
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        ranges: list[tuple[int, int]] = []
        header = req.get("range")
        if header is not None and method in ("GET", "HEAD") and self._use_range(req.get("if-range")):
            try:
                ranges = parse_range(header, size)
            except Unsatisfiable:
                await self._start(send, 416, {"content-range": f"bytes */{size}", "content-length": "0"},
                                  drop=("content-length",))
                await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
        if not ranges:
            await self._start(send, 200)
            parts: list[tuple[bytes, int, int]] = [(b"", 0, size)]
            tail = b""
        elif len(ranges) == 1:
            start, end = ranges[0]
            await self._start(send, 206, {"content-range": f"bytes {start}-{end - 1}/{size}",
                                          "content-length": str(end - start)})
            parts, tail = [(b"", start, end)], b""
        else:
            boundary = token_hex(13)
            ctype = self.headers["content-type"]
            parts = [((f"--{boundary}\r\nContent-Type: {ctype}\r\n"
                       f"Content-Range: bytes {s}-{e - 1}/{size}\r\n\r\n").encode("latin-1"), s, e)
                     for s, e in ranges]
            parts = [(p if i == 0 else b"\r\n" + p, s, e) for i, (p, s, e) in enumerate(parts)]
            tail = f"\r\n--{boundary}--\r\n".encode("latin-1")
            length = sum(len(p) + e - s for p, s, e in parts) + len(tail)
            await self._start(send, 206, {"content-type": f"multipart/byteranges; boundary={boundary}",
                                          "content-length": str(length)})
        if head:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if isinstance(self.file, io.FileIO) and sum(e - s for _, s, e in parts) <= SHORT_BODY:
            # A whole track or a player's seek window: no watcher task. A client gone
            # meanwhile costs at most SHORT_BODY bytes read from the page cache; the watcher
            # (a task group and a task per answer) was ~10 % of the server's CPU under 200
            # streams (py-spy).
            await self._body(send, parts, tail)
            return
        await until_disconnect(scope, receive, self._body(send, parts, tail))

    async def _start(self, send: Send, status: int, extra: Mapping[str, str] | None = None,
                     drop: tuple[str, ...] = ()) -> None:
        headers = [(k, v) for k, v in self.raw_headers
                   if k.decode("latin-1") not in (*(extra or {}), *drop)]
        headers += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (extra or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})

    async def _body(self, send: Send, parts: list[tuple[bytes, int, int]], tail: bytes) -> None:
        local = isinstance(self.file, io.FileIO)
        for prefix, start, end in parts:
            if prefix:
                await send({"type": "http.response.body", "body": prefix, "more_body": True})
            if not local:
                await anyio.to_thread.run_sync(self.file.seek, start)
            while start < end:
                n = min(self.chunk_size, end - start)
                chunk = await (read_at(self.file, n, start) if local  # type: ignore[arg-type]
                               else anyio.to_thread.run_sync(self.file.read, n))
                if not chunk:  # the file shrank under us: end the body short, never pad
                    raise OSError("file shorter than its stat")
                start += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                if start < end:
                    # Let the other streams (and new requests) have the loop: a page-cached
                    # read and a send to a fast client never wait, so without this one
                    # answer went out whole while every other request's first byte waited.
                    await anyio.lowlevel.checkpoint()
        await send({"type": "http.response.body", "body": tail, "more_body": False})


# Reads of local files: first on the event loop with preadv(RWF_NOWAIT), which copies what is
# in the page cache and fails with EAGAIN instead of waiting for the disk; only then in a
# worker thread. Every chunk used to hop to one of anyio's 40 threads: ~50-100 µs at c=1, and
# under 200 streams each chunk queued for a thread (the reads were a third of the server's CPU
# samples, py-spy). A cold read still never blocks the loop. False here (tests set it) sends
# every read to a thread.
NOWAIT = hasattr(os, "preadv") and hasattr(os, "RWF_NOWAIT")
_NOWAIT_REFUSED: set[int] = set()  # st_dev of file systems that answered EOPNOTSUPP/EINVAL
_scratch = threading.local()  # one CHUNK buffer per event-loop thread: reads copy out of it


def _buffer(n: int) -> bytearray:
    buf: bytearray | None = getattr(_scratch, "buf", None)
    if buf is None or len(buf) < n:
        buf = _scratch.buf = bytearray(max(n, CHUNK))
    return buf


def read_cached(fd: int, n: int, offset: int, dev: int = -1) -> bytes | None:
    """Up to `n` bytes at `offset` of descriptor `fd` if they are in the page cache (a short
    read when only the first pages are; b"" at the end of the file), None when they are not
    or when the file system (device `dev`) cannot say so without blocking. Never blocks on
    I/O, so it may run on the event loop."""
    if not NOWAIT or dev in _NOWAIT_REFUSED:
        return None
    buf = _buffer(n)
    view = memoryview(buf)[:n]
    try:
        got = os.preadv(fd, [view], offset, os.RWF_NOWAIT)
        # A copy: the buffer is reused by the next read, the transport may keep the chunk a while.
        return view[:got].tobytes()
    except BlockingIOError:  # not cached (or a lock is held): a thread waits for it
        return None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            _NOWAIT_REFUSED.add(dev)  # never again on this file system: straight to threads
            return None
        raise
    finally:
        view.release()


async def read_at(fh: io.FileIO, n: int, offset: int) -> bytes:
    """Up to `n` bytes at `offset` of the local file `fh` (b"" past its end): from the page
    cache on the event loop when they are there, else with os.pread in a worker thread."""
    fd = fh.fileno()
    chunk = read_cached(fd, n, offset, getattr(fh, "dev", -1))
    if chunk is None:
        chunk = await anyio.to_thread.run_sync(os.pread, fd, n, offset)
    return chunk


async def until_disconnect(scope: Scope, receive: Receive, body: Any) -> None:
    """Run the coroutine `body`; stop it when the client disconnects (ASGI < 2.4 servers
    report that only through `receive`; on 2.4 `send` raises OSError instead)."""
    spec = tuple(int(x) for x in scope.get("asgi", {}).get("spec_version", "2.0").split("."))
    if spec >= (2, 4):
        await body
        return
    async with anyio.create_task_group() as tg:

        async def run() -> None:
            await body
            tg.cancel_scope.cancel()

        tg.start_soon(run)
        while True:
            if (await receive())["type"] == "http.disconnect":
                tg.cancel_scope.cancel()
                break
