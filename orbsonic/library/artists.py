"""Artist queries: the browse index (getArtists/getIndexes), hydration, sync pages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from orbsonic.library.filters import Folders, folder_list

KIND_ARTIST = 3

COLUMNS = """ar.id, ar.name, ar.sort_name, ar.index_letter, ar.mbid, ar.album_count, ar.song_count,
       ar.roles, ar.cover_album_id, al.cover_kind AS cover_kind, al.cover_mtime AS cover_mtime,
       an.starred_at, an.rating"""
# LATERAL ... LIMIT 1: one index probe per artist (see tracks.py), so getArtists walks the
# artists_browse index in order instead of hashing albums and sorting every album artist.
_FROM = """FROM artists ar
  LEFT JOIN LATERAL (SELECT a.cover_kind, a.cover_mtime FROM albums a
                      WHERE a.id = ar.cover_album_id {cover_folder} LIMIT 1) al ON true
  LEFT JOIN LATERAL (SELECT a.starred_at, a.rating FROM annotations a
                      WHERE a.user_id = %(user)s AND a.kind = 3 AND a.item_id = ar.id LIMIT 1) an ON true"""
# An artist is in a music folder when one of its tracks (any role) is there: the same rule
# as search and the starred lists. OFFSET 0: a per-artist probe of track_artists_artist.
_IN_FOLDERS = """ AND EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                               WHERE ta.artist_id = ar.id AND t.folder_id = ANY(%(folders)s) OFFSET 0)"""


def in_folders(folders: Folders) -> str:
    """The condition "artist `ar` has a track in `folders`" ("" when folders is None)."""
    return "" if folders is None else _IN_FOLDERS


def from_clause(folders: Folders) -> str:
    """_FROM; with `folders`, an artist whose cover album is in another music folder has no
    cover (its coverArt id would name an album the user may not see)."""
    return _FROM.format(cover_folder="" if folders is None else "AND a.folder_id = ANY(%(folders)s)")


async def browse(conn: AsyncConnection, user_id: int, folders: Folders = None) -> list[dict[str, Any]]:
    """Every album artist in index order (index artists_browse), for getArtists.

    With `folders`, only artists with an album in one of those music folders.
    """
    folder = ""
    if folders is not None:
        # OFFSET 0 keeps the EXISTS a per-artist probe of album_artists_artist instead of a
        # semi-join that reads every album_artists row.
        folder = """AND EXISTS (SELECT 1 FROM album_artists aa JOIN albums a2 ON a2.id = aa.album_id
                                 WHERE aa.artist_id = ar.id AND a2.folder_id = ANY(%(folders)s) OFFSET 0)"""
    async with conn.cursor(row_factory=dict_row, binary=True) as cur:
        await cur.execute(
            f"""SELECT {COLUMNS} {from_clause(folders)} WHERE ar.is_album_artist {folder}
                 ORDER BY ar.sort_key, ar.id""",
            {"user": user_id, "folders": folder_list(folders)})
        return await cur.fetchall()


async def hydrate(conn: AsyncConnection, ids: Sequence[int], user_id: int,
                  folders: Folders = None) -> list[dict[str, Any]]:
    """Artist rows for `ids` in the given order; unknown ids, and artists without a track
    in `folders`, are skipped."""
    if not ids:
        return []
    async with conn.cursor(row_factory=dict_row, binary=True) as cur:
        await cur.execute(f"SELECT {COLUMNS} {from_clause(folders)} WHERE ar.id = ANY(%(ids)s) "
                          + in_folders(folders),
                          {"user": user_id, "ids": list(ids), "folders": folder_list(folders)})
        rows = {r["id"]: r for r in await cur.fetchall()}
    return [rows[i] for i in ids if i in rows]


async def get(conn: AsyncConnection, artist_id: int, user_id: int,
              folders: Folders = None) -> dict[str, Any] | None:
    """One artist row, or None (unknown, or no track in `folders`)."""
    rows = await hydrate(conn, [artist_id], user_id, folders)
    return rows[0] if rows else None


async def ids_all(conn: AsyncConnection, offset: int, limit: int, folders: Folders = None) -> list[int]:
    """A page of every artist with albums or songs, in id order (index artists_listed).
    With `folders`, only artists with a track (any role) in one of those music folders."""
    folder = ""
    if folders is not None:
        folder = """AND EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                                 WHERE ta.artist_id = artists.id AND t.folder_id = ANY(%(folders)s))"""
    cur = await conn.execute(
        f"""SELECT id FROM artists WHERE (album_count > 0 OR song_count > 0) {folder}
             ORDER BY id OFFSET %(offset)s LIMIT %(limit)s""",
        {"folders": folder_list(folders), "offset": offset, "limit": limit})
    return [r[0] for r in await cur.fetchall()]


async def last_modified_ms(conn: AsyncConnection) -> int:
    """When the library last changed (ms since the epoch), for getIndexes lastModified."""
    cur = await conn.execute("SELECT value FROM server_state WHERE key = 'library_changed_ms'")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
