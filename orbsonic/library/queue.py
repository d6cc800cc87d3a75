"""The play queue: one per user, saved by id (savePlayQueue) or by index
(savePlayQueueByIndex, OpenSubsonic indexBasedQueue) into the same rows, read back in
either form (docs/subsonic-spec.md §2.8, §3 Bookmarks and play queue).

Entries are (index, track id) rows, duplicates allowed. `current_index` points into the
stored entries. Readers see only entries whose track is still in the library and in their
music folders; the current index is then counted among those, and is None when the
current entry itself is not visible.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection

from orbsonic.auth.users import User
from orbsonic.errors import IndexOutOfRange
from orbsonic.library.playlists import READABLE, folders_of, require_tracks

MAX_CLIENT = 200  # characters of the client name kept as changedBy


@dataclass(frozen=True, slots=True)
class PlayQueue:
    """A user's queue as that user sees it: track ids in order, `current_index` into them
    (None: no current entry), `position_ms` in the current track, `changed_by` the client."""

    track_ids: list[int]
    current_index: int | None
    position_ms: int
    changed_at: datetime
    changed_by: str


async def save(
    conn: AsyncConnection,
    user: User,
    track_ids: Sequence[int],
    current_index: int | None,
    position_ms: int,
    client: str,
) -> None:
    """Replace the user's queue. An empty `track_ids` clears it (current and position too).
    `current_index` must index `track_ids` when there are any (IndexOutOfRange otherwise);
    every track must be one the user may read (NotFound). All or nothing."""
    if track_ids and (current_index is None or not 0 <= current_index < len(track_ids)):
        raise IndexOutOfRange("currentIndex", f"{current_index} is not an index of the {len(track_ids)} ids")
    if not track_ids:
        current_index, position_ms = None, 0
    async with conn.transaction():
        await require_tracks(conn, user, track_ids)
        await conn.execute(
            """INSERT INTO play_queues (user_id, current_index, position_ms, changed_at, changed_by)
               VALUES (%s, %s, %s, now(), %s)
               ON CONFLICT (user_id) DO UPDATE SET current_index = excluded.current_index,
                   position_ms = excluded.position_ms, changed_at = excluded.changed_at,
                   changed_by = excluded.changed_by""",
            (user.id, current_index, max(0, position_ms), client[:MAX_CLIENT]),
        )
        await conn.execute("DELETE FROM play_queue_entries WHERE user_id = %s", (user.id,))
        if track_ids:
            await conn.execute(
                """INSERT INTO play_queue_entries (user_id, idx, track_id)
                   SELECT %s, n - 1, t FROM unnest(%s::bigint[]) WITH ORDINALITY AS x(t, n)""",
                (user.id, list(track_ids)),
            )


async def get(conn: AsyncConnection, user: User) -> PlayQueue:
    """The user's queue as they may see it. A user who never saved one gets an empty queue
    changed when the account was created (the response requires `changed`)."""
    cur = await conn.execute(
        "SELECT current_index, position_ms, changed_at, changed_by FROM play_queues WHERE user_id = %s",
        (user.id,),
    )
    head = await cur.fetchone()
    if head is None:
        return PlayQueue([], None, 0, user.created_at, "")
    current, position_ms, changed_at, changed_by = head
    cur = await conn.execute(
        f"""SELECT e.idx, e.track_id FROM play_queue_entries e JOIN tracks t ON t.id = e.track_id
             WHERE e.user_id = %(me)s AND {READABLE} ORDER BY e.idx""",
        {"me": user.id, "folders": folders_of(user)},
    )
    rows = await cur.fetchall()
    visible_index = next((n for n, (idx, _) in enumerate(rows) if idx == current), None)
    return PlayQueue(
        [t for _, t in rows],
        visible_index,
        position_ms if visible_index is not None else 0,
        changed_at,
        changed_by,
    )
