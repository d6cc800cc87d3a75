"""User management: getUser (docs/subsonic-spec.md §3 User management)."""

from __future__ import annotations

from typing import Any

from orbsonic.auth import users
from orbsonic.auth.users import User
from orbsonic.errors import NotAuthorized, NotFound
from orbsonic.library import folders
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload


def user_shape(u: User, folder_ids: list[int]) -> dict[str, Any]:
    """A Subsonic User; `folder` lists the music folders the user may read (xs:int)."""
    return {
        "username": u.username, "email": u.email, "scrobblingEnabled": True,
        "adminRole": u.is_admin, "settingsRole": u.can_settings, "downloadRole": u.can_download,
        "uploadRole": u.can_upload, "playlistRole": u.can_playlist, "coverArtRole": u.can_cover_art,
        "commentRole": u.can_comment, "podcastRole": u.can_podcast, "streamRole": True,
        "jukeboxRole": u.can_jukebox, "shareRole": u.can_share, "videoConversionRole": False,
        "maxBitRate": u.max_bitrate, "folder": folder_ids,
    }


@endpoint("getUser")
async def get_user(ctx: Ctx) -> Payload:
    """A user may read their own record; admins may read anyone's (error 50 otherwise)."""
    name = ctx.params.str("username", ctx.user.username)
    if name != ctx.user.username and not ctx.user.is_admin:
        raise NotAuthorized("only admins may read other users")
    user = ctx.user if name == ctx.user.username else await users.get_by_name(ctx.conn, name)
    if user is None:
        raise NotFound("user", name)
    folder_ids = [r["id"] for r in await folders.music_folders(ctx.conn)]
    return Payload("user", user_shape(user, folder_ids))
