"""Play history: one row per play (user, track, time, client), and the play counts derived
from it (scrobble submission=true, reportPlayback sessions; docs/subsonic-spec.md §3).

The history's primary key (user, track, time) makes a re-sent identical scrobble — an
offline batch sent twice — count once. The per-user play_count/last_played of the track,
its album, its folder and its artists (annotations kinds 1, 2, 4, 3) grow only by the
rows actually inserted, in the same statement, so the frequent/recent lists that walk the
annotations indexes always agree with the history. The same statement queues the new plays
for forwarding (scrobble_outbox), so a forward is never lost nor queued twice.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from psycopg import AsyncConnection

from orbsonic.errors import NotFound
from orbsonic.library.scrobbling import OUTBOX_SQL

# One statement: insert the plays that are new, then add exactly those to the counters.
# Artists count once per play even when they are both artist and album artist.
_RECORD = """
WITH input AS (
    SELECT DISTINCT i.track_id, i.played_at
      FROM unnest(%(tracks)s::bigint[], %(times)s::timestamptz[]) AS i(track_id, played_at)),
ins AS (
    INSERT INTO play_history (user_id, track_id, played_at, client)
    SELECT %(user)s, track_id, played_at, %(client)s FROM input ORDER BY track_id, played_at
    ON CONFLICT DO NOTHING
    RETURNING track_id, played_at),
items AS (
    SELECT 1 AS kind, t.id AS item_id, ins.played_at FROM ins JOIN tracks t ON t.id = ins.track_id
    UNION ALL
    SELECT 2, t.album_id, ins.played_at FROM ins JOIN tracks t ON t.id = ins.track_id
    UNION ALL
    SELECT 4, t.directory_id, ins.played_at FROM ins JOIN tracks t ON t.id = ins.track_id
    UNION ALL
    SELECT 3, x.artist_id, x.played_at
      FROM (SELECT DISTINCT ins.track_id, ins.played_at, ta.artist_id
              FROM ins JOIN track_artists ta ON ta.track_id = ins.track_id
             WHERE ta.role IN ('artist', 'albumartist')) x),
counted AS (
    INSERT INTO annotations (user_id, kind, item_id, play_count, last_played)
    SELECT %(user)s, kind, item_id, count(*), max(played_at) FROM items
     GROUP BY kind, item_id ORDER BY kind, item_id
    ON CONFLICT (user_id, kind, item_id) DO UPDATE
    SET play_count = annotations.play_count + excluded.play_count,
        last_played = greatest(annotations.last_played, excluded.last_played)
    RETURNING 1),
""" + OUTBOX_SQL + """
SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM counted), (SELECT count(*) FROM outbox)
"""


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record` did: `added` new plays, `repeated` plays already in the history,
    `unknown` track ids that name no (readable) track and were skipped, `forwards` rows
    queued in the scrobble outbox (orbsonic/library/scrobbling.py)."""

    added: int
    repeated: int
    unknown: tuple[int, ...]
    forwards: int = 0


def play_time(ms: int | None, now: float | None = None) -> datetime:
    """A play time from a client's `time` (ms since the epoch). Values that look like
    seconds are scaled (SubMusic #108); times in the future or missing become now
    (navidrome 6a87fc88f)."""
    now = time.time() if now is None else now
    if ms is None or ms <= 0:
        ts = now
    else:
        ts = ms / 1000 if ms > 100_000_000_000 else float(ms)
        if ts > now:
            ts = now
    return datetime.fromtimestamp(ts, UTC)


async def readable_tracks(conn: AsyncConnection, track_ids: Sequence[int],
                          user_folders: Sequence[int] | None) -> set[int]:
    """The ids among `track_ids` that exist in a music folder the user may read
    (`user_folders` None = all)."""
    if not track_ids:
        return set()
    if user_folders is None:
        cur = await conn.execute("SELECT id FROM tracks WHERE id = ANY(%s)", (list(track_ids),))
    else:
        cur = await conn.execute("SELECT id FROM tracks WHERE id = ANY(%s) AND folder_id = ANY(%s)",
                                 (list(track_ids), list(user_folders)))
    return {r[0] for r in await cur.fetchall()}


async def record(conn: AsyncConnection, user_id: int, plays: Sequence[tuple[int, datetime]], *,
                 client: str = "", user_folders: Sequence[int] | None = None) -> Recorded:
    """Record plays (track id, time) of a user, in one transaction.

    Unknown tracks (or tracks outside `user_folders`) are skipped and reported, so that one
    removed track does not fail a whole offline batch; when no play names a known track,
    nothing is written and NotFound is raised (error 70). A play already in the history
    (same user, track and time) is not counted again.
    """
    if not plays:
        return Recorded(0, 0, ())
    known = await readable_tracks(conn, [t for t, _ in plays], user_folders)
    unknown = tuple(dict.fromkeys(t for t, _ in plays if t not in known))
    keep = list(dict.fromkeys((t, at) for t, at in plays if t in known))
    if not keep:
        raise NotFound("song", unknown[0] if unknown else None)
    async with conn.transaction():
        cur = await conn.execute(_RECORD, {"user": user_id, "client": client[:200],
                                           "tracks": [t for t, _ in keep], "times": [at for _, at in keep]})
        row = await cur.fetchone()
    added = int(row[0]) if row else 0
    return Recorded(added, len(keep) - added, unknown, int(row[2]) if row else 0)


async def record_episodes(conn: AsyncConnection, user_id: int, plays: Sequence[tuple[int, datetime]], *,
                          client: str = "") -> Recorded:
    """Record plays (podcast episode id, time) of a user in podcast_play_history; unknown
    episodes are skipped and reported (NotFound when none is known), a play already there
    (same user, episode and time) is not counted again. Episodes are not forwarded."""
    if not plays:
        return Recorded(0, 0, ())
    cur = await conn.execute("SELECT id FROM podcast_episodes WHERE id = ANY(%s)", ([e for e, _ in plays],))
    known = {r[0] for r in await cur.fetchall()}
    unknown = tuple(dict.fromkeys(e for e, _ in plays if e not in known))
    keep = list(dict.fromkeys((e, at) for e, at in plays if e in known))
    if not keep:
        raise NotFound("podcast episode", unknown[0] if unknown else None)
    async with conn.transaction():
        cur = await conn.execute(
            """INSERT INTO podcast_play_history (user_id, episode_id, played_at, client)
               SELECT %s, e, at, %s FROM unnest(%s::bigint[], %s::timestamptz[]) AS i(e, at) ORDER BY e, at
               ON CONFLICT DO NOTHING""",
            (user_id, client[:200], [e for e, _ in keep], [at for _, at in keep]))
    added = max(0, cur.rowcount)
    return Recorded(added, len(keep) - added, unknown)


async def episode_history(conn: AsyncConnection, user_id: int,
                          limit: int = 50) -> list[tuple[int, datetime, str]]:
    """The user's latest episode plays, newest first: (episode id, time, client)."""
    cur = await conn.execute(
        "SELECT episode_id, played_at, client FROM podcast_play_history WHERE user_id = %s"
        " ORDER BY played_at DESC, episode_id DESC LIMIT %s", (user_id, limit))
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]


async def history(conn: AsyncConnection, user_id: int, limit: int = 50) -> list[tuple[int, datetime, str]]:
    """The user's latest plays, newest first: (track id, time, client) (index play_history_recent)."""
    cur = await conn.execute(
        "SELECT track_id, played_at, client FROM play_history WHERE user_id = %s"
        " ORDER BY played_at DESC, track_id DESC LIMIT %s", (user_id, limit))
    return [(r[0], r[1], r[2]) for r in await cur.fetchall()]
