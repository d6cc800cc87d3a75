"""Native API login sessions in PostgreSQL (table `sessions`, schema/0011_sessions.sql).

A session is one login of one client. Login (`login`) checks the password — the same accounts
and passwords as the Subsonic API, under the shared login rate limit
(orbsonic/auth/ratelimit.py) — and creates a session with a refresh token; the caller then
mints short-lived access tokens (orbsonic/auth/tokens.py) naming the session. Every request
with an access token runs `user_of_session`: one primary-key lookup (no cache) that fails once
the session is revoked or the user deleted, so a logout is seen by every worker and replica at
once, with no per-process state, and sessions survive restarts.

Refresh tokens rotate (`refresh`): each use answers a new one and the old one stops working.
Presenting the previous, already rotated token again means it leaked (the legitimate client
and an attacker both hold it), so the whole session is revoked (RFC 9700 §4.14.2).
A password change revokes the user's other sessions by a trigger on `users`, whatever path
changed it (`keep_session` names the session that did it).

All functions take an open AsyncConnection and leave transaction control to the caller,
except where they say they commit (a revocation that must survive the failed request).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.auth import ratelimit, users
from orbsonic.auth.passwords import SecretKey, check_plain, verify_hash
from orbsonic.auth.tokens import new_refresh, refresh_digest
from orbsonic.auth.users import User
from orbsonic.errors import AuthFailed, NotAuthorized, NotFound, RateLimited

MAX_CLIENT = 64
KEEP_REVOKED_DAYS = 30  # revoked sessions are kept this long (then pruned at the user's login)
# users._COLUMNS, qualified with the alias "u": a session lookup answers the whole user row.
_USER_COLS = ", ".join("u." + c.strip() for c in users._COLUMNS.split(","))
_DUMMY = "orbsonic-no-such-user"


@dataclass(frozen=True, slots=True)
class Session:
    """A live session: `id` (uuid text), `client` (its name at login), times in UTC."""

    id: str
    client: str
    created: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Issued:
    """A session just created or refreshed: its user, id, and the new refresh token (shown
    once, stored only hashed)."""

    user: User
    session_id: str
    refresh_token: str


class WrongPassword(NotAuthorized):
    """The current password given to a password change is wrong (not an authentication
    failure: the caller is logged in). The answer waits `delay_s` seconds (rate limit)."""

    def __init__(self, delay_s: float) -> None:
        super().__init__("currentPassword is wrong")
        self.delay_s = delay_s


def session_uuid(text: str) -> uuid.UUID | None:
    """The session id `text` as a UUID, or None when it is not one."""
    if len(text) > 64:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def password_matches(user: User | None, password: str, key: SecretKey) -> bool:
    """True when `password` is the user's, checked like the Subsonic `p` parameter: against the
    stored clear password in constant time, or the argon2 hash when none is recoverable.
    An unknown user costs a comparison too (no early return to time)."""
    stored = user.clear_password(key) if user is not None else None
    if user is not None and stored is None:
        return verify_hash(password, user.password_hash)
    ok = check_plain(password, stored if stored is not None else _DUMMY)
    return ok and user is not None


async def check_password(conn: AsyncConnection, key: SecretKey, policy: ratelimit.Policy,
                         username: str, password: str, address: str | None) -> User:
    """The user `username` when `password` is theirs, under the login rate limit.

    Raises RateLimited (retry after at most the lockout) when the user name or the address has
    too many recent failures — without checking the password; ratelimit.SlowedFailure (an
    AuthFailed whose `delay_s` the caller waits, after releasing `conn`) for a wrong user name
    or password. The failure count is committed before raising."""
    name = username.replace("\x00", "") or None
    try:
        standing = await ratelimit.check(conn, policy, name, address)
    except ratelimit.LoginBlocked:
        raise RateLimited("too many failed logins: try again later", policy.lockout_s) from None
    user = await users.get_by_name(conn, username) if name == username else None
    if not password_matches(user, password, key):
        delay = await ratelimit.record_failure(conn, policy, name, address)
        raise ratelimit.SlowedFailure(AuthFailed("wrong_credentials", "wrong username or password"),
                                      delay)
    assert user is not None
    await ratelimit.record_success(conn, policy, user.username, standing)
    return user


async def create(conn: AsyncConnection, user: User, client: str, idle_s: int = 0) -> Issued:
    """A new session for `user` logged in from `client`; prunes the user's sessions revoked,
    or idle past `idle_s` seconds, more than KEEP_REVOKED_DAYS ago."""
    token = new_refresh()
    await conn.execute(
        """DELETE FROM sessions WHERE user_id = %(u)s
             AND (revoked_at < now() - make_interval(days => %(keep)s)
                  OR (%(idle)s > 0
                      AND last_seen < now() - make_interval(days => %(keep)s, secs => %(idle)s)))""",
        {"u": user.id, "keep": KEEP_REVOKED_DAYS, "idle": idle_s})
    cur = await conn.execute(
        "INSERT INTO sessions (user_id, client, refresh_hash) VALUES (%s, %s, %s) RETURNING id::text",
        (user.id, client[:MAX_CLIENT], refresh_digest(token)))
    row = await cur.fetchone()
    assert row is not None
    return Issued(user, row[0], token)


async def login(conn: AsyncConnection, key: SecretKey, policy: ratelimit.Policy, username: str,
                password: str, client: str, address: str | None, idle_s: int = 0) -> Issued:
    """check_password, then create a session (see both for the errors raised)."""
    user = await check_password(conn, key, policy, username, password, address)
    return await create(conn, user, client, idle_s)


async def _user(conn: AsyncConnection, user_id: int) -> User | None:
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(f"SELECT {_USER_COLS} FROM users u WHERE u.id = %s", (user_id,))
        return await cur.fetchone()


async def refresh(conn: AsyncConnection, token: str, idle_s: int) -> Issued:
    """Rotate the refresh token `token`: its session gets a new one, which is answered.

    Raises AuthFailed for an unknown token, a revoked session, a session idle for more than
    `idle_s` seconds (0: never idle out), and for the reuse of an already rotated token —
    which revokes the session first (committed, so the revocation outlives this request)."""
    digest = refresh_digest(token)
    cur = await conn.execute(
        """SELECT id::text, user_id, refresh_hash = %(h)s, revoked_at IS NOT NULL,
                  %(idle)s > 0 AND last_seen < now() - make_interval(secs => %(idle)s)
             FROM sessions WHERE refresh_hash = %(h)s OR prev_refresh_hash = %(h)s
              FOR UPDATE""", {"h": digest, "idle": idle_s})
    row = await cur.fetchone()
    if row is None:
        raise AuthFailed("wrong_credentials", "unknown refresh token")
    sid, user_id, current, revoked, idle = row
    if revoked:
        raise AuthFailed("wrong_credentials", "this session was logged out")
    if not current or idle:
        await conn.execute("UPDATE sessions SET revoked_at = now() WHERE id = %s", (sid,))
        await conn.commit()
        if idle:
            raise AuthFailed("wrong_credentials", "the session expired: log in again")
        raise AuthFailed("wrong_credentials", "refresh token reused: the session is revoked, log in again")
    new = new_refresh()
    await conn.execute(
        """UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = %s, last_seen = now()
            WHERE id = %s""", (refresh_digest(new), sid))
    user = await _user(conn, user_id)
    if user is None:  # deleted between the lookup and now (the cascade removes the session)
        raise AuthFailed("wrong_credentials", "unknown refresh token")
    return Issued(user, sid, new)


async def user_of_session(conn: AsyncConnection, session_id: str, user_id: int) -> User | None:
    """The user of live session `session_id` (which must belong to `user_id`), else None
    (revoked, unknown, user deleted). One primary-key lookup, no write: the request's
    transaction may last as long as a stream or an event feed, and a row lock held that long
    would make the session's refresh or logout wait for it (`last_seen` is noted by login and
    refresh instead, at least once per access-token lifetime while the client is active)."""
    sid = session_uuid(session_id)
    if sid is None:
        return None
    async with conn.cursor(row_factory=class_row(User)) as cur:
        await cur.execute(
            f"""SELECT {_USER_COLS} FROM sessions s JOIN users u ON u.id = s.user_id
                 WHERE s.id = %s AND s.user_id = %s AND s.revoked_at IS NULL""", (sid, user_id))
        return await cur.fetchone()


async def list_live(conn: AsyncConnection, user_id: int, idle_s: int) -> list[Session]:
    """The user's live sessions (not revoked, not idle past `idle_s`), oldest first."""
    async with conn.cursor(row_factory=class_row(Session)) as cur:
        await cur.execute(
            """SELECT id::text AS id, client, created, last_seen FROM sessions
                WHERE user_id = %(u)s AND revoked_at IS NULL
                  AND NOT (%(idle)s > 0 AND last_seen < now() - make_interval(secs => %(idle)s))
                ORDER BY created, id""", {"u": user_id, "idle": idle_s})
        return await cur.fetchall()


async def revoke(conn: AsyncConnection, user_id: int, session_id: str) -> None:
    """Revoke one of the user's live sessions. Raises NotFound (unknown, another user's, or
    already revoked)."""
    sid = session_uuid(session_id)
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE id = %s AND user_id = %s AND revoked_at IS NULL",
        (sid, user_id)) if sid is not None else None
    if cur is None or cur.rowcount == 0:
        raise NotFound("session", session_id)


async def revoke_all(conn: AsyncConnection, user_id: int) -> int:
    """Revoke every live session of the user ("log out everywhere"); returns how many."""
    cur = await conn.execute(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL", (user_id,))
    return cur.rowcount


async def keep_session(conn: AsyncConnection, session_id: str | None) -> None:
    """In the current transaction, a password change of this session's user keeps this one
    session (the trigger of schema/0011 revokes the others)."""
    await conn.execute("SELECT set_config('orbsonic.keep_session', %s, true)", (session_id or "",))


async def change_password(conn: AsyncConnection, key: SecretKey, policy: ratelimit.Policy, user: User,
                          current: str, new: str, session_id: str | None,
                          address: str | None) -> None:
    """Change `user`'s password after checking `current` (under the login rate limit, see
    check_password for the errors, except that a wrong `current` raises WrongPassword);
    revokes every other session of the user (all of them when `session_id` is None, e.g. a
    caller using an API key). Raises BadParam for an invalid new password."""
    try:
        await check_password(conn, key, policy, user.username, current, address)
    except ratelimit.SlowedFailure as exc:
        raise WrongPassword(exc.delay_s) from None
    await keep_session(conn, session_id)
    await users.set_password(conn, key, user.username, new)
