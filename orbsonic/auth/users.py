"""Users and API keys in PostgreSQL (async; the CLI drives these with asyncio.run).

All functions take an open psycopg AsyncConnection and leave transaction control to
the caller's `async with pool.connection()` block (commit on success, rollback on error).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.rows import class_row

from orbsonic.auth.passwords import (
    SecretKey,
    api_key_digest,
    generate_password,
    hash_password,
    new_api_key,
)
from orbsonic.errors import BadParam, ConfigError, NotFound

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
                      is_admin: bool = False, email: str = "") -> User:
    """Create a user. Raises BadParam on an invalid name/password or a taken username."""
    name, pw = _check_username(username), _check_password(password)
    try:
        async with conn.transaction(), conn.cursor(row_factory=class_row(User)) as cur:
            await cur.execute(
                f"""INSERT INTO users (username, password_enc, password_hash, email, is_admin)
                        VALUES (%s, %s, %s, %s, %s) RETURNING {_COLUMNS}""",
                (name, key.encrypt(pw.encode("utf-8")), hash_password(pw), email, is_admin),
            )
            user = await cur.fetchone()
    except UniqueViolation:
        raise BadParam("username", f"user {name!r} already exists") from None
    assert user is not None
    return user


async def set_password(conn: AsyncConnection, key: SecretKey, username: str, password: str) -> None:
    """Change a password (both stored forms). Raises NotFound for an unknown user."""
    pw = _check_password(password)
    cur = await conn.execute(
        "UPDATE users SET password_enc = %s, password_hash = %s, changed_at = now() WHERE username = %s",
        (key.encrypt(pw.encode("utf-8")), hash_password(pw), username),
    )
    if cur.rowcount == 0:
        raise NotFound("user", username)


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
