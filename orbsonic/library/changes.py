"""The delta-sync change feed (issue 9 "Delta sync"; docs/native-api.md "Delta sync").

PostgreSQL triggers (schema/0015_changes.sql) append a row to `changes` for every insert,
update and delete of tracks, albums, artists, playlists (and their entries), stars and ratings,
in the same transaction as the change; the row's id is the sync token. `page` reads what a user
may see after a token; `prune` drops history older than the retention settings, after which an
older token is `SyncTokenExpired` (410 full-resync-needed).

Commit order: ids come from a sequence in call order, so a transaction may commit id 10 after
another committed 11. Each writing transaction holds a shared advisory lock keyed by the
sequence value it started from (`changes_claim()` in the migration); `horizon` is the highest
id no unfinished transaction can still commit below (the sequence's value read *before* the
locks, then the smallest locked value). A page never goes past it, so a token never skips a row
that commits later.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from orbsonic import jobs
from orbsonic.errors import SyncTokenExpired

log = logging.getLogger("orbsonic.sync")

KINDS = {1: "track", 2: "album", 3: "artist", 4: "playlist", 5: "star", 6: "rating"}
# annotations.kind → the public id prefix of the starred or rated item
ANNOTATED = {1: "tr", 2: "al", 3: "ar", 4: "dr"}
PREFIX = {1: "tr", 2: "al", 3: "ar", 4: "pl"}
MAX_TOKEN = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the feed: `kind` one of KINDS' names, `prefix`/`item_id` the changed item
    (for star/rating: the starred or rated item), `deleted` for a tombstone, `at` its time."""

    id: int
    kind: str
    prefix: str
    item_id: int
    deleted: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class ChangePage:
    """`changes` in token order with one entry per item (the latest); `token` to ask from next;
    `more` when the page was cut at `limit`."""

    changes: list[Change]
    token: int
    more: bool


async def horizon(conn: AsyncConnection) -> int:
    """The highest change id every reader may pass: no unfinished transaction can commit a row
    at or below it. Two statements, in this order (see the module docstring)."""
    cur = await conn.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM changes_id_seq")
    row = await cur.fetchone()
    assert row is not None
    seq = int(row[0])
    cur = await conn.execute(
        """SELECT min(-1 - ((l.classid::bigint << 32) | l.objid::bigint))
             FROM pg_locks l
            WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.classid >= 2147483648
              AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())""")
    row = await cur.fetchone()
    held = row[0] if row else None
    return seq if held is None else min(seq, int(held))


async def oldest_token(conn: AsyncConnection) -> int:
    """The oldest token still answered: everything up to it was pruned (0: nothing was)."""
    cur = await conn.execute("SELECT through FROM changes_pruned WHERE id = 1")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def current_token(conn: AsyncConnection) -> int:
    """The token a client takes before a full load: the changes after it are what it missed."""
    return await horizon(conn)


async def page(conn: AsyncConnection, user_id: int, folders: Sequence[int] | None, since: int,
               limit: int) -> ChangePage:
    """The changes after token `since` that user `user_id` may see, at most `limit` rows read
    (then deduplicated: the latest op per item). Stars and ratings are the user's own; tracks and
    albums outside `folders` (None: all folders) are not shown, nor artists with nothing in them
    (their tombstones are: a removed id reveals nothing); playlist upserts only of playlists
    the user may read. Raises SyncTokenExpired for a pruned token or one past the history."""
    oldest = await oldest_token(conn)
    top = await horizon(conn)
    cur = await conn.execute("SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM changes_id_seq")
    row = await cur.fetchone()
    issued = int(row[0]) if row else 0
    if since < oldest or since > issued:
        raise SyncTokenExpired(since, oldest)
    folder_list = list(folders) if folders is not None else None
    cur = await conn.execute(
        """SELECT c.id, c.kind, c.item_id, c.item_kind, c.deleted, c.at
             FROM changes c
            WHERE c.id > %(since)s AND c.id <= %(top)s
              AND (c.user_id IS NULL OR c.user_id = %(uid)s)
              AND (c.kind NOT IN (5, 6) OR c.user_id = %(uid)s)
              AND (%(folders)s::int[] IS NULL OR c.folder_id IS NULL OR c.folder_id = ANY(%(folders)s))
              AND (c.kind <> 3 OR c.deleted OR %(folders)s::int[] IS NULL
                   OR EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                               WHERE ta.artist_id = c.item_id AND t.folder_id = ANY(%(folders)s))
                   OR EXISTS (SELECT 1 FROM album_artists aa JOIN albums a ON a.id = aa.album_id
                               WHERE aa.artist_id = c.item_id AND a.folder_id = ANY(%(folders)s)))
              AND (c.kind <> 4 OR c.deleted
                   OR EXISTS (SELECT 1 FROM playlists p WHERE p.id = c.item_id
                                AND (p.owner_id = %(uid)s OR p.public OR EXISTS (
                                     SELECT 1 FROM playlist_users pu
                                      WHERE pu.playlist_id = p.id AND pu.user_id = %(uid)s))))
            ORDER BY c.id
            LIMIT %(limit)s""",
        {"since": since, "top": top, "uid": user_id, "folders": folder_list, "limit": limit})
    rows = await cur.fetchall()
    more = len(rows) == limit
    token = int(rows[-1][0]) if more else max(since, top)
    latest: dict[tuple[int, int | None, int], Change] = {}
    for cid, kind, item_id, item_kind, deleted, at in rows:
        prefix = ANNOTATED.get(item_kind, "tr") if kind in (5, 6) else PREFIX[kind]
        key = (kind, item_kind, item_id)
        latest.pop(key, None)  # re-insert: dict order is then the order of each item's last change
        latest[key] = Change(int(cid), KINDS[kind], prefix, int(item_id), bool(deleted), at)
    return ChangePage(list(latest.values()), token, more)


async def prune(conn: AsyncConnection, keep_days: int, keep_rows: int) -> int:
    """Delete changes older than `keep_days` days or beyond the newest `keep_rows` (0: no such
    limit) and remember the pruned horizon; returns how many rows went. One transaction."""
    async with conn.transaction():
        cur = await conn.execute(
            """SELECT greatest(
                      coalesce((SELECT max(id) FROM changes
                                 WHERE %(days)s > 0 AND at < now() - make_interval(days => %(days)s)), 0),
                      CASE WHEN %(rows)s > 0
                           THEN coalesce((SELECT id FROM changes ORDER BY id DESC OFFSET %(rows)s LIMIT 1), 0)
                           ELSE 0 END)""",
            {"days": keep_days, "rows": keep_rows})
        row = await cur.fetchone()
        through = int(row[0]) if row else 0
        if through <= 0:
            return 0
        cur = await conn.execute("DELETE FROM changes WHERE id <= %s", (through,))
        await conn.execute("UPDATE changes_pruned SET through = greatest(through, %s) WHERE id = 1",
                           (through,))
        return cur.rowcount


@jobs.task("sync.prune", queue="housekeeping", pass_context=True, cron="41 * * * *")
async def prune_job(context: Any, timestamp: int | None = None) -> None:
    """Hourly: prune the change log to `sync_keep_days` / `sync_keep_rows` (orbsonic/config.py),
    on the worker's own pool. Idempotent (a periodic task: `timestamp` is its scheduled time)."""
    from orbsonic.config import load_settings

    s = load_settings()
    async with context.app.connector.pool.connection() as conn:
        removed = await prune(conn, s.sync_keep_days, s.sync_keep_rows)
    if removed:
        log.info("sync: pruned %d old changes", removed)
