"""Media retrieval: stream, download, getCoverArt (docs/subsonic-spec.md §3, §2.8).

Raw files go out through Starlette's FileResponse, which implements Range (206/416,
If-Range, multipart), HEAD, ETag and Last-Modified; ExoPlayer-based clients need 206
with a correct Content-Length to seek (client-compat §4.5 #15). Streaming is not a play
(OpenSubsonic): only scrobble counts. Transcoding is not implemented yet: `format` and
`maxBitRate` are ignored and the original is sent, as servers without a transcoder do.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import anyio
from starlette.responses import FileResponse, MalformedRangeHeader, Response

from orbsonic.covers import MAX_SIZE, find_source, media_type
from orbsonic.errors import NotFound
from orbsonic.ids import parse_cover_id
from orbsonic.library import folders, playlist_covers, tracks
from subsonic_api.registry import Ctx, endpoint


class AudioFileResponse(FileResponse):
    """FileResponse with larger reads (fewer thread hops per MB) and private caching."""

    chunk_size = 256 * 1024

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        """Starlette answers an unknown range unit or a malformed range set with a text/plain
        400. RFC 9110 §14.2: an unknown unit MUST be ignored, an invalid set MAY be; players
        get the whole file (no ranges → 200). Unsatisfiable ranges still give 416."""
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []


def _local_path(info: dict[str, Any]) -> Path:
    """The file of a track. The check is lexical (no "..", not absolute), not resolve():
    the scanner follows directory symlinks, so indexed files may live outside the folder."""
    rel = Path(info["path"])
    if rel.is_absolute() or ".." in rel.parts:  # a path from the DB must stay inside its folder
        raise NotFound("file")
    return Path(info["root"]) / rel


async def _file_response(ctx: Ctx, *, attachment: bool) -> Response:
    _, ident = ctx.params.id("id", "tr")
    info = await tracks.file_info(ctx.conn, ident, ctx.user.folder_ids)
    if info is None:
        raise NotFound("song", ctx.params.get("id"))
    path = _local_path(info)
    try:
        st = os.stat(path)
    except OSError:
        raise NotFound("file of song", ctx.params.get("id")) from None
    if not stat.S_ISREG(st.st_mode):  # a folder or FIFO where the file was: no 500, no hang
        raise NotFound("file of song", ctx.params.get("id"))
    return AudioFileResponse(
        path, media_type=info["content_type"], stat_result=st,
        filename=path.name if attachment else None,
        content_disposition_type="attachment" if attachment else "inline",
        headers={"Cache-Control": "private, max-age=86400"},
    )


@endpoint("stream", role="stream")
async def stream(ctx: Ctx) -> Response:
    """Needs streamRole (Subsonic/Airsonic: "allowed to play files")."""
    return await _file_response(ctx, attachment=False)


@endpoint("download", role="download")
async def download(ctx: Ctx) -> Response:
    """Needs downloadRole (Subsonic: "allowed to download files")."""
    return await _file_response(ctx, attachment=True)


@endpoint("getCoverArt")
async def get_cover_art(ctx: Ctx) -> Response:
    """`id` is a coverArt id (OpenSubsonic: never a song/album id). `size` in px resizes
    (aspect kept, longest side = size) and caches; no size sends the original.

    No role: coverArtRole is the right to *change* cover art (Subsonic's settings page;
    Airsonic and Navidrome serve covers to every user), but the item must be in the
    user's music folders (else 70)."""
    kind, ident, canonical = parse_cover_id_or_404(ctx.params.str("id"))
    if not await folders.cover_visible(ctx.conn, kind, ident, ctx.user.folder_ids):
        raise NotFound("cover art", canonical)
    size = ctx.params.opt_int("size")
    if size is not None and (size <= 0 or size >= MAX_SIZE):
        size = None
    cache = ctx.state.covers
    # Fast path, no database: ids we hand out carry the source's version, and the cache is
    # keyed by exactly that. Unversioned or made-up ids resolve the current version first.
    # A playlist's cover depends on the reader (their visible entries): always resolved.
    path = cache.lookup(canonical, size) if "_" in canonical and kind != "pl" else None
    current = path is not None
    if path is None:
        source = (await playlist_covers.find_playlist_source(ctx.conn, cache, ctx.user, ident) if kind == "pl"
                  else await find_source(ctx.conn, kind, ident))
        if source is None:
            raise NotFound("cover art", canonical)
        current = source.key == canonical
        path = cache.lookup(source.key, size) or await anyio.to_thread.run_sync(
            cache.produce, source, source.key, size)
        if path is None:
            raise NotFound("cover art", canonical)
    # A versioned id names one image forever; an unversioned one may change with a rescan.
    cache_control = "public, max-age=31536000, immutable" if current else "public, max-age=3600"
    return FileResponse(path, media_type=media_type(path), headers={"Cache-Control": cache_control})


def parse_cover_id_or_404(text: str) -> tuple[str, int, str]:
    try:
        return parse_cover_id(text)
    except Exception:  # noqa: BLE001  (a malformed id names nothing: error 70)
        raise NotFound("cover art", text) from None
