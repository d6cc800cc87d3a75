"""Creating accounts for the native API (`POST /users` by an admin, `POST /auth/register`).

The same `users` rows as the Subsonic API (orbsonic/auth/users.py:create_user): roles are the
Subsonic ones (users.ROLE_ATTRS keys), `folders` the music-folder ids the user may read
(None: all). Creations are audited like Subsonic createUser.
"""

from __future__ import annotations

from collections.abc import Collection

from psycopg import AsyncConnection

from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from orbsonic.auth.users import ROLE_ATTRS, User
from orbsonic.errors import BadParam, Conflict, NotFound


async def create_account(conn: AsyncConnection, key: SecretKey, username: str, password: str, *,
                         actor: str, email: str = "", is_admin: bool = False,
                         roles: Collection[str] | None = None,
                         folders: Collection[int] | None = None) -> User:
    """Create a user, audited as done by `actor` (the admin's name, or the new user's own
    for an open registration). With `roles`, the user holds exactly those ("admin" in it is
    the same as `is_admin`), else the schema's defaults; `folders` limits the music folders
    they may read.

    Raises Conflict for a taken user name; BadParam for an invalid name, password or email,
    an unknown role, an empty or unknown folder list (field names `roles`, `folders`)."""
    if await users.get_by_name(conn, username.strip()) is not None:
        raise Conflict(f"user {username.strip()!r} already exists")
    unknown = sorted(set(roles or ()) - set(ROLE_ATTRS))
    if unknown:
        raise BadParam("roles", f"unknown role {unknown[0]!r}")
    granted = None if roles is None else {r: r in roles for r in ROLE_ATTRS if r != "admin"}
    try:
        return await users.create_user(conn, key, username, password, email=email,
                                       is_admin=is_admin or "admin" in (roles or ()), roles=granted,
                                       folder_ids=None if folders is None else list(folders), actor=actor)
    except NotFound as exc:
        raise BadParam("folders", str(exc)) from None
    except BadParam as exc:
        if exc.name == "musicFolderId":
            raise BadParam("folders", exc.reason) from None
        raise
