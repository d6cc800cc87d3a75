"""Native streaming (docs/native-api.md "Streaming", issue 9 "Streaming", "Seek index",
"Waveform"): the original bytes with Range, FLAC for what a browser cannot decode, the FLAC
seek index, waveform peaks, and scrobbles into the same play history as Subsonic `scrobble`.

Bytes go out exactly as the Subsonic `stream` sends them (subsonic_api/endpoints/media.py):
the file is opened through its folder's storage (containment-checked, symlinks leaving the
folder refused) and sent by the shared RangeResponse — 206/416, If-Range, ETag, HEAD, never
buffered. A track outside the caller's folders, or whose file is gone, is 404.
"""

from __future__ import annotations

import math
from datetime import UTC
from typing import Any

import anyio
from starlette.responses import Response

from native_api.dispatch import json_response
from native_api.models_stream import NewScrobble, StreamQuery, Waveform, WaveformPending
from native_api.registry import Ctx, route
from orbsonic import jobs
from orbsonic.analysis import waveform
from orbsonic.errors import BadParam, NotFound
from orbsonic.http.ranges import RangeResponse
from orbsonic.ids import parse_id
from orbsonic.library import nowplaying, plays, seekindex
from orbsonic.storage import StoredFile, storage_for
from orbsonic.storage.local import open_soon
from orbsonic.transcode.decide import FORMATS, Decision, Source
from orbsonic.transcode.response import transcode_response

ORB_HEADERS = ("X-Orb-Codec", "X-Orb-Bit-Depth", "X-Orb-Sample-Rate", "X-Orb-Channels",
               "X-Orb-Total-Samples", "X-Orb-Duration-Ms")
# A web client on another origin reads these only when exposed (Fetch: CORS-safelisted
# response headers do not include Content-Range, ETag or ours).
EXPOSE = ", ".join(("Accept-Ranges", "Content-Range", "Content-Length", "ETag", *ORB_HEADERS))
_PRIVATE = {"Cache-Control": "private", "Access-Control-Expose-Headers": EXPOSE}


def _track_id(ctx: Ctx, name: str = "track_id") -> int:
    try:
        return parse_id(ctx.path[name], "tr", param=name)[1]
    except BadParam:
        raise NotFound("track", ctx.path[name][:60]) from None  # a malformed id names no track


async def _info(ctx: Ctx, ident: int) -> dict[str, Any]:
    info = await seekindex.stream_info(ctx.conn, ident, ctx.me.folder_ids)
    if info is None:
        raise NotFound("track", ctx.path.get("track_id"))
    return info


async def _open(ctx: Ctx, info: dict[str, Any]) -> StoredFile:
    storage = storage_for(info["root"], ctx.state.settings.outside_roots)
    try:
        return await open_soon(storage, info["path"])
    except NotFound:
        raise NotFound("file of track", ctx.path.get("track_id")) from None


def _orb_headers(info: dict[str, Any], codec: str | None = None) -> dict[str, str]:
    values = {"X-Orb-Codec": codec or info["codec"], "X-Orb-Bit-Depth": info["bit_depth"],
              "X-Orb-Sample-Rate": info["sample_rate"], "X-Orb-Channels": info["channels"],
              "X-Orb-Total-Samples": info["total_samples"], "X-Orb-Duration-Ms": info["duration_ms"]}
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


def _needs_flac(info: dict[str, Any]) -> bool:
    """`as=flac` converts what browsers cannot decode: everything but FLAC, MP3, Opus, Vorbis
    and AAC (Source.family None: ALAC, APE, WavPack, WAV/AIFF PCM, TTA, WMA …)."""
    return Source(info["suffix"] or "", info["codec"] or "", 0, 0).family is None


@route("GET", "/stream/{track_id}", summary="Stream a track's original bytes (Range), or FLAC",
       tag="stream", role="stream", query=StreamQuery, binary="audio/*", errors=(404, 416, 503))
async def stream_track(ctx: Ctx) -> Response:
    """The original file with Range (206/416, If-Range, ETag; HEAD too), `Accept-Ranges: bytes`,
    `Cache-Control: private` and the X-Orb audio headers. `as=flac`: a source the browser cannot
    decode is converted losslessly to FLAC at its own bit depth and rate (no Range while the
    conversion runs; a finished one is cached and served with Range)."""
    info = await _info(ctx, _track_id(ctx))
    fh = await _open(ctx, info)
    service = ctx.state.transcoding
    convert = ctx.query.as_ == "flac" and _needs_flac(info)
    if not convert or service is None or not service.transcoder.available:
        return RangeResponse(fh, info["content_type"] or "application/octet-stream",
                             headers=_PRIVATE | _orb_headers(info))
    try:
        source = Source(info["suffix"] or "", info["codec"] or "", info["bitrate"] or 0,
                        info["duration_ms"] or 0, info["sample_rate"] or 0)
        response = await transcode_response(service, _track_id(ctx), fh, source,
                                            Decision(FORMATS["flac"], 0, reason="as=flac"),
                                            head=ctx.request.method == "HEAD")
    finally:
        fh.close()  # ffmpeg holds its own copy of the descriptor; a cache hit needs none
    if ctx.request.method == "HEAD" and not isinstance(response, RangeResponse):
        del response.headers["content-length"]  # the length of a conversion is unknown until it is done
    response.headers.update(_orb_headers(info, "flac"))
    response.headers["Cache-Control"] = "private"
    response.headers["Access-Control-Expose-Headers"] = EXPOSE
    return response


@route("GET", "/tracks/{track_id}/seek-index", summary="The FLAC seek index of a track",
       tag="stream", binary="application/octet-stream", errors=(404,))
async def seek_index(ctx: Ctx) -> Response:
    """Little-endian `ORBSEEK1`, u32 version 1, u32 sampleRate, u64 totalSamples, u64
    audioOffset, u32 count, then count × (u64 firstSample, u64 byteOffset) of frame starts
    about every 0.75 s. 404 for a track that is not FLAC."""
    ident = _track_id(ctx)
    info = await _info(ctx, ident)
    if (info["codec"] or "").lower() != "flac" or info["audio_offset"] is None:
        raise NotFound("seek index of track", ctx.path["track_id"])
    fh = await _open(ctx, info)
    with fh:
        size, mtime_ns = fh.info.size, fh.info.mtime_ns
        points = await seekindex.cached(ctx.conn, ident, size, mtime_ns)
        if points is None:
            # The scanner's points describe the file as scanned: a file changed since then
            # (not rescanned yet) is indexed from its own frame headers alone.
            same = (size, mtime_ns) == (info["size"], info["mtime_ns"])
            stored = bytes(info["seek_index"]) if same and info["seek_index"] else None
            try:
                points = await anyio.to_thread.run_sync(seekindex.dense_points, fh, stored, size)
            except seekindex.FlacError:
                raise NotFound("seek index of track", ctx.path["track_id"]) from None
            await seekindex.store(ctx.conn, ident, size, mtime_ns, points)
    body = seekindex.encode(info["sample_rate"] or 0, info["total_samples"] or 0, points[0][1], points)
    return Response(body, media_type="application/octet-stream",
                    headers={"Cache-Control": "private, max-age=3600", "ETag": fh.info.etag})


@route("GET", "/tracks/{track_id}/waveform", summary="Waveform peaks of a track", tag="stream",
       response=Waveform, responses={202: WaveformPending}, errors=(404,))
async def track_waveform(ctx: Ctx) -> Any:
    """The peaks, computed once per file version by a background job: 202 `{status:
    "pending"}` until they exist (the job is enqueued at most once at a time)."""
    ident = _track_id(ctx)
    info = await _info(ctx, ident)
    fh = await _open(ctx, info)  # the file's own version: a file changed since the scan is recomputed
    fh.close()
    wave = await waveform.stored(ctx.conn, ident, fh.info.size, fh.info.mtime_ns)
    if wave is not None:
        return Waveform(peaks=wave.peaks, count=wave.count, durationMs=wave.duration_ms)
    if ctx.state.jobs is not None:
        await jobs.defer(ctx.state.jobs, waveform.TASK, track_id=ident, queueing_lock=f"waveform:{ident}")
    return json_response(WaveformPending(), 202, headers={"Retry-After": "2"})


@route("POST", "/scrobbles", summary="Scrobble a play, or say what is playing now", tag="stream",
       body=NewScrobble, status=204, errors=(404,))
async def scrobble(ctx: Ctx) -> Response:
    """`submission` true: a play of `trackId` at `at` (default now) in the play history that
    Subsonic's getAlbumList2 type=frequent/recent read; false: a "now playing" notice
    (getNowPlaying). The same rules as Subsonic `scrobble` (orbsonic.library.plays)."""
    body: NewScrobble = ctx.body
    try:
        ident = parse_id(body.trackId, "tr", param="trackId")[1]
    except BadParam:
        raise NotFound("track", body.trackId[:60]) from None
    folders = ctx.me.folder_ids
    if not body.submission:
        await nowplaying.notice(ctx.conn, ctx.me.id, ctx.client, ident, user_folders=folders)
        return Response(status_code=204)
    ms = None
    if body.at is not None:
        at = body.at if body.at.tzinfo is not None else body.at.replace(tzinfo=UTC)
        ms = max(1, math.floor(at.timestamp() * 1000))
    await plays.record(ctx.conn, ctx.me.id, [(ident, plays.play_time(ms))], client=ctx.client,
                       user_folders=folders)
    return Response(status_code=204)
