"""Now playing: what each player (a user + client name) is playing, for getNowPlaying, fed by
`scrobble submission=false` and OpenSubsonic `reportPlayback` (docs/subsonic-spec.md §3, §4
playbackReport).

The state is a row per player in PostgreSQL (table now_playing), so every worker and replica
answers alike. Reports are ordered by the database clock at the start of the request's
transaction: a report that started before the one already stored (a slow request overtaken
by a newer one) is ignored. Entries expire after the track's remaining time (at the
reported rate) plus a margin: 30 minutes for reportPlayback ("stops listening 30 minutes
after the expected end"), a few minutes for a bare scrobble notice, which nothing ends.

reportPlayback sessions count a play on `stopped` (or when the player moves to another
track) once the time spent `playing` reaches half the track or 4 minutes (the Last.fm rule
most clients use for scrobble); the play is recorded at the session start, so a repeated
report cannot count it twice. A session in which any report says ignoreScrobble=true never
counts (the client scrobbles by itself), nor does one begun by a `scrobble` notice.

A player plays a `Media`: a track, or a podcast episode (OpenSubsonic `mediaType=podcast`,
or a `pe-` id given to `scrobble`). Episodes are one server-wide list, outside the music
folders, so every user may report them; their plays go to podcast_play_history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.errors import BadParam, NotFound
from orbsonic.library import plays

STATES = ("starting", "playing", "paused", "stopped")
REPORT_MARGIN = timedelta(minutes=30)
NOTICE_MARGIN = timedelta(minutes=5)
SCROBBLE_AFTER_MS = 240_000  # or half the track, whichever is less
MIN_SCROBBLE_TRACK_MS = 30_000  # Last.fm: shorter tracks are never scrobbled
MAX_RATE = 16.0
STALE_PLAYER = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Media:
    """What a player plays: a track (`episode` False) or a podcast episode, by internal id."""

    id: int
    episode: bool = False

    @property
    def columns(self) -> tuple[int | None, int | None]:
        """(track_id, episode_id) as the now_playing row stores it."""
        return (None, self.id) if self.episode else (self.id, None)


@dataclass(frozen=True, slots=True)
class Player:
    """A now_playing row (times are the database's)."""

    id: int
    user_id: int
    client: str
    track_id: int | None
    episode_id: int | None
    state: str
    position_ms: int
    playback_rate: float
    reported_at: datetime
    session_start: datetime
    listened_ms: int
    scrobbled: bool
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Entry:
    """A live getNowPlaying entry: the player, its user name, and the position extrapolated
    to now (ms) while playing."""

    player_id: int
    username: str
    client: str
    track_id: int | None
    episode_id: int | None
    state: str
    position_ms: int
    playback_rate: float
    minutes_ago: int


def _media_of(prev: Player) -> Media:
    if prev.episode_id is not None:
        return Media(prev.episode_id, True)
    assert prev.track_id is not None
    return Media(prev.track_id)


async def _duration(conn: AsyncConnection, media: Media, user_folders: Sequence[int] | None) -> int:
    """The length of `media` in ms (0: unknown). Raises NotFound for an unknown episode, or
    a track that is unknown or outside `user_folders`."""
    if media.episode:
        cur = await conn.execute("""SELECT coalesce(duration_ms, feed_duration_s::bigint * 1000)
                                      FROM podcast_episodes WHERE id = %s""", (media.id,))
        row = await cur.fetchone()
        if row is None:
            raise NotFound("podcast episode", media.id)
        return int(row[0] or 0)
    if not await plays.readable_tracks(conn, [media.id], user_folders):
        raise NotFound("song", media.id)
    cur = await conn.execute("SELECT duration_ms FROM tracks WHERE id = %s", (media.id,))
    row = await cur.fetchone()
    return int(row[0] or 0) if row else 0


async def _record(conn: AsyncConnection, user_id: int, media: Media, at: datetime, client: str,
                  user_folders: Sequence[int] | None) -> None:
    if media.episode:
        await plays.record_episodes(conn, user_id, [(media.id, at)], client=client)
    else:
        await plays.record(conn, user_id, [(media.id, at)], client=client, user_folders=user_folders)


async def _now(conn: AsyncConnection) -> datetime:
    cur = await conn.execute("SELECT now()")  # the transaction's start: the report's time
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def _locked(conn: AsyncConnection, user_id: int, client: str) -> Player | None:
    async with conn.cursor(row_factory=class_row(Player)) as cur:
        await cur.execute(
            """SELECT id, user_id, client, track_id, episode_id, state, position_ms, playback_rate,
                      reported_at, session_start, listened_ms, scrobbled, expires_at
                 FROM now_playing WHERE user_id = %s AND client = %s FOR UPDATE""", (user_id, client))
        return await cur.fetchone()


def _listened(prev: Player, now: datetime) -> int:
    """Time spent playing in prev's session up to now (ms of media, at its rate)."""
    extra = 0
    if prev.state == "playing":
        extra = int(max(0.0, (now - prev.reported_at).total_seconds()) * 1000 * prev.playback_rate)
    return prev.listened_ms + extra


def _worth_a_play(listened_ms: int, duration_ms: int) -> bool:
    if duration_ms and duration_ms < MIN_SCROBBLE_TRACK_MS:
        return False
    threshold = min(duration_ms // 2, SCROBBLE_AFTER_MS) if duration_ms else SCROBBLE_AFTER_MS
    return listened_ms >= threshold


async def _upsert(conn: AsyncConnection, user_id: int, client: str, media: Media, state: str,
                  position_ms: int, rate: float, now: datetime, session_start: datetime,
                  listened_ms: int, scrobbled: bool, expires_at: datetime) -> None:
    # Players are keyed by client name, and names change ("Symfonium 10.1" → "10.2"): the
    # user's players silent for a week go, so the table stays one row per live player.
    await conn.execute("DELETE FROM now_playing WHERE user_id = %s AND client <> %s AND expires_at < %s",
                       (user_id, client, now - STALE_PLAYER))
    await conn.execute(
        """INSERT INTO now_playing (user_id, client, track_id, episode_id, state, position_ms, playback_rate,
                                    reported_at, session_start, listened_ms, scrobbled, expires_at)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT (user_id, client) DO UPDATE
           SET track_id = excluded.track_id, episode_id = excluded.episode_id, state = excluded.state,
               position_ms = excluded.position_ms,
               playback_rate = excluded.playback_rate, reported_at = excluded.reported_at,
               session_start = excluded.session_start, listened_ms = excluded.listened_ms,
               scrobbled = excluded.scrobbled, expires_at = excluded.expires_at
           WHERE now_playing.reported_at <= excluded.reported_at""",
        (user_id, client, *media.columns, state, position_ms, rate, now, session_start, listened_ms,
         scrobbled, expires_at))


def _expiry(now: datetime, state: str, duration_ms: int, position_ms: int, rate: float,
            margin: timedelta) -> datetime:
    if state == "stopped":
        return now
    if state == "paused":
        return now + margin
    remaining_ms = max(0, duration_ms - position_ms) / max(rate, 0.01)
    return now + timedelta(milliseconds=remaining_ms) + margin


async def notice(conn: AsyncConnection, user_id: int, client: str, media: Media | int, *,
                 user_folders: Sequence[int] | None = None) -> None:
    """`scrobble submission=false`: the player started `media` (a bare int: a track id) now.
    Raises NotFound."""
    media = media if isinstance(media, Media) else Media(media)
    duration = await _duration(conn, media, user_folders)
    async with conn.transaction():
        now = await _now(conn)
        prev = await _locked(conn, user_id, client)
        if prev is not None and prev.reported_at > now:
            return  # a newer report is already stored
        await _upsert(conn, user_id, client, media, "playing", 0, 1.0, now, now, 0, True,
                      _expiry(now, "playing", duration, 0, 1.0, NOTICE_MARGIN))


async def report(conn: AsyncConnection, user_id: int, client: str, media: Media | int, state: str,
                 position_ms: int, playback_rate: float = 1.0, *, ignore_scrobble: bool = False,
                 user_folders: Sequence[int] | None = None) -> bool:
    """OpenSubsonic reportPlayback. Returns False when the report was older than the stored
    one and was ignored. `media`: a bare int is a track id. Raises BadParam (state, position,
    rate) or NotFound (track, episode)."""
    media = media if isinstance(media, Media) else Media(media)
    if state not in STATES:
        raise BadParam("state", f"must be one of {', '.join(STATES)}")
    if position_ms < 0:
        raise BadParam("positionMs", "must not be negative")
    if not 0 < playback_rate <= MAX_RATE:
        raise BadParam("playbackRate", f"must be above 0 and at most {MAX_RATE:g}")
    duration = await _duration(conn, media, user_folders)
    async with conn.transaction():
        now = await _now(conn)
        prev = await _locked(conn, user_id, client)
        if prev is not None and prev.reported_at > now:
            return False
        # The same session goes on unless the song changes, restarts, or plays again after
        # `stopped` (a repeated `stopped` is the same finished session).
        same = (prev is not None and _media_of(prev) == media and state != "starting"
                and (prev.state != "stopped" or state == "stopped"))
        if prev is not None and not same and not prev.scrobbled and prev.state != "stopped":
            # The player moved on without `stopped`: finish its previous session.
            await _finish(conn, prev, _listened(prev, now), user_folders)
        if same and prev is not None:
            session_start, listened, scrobbled = prev.session_start, _listened(prev, now), prev.scrobbled
        else:
            session_start, listened, scrobbled = now, 0, ignore_scrobble
        if state == "stopped" and not scrobbled:
            if not ignore_scrobble and _worth_a_play(listened, duration):
                await _record(conn, user_id, media, session_start, client, user_folders)
            scrobbled = True
        await _upsert(conn, user_id, client, media, state, position_ms, playback_rate, now, session_start,
                      listened, scrobbled or ignore_scrobble,
                      _expiry(now, state, duration, position_ms, playback_rate, REPORT_MARGIN))
    return True


async def _finish(conn: AsyncConnection, prev: Player, listened_ms: int,
                  user_folders: Sequence[int] | None) -> None:
    media = _media_of(prev)
    try:
        duration = await _duration(conn, media, None)
    except NotFound:  # the track or episode went away meanwhile: nothing to count
        return
    if _worth_a_play(listened_ms, duration):
        with contextlib.suppress(NotFound):  # outside the user's folders now
            await _record(conn, prev.user_id, media, prev.session_start, prev.client, user_folders)


async def entries(conn: AsyncConnection, user_folders: Sequence[int] | None = None) -> list[Entry]:
    """Live entries of every user, most recently updated first (index now_playing_live);
    tracks outside `user_folders` (the viewer's folders, None = all) are left out, podcast
    episodes (outside every folder) are shown to all."""
    folder = ("" if user_folders is None
              else " AND (n.episode_id IS NOT NULL OR t.folder_id = ANY(%(folders)s))")
    async with conn.cursor(row_factory=class_row(Entry)) as cur:
        await cur.execute(
            f"""SELECT n.id AS player_id, u.username, n.client, n.track_id, n.episode_id, n.state,
                       CASE WHEN n.state = 'playing'
                            THEN least(greatest(coalesce(t.duration_ms, e.duration_ms,
                                                         e.feed_duration_s::bigint * 1000), n.position_ms),
                                       n.position_ms + (extract(epoch FROM now() - n.reported_at) * 1000
                                                        * n.playback_rate)::bigint)
                            ELSE n.position_ms END AS position_ms,
                       n.playback_rate,
                       floor(extract(epoch FROM now() - n.reported_at) / 60)::int AS minutes_ago
                  FROM now_playing n JOIN users u ON u.id = n.user_id
                  LEFT JOIN tracks t ON t.id = n.track_id LEFT JOIN podcast_episodes e ON e.id = n.episode_id
                 WHERE n.expires_at > now() AND (t.id IS NOT NULL OR e.id IS NOT NULL) {folder}
                 ORDER BY n.reported_at DESC, n.id DESC""",
            {"folders": list(user_folders) if user_folders is not None else None})
        return await cur.fetchall()
