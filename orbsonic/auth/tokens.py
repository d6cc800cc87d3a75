"""Native API access tokens: short-lived JWTs (RFC 7519, HS256 via pyjwt) and refresh tokens.

An access token carries `sub` (the user id, as a string), `sid` (the session id,
orbsonic/auth/sessions.py), `iat`, `exp` (seconds since the epoch) and a random `jti`. It is
signed with a key derived from the server's SecretKey (HKDF, label ACCESS_LABEL), so every
worker and replica sharing the secret key verifies the same tokens, and no other use of that
key can produce one. A valid signature is not enough: the resolver (sessions.resolve) also
checks that the session is still live, on every request.

A refresh token is 256 random bits (URL-safe text); only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

import jwt

from orbsonic.auth.passwords import SecretKey

ACCESS_LABEL = "orbsonic native access token v1"
ALGORITHM = "HS256"
LEEWAY_S = 5  # clock skew between replicas, seconds
_REQUIRED = ["sub", "sid", "exp", "iat", "jti"]


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """The verified claims of an access token: user id, session id, expiry (epoch seconds)."""

    user_id: int
    session_id: str
    expires: int


def signing_key(key: SecretKey) -> bytes:
    """The HS256 key of access tokens, derived from the server key."""
    return key.derive(ACCESS_LABEL)


def issue_access(key: SecretKey, user_id: int, session_id: str, ttl_s: int, *,
                 now: float | None = None) -> str:
    """A signed access token for `session_id` valid `ttl_s` seconds from `now` (default: the
    current time; tests pass another to mint expired tokens)."""
    iat = int(time.time() if now is None else now)
    claims = {"sub": str(user_id), "sid": session_id, "iat": iat, "exp": iat + ttl_s,
              "jti": secrets.token_urlsafe(12)}
    return jwt.encode(claims, signing_key(key), algorithm=ALGORITHM)


def looks_like_jwt(credential: str) -> bool:
    """True when `credential` has the three dot-separated parts of a compact JWS (API keys,
    43 URL-safe characters, never contain a dot)."""
    return credential.count(".") == 2


def verify_access(key: SecretKey, token: str) -> AccessClaims | None:
    """The claims of a well-signed, unexpired access token, else None (a bad signature, another
    key, another algorithm, `alg: none`, a missing claim, an expired token, garbage)."""
    try:
        claims = jwt.decode(token, signing_key(key), algorithms=[ALGORITHM], leeway=LEEWAY_S,
                            options={"require": _REQUIRED})
        sub, sid = claims["sub"], claims["sid"]
        if not (isinstance(sub, str) and sub.isascii() and sub.isdigit() and len(sub) <= 10):
            return None
        if not isinstance(sid, str) or len(sid) > 64:
            return None
        return AccessClaims(int(sub), sid, int(claims["exp"]))
    except (jwt.PyJWTError, ValueError, TypeError, KeyError):
        return None


def new_refresh() -> str:
    """A fresh refresh token: 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def refresh_digest(token: str) -> bytes:
    """SHA-256 of a refresh token, the only form stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()
