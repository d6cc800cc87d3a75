"""Login rate limiting: failed logins per user name and per client address.

Shared by every worker and replica (the counts live in PostgreSQL, table `login_failures`,
schema/0003), and by every login surface: the Subsonic API calls it from
subsonic_api/auth.py, the native API login can call the same three functions.

Policy (issue 6 §2), with `max_failures`, `lockout_s` and `delay_step_ms` from the settings:

* a failure counts for the user name (when one was given) and for the client address; a
  failure more than `lockout_s` after the previous one for the same key starts again at 1;
* the answer to the n-th consecutive failure is slowed by (n − 1) × `delay_step_ms`, at most
  MAX_DELAY_S — the caller waits *after* releasing its database connection;
* once a user name or an address has `max_failures` failures, every login for it is refused
  (still "wrong credentials", error 40 in Subsonic), even with the right password, until
  `lockout_s` after the last failure. Refused attempts are not counted and cost no password
  check;
* a successful login is never slowed, and forgets the user name's failures (not the
  address's: an attacker's own account must not reset the counter of their address).

`max_failures = 0` turns the limiter off (no queries at all).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection

from orbsonic.errors import AuthFailed

MAX_DELAY_S = 3.0


@dataclass(frozen=True)
class Policy:
    """Limits: `max_failures` (0 = off), `lockout_s` (seconds), `delay_step_ms` (ms)."""

    max_failures: int = 10
    lockout_s: int = 900
    delay_step_ms: int = 250

    @property
    def enabled(self) -> bool:
        return self.max_failures > 0


@dataclass(frozen=True)
class Standing:
    """What `check` found: the consecutive failures of the user name and of the address."""

    user_failures: int = 0
    address_failures: int = 0


class LoginBlocked(AuthFailed):
    """Refused without checking the password: too many recent failures for the user name
    or the address. Reason "wrong_credentials", so clients see an ordinary wrong login."""

    def __init__(self) -> None:
        super().__init__("wrong_credentials",
                         "Wrong username or password (too many failed logins: try again later)")


class SlowedFailure(AuthFailed):
    """A failed login whose answer must wait `delay_s` seconds (same reason and message)."""

    def __init__(self, failure: AuthFailed, delay_s: float) -> None:
        super().__init__(failure.reason, str(failure))
        self.delay_s = delay_s


MAX_SUBJECT = 200  # characters of a name kept as key: a btree entry must stay < 2.7 KB


def _keys(username: str | None, address: str | None) -> list[tuple[str, str]]:
    # A name longer than MAX_SUBJECT names no user; cut, it still counts (as one name).
    keys = []
    if username:
        keys.append(("user", username[:MAX_SUBJECT]))
    if address:
        keys.append(("address", address[:MAX_SUBJECT]))
    return keys


async def check(conn: AsyncConnection, policy: Policy, username: str | None,
                address: str | None) -> Standing:
    """Raise LoginBlocked when the user name or the address has reached `max_failures`
    within the lockout; else return the current counts (one indexed query, none when off)."""
    keys = _keys(username, address)
    if not policy.enabled or not keys:
        return Standing()
    cur = await conn.execute(
        "SELECT scope, failures FROM login_failures"
        " WHERE (scope, subject) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
        " AND last_at > now() - make_interval(secs => %s)",
        ([k[0] for k in keys], [k[1] for k in keys], policy.lockout_s))
    counts = {scope: n for scope, n in await cur.fetchall()}
    if max(counts.values(), default=0) >= policy.max_failures:
        raise LoginBlocked()
    return Standing(counts.get("user", 0), counts.get("address", 0))


async def record_failure(conn: AsyncConnection, policy: Policy, username: str | None,
                         address: str | None) -> float:
    """Count one failed login for the user name and the address; return how long (seconds)
    the answer should wait. Commits the connection's transaction, so that the count
    survives the rollback of the failed request."""
    keys = _keys(username, address)
    if not policy.enabled or not keys:
        return 0.0
    args = {"scopes": [k[0] for k in keys], "subjects": [k[1] for k in keys], "lockout": policy.lockout_s}
    cur = await conn.execute(
        "INSERT INTO login_failures AS f (scope, subject, failures, last_at)"
        " SELECT scope, subject, 1, now() FROM unnest(%(scopes)s::text[], %(subjects)s::text[])"
        "   AS k(scope, subject)"
        " ON CONFLICT (scope, subject) DO UPDATE SET last_at = now(), failures = CASE"
        "   WHEN f.last_at > now() - make_interval(secs => %(lockout)s) THEN f.failures + 1 ELSE 1 END"
        " RETURNING failures", args)
    worst = max((r[0] for r in await cur.fetchall()), default=1)
    # Forget expired rows. After the upsert and SKIP LOCKED: this statement never waits,
    # so it cannot deadlock with a concurrent failure for one of those rows.
    await conn.execute(
        "DELETE FROM login_failures WHERE ctid IN (SELECT ctid FROM login_failures"
        " WHERE last_at < now() - make_interval(secs => %(lockout)s) LIMIT 100 FOR UPDATE SKIP LOCKED)", args)
    if worst >= policy.max_failures:
        # A lockout begins: every worker's credential cache stops answering hits for it, so
        # that credentials verified before the lockout are refused too (orbsonic/auth/cache.py).
        await conn.execute("SELECT pg_notify('orbsonic_auth', %s)", (f"lockout:{policy.lockout_s}",))
    await conn.commit()
    return min((worst - 1) * policy.delay_step_ms / 1000, MAX_DELAY_S)


async def record_success(conn: AsyncConnection, policy: Policy, username: str,
                         standing: Standing) -> None:
    """Forget the user name's failures after a successful login (a no-op, no query, when
    `check` found none)."""
    if policy.enabled and standing.user_failures:
        await conn.execute("DELETE FROM login_failures WHERE scope = 'user' AND subject = %s",
                           (username[:MAX_SUBJECT],))
