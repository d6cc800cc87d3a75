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

from orbsonic.auth import ratelimit, users
from orbsonic.auth.cache import CredentialCache, credential_key
from orbsonic.auth.passwords import SecretKey, check_plain, check_token, decode_enc, verify_hash
from orbsonic.errors import AuthFailed, BadParam, MissingParam
from subsonic_api.errors import ClientTooOld, ServerTooOld
from subsonic_api.params import Params, shown
from subsonic_api.response import API_VERSION

# ASCII digits, a few of each: `\d` would take Arabic-Indic digits, and int() of 4,301 of
# them raises ValueError (issue 6 §2: `v=1.<4,301 nines>.0` was an internal error).
_VERSION = re.compile(r"\s*([0-9]{1,6})\.([0-9]{1,6})(?:\.([0-9]{1,6}))?\s*", re.ASCII)
_SERVER_MAJOR, _SERVER_MINOR = (int(x) for x in API_VERSION.split(".")[:2])
_NO_LIMITS = ratelimit.Policy(max_failures=0)
# Failures that are guesses: wrong password or token, unknown API key. Not the ones that
# name a mechanism we refuse (41–43), which say nothing about the secret.
_COUNTED = frozenset({"wrong_credentials", "invalid_api_key"})


def check_version(params: Params) -> None:
    """Require `v` and `c`; apply the spec's rule: compatible iff the major versions are
    equal and the client's minor ≤ ours. Old minors are fine (DSub sends 1.2.0).
    A `v` that is not `MAJOR.MINOR[.PATCH]` (≤ 6 ASCII digits each) is BadParam (error 0)."""
    v = params.str("v")
    params.str("c")
    m = _VERSION.fullmatch(v)
    if not m:
        raise BadParam("v", f"{shown(v)} is not a protocol version like {API_VERSION}")
    major, minor = int(m.group(1)), int(m.group(2))
    if major < _SERVER_MAJOR:
        raise ClientTooOld(f"client {v}, server {API_VERSION}")
    if major > _SERVER_MAJOR or minor > _SERVER_MINOR:
        raise ServerTooOld(f"client {v}, server {API_VERSION}")


async def authenticate(conn: AsyncConnection, params: Params, key: SecretKey, *,
                       token_auth: bool = True, address: str | None = None,
                       limits: ratelimit.Policy = _NO_LIMITS,
                       cache: CredentialCache | None = None) -> users.User:
    """Return the user the request's credentials identify, or raise AuthFailed / MissingParam.

    With `limits` (orbsonic.auth.ratelimit), failed logins are counted per user name and per
    client `address`: a blocked name or address raises ratelimit.LoginBlocked (error 40)
    before any password check, and wrong credentials raise ratelimit.SlowedFailure, whose
    `delay_s` the caller waits before answering (after releasing `conn`).

    With `cache` (orbsonic.auth.cache), credentials verified within its TTL are checked
    against the cached users row with no query at all; anything else takes the full path.
    """
    ckey = _cache_key(params) if cache is not None else None
    if cache is not None and ckey is not None:
        cached = cache.lookup(ckey)
        if cached is not None:
            try:
                return await _check_credentials(conn, params, key, token_auth, cached=cached)
            except AuthFailed:
                pass  # not these credentials after all: the full path counts the failure
        generation = cache.generation()
    api_key = params.get("apiKey")
    # The name the failures count against: none for an API key (only the address counts);
    # a name with NUL cannot be stored (PostgreSQL text) and names nobody.
    name = None if api_key is not None else (params.get("u") or "").replace("\x00", "") or None
    standing = await ratelimit.check(conn, limits, name, address)
    try:
        user = await _check_credentials(conn, params, key, token_auth)
    except AuthFailed as exc:
        if exc.reason not in _COUNTED:
            raise
        delay = await ratelimit.record_failure(conn, limits, name, address)
        raise ratelimit.SlowedFailure(exc, delay) from None
    if name is not None:
        await ratelimit.record_success(conn, limits, name, standing)
    if cache is not None and ckey is not None:
        cache.store(ckey, user, generation)
    return user


async def authenticate_cached(params: Params, key: SecretKey, *, token_auth: bool,
                              cache: CredentialCache | None) -> users.User | None:
    """The user of the request's credentials when they are in the credential cache and
    still check out (the constant-time comparison runs as in `authenticate`), else None —
    a miss, a mismatch or no cache: the caller then runs `authenticate`, which counts a
    failure and gives the exact error. Never touches the database."""
    if cache is None or (ckey := _cache_key(params)) is None:
        return None
    cached = cache.lookup(ckey)
    if cached is None:
        return None
    try:
        # conn is unused when `cached` is given: the row is the cached one
        return await _check_credentials(None, params, key, token_auth, cached=cached)  # type: ignore[arg-type]
    except (AuthFailed, MissingParam):
        return None


def _cache_key(params: Params) -> bytes | None:
    """The credential-cache key of a well-formed set of credentials, else None (conflicts
    and missing parts always take the full path, for their exact error)."""
    has_u, has_p, has_t, has_s = params.has("u"), params.has("p"), params.has("t"), params.has("s")
    api_key = params.get("apiKey")
    if api_key is not None:
        alone = api_key and not (has_u or has_p or has_t or has_s)
        return credential_key("k", "", api_key) if alone else None
    if not has_u:
        return None
    u = params.get("u") or ""
    if has_p and not (has_t or has_s):
        return credential_key("p", u, params.get("p") or "")
    if has_t and has_s and not has_p:
        return credential_key("t", u, params.get("t") or "", params.get("s") or "")
    return None


async def _check_credentials(conn: AsyncConnection, params: Params, key: SecretKey,
                             token_auth: bool, *, cached: users.User | None = None) -> users.User:
    """The user the credentials name, checked. `cached`: the row from the credential
    cache, used instead of a query (the password/token comparison runs all the same)."""
    api_key = params.get("apiKey")
    has_u, has_p = params.has("u"), params.has("p")
    has_t, has_s = params.has("t"), params.has("s")
    if api_key is not None:
        if has_u or has_p or has_t or has_s:
            raise AuthFailed("conflict", "Multiple conflicting authentication mechanisms provided")
        if cached is not None:
            return cached  # the key's digest is the cache key: it matched
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
    if cached is not None:
        user: users.User | None = cached
    else:
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
