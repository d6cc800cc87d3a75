"""The OpenSubsonic `transcoding` extension: getTranscodeDecision, getTranscodeStream
(docs/subsonic-spec.md §3 "Transcoding", §5.6).

getTranscodeDecision is POST with the ClientInfo as a JSON body (its other parameters in
the query string); getTranscodeStream is GET and, unlike every other method, answers its
errors with plain HTTP status codes (the spec: "a standard HTTP error code with a
descriptive message"). The decision offers HTTP delivery only. `mediaType=podcast` takes
a downloaded podcast episode's id (`pe-…`, its streamId), transcoded by the same rules as
`stream` sends it (the transcode cache key is the episode's, `pe<id>`). `hls` (Subsonic
1.8.0) is here too: playlists and segments (orbsonic.transcode.hls), of songs and episodes.
"""

from __future__ import annotations

import orjson
from starlette.responses import PlainTextResponse, Response

from orbsonic.errors import BadParam, MissingParam, NotFound, TranscodeError
from orbsonic.http.ranges import RangeResponse
from orbsonic.library import podcasts, tracks
from orbsonic.podcasts import service as podcast_service
from orbsonic.transcode import hls as hls_text
from orbsonic.transcode.decide import Decision
from orbsonic.transcode.profiles import SourceInfo, decide_for_client, parse_params, transcode_details
from orbsonic.transcode.response import transcode_response
from orbsonic.storage import StoredFile
from orbsonic.transcode.decide import Source
from subsonic_api.endpoints.media import closing, episode_codec, episode_source, open_track, source_of
from subsonic_api.registry import AfterRelease, Ctx, endpoint
from subsonic_api.response import Payload

MAX_BODY = 256 * 1024  # a ClientInfo is a few KB


async def _client_info(ctx: Ctx) -> object:
    """The JSON body, read with a byte cap (Content-Length or not). BadParam when it is
    missing, too large or not JSON."""
    if ctx.request.method != "POST":
        raise BadParam("body", "getTranscodeDecision is a POST with a JSON ClientInfo body")
    body = bytearray()
    async for chunk in ctx.request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            raise BadParam("body", "ClientInfo larger than 256 KB")
    try:
        return orjson.loads(bytes(body))
    except orjson.JSONDecodeError:
        raise BadParam("body", "the body is not JSON") from None


def _is_podcast(ctx: Ctx) -> bool:
    """True for mediaType=podcast, False for song; BadParam for anything else."""
    media_type = ctx.params.str("mediaType")
    if media_type not in ("song", "podcast"):
        raise BadParam("mediaType", "must be song or podcast")
    return media_type == "podcast"


async def _open(ctx: Ctx, param: str, podcast: bool) -> tuple[int | str, StoredFile, Source, str]:
    """(transcode cache key, opened file, the decision's Source, content type) of the song or
    the downloaded podcast episode (`pe-…`) named by `param`. NotFound (70) for an unknown
    id, an id of the other kind, an episode not downloaded, a song outside the user's folders."""
    if podcast:
        _, ident = ctx.params.id(param, "pe")
        row, fh = await podcast_service.open_episode(ctx.conn, ctx.state.settings.data_dir, ident)
        try:
            return f"pe{ident}", fh, episode_source(row, fh), row.content_type or "audio/mpeg"
        except BaseException:
            fh.close()
            raise
    info, fh = await open_track(ctx, param)
    try:
        return info["id"], fh, source_of(info, fh), info["content_type"]
    except BaseException:
        fh.close()
        raise


@endpoint("getTranscodeDecision", role="stream")
async def get_transcode_decision(ctx: Ctx) -> Payload:
    """What getTranscodeStream will send this client for `mediaId`: direct play, or which
    format and bitrate (StreamDetails bitrates in bit/s)."""
    if _is_podcast(ctx):
        _, ident = ctx.params.id("mediaId", "pe")
        episode = await podcasts.playable(ctx.conn, ident)
        suffix = (episode.suffix or "").lower()
        src = SourceInfo.of_track({"suffix": suffix, "codec": episode_codec(suffix),
                                   "bitrate": episode.bitrate})
    else:
        _, ident = ctx.params.id("mediaId", "tr")
        row = await tracks.get(ctx.conn, ident, ctx.user.id)
        if row is None or not ctx.user.may_read_folder(row["folder_id"]):
            raise NotFound("song", ctx.params.get("mediaId"))
        src = SourceInfo.of_track(row)
    info = await _client_info(ctx)
    d = decide_for_client(info, src, user_max_kbps=ctx.user.max_bitrate or 0)  # type: ignore[arg-type]
    value: dict[str, object] = {"canDirectPlay": d.direct, "canTranscode": d.target is not None,
                                "transcodeReason": list(d.reasons), "errorReason": d.error}
    if d.direct or d.target is not None:
        value["transcodeParams"] = d.params
    value["sourceStream"] = src.details()
    if d.direct or d.target is not None:
        value["transcodeStream"] = transcode_details(d, src)
    return Payload("transcodeDecision", value)


@endpoint("getTranscodeStream", role="stream")
async def get_transcode_stream(ctx: Ctx) -> Response | AfterRelease:
    """The stream a decision promised, of a song or a downloaded podcast episode. Errors: 400
    (bad parameters), 404 (no such song or downloaded episode), 503 (no transcoding slot;
    Retry-After), 415 (a source ffmpeg cannot decode)."""
    try:
        podcast = _is_podcast(ctx)
        target, kbps, channels = parse_params(ctx.params.str("transcodeParams"))
        offset = ctx.params.int("offset", 0, lo=0, hi=10**7)
        key, fh, source, content_type = await _open(ctx, "mediaId", podcast)
    except (BadParam, MissingParam) as exc:
        return PlainTextResponse(str(exc), 400)
    except NotFound as exc:
        return PlainTextResponse(str(exc), 404)
    try:
        if offset and source.duration_ms and offset * 1000 >= source.duration_ms:
            fh.close()
            return PlainTextResponse(f"offset is past the end of the {'episode' if podcast else 'song'}", 400)
        service = ctx.state.transcoding
        if target is None and offset:
            target, kbps = None, 0  # direct play has no time offset: the file from the start
        if target is None or service is None or not service.transcoder.available:
            return RangeResponse(fh, content_type, headers={"Cache-Control": "private, max-age=86400"})
        if ctx.user.max_bitrate and not target.lossless:
            kbps = target.clamp(min(kbps or ctx.user.max_bitrate, ctx.user.max_bitrate))
        else:
            kbps = target.clamp(kbps)
        decision = Decision(target, kbps, offset, "transcodeParams", channels)
        head = ctx.request.method == "HEAD"

        async def build() -> Response:
            try:
                return await transcode_response(service, key, fh, source, decision, head=head)
            except TranscodeError as exc:
                busy = "busy" in str(exc)
                return PlainTextResponse(f"cannot transcode: {exc}", 503 if busy else 415,
                                         headers={"Retry-After": "5"} if busy else None)

        # the slot and ffmpeg's first bytes are awaited with the connection back in the pool
        return AfterRelease(closing(fh, build))
    except BaseException:
        fh.close()
        raise


_CREDENTIALS = ("u", "p", "t", "s", "apiKey", "v", "c")


@endpoint("hls", role="stream")
async def hls(ctx: Ctx) -> Response | AfterRelease:
    """`hls.m3u8`: a media playlist of 10 s AAC/MPEG-TS segments (one `bitRate`), a master
    playlist (several), or with `segment=N` that segment, transcoded on demand. `id` is a
    song or, as for `stream`, a downloaded podcast episode's streamId (`pe-…`)."""
    podcast = (ctx.params.get("id") or "").strip().startswith("pe-")
    key, fh, source, _ = await _open(ctx, "id", podcast)
    try:
        rates = hls_text.parse_bitrates(ctx.params.list("bitRate"))
        if ctx.user.max_bitrate:
            cap = hls_text.SEGMENT_FORMAT.clamp(ctx.user.max_bitrate)
            rates = list(dict.fromkeys(min(r, cap) for r in rates))
        duration_ms = source.duration_ms
        query = [(k, v) for k in _CREDENTIALS for v in ctx.params.list(k)] + [("id", ctx.params.str("id"))]
        segment = ctx.params.opt_int("segment")
        if segment is None:
            text = (hls_text.master_playlist(query, rates) if len(rates) > 1
                    else hls_text.media_playlist(query, duration_ms, rates[0]))
            fh.close()
            return Response(text, media_type=hls_text.PLAYLIST_TYPE,
                            headers={"Cache-Control": "private, no-cache"})
        if not 0 <= segment < hls_text.segment_count(duration_ms):
            raise NotFound("segment", segment)
        service = ctx.state.transcoding
        if service is None or not service.transcoder.available:
            raise TranscodeError("no ffmpeg on this server")
        start, length = hls_text.segment_span(duration_ms, segment)
        decision = Decision(hls_text.SEGMENT_FORMAT, rates[0], start, "hls", 0, length)
        head = ctx.request.method == "HEAD"
        deferred = AfterRelease(closing(fh, lambda: transcode_response(
            service, key, fh, source, decision, head=head)))
    except BaseException:
        fh.close()
        raise
    return deferred  # the segment is made with the connection back in the pool; fh closed after
