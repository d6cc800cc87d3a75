"""Scrobble forwarding, the request side: per-user credentials of ListenBrainz and Last.fm,
the durable outbox of plays to forward, and queueing the jobs that send them
(orbsonic/integrations/forwarding.py).

* A play is forwarded when its user holds the scrobbling role (`scrobblingEnabled`) and a
  ListenBrainz token or a Last.fm session key. `plays.record` writes one `scrobble_outbox` row
  per play and service **in the same transaction as the play** (OUTBOX_SQL), so a restart loses
  nothing; a play a client sends twice is not in play_history twice, so it is never queued twice.
* After the commit the `scrobble.forward` job of the user is queued (one waiting per user: a
  queueing lock). If that fails, or the server stops first, the `scrobble.sweep` job (every
  minute) queues users whose rows wait. A forward that fails never fails the scrobble.
* A now-playing notice (`scrobble submission=false`) queues `scrobble.now_playing`, which is
  retried briefly and then dropped (a late "now playing" is worthless).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from orbsonic import jobs
from orbsonic.errors import BadParam, NotFound

log = logging.getLogger("orbsonic.scrobble")

FORWARD_TASK, NOW_PLAYING_TASK, SWEEP_TASK = "scrobble.forward", "scrobble.now_playing", "scrobble.sweep"
SERVICES = ("listenbrainz", "lastfm")
MAX_CREDENTIAL = 200

# Appended to plays.record's statement (its `ins` CTE holds the plays actually inserted).
OUTBOX_SQL = """
outbox AS (
    INSERT INTO scrobble_outbox (user_id, service, track_id, played_at)
    SELECT %(user)s, s.service, ins.track_id, ins.played_at FROM ins
     CROSS JOIN (SELECT 'listenbrainz' AS service FROM users
                  WHERE id = %(user)s AND can_scrobble AND listenbrainz_token IS NOT NULL
                 UNION ALL
                 SELECT 'lastfm' FROM users WHERE id = %(user)s AND can_scrobble AND lastfm_session IS NOT NULL) s
     ORDER BY 2, 3, 4
    ON CONFLICT DO NOTHING
    RETURNING 1)"""


@dataclass(frozen=True, slots=True)
class Credentials:
    """A user's scrobble credentials (None: not set) and whether the user may scrobble."""

    user_id: int
    enabled: bool
    listenbrainz_token: str | None
    lastfm_session: str | None

    @property
    def any(self) -> bool:
        return self.enabled and bool(self.listenbrainz_token or self.lastfm_session)


def _clean(name: str, value: str | None) -> str | None:
    """"" clears a credential; otherwise printable ASCII without spaces, ≤ MAX_CREDENTIAL."""
    if value is None:
        return None
    value = value.strip()
    if value and (len(value) > MAX_CREDENTIAL or not value.isascii() or not value.isprintable() or " " in value):
        raise BadParam(name, "must be printable ASCII without spaces, at most 200 characters")
    return value


async def set_credentials(conn: AsyncConnection, username: str, *, listenbrainz_token: str | None = None,
                          lastfm_session: str | None = None) -> Credentials:
    """Set (a value), clear ("") or keep (None) a user's ListenBrainz token and Last.fm session
    key. Raises NotFound (unknown user), BadParam (malformed value)."""
    lb = _clean("listenbrainzToken", listenbrainz_token)
    fm = _clean("lastfmSession", lastfm_session)
    cur = await conn.execute(
        """UPDATE users SET
               listenbrainz_token = CASE WHEN %(lb)s::text IS NULL THEN listenbrainz_token ELSE nullif(%(lb)s, '') END,
               lastfm_session = CASE WHEN %(fm)s::text IS NULL THEN lastfm_session ELSE nullif(%(fm)s, '') END
            WHERE username = %(u)s RETURNING id, can_scrobble, listenbrainz_token, lastfm_session""",
        {"lb": lb, "fm": fm, "u": username})
    row = await cur.fetchone()
    if row is None:
        raise NotFound("user", username)
    await conn.commit()
    return Credentials(*row)


async def credentials(conn: AsyncConnection, user_id: int) -> Credentials | None:
    """A user's credentials, or None for an unknown user."""
    cur = await conn.execute("SELECT id, can_scrobble, listenbrainz_token, lastfm_session FROM users WHERE id = %s",
                             (user_id,))
    row = await cur.fetchone()
    return Credentials(*row) if row else None


async def queue_forward(app: Any, user_id: int) -> None:
    """Queue the user's `scrobble.forward` job (unless one waits already). Failures are logged:
    the outbox rows are there, and the sweep queues them."""
    if app is None:
        return
    try:
        await jobs.defer(app, FORWARD_TASK, queueing_lock=f"{FORWARD_TASK}:{user_id}", user_id=user_id)
    except Exception as exc:  # noqa: BLE001
        log.warning("cannot queue the scrobble forward of user %s (the sweep will): %s", user_id, exc)


async def queue_now_playing(conn: AsyncConnection, app: Any, user_id: int, track_id: int) -> None:
    """Queue a now-playing notice for services the user forwards to (nothing when none)."""
    cred = await credentials(conn, user_id)
    if app is None or cred is None or not cred.any:
        return
    try:
        await jobs.defer(app, NOW_PLAYING_TASK, user_id=user_id, track_id=track_id)
    except Exception as exc:  # noqa: BLE001
        log.warning("cannot queue a now-playing notice of user %s: %s", user_id, exc)
