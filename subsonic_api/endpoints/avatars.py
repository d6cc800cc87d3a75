"""getAvatar (docs/subsonic-spec.md §3 Media retrieval): the image set with
`orbsonic user avatar NAME FILE`; a user without one (or no such user) is error 70.
Every user may see every user's avatar, as in Subsonic (chat and now-playing show them)."""

from __future__ import annotations

from starlette.responses import Response

from orbsonic.library import avatars
from subsonic_api.registry import Ctx, endpoint


@endpoint("getAvatar")
async def get_avatar(ctx: Ctx) -> Response:
    avatar = await avatars.get(ctx.conn, ctx.params.str("username"))
    # Short private caching: a new avatar shows within minutes.
    return Response(bytes(avatar.data), media_type=avatar.content_type,
                    headers={"Cache-Control": "private, max-age=300"})
