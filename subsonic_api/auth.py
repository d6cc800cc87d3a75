"""Subsonic request authentication (docs/subsonic-spec.md §2.2–2.3).

Mechanisms, in the order they are recognised:
* `apiKey` (OpenSubsonic apiKeyAuthentication): must come alone; with `u`, `p`, `t` or
  `s` it is error 43; an unknown key is 44.
* `u` + `t` + `s`: t = md5(password + salt). Error 41 when token auth is switched off or
  the user's password cannot be recovered — DSub then falls back to `p` (§4.5 #7).
* `u` + `p`: clear or `enc:<hex>`.
Sending `p` together with `t`/`s` is conflicting (43). Anything missing is error 10,
wrong credentials 40. The protocol version `v` is checked here too (20/30).
"""

from __future__ import annotations

import re

from psycopg import AsyncConnection

from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey, check_plain, check_token, decode_enc, verify_hash
from orbsonic.errors import AuthFailed, MissingParam
from subsonic_api.errors import ClientTooOld, ServerTooOld
from subsonic_api.params import Params
from subsonic_api.response import API_VERSION

_VERSION = re.compile(r"\s*(\d+)\.(\d+)(?:\.(\d+))?\s*")
_SERVER_MAJOR, _SERVER_MINOR = (int(x) for x in API_VERSION.split(".")[:2])


def check_version(params: Params) -> None:
    """Require `v` and `c`; apply the spec's rule: compatible iff the major versions are
    equal and the client's minor ≤ ours. Old minors are fine (DSub sends 1.2.0)."""
    v = params.str("v")
    params.str("c")
    m = _VERSION.fullmatch(v)
    if not m:
        raise MissingParam("v")
    major, minor = int(m.group(1)), int(m.group(2))
    if major < _SERVER_MAJOR:
        raise ClientTooOld(f"client {v}, server {API_VERSION}")
    if major > _SERVER_MAJOR or minor > _SERVER_MINOR:
        raise ServerTooOld(f"client {v}, server {API_VERSION}")


async def authenticate(conn: AsyncConnection, params: Params, key: SecretKey, *,
                       token_auth: bool = True) -> users.User:
    """Return the user the request's credentials identify, or raise AuthFailed / MissingParam."""
    api_key = params.get("apiKey")
    has_u, has_p = params.has("u"), params.has("p")
    has_t, has_s = params.has("t"), params.has("s")
    if api_key is not None:
        if has_u or has_p or has_t or has_s:
            raise AuthFailed("conflict", "Multiple conflicting authentication mechanisms provided")
        user = await users.get_by_api_key(conn, api_key) if api_key else None
        if user is None:
            raise AuthFailed("invalid_api_key", "Invalid API key")
        return user
    if not has_u:
        raise MissingParam("u")
    if has_p and (has_t or has_s):
        raise AuthFailed("conflict", "Multiple conflicting authentication mechanisms provided")
    if not has_p and not (has_t and has_s):
        raise MissingParam("p" if not (has_t or has_s) else ("s" if has_t else "t"))
    # `get`, not `str`: a NUL in a credential is wrong credentials (40), not a bad parameter;
    # such a name cannot be in the database (PostgreSQL text holds no NUL).
    name = params.get("u") or ""
    user = await users.get_by_name(conn, name) if "\x00" not in name else None
    if has_p:
        try:
            given = decode_enc(params.get("p") or "")
        except (ValueError, UnicodeDecodeError):
            raise AuthFailed("wrong_credentials", "Wrong username or password") from None
        stored = user.clear_password(key) if user else None
        # No recoverable password (created without one): fall back to the argon2 hash.
        if user is not None and stored is None and verify_hash(given, user.password_hash):
            return user
        if user is None or stored is None or not check_plain(given, stored):
            raise AuthFailed("wrong_credentials", "Wrong username or password")
        return user
    if not token_auth:
        raise AuthFailed("token_unsupported", "Token authentication is not supported by this server")
    if user is None:
        raise AuthFailed("wrong_credentials", "Wrong username or password")
    stored = user.clear_password(key)
    if stored is None:
        raise AuthFailed("token_unsupported", "Token authentication is not supported for this user")
    if not check_token(params.get("t") or "", params.get("s") or "", stored):
        raise AuthFailed("wrong_credentials", "Wrong username or password")
    return user
