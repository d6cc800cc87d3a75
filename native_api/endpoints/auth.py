"""Native login, tokens and sessions (docs/native-api.md "Auth"; issue 9).

`POST /auth/login` answers a short-lived access token (JWT, orbsonic/auth/tokens.py) and a
rotating refresh token for a new session (orbsonic/auth/sessions.py). Access tokens are
accepted by the resolver registered here with native_api.auth, which checks on every request
that the session is still live in PostgreSQL: a logout, a "log out everywhere", a password
change or a deleted user is seen by every worker and replica at once.

Rate limit (the shared orbsonic/auth/ratelimit.py, the same counters as the Subsonic API):
a wrong user name or password is 401, answered after the growing delay; once the user name
or the address is locked out, 429 with Retry-After (Subsonic, which has no such code,
answers error 40 for both).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from native_api import auth
from native_api.registry import Ctx, route
from native_api.v1 import Me
from orbsonic.auth import accounts, ratelimit, sessions, tokens
from orbsonic.auth.users import ROLE_ATTRS, User
from orbsonic.config import Settings
from orbsonic.errors import BadParam, NotAuthorized
from orbsonic.state import AppState


class Login(BaseModel):
    """The body of POST /auth/login: `client` names the app (shown in the session list)."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=1024)
    client: str | None = Field(None, max_length=64)


class RefreshBody(BaseModel):
    """The body of POST /auth/refresh."""

    model_config = ConfigDict(extra="forbid")
    refreshToken: str = Field(min_length=1, max_length=256)


class Tokens(BaseModel):
    """A login's or a refresh's answer: `expiresIn` is the access token's lifetime in seconds;
    the refresh token is single-use (refresh answers a new one)."""

    accessToken: str
    refreshToken: str
    tokenType: str = "Bearer"
    expiresIn: int
    session: str
    user: Me


class SessionInfo(BaseModel):
    """One live session of the caller; `current` marks the one making this request;
    `lastSeen` is its last login or refresh (at least once per access-token lifetime while
    the client is active)."""

    id: str
    client: str
    created: datetime
    lastSeen: datetime
    current: bool


class Register(BaseModel):
    """The body of POST /auth/register."""

    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)
    email: str = Field("", max_length=256)


class PasswordChange(BaseModel):
    """The body of POST /me/password."""

    model_config = ConfigDict(extra="forbid")
    currentPassword: str = Field(min_length=1, max_length=1024)
    newPassword: str = Field(min_length=1, max_length=1024)


def me_of(u: User) -> Me:
    """The `Me` shape of a user row."""
    return Me(id=u.id, username=u.username, email=u.email, admin=u.is_admin,
              roles=[r for r in ROLE_ATTRS if u.has_role(r)], folders=u.folder_ids,
              maxBitRate=u.max_bitrate)


def login_policy(s: Settings) -> ratelimit.Policy:
    """The login rate limits of the settings (the same as subsonic_api.login_limits)."""
    return ratelimit.Policy(s.login_max_failures, s.login_lockout, s.login_delay_ms)


def _address(request: Request) -> str | None:
    # uvicorn has already replaced it with X-Forwarded-For's when the peer is a trusted proxy.
    return request.client.host if request.client else None


def _tokens(state: AppState, issued: sessions.Issued) -> Tokens:
    ttl = state.settings.access_token_ttl
    access = tokens.issue_access(state.key, issued.user.id, issued.session_id, ttl)
    return Tokens(accessToken=access, refreshToken=issued.refresh_token, expiresIn=ttl,
                  session=issued.session_id, user=me_of(issued.user))


def current_session(ctx: Ctx) -> str | None:
    """The session id of the request's access token; None when it came with an API key."""
    cred = auth.credential(ctx.request)
    claims = tokens.verify_access(ctx.state.key, cred) if cred and tokens.looks_like_jwt(cred) else None
    return claims.session_id if claims is not None else None


async def access_token_user(conn: AsyncConnection, state: AppState, credential: str) -> User | None:
    """native_api.auth resolver: the user of a valid access token whose session is live."""
    if not tokens.looks_like_jwt(credential):
        return None
    claims = tokens.verify_access(state.key, credential)
    if claims is None:
        return None
    return await sessions.user_of_session(conn, claims.session_id, claims.user_id)


auth.register_resolver(access_token_user)


@route("POST", "/auth/login", summary="Log in: access and refresh tokens", tag="auth", auth=False,
       body=Login, response=Tokens, errors=(401, 429))
async def login(ctx: Ctx) -> Tokens:
    """The same accounts and passwords as the Subsonic API. 401 wrong credentials (answered
    after the rate limit's delay), 429 with Retry-After once the user name or the address has
    too many recent failures."""
    b: Login = ctx.body
    issued = await sessions.login(ctx.conn, ctx.state.key, login_policy(ctx.state.settings), b.username,
                                  b.password, b.client or ctx.client, _address(ctx.request),
                                  ctx.state.settings.session_idle_timeout)
    return _tokens(ctx.state, issued)


@route("POST", "/auth/refresh", summary="Rotate the refresh token, get a new access token", tag="auth",
       auth=False, body=RefreshBody, response=Tokens, errors=(401,))
async def refresh(ctx: Ctx) -> Tokens:
    """The refresh token is single-use: presenting an already rotated one again revokes the
    whole session (RFC 9700 §4.14.2) and is 401."""
    issued = await sessions.refresh(ctx.conn, ctx.body.refreshToken, ctx.state.settings.session_idle_timeout)
    return _tokens(ctx.state, issued)


@route("POST", "/auth/logout", summary="Log out this session", tag="auth", status=204)
async def logout(ctx: Ctx) -> Response:
    """Revokes the session of the access token (an API key has none: 400)."""
    sid = current_session(ctx)
    if sid is None:
        raise BadParam("Authorization", "an API key has no session: revoke it with DELETE /api-keys/{id}")
    await sessions.revoke(ctx.conn, ctx.me.id, sid)
    return Response(status_code=204)


@route("POST", "/auth/logout-all", summary="Log out every session of mine", tag="auth", status=204)
async def logout_all(ctx: Ctx) -> Response:
    """Revokes every session of the caller, this one included (API keys stay valid)."""
    await sessions.revoke_all(ctx.conn, ctx.me.id)
    return Response(status_code=204)


@route("GET", "/auth/sessions", summary="My live sessions", tag="auth", response=list[SessionInfo])
async def list_sessions(ctx: Ctx) -> list[SessionInfo]:
    current = current_session(ctx)
    rows = await sessions.list_live(ctx.conn, ctx.me.id, ctx.state.settings.session_idle_timeout)
    return [SessionInfo(id=s.id, client=s.client, created=s.created, lastSeen=s.last_seen,
                        current=s.id == current) for s in rows]


@route("DELETE", "/auth/sessions/{session_id}", summary="Revoke one of my sessions", tag="auth",
       status=204, errors=(404,))
async def revoke_session(ctx: Ctx) -> Response:
    await sessions.revoke(ctx.conn, ctx.me.id, ctx.path["session_id"])
    return Response(status_code=204)


@route("POST", "/auth/register", summary="Create an account (when registration is open)", tag="auth",
       auth=False, body=Register, response=Me, status=201, errors=(403, 409))
async def register(ctx: Ctx) -> Me:
    """403 unless the `registration_open` setting is on; the account gets the default roles."""
    if not ctx.state.settings.registration_open:
        raise NotAuthorized("registration is closed: ask an admin for an account")
    b: Register = ctx.body
    user = await accounts.create_account(ctx.conn, ctx.state.key, b.username, b.password, email=b.email,
                                         actor=b.username.strip())
    return me_of(user)


@route("POST", "/me/password", summary="Change my password", tag="auth", body=PasswordChange, status=204,
       errors=(429,))
async def change_password(ctx: Ctx) -> Response:
    """403 when `currentPassword` is wrong (rate-limited like a login). Every other session of
    the caller is revoked; this one stays logged in."""
    b: PasswordChange = ctx.body
    await sessions.change_password(ctx.conn, ctx.state.key, login_policy(ctx.state.settings), ctx.me,
                                   b.currentPassword, b.newPassword, current_session(ctx),
                                   _address(ctx.request))
    return Response(status_code=204)
