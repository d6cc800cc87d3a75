"""HTTP answers for a transcode: from the cache (Range), following a growing entry, or live.

`transcode_response` is what `stream` (and later the native API) calls once the
decision is "transcode": a finished cache entry goes out as a RangeResponse with an exact
Content-Length (ExoPlayer seeks only with 206 and a length, client-compat §4.5 #15); an
entry another request is producing is followed as it grows; otherwise ffmpeg starts, and
its first bytes are awaited *before* the status line, so a source ffmpeg cannot read is
still a Subsonic error envelope, not a 200 with no audio.

`estimateContentLength` (Subsonic 1.8.0): a live transcode then announces
duration × bitrate as Content-Length and is cut or zero-padded to exactly that; players
that need a length get one (Tempo/Tempus hang on a short body, tempus #83).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from orbsonic.errors import TranscodeError
from orbsonic.http.ranges import RangeResponse, until_disconnect
from orbsonic.storage import pass_fds
from orbsonic.storage.base import StoredFile
from orbsonic.storage.local import open_local
from orbsonic.metrics import defs as metrics
from orbsonic.transcode import ffmpeg, itunsmpb, mp3head
from orbsonic.transcode.cache import Follower, Producer, TranscodeCache, entry_key
from orbsonic.transcode.decide import Decision, Format, Source

log = logging.getLogger("orbsonic.transcode")
FOLLOW_POLL_S = 0.05
PRODUCER_WAIT_TRIES = 20  # × FOLLOW_POLL_S: how long a producer may take to create its .part
# What a finished cache entry gets before it is committed (blocking, run in a thread):
# MP3: ffmpeg's Lavc LAME tag relabelled for LAME-only readers; MP4: iTunSMPB gapless info.
_FINISH_ENTRY: dict[str, Callable[[Path], object]] = {"mp3": mp3head.relabel, "ipod": itunsmpb.add}


@dataclass(frozen=True)
class Transcoding:
    """What the app holds for transcoding: the ffmpeg runner and the disk cache."""

    transcoder: ffmpeg.Transcoder
    cache: TranscodeCache


def estimated_length(duration_ms: int, offset_s: int, kbps: int) -> int | None:
    """Bytes of `duration_ms − offset` at `kbps` (None for lossless: no estimate)."""
    if not kbps or duration_ms <= 0:
        return None
    return max(0, (duration_ms - offset_s * 1000)) * kbps // 8


def _headers(decision: Decision) -> dict[str, str]:
    return {"Cache-Control": "private, max-age=3600", "Accept-Ranges": "none",
            "X-Transcode": f"{decision.target.name}; bitrate={decision.kbps}" if decision.target else "raw"}


async def transcode_response(service: Transcoding, track_id: int | str, fh: StoredFile, source: Source,
                             decision: Decision, *, head: bool = False, estimate: bool = False) -> Response:
    """The response for a transcode of the opened file `fh` (track `track_id`, or `pe<id>`
    for a podcast episode).

    Raises TranscodeError (→ error envelope) when no slot frees up in time or ffmpeg fails
    before its first byte. `fh` may be closed by the caller as soon as this returns.
    """
    target = decision.target
    assert target is not None
    cache = service.cache
    variant = target.name + (f"@{decision.channels}ch" if decision.channels else "")
    key = entry_key(track_id, fh.info.size, fh.info.mtime_ns, variant, decision.kbps)
    cacheable = cache.enabled and decision.offset_s == 0 and decision.duration_s == 0
    headers = _headers(decision)
    if cacheable:
        hit = cache.lookup(key, target.suffix)
        metrics.cache_lookup("transcode", hit is not None)
        if hit is not None:
            try:
                cached = open_local(hit)
            except Exception:  # noqa: BLE001  (pruned meanwhile: transcode again)
                cached = None
            if cached is not None:
                headers["Accept-Ranges"] = "bytes"
                return RangeResponse(cached, target.content_type, headers=headers)
    length = estimated_length(source.duration_ms, decision.offset_s, decision.kbps) if estimate else None
    if head:  # headers only: no ffmpeg for a HEAD
        return Response(b"", media_type=target.content_type,
                        headers=headers | ({"Content-Length": str(length)} if length is not None else {}))
    producer = None
    head = await _mp3_head(fh, source, decision)
    if cacheable:
        producer, answer = await _produce_or_follow(cache, key, target, headers, head)
        if answer is not None:
            return answer
    try:
        proc, first = await _start(service, track_id, fh, source, decision, producer)
    except BaseException:
        if producer is not None:
            producer.abort()
        raise
    return LiveResponse(proc, first, producer, target.content_type, headers, length, head,
                        _FINISH_ENTRY.get(target.container))


async def _mp3_head(fh: StoredFile, source: Source, decision: Decision) -> mp3head.HeadFixer | None:
    """For a live MP3: the fixer that gives the piped stream its picture's ID3v2 size and,
    for a whole-file transcode, the LAME/Info gapless frame (orbsonic/transcode/mp3head.py)."""
    target = decision.target
    if target is None or target.container != "mp3":
        return None
    whole = decision.offset_s == 0 and decision.duration_s == 0
    samples = None
    if whole:
        out_rate = 48000 if source.sample_rate > target.max_rate_hz else source.sample_rate
        samples = await asyncio.to_thread(mp3head.source_samples, fh, source.duration_ms, source.sample_rate,
                                          out_rate)
    return mp3head.HeadFixer(samples, gapless=whole)


async def _produce_or_follow(cache: TranscodeCache, key: str, target: Format, headers: dict[str, str],
                             head: mp3head.HeadFixer | None = None) -> tuple[Producer | None, Response | None]:
    """Become the producer of `key` (→ (producer, None)), or the answer that follows the
    entry another request produces or serves the entry it just finished (→ (None, answer));
    (None, None) when this request must transcode for itself, uncached.

    A producer takes the lock *before* it creates its `.part` file, so a request that
    finds the lock taken and no `.part` yet looks again a little later instead of starting
    a second ffmpeg for the same key (three clients opening one album at once did that)."""
    for _ in range(PRODUCER_WAIT_TRIES):
        producer = await asyncio.to_thread(cache.produce, key, target.suffix)
        if producer is not None:
            return producer, None
        # An MP4 being written cannot be followed (its index moves at the end): a
        # second request meanwhile transcodes for itself, uncached.
        if not ffmpeg.followable(target):
            return None, None
        follower = cache.follow(key, target.suffix)
        if follower is not None:
            return None, FollowResponse(follower, target.content_type, headers, head and head.for_file())
        hit = cache.lookup(key, target.suffix)  # finished between our looks
        if hit is not None:
            return None, RangeResponse(open_local(hit), target.content_type, headers=headers)
        await asyncio.sleep(FOLLOW_POLL_S)  # the producer is between its lock and its .part
    return None, None


async def _start(service: Transcoding, track_id: int | str, fh: StoredFile, source: Source,
                 decision: Decision, producer: Producer | None) -> tuple[ffmpeg.FfmpegProcess, bytes]:
    """ffmpeg started and its first chunk read. With a `producer`, ffmpeg writes the cache
    entry itself (a seekable file: tags, cover, gapless header) besides the pipe. A source
    whose picture the muxer refuses is transcoded again without it. Raises TranscodeError."""
    assert decision.target is not None
    exe = service.transcoder.exe or "ffmpeg"
    pictures = (True, False) if source.has_picture else (False,)
    for picture in pictures:
        args = ffmpeg.command(exe, fh.local_path or "", decision.target, decision.kbps,
                              offset_s=decision.offset_s, source_rate=source.sample_rate,
                              channels=decision.channels, duration_s=decision.duration_s,
                              picture=picture, cache_fd=producer.fileno() if producer else None)
        # an S3 object has no descriptor: ffmpeg reads its presigned URL (orbsonic/storage/s3.py)
        fds = pass_fds(fh) + ((producer.fileno(),) if producer else ())
        proc = await service.transcoder.start(args, pass_fds=fds)
        try:
            first = await proc.read(ffmpeg.FIRST_BYTE_TIMEOUT_S)
            if first:
                proc.started()
                return proc, first
            rc = await proc.finish()
        except BaseException:
            await proc.close()
            raise
        await proc.close()
        log.warning("ffmpeg gave no output for track %s (exit %s, picture %s): %s",
                    track_id, rc, picture, proc.error_text)
    raise TranscodeError(f"the source cannot be decoded ({proc.error_text or f'exit {rc}'})")


class LiveResponse(Response):
    """Stream ffmpeg's output as the client reads it; when this request is the cache
    entry's producer, ffmpeg writes the entry too and it is committed once ffmpeg exited 0.
    ffmpeg is killed and reaped when the response ends."""

    def __init__(self, proc: ffmpeg.FfmpegProcess, first: bytes, producer: Producer | None,
                 media_type: str, headers: dict[str, str], length: int | None,
                 head: mp3head.HeadFixer | None = None,
                 finish_entry: Callable[[Path], object] | None = None) -> None:
        self.proc, self.first, self.producer, self.length = proc, first, producer, length
        self.head, self.finish_entry = head, finish_entry
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers | ({"Content-Length": str(length)} if length is not None else {}))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await until_disconnect(scope, receive, self._body(send))
        finally:
            if self.producer is not None:
                self.producer.abort()  # no-op after a commit
            await self.proc.close()

    async def _send(self, send: Send, chunk: bytes, sent: int) -> int:
        if self.length is not None:
            chunk = chunk[:max(0, self.length - sent)]
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        return sent + len(chunk)

    async def _body(self, send: Send) -> None:
        sent = 0
        data = self.first
        while data:
            sent = await self._send(send, self.head.feed(data) if self.head else data, sent)
            data = await self.proc.read()
        if self.head is not None:
            sent = await self._send(send, self.head.finish(), sent)
        rc = await self.proc.finish()
        if rc == 0 and self.producer is not None:
            if self.finish_entry is not None:
                await asyncio.to_thread(self.finish_entry, self.producer.part)
            self.producer.commit()
        elif rc != 0:
            log.warning("ffmpeg exited %s mid-stream: %s", rc, self.proc.error_text)
        if self.length is not None and sent < self.length:  # the promised length, exactly
            pad = self.length - sent
            while pad > 0:
                n = min(pad, 64 * 1024)
                await send({"type": "http.response.body", "body": bytes(n), "more_body": True})
                pad -= n
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class FollowResponse(Response):
    """Stream a cache entry that another request is still writing, as it grows."""

    def __init__(self, follower: Follower, media_type: str, headers: dict[str, str],
                 head: mp3head.HeadFixer | None = None) -> None:
        self.follower, self.head = follower, head
        self.status_code = 200
        self.media_type = media_type
        self.background = None
        self.init_headers(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            await until_disconnect(scope, receive, self._body(send))
        finally:
            self.follower.close()

    async def _body(self, send: Send) -> None:
        idle = 0.0
        while True:
            chunk = await asyncio.to_thread(self.follower.read)
            if chunk:
                idle = 0.0
                await self._send(send, chunk)
                continue
            if await asyncio.to_thread(self.follower.producer_done):
                while rest := await asyncio.to_thread(self.follower.read):
                    await self._send(send, rest)
                break
            idle += FOLLOW_POLL_S
            if idle > ffmpeg.STALL_TIMEOUT_S:
                break
            await asyncio.sleep(FOLLOW_POLL_S)
        if self.head is not None and (rest := self.head.finish()):
            await send({"type": "http.response.body", "body": rest, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _send(self, send: Send, chunk: bytes) -> None:
        if self.head is not None:
            chunk = self.head.feed(chunk)
        if chunk:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
