"""Bookmarks: one per user and track, a position in ms and a comment
(getBookmarks, createBookmark, deleteBookmark; docs/subsonic-spec.md §3).

No foreign key to the track (as annotations): a bookmark survives a rescan and a move
(the scanner keeps track ids) and is just not listed while its track is not readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.auth.users import User
from orbsonic.errors import NotFound
from orbsonic.ids import public_id
from orbsonic.library.playlists import READABLE, check_text, folders_of, require_tracks


@dataclass(frozen=True, slots=True)
class BookmarkRow:
    """A bookmark: position in ms."""

    track_id: int
    position_ms: int
    comment: str
    created_at: datetime
    changed_at: datetime


async def save(conn: AsyncConnection, user: User, track_id: int, position_ms: int, comment: str) -> None:
    """Create or overwrite the user's bookmark of a track (created stays, changed moves).
    Raises NotFound (a track the user cannot read), BadParam (comment too long)."""
    comment = check_text("comment", comment)
    await require_tracks(conn, user, [track_id])
    await conn.execute(
        """INSERT INTO bookmarks (user_id, track_id, position_ms, comment) VALUES (%s, %s, %s, %s)
           ON CONFLICT (user_id, track_id) DO UPDATE SET position_ms = excluded.position_ms,
               comment = excluded.comment, changed_at = now()""",
        (user.id, track_id, position_ms, comment),
    )


async def delete(conn: AsyncConnection, user: User, track_id: int) -> None:
    """Delete the user's bookmark of a track. Raises NotFound when there is none."""
    cur = await conn.execute(
        "DELETE FROM bookmarks WHERE user_id = %s AND track_id = %s", (user.id, track_id)
    )
    if cur.rowcount == 0:
        raise NotFound("bookmark of song", public_id("tr", track_id))


async def list_for(conn: AsyncConnection, user: User) -> list[BookmarkRow]:
    """The user's bookmarks of readable tracks, most recently changed first (track id tiebreak)."""
    async with conn.cursor(row_factory=class_row(BookmarkRow)) as cur:
        await cur.execute(
            f"""SELECT b.track_id, b.position_ms, b.comment, b.created_at, b.changed_at
                  FROM bookmarks b JOIN tracks t ON t.id = b.track_id
                 WHERE b.user_id = %(me)s AND {READABLE}
                 ORDER BY b.changed_at DESC, b.track_id DESC""",
            {"me": user.id, "folders": folders_of(user)},
        )
        return await cur.fetchall()
