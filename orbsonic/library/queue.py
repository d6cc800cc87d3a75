"""The play queue: one per user, saved by id (savePlayQueue) or by index
(savePlayQueueByIndex, OpenSubsonic indexBasedQueue) into the same rows, read back in
either form (docs/subsonic-spec.md §2.8, §3 Bookmarks and play queue).

Entries are (index, track id) rows, duplicates allowed. `current_index` points into the
stored entries. Readers see only entries whose track is still in the library and in their
music folders; the current index is then counted among those, and is None when the
current entry itself is not visible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from orbsonic.auth.users import User
from orbsonic.errors import IndexOutOfRange
from orbsonic.library import pages, tracks
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
        f"""SELECT e.idx, e.track_id FROM play_queue_entries e {tracks.probe("e.track_id")}
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


async def get_with_songs(conn: AsyncConnection, user: User) -> tuple[PlayQueue, list[dict[str, Any]]]:
    """`get` and the visible entries' track rows (tracks.hydrate's columns, one per entry)
    in one statement (orbsonic.library.pages.play_queue), for getPlayQueue(ByIndex)."""
    found = await pages.play_queue(conn, user.id, user.folder_ids)
    if found is None:
        return PlayQueue([], None, 0, user.created_at, ""), []
    head, songs = found
    current = head["current_index"]
    visible_index = next((n for n, s in enumerate(songs) if s["queue_idx"] == current), None)
    position = head["position_ms"] if visible_index is not None else 0
    q = PlayQueue([s["id"] for s in songs], visible_index, position, head["changed_at"], head["changed_by"])
    return q, songs


# --- Edits (the native API: docs/native-api.md "Queue") -----------------------------------
# Each edit locks the user's queue row, reads the queue as the user sees it, changes it and
# saves it whole through `save` (the same rows savePlayQueue writes), so that the Subsonic
# methods and the native routes always agree. Indexes are 0-based.


async def _edit(conn: AsyncConnection, user: User, client: str,
                change: Callable[[list[int], int | None, int], tuple[list[int], int | None, int]]) -> None:
    async with conn.transaction():
        await conn.execute("INSERT INTO play_queues (user_id) VALUES (%s) ON CONFLICT DO NOTHING", (user.id,))
        await conn.execute("SELECT 1 FROM play_queues WHERE user_id = %s FOR UPDATE", (user.id,))
        q = await get(conn, user)
        ids, current, position_ms = change(list(q.track_ids), q.current_index, q.position_ms)
        if ids and current is None:
            current, position_ms = 0, 0
        await save(conn, user, ids, current, position_ms, client)


def _check(name: str, index: int, size: int) -> None:
    if not 0 <= index < size:
        valid = f"0..{size - 1}" if size else "none: the queue is empty"
        raise IndexOutOfRange(name, f"{index} is not a queue index (valid: {valid})")


async def clear(conn: AsyncConnection, user: User, client: str) -> None:
    """Empty the user's queue (current and position too)."""
    await save(conn, user, [], None, 0, client)


async def play_next(conn: AsyncConnection, user: User, track_ids: Sequence[int], client: str) -> None:
    """Insert `track_ids` right after the current entry (at the start when there is none).
    Raises NotFound (a track the user cannot read)."""
    def change(ids: list[int], cur: int | None, pos: int) -> tuple[list[int], int | None, int]:
        at = 0 if cur is None else cur + 1
        return ids[:at] + list(track_ids) + ids[at:], cur, pos
    await _edit(conn, user, client, change)


async def append(conn: AsyncConnection, user: User, track_ids: Sequence[int], client: str) -> None:
    """Add `track_ids` at the end. Raises NotFound."""
    await _edit(conn, user, client, lambda ids, cur, pos: (ids + list(track_ids), cur, pos))


async def move(conn: AsyncConnection, user: User, source: int, target: int, client: str) -> None:
    """Move the entry at `source` so that it ends at `target`; the current entry stays the
    current one (its index follows it). Raises IndexOutOfRange."""
    def change(ids: list[int], cur: int | None, pos: int) -> tuple[list[int], int | None, int]:
        _check("from", source, len(ids))
        _check("to", target, len(ids))
        order = list(range(len(ids)))
        order.insert(target, order.pop(source))
        new_cur = order.index(cur) if cur is not None else None
        return [ids[i] for i in order], new_cur, pos
    await _edit(conn, user, client, change)


async def remove(conn: AsyncConnection, user: User, index: int, client: str) -> None:
    """Remove the entry at `index`. Removing the current entry makes the next one current
    (position 0), or the previous one at the end. Raises IndexOutOfRange."""
    def change(ids: list[int], cur: int | None, pos: int) -> tuple[list[int], int | None, int]:
        _check("index", index, len(ids))
        del ids[index]
        if cur is None or not ids:
            return ids, None, 0
        if index < cur:
            return ids, cur - 1, pos
        if index == cur:
            return ids, min(cur, len(ids) - 1), 0
        return ids, cur, pos
    await _edit(conn, user, client, change)


async def set_current(conn: AsyncConnection, user: User, index: int, position_ms: int, client: str) -> None:
    """Make the entry at `index` current, `position_ms` into it. Raises IndexOutOfRange."""
    def change(ids: list[int], cur: int | None, pos: int) -> tuple[list[int], int | None, int]:
        _check("index", index, len(ids))
        return ids, index, position_ms
    await _edit(conn, user, client, change)
