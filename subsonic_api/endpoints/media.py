"""Media retrieval: stream, download, getCoverArt (docs/subsonic-spec.md §3, §2.8).

Every byte goes out through orbsonic.http.ranges.RangeResponse over a file opened by
the folder's Storage (orbsonic.storage): Range (206/416, If-Range, multipart), HEAD,
ETag and Last-Modified; ExoPlayer-based clients need 206 with a correct Content-Length
to seek (client-compat §4.5 #15). Streaming is not a play (OpenSubsonic): only scrobble
counts. `stream` transcodes when the source is not acceptable as it is
(orbsonic.transcode.decide); `download` always sends the original.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

import anyio
from starlette.responses import RedirectResponse, Response

from orbsonic import clients
from orbsonic.covers import MAX_SIZE, find_source, media_type
from orbsonic.errors import BadParam, MissingParam, NotFound
from orbsonic.http.ranges import RangeResponse
from orbsonic.ids import parse_cover_id
from orbsonic.library import folders, playlist_covers, tracks
from orbsonic.podcasts import service as podcast_service
from orbsonic.storage import StoredFile, storage_for
from orbsonic.storage.local import open_local, open_soon
from orbsonic.storage.s3 import S3File
from orbsonic.transcode.decide import Source, decide, parse_format
from orbsonic.transcode.response import transcode_response
from subsonic_api.file_rows import FileRows
from subsonic_api.registry import AfterRelease, Ctx, FastCtx, endpoint

_PRIVATE = {"Cache-Control": "private, max-age=86400"}


async def open_track(ctx: Ctx, param: str = "id") -> tuple[dict, StoredFile]:
    """The track named by parameter `param` (its file_info row) and its file, opened through
    the folder's storage. NotFound (70) for an unknown id, a track outside the user's
    folders, or a file that is gone, not regular, or a link leaving the music folder."""
    _, ident = ctx.params.id(param, "tr")
    rows = _file_rows(ctx.state)
    generation = rows.generation() if rows is not None else None
    info = await tracks.file_info(ctx.conn, ident)
    if rows is not None and info is not None:
        rows.store(ident, info, generation)
    if info is None or not ctx.user.may_read_folder(info["folder_id"]):
        raise NotFound("song", ctx.params.get(param))
    storage = storage_for(info["root"], ctx.state.settings.outside_roots)
    try:
        fh = await open_soon(storage, info["path"])
    except NotFound:
        raise NotFound("file of song", ctx.params.get(param)) from None
    info = {**info, "id": ident}
    return info, fh


def _file_rows(state: Any) -> FileRows | None:
    """The app's FileRows (kept with its answer cache), or None when it has no answer cache."""
    return state.answers.files if state.answers is not None else None


async def stream_fast(fx: FastCtx) -> Response | None:
    """`stream` of a song sent as it is, with no pool checkout: the credentials from the
    credential cache (already checked, streamRole included), the track's row from FileRows,
    the same folder rule and the same transcoding decision as `stream`. Anything else — a
    podcast episode, a row not kept, a track outside the user's folders, a file that does
    not open, a bad parameter, a decision to transcode, an S3 redirect — → None: `stream`
    answers (with its errors). The pool checkout and the query were about a quarter of the
    server's CPU samples under 200 range streams (py-spy, bench/streams.py)."""
    raw = (fx.params.get("id") or "").strip()
    rows = _file_rows(fx.state)
    if rows is None or raw.startswith("pe-"):
        return None
    try:
        _, ident = fx.params.id("id", "tr")
    except (BadParam, MissingParam, NotFound):  # the ordinary path gives the error
        return None
    info = rows.get(ident)
    if info is None or not fx.user.may_read_folder(info["folder_id"]):
        return None
    storage = storage_for(info["root"], fx.state.settings.outside_roots)
    try:
        fh = await open_soon(storage, info["path"])
    except (NotFound, OSError):
        return None
    try:
        if isinstance(fh, S3File) and fh.storage.config.redirect:
            raise LookupError  # the ordinary path answers (a presign per request)
        profile = clients.match(fx.state.settings.profiles, fx.params.get("c"),
                                fx.request.headers.get("user-agent"))
        if _decision(fx.params, fx.user, profile, fx.state, source_of(info, fh)) is not None:
            raise LookupError
    except (LookupError, BadParam):
        fh.close()
        return None
    except BaseException:
        fh.close()
        raise
    return RangeResponse(fh, info["content_type"], headers=_PRIVATE)


def source_of(info: dict, fh: StoredFile) -> Source:
    """The decision's view of an opened track (bitrate from size/duration when unknown)."""
    duration_ms = info["duration_ms"] or 0
    bitrate = info["bitrate"] or (fh.info.size * 8 // duration_ms if duration_ms else 0)
    return Source(info["suffix"] or "", info["codec"] or "", bitrate, duration_ms, info["sample_rate"] or 0,
                  bool(info.get("has_picture")))


def _episode_id(ctx: Ctx) -> int | None:
    """The internal id when `id` names a podcast episode (`pe-…`: its streamId), else None."""
    if (ctx.params.get("id") or "").strip().startswith("pe-"):
        return ctx.params.id("id", "pe")[1]
    return None


_EPISODE_CODECS = {"mp3": "mp3", "m4a": "aac", "mp4": "aac", "aac": "aac", "ogg": "vorbis", "oga": "vorbis",
                   "opus": "opus", "flac": "flac"}


def episode_codec(suffix: str) -> str:
    """The codec a podcast file's suffix names ("" when unknown: a WAV, an odd suffix)."""
    return _EPISODE_CODECS.get(suffix.lower(), "")


def episode_source(row: Any, fh: StoredFile) -> Source:
    """The decision's view of a downloaded podcast episode. The codec is the one its suffix
    names (podcast .m4a is AAC; a WAV has none: always transcoded when a format is asked);
    the bitrate as probed at download, else from size/duration."""
    suffix = (row.suffix or "").lower()
    duration_ms = row.duration_ms or (row.feed_duration_s or 0) * 1000
    bitrate = row.bitrate or (fh.info.size * 8 // duration_ms if duration_ms else 0)
    return Source(suffix, episode_codec(suffix), bitrate, duration_ms)


async def _episode(ctx: Ctx, episode_id: int, *, attachment: bool) -> Response | AfterRelease:
    """A downloaded podcast episode: as it is with Range for `download`; for `stream`, as it
    is or transcoded per `format`/`maxBitRate`/`timeOffset` exactly as a song (the cache key
    is the episode's, `pe<id>`)."""
    row, fh = await podcast_service.open_episode(ctx.conn, ctx.state.settings.data_dir, episode_id)
    if attachment:
        return RangeResponse(fh, row.content_type or "audio/mpeg", headers=_PRIVATE,
                             filename=row.file_key.rsplit("/", 1)[-1], disposition="attachment")
    try:
        transcode = _transcoded(ctx, f"pe{episode_id}", fh, episode_source(row, fh))
    except BaseException:
        fh.close()
        raise
    if transcode is None:
        return RangeResponse(fh, row.content_type or "audio/mpeg", headers=_PRIVATE)
    return AfterRelease(closing(fh, transcode))


@endpoint("stream", role="stream", fast=stream_fast)
async def stream(ctx: Ctx) -> Response | AfterRelease:
    """The song as it is, or transcoded per `format`/`maxBitRate`/`timeOffset`, the user's
    max bitrate and the client's profile (orbsonic.transcode.decide). A podcast episode's
    streamId (`pe-…`) sends the downloaded episode, transcoded by the same rules."""
    if (episode_id := _episode_id(ctx)) is not None:
        return await _episode(ctx, episode_id, attachment=False)
    info, fh = await open_track(ctx)
    try:
        transcode = _transcoded(ctx, info["id"], fh, source_of(info, fh))
    except BaseException:
        fh.close()
        raise
    if transcode is None:
        return _original(fh, info["content_type"])
    # Waiting for a slot and ffmpeg's first bytes happens with the connection back in the pool.
    return AfterRelease(closing(fh, transcode))


def closing(fh: StoredFile, build: Callable[[], Awaitable[Response]]) -> Callable[[], Awaitable[Response]]:
    """`build`, then `fh` closed whatever happens (ffmpeg holds its own copy of the
    descriptor; a cache hit needs none)."""
    async def run() -> Response:
        try:
            return await build()
        finally:
            fh.close()
    return run


def _offset_s(p: Any) -> int:
    """timeOffset of params `p` in whole seconds (transcodeOffset; fractions accepted, rounded down)."""
    text = (p.get("timeOffset") or "").strip()
    if not text:
        return 0
    try:
        value = float(text) if len(text) <= 20 and text.isascii() else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BadParam("timeOffset", f"{text[:20]!r} is not a number of seconds")
    return int(value)


def _transcoded(ctx: Ctx, item: int | str, fh: StoredFile, source: Source) -> Callable[[], Awaitable[Response]] | None:
    """What builds the transcode answer for `stream` of `item` (a track id, or `pe<id>` for a
    podcast episode: its cache key), or None to send the file as it is (the decision says
    so, or no ffmpeg is installed: originals rather than errors). Raises BadParam for a bad
    `timeOffset` or `maxBitRate`."""
    decision = _decision(ctx.params, ctx.user, ctx.profile, ctx.state, source)
    if decision is None:
        return None
    service = ctx.state.transcoding
    head, estimate = ctx.request.method == "HEAD", ctx.params.bool("estimateContentLength")
    return lambda: transcode_response(service, item, fh, source, decision, head=head, estimate=estimate)


def _decision(p: Any, user: Any, profile: Any, state: Any, source: Source) -> Any:
    """The transcoding decision for `source` (orbsonic.transcode.decide), or None to send the
    file as it is. Raises BadParam for a bad `timeOffset` or `maxBitRate`."""
    duration_ms = source.duration_ms
    offset = _offset_s(p)
    if offset and duration_ms and offset * 1000 >= duration_ms:
        raise BadParam("timeOffset", f"{offset} s is past the end ({duration_ms // 1000} s)")
    decision = decide(source, fmt=parse_format(p.get("format")),
                      max_kbps=p.int("maxBitRate", 0, lo=0, hi=100_000),
                      user_max_kbps=user.max_bitrate or 0, profile=profile, offset_s=offset)
    service = state.transcoding
    if not decision.transcode or service is None or not service.transcoder.available:
        return None
    return decision


@endpoint("download", role="download")
async def download(ctx: Ctx) -> Response:
    """The original file of a song or of a downloaded podcast episode (`pe-…`), as an attachment."""
    if (episode_id := _episode_id(ctx)) is not None:
        return await _episode(ctx, episode_id, attachment=True)
    info, fh = await open_track(ctx)
    name = info["path"].rsplit("/", 1)[-1]
    return _original(fh, info["content_type"], filename=name, disposition="attachment")


def _original(fh: StoredFile, media_type: str, **kw: str) -> Response:
    """The file as it is: its bytes with Range, or — an object of an S3 folder with setting
    `s3_redirect` — a 302 to a presigned URL of it (the store answers the ranges itself)."""
    if isinstance(fh, S3File) and fh.storage.config.redirect:
        url = fh.storage.presigned_url(fh.key)
        fh.close()
        return RedirectResponse(url, 302, headers={"Cache-Control": "no-store"})
    return RangeResponse(fh, media_type, headers=_PRIVATE, **kw)


async def cover_art_fast(fx: FastCtx) -> Response | None:
    """getCoverArt from the cover cache with no database round trip and no worker thread
    (issue 13): a versioned cover id (its version is the cache key, so the bytes are the
    image that id names forever) whose entry exists at the asked size, for a user who may
    see the item — every user when they have all folders, else as `cover_access`
    remembers from an earlier query. Anything else (unversioned or playlist ids, a miss, a
    Range or HEAD request, a visibility not known yet) → None: `get_cover_art` answers."""
    request = fx.request
    if request.method != "GET" or "range" in request.headers:
        return None
    try:
        kind, ident, canonical = parse_cover_id(fx.params.get("id"))
        size = fx.params.opt_int("size")
    except BadParam:
        return None
    if size is not None and (size <= 0 or size >= MAX_SIZE):
        size = None
    if kind == "pl" or "_" not in canonical:
        return None
    folders = fx.user.folder_ids
    if folders is not None and kind != "pc":
        access = fx.state.cover_access
        if access is None or access.known(folders, kind, ident) is not True:
            return None
    webp = bool(size) and _accepts_webp(request.headers.get("accept", ""))
    none_match = request.headers.get("if-none-match", "")
    hit = fx.state.covers.read_cached(canonical, size, webp,
                                      (lambda etag: _etag_matches(none_match, etag)) if none_match else None)
    if hit is None:
        return None
    headers = {"Cache-Control": "public, max-age=31536000, immutable", "ETag": hit.info.etag,
               "Last-Modified": formatdate(hit.info.mtime, usegmt=True)}
    if size:
        headers["Vary"] = "Accept"
    if hit.data is None:
        return Response(status_code=304, headers=headers)
    headers["Accept-Ranges"] = "bytes"
    return Response(hit.data, media_type=hit.media_type, headers=headers)


@endpoint("getCoverArt", readonly=True, fast=cover_art_fast)
async def get_cover_art(ctx: Ctx) -> Response:
    """`id` is a coverArt id (OpenSubsonic: never a song/album id). `size` in px resizes
    (aspect kept, longest side = size) and caches; no size sends the original.

    No role: coverArtRole is the right to *change* cover art (Subsonic's settings page;
    Airsonic and Navidrome serve covers to every user), but the item must be in the
    user's music folders (else 70)."""
    kind, ident, canonical = parse_cover_id_or_404(ctx.params.str("id"))
    if not await _visible(ctx, kind, ident):
        raise NotFound("cover art", canonical)
    size = ctx.params.opt_int("size")
    if size is not None and (size <= 0 or size >= MAX_SIZE):
        size = None
    cache = ctx.state.covers
    # WebP only for clients that say they take it (browsers); Subsonic apps get JPEG/PNG.
    webp = bool(size) and _accepts_webp(ctx.request.headers.get("accept", ""))
    # Fast path, no database: ids we hand out carry the source's version, and the cache is
    # keyed by exactly that. Unversioned or made-up ids resolve the current version first.
    # A playlist's cover depends on the reader (their visible entries): always resolved.
    path = cache.lookup(canonical, size, webp) if "_" in canonical and kind != "pl" else None
    current = path is not None
    fh = None
    if path is None:
        if kind == "pl":
            source = await playlist_covers.find_playlist_source(ctx.conn, cache, ctx.user, ident)
        elif kind == "pc":  # a podcast channel's stored image
            source = await podcast_service.cover_source(ctx.conn, ctx.state.settings.data_dir, ident)
        else:
            source = await find_source(ctx.conn, kind, ident, ctx.state.settings.outside_roots)
        if source is None:
            raise NotFound("cover art", canonical)
        current = source.key == canonical
        path = cache.lookup(source.key, size, webp) or await anyio.to_thread.run_sync(
            cache.produce, source, source.key, size, webp)
        if path is None:
            raise NotFound("cover art", canonical)
        if path == source.path:  # the original image file in the music folder
            fh = await anyio.to_thread.run_sync(source.open)
    if fh is None:
        try:
            fh = await anyio.to_thread.run_sync(open_local, path)
        except NotFound:  # pruned between lookup and open
            raise NotFound("cover art", canonical) from None
    # A versioned id names one image forever; an unversioned one may change with a rescan.
    cache_control = "public, max-age=31536000, immutable" if current else "public, max-age=3600"
    headers = {"Cache-Control": cache_control}
    if size:
        headers["Vary"] = "Accept"  # the format follows the client's Accept
    if _etag_matches(ctx.request.headers.get("if-none-match", ""), fh.info.etag):
        fh.close()
        return Response(status_code=304, headers={**headers, "ETag": fh.info.etag})
    return RangeResponse(fh, media_type(path), headers=headers)


async def _visible(ctx: Ctx, kind: str, ident: int) -> bool:
    """May the user see the cover of (kind, ident)? Asked of the database for a user with
    some folders only, and the answer kept for the fast path (orbsonic.library.cover_access)."""
    user_folders = ctx.user.folder_ids
    access = ctx.state.cover_access
    if user_folders is None or access is None or kind in ("pl", "pc"):
        return await folders.cover_visible(ctx.conn, kind, ident, user_folders)
    generation = access.generation()
    visible = await folders.cover_visible(ctx.conn, kind, ident, user_folders)
    access.remember(user_folders, kind, ident, visible, generation)
    return visible


def _accepts_webp(accept: str) -> bool:
    """True when the Accept header lists image/webp with a non-zero quality (RFC 9110 §12.5.1)."""
    for item in accept.lower().split(","):
        kind, *params = item.split(";")
        if kind.strip() != "image/webp":
            continue
        for param in params:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match (RFC 9110 §13.1.2): weak comparison, "*" matches any current entity."""
    if not header:
        return False
    tags = [t.strip() for t in header.split(",")]
    bare = etag.removeprefix("W/")
    return "*" in tags or any(t.removeprefix("W/") == bare for t in tags)


def parse_cover_id_or_404(text: str) -> tuple[str, int, str]:
    try:
        return parse_cover_id(text)
    except Exception:  # noqa: BLE001  (a malformed id names nothing: error 70)
        raise NotFound("cover art", text) from None
