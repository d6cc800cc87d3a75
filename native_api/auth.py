"""Who is calling the native API: `Authorization: Bearer <credential>`.

A credential is tried by each resolver in `RESOLVERS` in turn; the first that knows it returns
the user. The access-token resolver (short-lived JWTs of native login, registered by
native_api/endpoints/auth.py) comes first; an OpenSubsonic API key (the same keys as the Subsonic `apiKey`
parameter, orbsonic.auth.users) is always accepted too, for scripts and tests.

Routes that serve bytes to an `<audio>` or `<img>` element (which cannot send headers) also
accept the credential as the `token` query parameter (`allow_query_token`).
Errors: AuthFailed (→ 401 problem+json) when no credential is given or none resolves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from psycopg import AsyncConnection
from starlette.requests import Request

from orbsonic.auth import users
from orbsonic.auth.users import User
from orbsonic.errors import AuthFailed
from orbsonic.state import AppState

Resolver = Callable[[AsyncConnection, AppState, str], Awaitable[User | None]]
MAX_CREDENTIAL = 4096


async def _api_key(conn: AsyncConnection, state: AppState, credential: str) -> User | None:
    return await users.get_by_api_key(conn, credential)


RESOLVERS: list[Resolver] = [_api_key]


def register_resolver(resolver: Resolver, *, first: bool = True) -> None:
    """Add a credential resolver (idempotent); `first` puts it before the API-key lookup."""
    if resolver in RESOLVERS:
        return
    if first:
        RESOLVERS.insert(0, resolver)
    else:
        RESOLVERS.append(resolver)


def credential(request: Request, *, allow_query_token: bool = False) -> str | None:
    """The bearer credential of `request`, or None when it carries none."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if allow_query_token:
        return request.query_params.get("token") or None
    return None


async def authenticate(request: Request, conn: AsyncConnection, state: AppState, *,
                       allow_query_token: bool = False) -> User:
    """The user the request's credential identifies. Raises AuthFailed."""
    cred = credential(request, allow_query_token=allow_query_token)
    if not cred:
        raise AuthFailed("missing", "authentication required: send Authorization: Bearer <token>")
    if len(cred) > MAX_CREDENTIAL or "\x00" in cred:
        raise AuthFailed("wrong_credentials", "invalid credential")
    for resolve in RESOLVERS:
        user = await resolve(conn, state, cred)
        if user is not None:
            return user
    raise AuthFailed("wrong_credentials", "invalid or expired credential")
