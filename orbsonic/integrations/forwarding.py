"""Scrobble forwarding jobs: send the plays waiting in `scrobble_outbox` to ListenBrainz and
Last.fm, and now-playing notices (the request side is orbsonic/library/scrobbling.py).

* `scrobble.forward` (user_id): for each service, take the user's oldest unsent rows (a batch:
  ListenBrainz ≤ 1000, Last.fm ≤ 50) with `FOR UPDATE SKIP LOCKED`, so two workers never send
  the same play; send them; mark them sent in the same transaction. A transient failure (down,
  timeout, HTTP 5xx/429, garbage) records the error and raises, so procrastinate retries with
  exponential back-off (RETRY: 2, 4, 8 … 1024 s); a permanent one (a revoked token: HTTP 401,
  Last.fm error 9) keeps the rows for the sweep to retry after SWEEP_RETRY_S, when the user may
  have set a new token. Plays of a user who no longer forwards to a service (no credential, no
  scrobbling role, no Last.fm API key on the server) are dropped from the outbox.
* `scrobble.sweep` (every minute): queue `scrobble.forward` for users whose rows wait — new
  rows whose job was never queued (the server stopped between the play's commit and the
  deferral) and rows whose retries ran out — and forget rows sent more than KEEP_SENT_DAYS ago.
* `scrobble.now_playing` (user_id, track_id): one notice per service, retried twice, then dropped.

"Submitted once": a row is sent at most once per successful request — if the process dies
after the service accepted a batch and before the commit, that batch is sent again (both
services ignore an identical play sent twice).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import procrastinate
from psycopg import AsyncConnection

from orbsonic import jobs
from orbsonic.config import Settings
from orbsonic.integrations import lastfm, listenbrainz
from orbsonic.integrations.http import ProviderError, client
from orbsonic.library.scrobbling import FORWARD_TASK, NOW_PLAYING_TASK, SWEEP_TASK, credentials, queue_forward

log = logging.getLogger("orbsonic.scrobble")

RETRY = procrastinate.RetryStrategy(max_attempts=10, exponential_wait=2)
NOW_PLAYING_RETRY = procrastinate.RetryStrategy(max_attempts=2, wait=5)
SWEEP_RETRY_S = 15 * 60  # a row whose last attempt failed is queued again by the sweep after this
SWEEP_NEW_S = 30  # a new row the sweep queues (its own job should have taken it by then)
KEEP_SENT_DAYS = 7
BATCH = {"listenbrainz": listenbrainz.MAX_LISTENS, "lastfm": lastfm.SCROBBLE_BATCH}

_PENDING = """
SELECT o.track_id, o.played_at, t.title, t.artist_name, t.album_name, t.album_artist_name, t.duration_ms,
       t.track_no, t.mbid_recording
  FROM scrobble_outbox o LEFT JOIN tracks t ON t.id = o.track_id
 WHERE o.user_id = %(user)s AND o.service = %(service)s AND o.sent_at IS NULL
 ORDER BY o.played_at, o.track_id LIMIT %(n)s
   FOR UPDATE OF o SKIP LOCKED"""


def _settings() -> Settings:
    from orbsonic.config import load_settings

    return load_settings()


def _play(row: Any, started: datetime | None = None) -> lastfm.Play:
    played_at = started if started is not None else row[1]
    return lastfm.Play(artist=row[3] or "", title=row[2] or "", album=row[4] or "", album_artist=row[5] or "",
                       duration_s=int((row[6] or 0) // 1000), track_no=row[7], mbid=row[8] or "",
                       started_at=int(played_at.timestamp()))


def _configured(settings: Settings, service: str, token: str | None) -> bool:
    if not token:
        return False
    return service != "lastfm" or bool(settings.lastfm_api_key and settings.lastfm_api_secret)


async def _send(settings: Settings, service: str, token: str, plays: list[lastfm.Play]) -> None:
    async with client(settings.provider_timeout) as http:
        if service == "listenbrainz":
            await listenbrainz.submit(http, settings.listenbrainz_url, token, plays)
        else:
            await lastfm.scrobble(http, lastfm.Config(settings.lastfm_url, settings.lastfm_api_key,
                                                      settings.lastfm_api_secret), token, plays)


async def forward_user(conn: AsyncConnection, settings: Settings, user_id: int) -> int:
    """Send every unsent outbox row of a user, batch by batch, service by service; returns how
    many were sent. Raises ProviderError after a transient failure of a service (recorded on its
    rows), once the other service had its turn."""
    cred = await credentials(conn, user_id)
    await conn.commit()  # idle again: each batch below is a transaction of its own
    sent = 0
    retry: ProviderError | None = None
    for service in ("listenbrainz", "lastfm"):
        token = None if cred is None or not cred.enabled else (
            cred.listenbrainz_token if service == "listenbrainz" else cred.lastfm_session)
        while True:
            failure: ProviderError | None = None
            async with conn.transaction():
                cur = await conn.execute(_PENDING, {"user": user_id, "service": service, "n": BATCH[service]})
                rows = await cur.fetchall()
                if not rows:
                    break
                keys = ([r[0] for r in rows], [r[1] for r in rows])
                if not _configured(settings, service, token):
                    await conn.execute(
                        """DELETE FROM scrobble_outbox WHERE user_id = %s AND service = %s
                            AND (track_id, played_at) IN (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]))""",
                        (user_id, service, *keys))
                    log.info("user %s: %d play(s) not forwarded to %s (not configured any more)",
                             user_id, len(rows), service)
                    continue
                playable = [r for r in rows if r[2] is not None]  # a track gone since: nothing to name
                try:
                    await _send(settings, service, token or "", [_play(r) for r in playable])
                except ProviderError as exc:
                    failure = exc
                else:
                    await conn.execute(
                        """UPDATE scrobble_outbox SET sent_at = now(), attempts = attempts + 1, last_attempt_at = now(),
                                  last_error = NULL
                            WHERE user_id = %s AND service = %s
                              AND (track_id, played_at) IN (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[]))""",
                        (user_id, service, *keys))
                    sent += len(playable)
            if failure is not None:
                await conn.execute(
                    """UPDATE scrobble_outbox SET attempts = attempts + 1, last_attempt_at = now(), last_error = %s
                        WHERE user_id = %s AND service = %s AND sent_at IS NULL""",
                    (str(failure)[:500], user_id, service))
                await conn.commit()
                log.warning("user %s: forwarding to %s failed: %s", user_id, service, failure)
                if failure.transient:
                    retry = retry or failure  # the other service is not held up by this one
                break  # a permanent failure (a bad token) waits for the sweep
    if retry is not None:
        raise retry
    return sent


@jobs.task(FORWARD_TASK, queue="scrobble", pass_context=True, retry=RETRY)
async def forward(context: Any, user_id: int) -> int:
    """The `scrobble.forward` job: `forward_user` with the process's settings."""
    async with context.app.connector.pool.connection() as conn:
        return await forward_user(conn, _settings(), user_id)


@jobs.task(NOW_PLAYING_TASK, queue="scrobble", pass_context=True, retry=NOW_PLAYING_RETRY)
async def now_playing(context: Any, user_id: int, track_id: int) -> int:
    """The `scrobble.now_playing` job: tell each service the user forwards to; returns how many
    were told. Raises ProviderError (retried) when one fails."""
    settings = _settings()
    async with context.app.connector.pool.connection() as conn:
        cred = await credentials(conn, user_id)
        cur = await conn.execute("""SELECT id, now(), title, artist_name, album_name, album_artist_name, duration_ms,
                                           track_no, mbid_recording FROM tracks WHERE id = %s""", (track_id,))
        row = await cur.fetchone()
    if cred is None or not cred.enabled or row is None:
        return 0
    play = _play(row)
    told = 0
    async with client(settings.provider_timeout) as http:
        if _configured(settings, "listenbrainz", cred.listenbrainz_token):
            await listenbrainz.playing_now(http, settings.listenbrainz_url, cred.listenbrainz_token or "", play)
            told += 1
        if _configured(settings, "lastfm", cred.lastfm_session):
            await lastfm.now_playing(http, lastfm.Config(settings.lastfm_url, settings.lastfm_api_key,
                                                         settings.lastfm_api_secret), cred.lastfm_session or "", play)
            told += 1
    return told


@jobs.task(SWEEP_TASK, queue="scrobble", pass_context=True, cron="* * * * *")
async def sweep(context: Any, timestamp: int | None = None) -> int:
    """The `scrobble.sweep` job: queue the users whose rows wait; returns how many were queued."""
    async with context.app.connector.pool.connection() as conn:
        await conn.execute("DELETE FROM scrobble_outbox WHERE sent_at < now() - make_interval(days => %s)",
                           (KEEP_SENT_DAYS,))
        cur = await conn.execute(
            """SELECT DISTINCT user_id FROM scrobble_outbox
                WHERE sent_at IS NULL AND (last_attempt_at IS NULL AND created_at < now() - make_interval(secs => %s)
                                           OR last_attempt_at < now() - make_interval(secs => %s))""",
            (SWEEP_NEW_S, SWEEP_RETRY_S))
        users = [r[0] for r in await cur.fetchall()]
        await conn.commit()
    for user_id in users:
        await queue_forward(context.app, user_id)
    return len(users)
