"""Creating accounts with roles and music-folder access (native `POST /users`, `POST /auth/register`).

The same `users` rows as the Subsonic API (orbsonic/auth/users.py): roles are the Subsonic
ones (users.ROLE_ATTRS keys), `folders` the music-folder ids the user may read (None: all).
"""

from __future__ import annotations

from collections.abc import Collection

from psycopg import AsyncConnection, sql

from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from orbsonic.auth.users import ROLE_ATTRS, User
from orbsonic.errors import BadParam, Conflict


async def create_account(conn: AsyncConnection, key: SecretKey, username: str, password: str, *,
                         email: str = "", is_admin: bool = False, roles: Collection[str] | None = None,
                         folders: Collection[int] | None = None) -> User:
    """Create a user; with `roles`, the user holds exactly those (the others off; "admin" in
    it is the same as `is_admin`), else the schema's defaults; `folders` limits the music
    folders they may read. One transaction (a savepoint inside the caller's).

    Raises Conflict for a taken user name, BadParam for an invalid name or password, an
    unknown role or an unknown folder id."""
    if await users.get_by_name(conn, username.strip()) is not None:
        raise Conflict(f"user {username.strip()!r} already exists")
    unknown = sorted(set(roles or ()) - set(ROLE_ATTRS))
    if unknown:
        raise BadParam("roles", f"unknown role {unknown[0]!r}")
    is_admin = is_admin or "admin" in (roles or ())
    async with conn.transaction():
        user = await users.create_user(conn, key, username, password, is_admin=is_admin, email=email)
        sets: list[sql.Composable] = []
        args: list[object] = []
        if roles is not None:
            for role, attr in ROLE_ATTRS.items():
                if role != "admin":
                    sets.append(sql.SQL("{} = %s").format(sql.Identifier(attr)))
                    args.append(role in roles)
        if folders is not None:
            ids = sorted(set(folders))
            cur = await conn.execute("SELECT count(*) FROM music_folders WHERE id = ANY(%s)", (ids,))
            row = await cur.fetchone()
            if row is None or row[0] != len(ids):
                raise BadParam("folders", "unknown music folder id")
            sets.append(sql.SQL("folder_ids = %s"))
            args.append(ids)
        if sets:
            await conn.execute(sql.SQL("UPDATE users SET {} WHERE id = %s").format(sql.SQL(", ").join(sets)),
                               (*args, user.id))
    updated = await users.get_by_name(conn, user.username)
    assert updated is not None
    return updated
