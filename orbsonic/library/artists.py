"""Artist queries: the browse index (getArtists/getIndexes), hydration, sync pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

KIND_ARTIST = 3

_COLUMNS = """ar.id, ar.name, ar.sort_name, ar.index_letter, ar.mbid, ar.album_count, ar.song_count,
       ar.roles, ar.cover_album_id, al.cover_kind AS cover_kind, al.cover_mtime AS cover_mtime,
       an.starred_at, an.rating"""
_FROM = """FROM artists ar
  LEFT JOIN albums al ON al.id = ar.cover_album_id
  LEFT JOIN annotations an ON an.user_id = %(user)s AND an.kind = 3 AND an.item_id = ar.id"""


async def browse(conn: AsyncConnection, user_id: int, folder_id: int | None = None) -> list[dict[str, Any]]:
    """Every album artist in index order (index artists_browse), for getArtists.

    With `folder_id`, only artists with an album in that music folder.
    """
    folder = ""
    if folder_id is not None:
        folder = """AND EXISTS (SELECT 1 FROM album_artists aa JOIN albums a2 ON a2.id = aa.album_id
                                 WHERE aa.artist_id = ar.id AND a2.folder_id = %(folder)s)"""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_COLUMNS} {_FROM} WHERE ar.is_album_artist {folder} ORDER BY ar.sort_key, ar.id",
            {"user": user_id, "folder": folder_id})
        return await cur.fetchall()


async def hydrate(conn: AsyncConnection, ids: Sequence[int], user_id: int) -> list[dict[str, Any]]:
    """Artist rows for `ids` in the given order; unknown ids are skipped."""
    if not ids:
        return []
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_COLUMNS} {_FROM} WHERE ar.id = ANY(%(ids)s)",
                          {"user": user_id, "ids": list(ids)})
        rows = {r["id"]: r for r in await cur.fetchall()}
    return [rows[i] for i in ids if i in rows]


async def get(conn: AsyncConnection, artist_id: int, user_id: int) -> dict[str, Any] | None:
    rows = await hydrate(conn, [artist_id], user_id)
    return rows[0] if rows else None


async def ids_all(conn: AsyncConnection, offset: int, limit: int) -> list[int]:
    """A page of every artist with albums or songs, in id order (index artists_listed)."""
    cur = await conn.execute(
        """SELECT id FROM artists WHERE album_count > 0 OR song_count > 0
            ORDER BY id OFFSET %s LIMIT %s""", (offset, limit))
    return [r[0] for r in await cur.fetchall()]


async def last_modified_ms(conn: AsyncConnection) -> int:
    """When the library last changed (ms since the epoch), for getIndexes lastModified."""
    cur = await conn.execute("SELECT value FROM server_state WHERE key = 'library_changed_ms'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
