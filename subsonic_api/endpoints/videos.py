"""Video methods for a music-only server: getVideos, getVideoInfo, getCaptions
(docs/subsonic-spec.md §3 Browsing, Media retrieval).

Orbsonic's scanner indexes audio only, so no video exists: getVideos answers an empty
`videos` list (clients such as DSub call it to fill their video tab and must not see an
error), and getVideoInfo/getCaptions answer "not found" (70) for any id.
"""

from __future__ import annotations

from orbsonic.errors import BadParam, NotFound
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload


@endpoint("getVideos")
async def get_videos(ctx: Ctx) -> Payload:
    return Payload("videos", {"video": []})


@endpoint("getVideoInfo")
async def get_video_info(ctx: Ctx) -> Payload:
    raise NotFound("video", ctx.params.str("id"))


@endpoint("getCaptions")
async def get_captions(ctx: Ctx) -> Payload:
    video_id = ctx.params.str("id")
    fmt = ctx.params.str("format", None)
    if fmt is not None and fmt not in ("srt", "vtt"):
        raise BadParam("format", "must be srt or vtt")
    raise NotFound("video", video_id)
