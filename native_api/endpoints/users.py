"""User accounts made by an admin (docs/native-api.md "Auth": registration only by an admin).

The same `users` rows as the Subsonic API: roles are the Subsonic role names, `folders` the
music-folder ids the user may read (null or absent: all)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from native_api.endpoints.auth import me_of
from native_api.registry import Ctx, route
from native_api.v1 import Me
from orbsonic.auth import accounts

Role = Literal["admin", "settings", "download", "upload", "playlist", "coverArt", "comment", "podcast",
               "stream", "jukebox", "share", "videoConversion", "scrobbling"]
FolderId = Annotated[int, Field(ge=1, le=2**31 - 1)]


class NewUser(BaseModel):
    """The body of POST /users: with `roles`, the user holds exactly those; without, the
    defaults (stream, download, playlist, coverArt, settings, scrobbling)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    email: str = Field("", max_length=256)
    admin: bool = False
    roles: list[Role] | None = Field(None, max_length=len(Role.__args__))
    folders: list[FolderId] | None = Field(None, max_length=10000)


@route("POST", "/users", summary="Create a user (admin)", tag="auth", admin=True, body=NewUser, response=Me,
       status=201, errors=(409,))
async def create_user(ctx: Ctx) -> Me:
    """409 when the user name is taken; 400 for an unknown music folder or an empty list.
    Audited like Subsonic createUser."""
    b: NewUser = ctx.body
    user = await accounts.create_account(ctx.conn, ctx.state.key, b.username, b.password, email=b.email,
                                         is_admin=b.admin, roles=b.roles, folders=b.folders,
                                         actor=ctx.me.username)
    return me_of(user)
