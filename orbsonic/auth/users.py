"""Users, their roles and music folders, and API keys in PostgreSQL (async; the CLI
drives these with asyncio.run).

All functions take an open psycopg AsyncConnection and leave transaction control to
the caller's `async with pool.connection()` block (commit on success, rollback on error).
User management (create/update/delete, passwords changed by others) is written to the
audit log (orbsonic.library.audit) in the same transaction when an `actor` is given.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.errors import UniqueViolation
from psycopg.rows import class_row

from orbsonic.auth.passwords import (
    SecretKey,
    api_key_digest,
    generate_password,
    hash_password,
    new_api_key,
)
from orbsonic.errors import BadParam, ConfigError, NotAuthorized, NotFound
from orbsonic.library import audit

_COLUMNS = """id, username, password_enc, password_hash, email, is_admin, can_download, can_share,
    can_upload, can_jukebox, can_podcast, can_comment, can_cover_art, can_playlist, can_settings,
    max_bitrate, created_at, can_stream, can_scrobble, can_video_conversion, folder_ids"""

# Subsonic role name (the `…Role` attribute of a User without the suffix, and
# `scrobbling` for scrobblingEnabled) → the User attribute that grants it.
ROLE_ATTRS = {
    "admin": "is_admin", "settings": "can_settings", "download": "can_download",
    "upload": "can_upload", "playlist": "can_playlist", "coverArt": "can_cover_art",
    "comment": "can_comment", "podcast": "can_podcast", "stream": "can_stream",
    "jukebox": "can_jukebox", "share": "can_share", "videoConversion": "can_video_conversion",
    "scrobbling": "can_scrobble",
}
# Subsonic updateUser maxBitRate values (kbps; 0 = no limit), docs/subsonic-spec.md §3.
MAX_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)


@dataclass(frozen=True, slots=True)
class UserChanges:
    """What to set on a user; None / empty = leave as is.

    `roles`: Subsonic role name (ROLE_ATTRS key) → granted. `folder_ids`: the music folders
    the user may read (a non-empty list); `all_folders=True` instead means every folder,
    also those added later (folder_ids NULL). `max_bitrate` in kbps, one of MAX_BITRATES.
    """

    email: str | None = None
    password: str | None = None
    roles: Mapping[str, bool] = field(default_factory=dict)
    folder_ids: Sequence[int] | None = None
    all_folders: bool = False
    max_bitrate: int | None = None


@dataclass(frozen=True, slots=True)
class User:
    """A user row. `password_enc` is the AES-GCM blob (None: no token auth for this user)."""

    id: int
    username: str
    password_enc: bytes | None
    password_hash: str
    email: str
    is_admin: bool
    can_download: bool
    can_share: bool
    can_upload: bool
    can_jukebox: bool
    can_podcast: bool
    can_comment: bool
    can_cover_art: bool
    can_playlist: bool
    can_settings: bool
    max_bitrate: int
    created_at: datetime
    can_stream: bool = True
    can_scrobble: bool = True
    can_video_conversion: bool = False
    folder_ids: list[int] | None = None

    def has_role(self, role: str) -> bool:
        """True when the user holds Subsonic role `role` (a ROLE_ATTRS key). Admins hold
        every role. Raises KeyError for an unknown role name (a programming error)."""
        return self.is_admin or bool(getattr(self, ROLE_ATTRS[role]))

    def may_read_folder(self, folder_id: int) -> bool:
        """True when music folder `folder_id` is among the user's allowed folders."""
        return self.folder_ids is None or folder_id in self.folder_ids

    def clear_password(self, key: SecretKey) -> str | None:
        """The stored clear password, or None when it cannot be recovered with `key`."""
        if self.password_enc is None:
            return None
        raw = key.decrypt(bytes(self.password_enc))
        return None if raw is None else raw.decode("utf-8")


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > 128 or any(c.isspace() or ord(c) < 32 for c in name):
        raise BadParam("username", "must be 1–128 characters without spaces or control characters")
    return name


def _check_password(password: str) -> str:
    if not password or len(password) > 1024:
        raise BadParam("password", "must be 1–1024 characters")
    return password


async def get_by_name(conn: AsyncConnection, username: str) -> User | None:
    """The user with this exact username, or None."""
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM users WHERE username = %s", (username,))
        return await cur.fetchone()


async def get_by_api_key(conn: AsyncConnection, key: str) -> User | None:
    """The owner of an API key (OpenSubsonic apiKeyAuthentication), or None; notes its use.

    The use is noted at most once a minute and never waits for a row lock: the caller's
    transaction lasts the whole request, so an unconditional UPDATE would make parallel
    requests with the same key (Symfonium, Feishin) run one after the other.
    """
    cols = ", ".join("u." + c.strip() for c in _COLUMNS.split(","))
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(
            f"""WITH k AS (SELECT user_id FROM api_keys WHERE key_sha256 = %(d)s),
                touch AS (UPDATE api_keys SET last_used_at = now()
                          WHERE id = (SELECT id FROM api_keys WHERE key_sha256 = %(d)s
                                        AND (last_used_at IS NULL
                                             OR last_used_at < now() - interval '1 minute')
                                      FOR UPDATE SKIP LOCKED))
                SELECT {cols} FROM users u JOIN k ON k.user_id = u.id""",
            {"d": api_key_digest(key)},
        )
        return await cur.fetchone()


async def list_users(conn: AsyncConnection) -> list[User]:
    """Every user, ordered by username."""
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"SELECT {_COLUMNS} FROM users ORDER BY username")
        return await cur.fetchall()


async def create_user(conn: AsyncConnection, key: SecretKey, username: str, password: str, *,
                      is_admin: bool = False, email: str = "", roles: Mapping[str, bool] | None = None,
                      folder_ids: Sequence[int] | None = None, max_bitrate: int = 0,
                      actor: str | None = None) -> User:
    """Create a user. `roles` (ROLE_ATTRS key → granted) override the column defaults
    (schema/0001); `folder_ids` None = every music folder. With `actor` (the admin's
    username, or audit.CLI_ACTOR) the creation is audited.

    Raises BadParam on an invalid name/password/role/bit rate or a taken username,
    NotFound for an unknown music folder.
    """
    name, pw = _check_username(username), _check_password(password)
    granted = {"admin": is_admin, **(roles or {})}
    cols = {ROLE_ATTRS[_check_role(r)]: bool(v) for r, v in granted.items()}
    cols |= {"email": _check_email(email), "max_bitrate": _check_bitrate(max_bitrate),
             "folder_ids": None if folder_ids is None else await _check_folders(conn, folder_ids),
             "username": name, "password_enc": key.encrypt(pw.encode("utf-8")),
             "password_hash": hash_password(pw)}
    query = sql.SQL("INSERT INTO users ({}) VALUES ({}) RETURNING " + _COLUMNS).format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), sql.SQL(", ").join(sql.Placeholder() * len(cols)))
    try:
        async with conn.transaction(), conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(query, list(cols.values()))
            user = await cur.fetchone()
            assert user is not None
            if actor is not None:
                await audit.record(conn, actor, "user.create", name, describe(user))
    except UniqueViolation:
        raise BadParam("username", f"user {name!r} already exists") from None
    return user


def describe(u: User) -> dict[str, Any]:
    """The editable settings of a user (audit details): roles held, folders, email, maxBitRate."""
    return {"roles": sorted(r for r, attr in ROLE_ATTRS.items() if getattr(u, attr)),
            "folders": "all" if u.folder_ids is None else sorted(u.folder_ids),
            "email": u.email, "maxBitRate": u.max_bitrate}


def _check_role(role: str) -> str:
    if role not in ROLE_ATTRS:
        raise BadParam("role", f"unknown role {role!r} (one of {', '.join(ROLE_ATTRS)})")
    return role


def _check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 320 or any(c.isspace() or ord(c) < 32 for c in email):
        raise BadParam("email", "must be at most 320 characters without spaces")
    return email


def _check_bitrate(kbps: int) -> int:
    if kbps not in MAX_BITRATES:
        raise BadParam("maxBitRate", f"must be one of {', '.join(map(str, MAX_BITRATES))}")
    return kbps


async def _check_folders(conn: AsyncConnection, folder_ids: Sequence[int]) -> list[int]:
    """Distinct, sorted, existing music folder ids. Raises BadParam for an empty list (a
    user who can read nothing) and NotFound for an unknown folder."""
    ids = sorted(set(folder_ids))
    if not ids:
        raise BadParam("musicFolderId", "a user needs at least one music folder")
    cur = await conn.execute("SELECT id FROM music_folders WHERE id = ANY(%s)", (ids,))
    known = {r[0] for r in await cur.fetchall()}
    for fid in ids:
        if fid not in known:
            raise NotFound("music folder", fid)
    return ids


async def _lock_admins(conn: AsyncConnection) -> set[int]:
    """Ids of the admins, their rows locked until the transaction ends: two admins
    demoting or deleting each other at once cannot leave the server without one."""
    cur = await conn.execute("SELECT id FROM users WHERE is_admin ORDER BY id FOR UPDATE")
    return {r[0] for r in await cur.fetchall()}


async def update_user(conn: AsyncConnection, key: SecretKey, username: str, changes: UserChanges, *,
                      actor: str | None = None) -> User:
    """Apply `changes` to a user, in one transaction; returns the updated row. Audited
    with `actor` ({field: [old, new]} of what changed).

    Raises NotFound (unknown user or music folder), BadParam (invalid value; taking the
    admin role from the last admin).
    """
    async with conn.transaction():
        admins = await _lock_admins(conn)
        async with conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(f"SELECT {_COLUMNS} FROM users WHERE username = %s FOR UPDATE", (username,))
            before = await cur.fetchone()
        if before is None:
            raise NotFound("user", username)
        cols: dict[str, Any] = {ROLE_ATTRS[_check_role(r)]: bool(v) for r, v in changes.roles.items()}
        if changes.email is not None:
            cols["email"] = _check_email(changes.email)
        if changes.max_bitrate is not None:
            cols["max_bitrate"] = _check_bitrate(changes.max_bitrate)
        if changes.all_folders:
            cols["folder_ids"] = None
        elif changes.folder_ids is not None:
            cols["folder_ids"] = await _check_folders(conn, changes.folder_ids)
        if changes.password is not None:
            pw = _check_password(changes.password)
            cols |= {"password_enc": key.encrypt(pw.encode("utf-8")), "password_hash": hash_password(pw)}
        if cols.get("is_admin") is False and admins == {before.id}:
            raise BadParam("adminRole", f"{username!r} is the last admin; make another user admin first")
        if not cols:
            return before
        query = sql.SQL("UPDATE users SET {}, changed_at = now() WHERE id = %s RETURNING " + _COLUMNS).format(
            sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c)) for c in cols))
        async with conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(query, [*cols.values(), before.id])
            after = await cur.fetchone()
        assert after is not None
        if actor is not None:
            old, new = describe(before), describe(after)
            diff: dict[str, Any] = {k: [old[k], new[k]] for k in old if old[k] != new[k]}
            if changes.password is not None:
                diff["password"] = "changed"
            if diff:
                await audit.record(conn, actor, "user.update", username, diff)
        return after


async def delete_user(conn: AsyncConnection, username: str, *, actor: str) -> None:
    """Delete a user (their API keys and annotations go with them), audited.

    Raises NotFound, BadParam for `actor` deleting themselves or the last admin (the
    server would have nobody left to manage it).
    """
    async with conn.transaction():
        admins = await _lock_admins(conn)
        target = await get_by_name(conn, username)
        if target is None:
            raise NotFound("user", username)
        if username == actor:
            raise BadParam("username", "you cannot delete your own account")
        if admins == {target.id}:
            raise BadParam("username", f"{username!r} is the last admin and cannot be deleted")
        await conn.execute("DELETE FROM users WHERE id = %s", (target.id,))
        await audit.record(conn, actor, "user.delete", username, describe(target))


async def change_password(conn: AsyncConnection, key: SecretKey, actor: User, username: str,
                          password: str) -> None:
    """Subsonic changePassword: anyone may change their own password, admins anyone's
    (audited when it is someone else's). Raises NotAuthorized, NotFound, BadParam."""
    if username != actor.username and not actor.is_admin:
        raise NotAuthorized("only admins may change another user's password")
    await set_password(conn, key, username, password,
                       actor=None if username == actor.username else actor.username)


async def set_password(conn: AsyncConnection, key: SecretKey, username: str, password: str, *,
                       actor: str | None = None) -> None:
    """Change a password (both stored forms); audited with `actor`. Raises NotFound for an
    unknown user, BadParam for an invalid password."""
    pw = _check_password(password)
    cur = await conn.execute(
        "UPDATE users SET password_enc = %s, password_hash = %s, changed_at = now() WHERE username = %s",
        (key.encrypt(pw.encode("utf-8")), hash_password(pw), username),
    )
    if cur.rowcount == 0:
        raise NotFound("user", username)
    if actor is not None:
        await audit.record(conn, actor, "user.password", username)


async def ensure_admin(conn: AsyncConnection, key: SecretKey, username: str,
                       password: str | None) -> str | None:
    """On first start (no users at all) create the admin account.

    Returns the password when it was generated (to be printed once), else None. Does
    nothing when any user exists, so a changed ORBSONIC_ADMIN_PASSWORD never silently
    overwrites a password the admin has since changed.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(7261001)")  # replicas starting together
    cur = await conn.execute("SELECT EXISTS (SELECT 1 FROM users)")
    row = await cur.fetchone()
    if row and row[0]:
        return None
    generated = None if password else generate_password()
    await create_user(conn, key, username or "admin", password or generated or "", is_admin=True)
    return generated


async def verify_secret_key(conn: AsyncConnection, key: SecretKey) -> None:
    """Record the key's check value on first use; afterwards refuse a different key.

    Raises ConfigError: a replica with another ORBSONIC_SECRET_KEY could not decrypt any
    stored password, and every token login would fail with a confusing error 40.
    """
    cur = await conn.execute("SELECT value FROM server_state WHERE key = 'secret_key_check'")
    row = await cur.fetchone()
    if row is None:
        await conn.execute(
            "INSERT INTO server_state (key, value) VALUES ('secret_key_check', %s) ON CONFLICT DO NOTHING",
            (base64.b64encode(key.check_value()).decode("ascii"),),
        )
        return
    if not key.verifies(base64.b64decode(row[0])):
        raise ConfigError(
            "the secret key differs from the one that encrypted the stored passwords: "
            "set ORBSONIC_SECRET_KEY (or DATA_DIR/secret.key) to the original key"
        )


async def create_api_key(conn: AsyncConnection, username: str, name: str = "") -> str:
    """Create an API key for a user; returns the key (shown once, stored only hashed)."""
    user = await get_by_name(conn, username)
    if user is None:
        raise NotFound("user", username)
    key = new_api_key()
    await conn.execute("INSERT INTO api_keys (user_id, key_sha256, name) VALUES (%s, %s, %s)",
                       (user.id, api_key_digest(key), name))
    return key


async def list_api_keys(conn: AsyncConnection,
                        username: str) -> list[tuple[int, str, datetime, datetime | None]]:
    """(id, name, created_at, last_used_at) of a user's keys; the keys themselves are not kept."""
    cur = await conn.execute(
        """SELECT k.id, k.name, k.created_at, k.last_used_at FROM api_keys k
           JOIN users u ON u.id = k.user_id WHERE u.username = %s ORDER BY k.id""", (username,))
    return list(await cur.fetchall())


async def revoke_api_key(conn: AsyncConnection, username: str, key_id: int) -> None:
    """Delete one of a user's API keys. Raises NotFound."""
    cur = await conn.execute(
        "DELETE FROM api_keys k USING users u WHERE u.id = k.user_id AND u.username = %s AND k.id = %s",
        (username, key_id))
    if cur.rowcount == 0:
        raise NotFound("api key", key_id)
