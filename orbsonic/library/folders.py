"""Music folders and the real directory tree (getMusicFolders, getIndexes, getMusicDirectory)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from orbsonic.errors import NotFound
from orbsonic.library.filters import Folders, folder_list, in_folders

KIND_DIRECTORY = 4

DIR_COLUMNS = """d.id, d.folder_id, d.parent_id, d.path, d.name, d.cover_kind, d.cover_mtime,
       d.created_at, an.starred_at, an.rating, coalesce(an.play_count, 0) AS play_count"""
DIR_FROM = """FROM directories d
  LEFT JOIN annotations an ON an.user_id = %(user)s AND an.kind = 4 AND an.item_id = d.id"""


async def music_folders(conn: AsyncConnection, folders: Folders = None) -> list[dict[str, Any]]:
    """Every music folder in `folders` (None = all): id (int), name, path; ordered by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, name, path FROM music_folders WHERE true"
                          + in_folders("id", folders) + " ORDER BY id", {"folders": folder_list(folders)})
        return await cur.fetchall()


async def folder_exists(conn: AsyncConnection, folder_id: int) -> bool:
    cur = await conn.execute("SELECT 1 FROM music_folders WHERE id = %s", (folder_id,))
    return await cur.fetchone() is not None


async def directory(conn: AsyncConnection, dir_id: int, user_id: int,
                    folders: Folders = None) -> dict[str, Any] | None:
    """One directory row (with the user's annotation), or None (also outside `folders`)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {DIR_COLUMNS} {DIR_FROM} WHERE d.id = %(id)s"
                          + in_folders("d.folder_id", folders),
                          {"user": user_id, "id": dir_id, "folders": folder_list(folders)})
        return await cur.fetchone()


async def subdirectories(conn: AsyncConnection, parent_id: int, user_id: int) -> list[dict[str, Any]]:
    """Child directories in name order (index directories_children)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {DIR_COLUMNS} {DIR_FROM} WHERE d.parent_id = %(id)s ORDER BY d.sort_key, d.id",
            {"user": user_id, "id": parent_id})
        return await cur.fetchall()


async def top_directories(conn: AsyncConnection, user_id: int,
                          folders: Folders = None) -> list[dict[str, Any]]:
    """Directories directly below the root of each music folder in `folders` (the
    getIndexes "artists"), ordered by name; each row also has `index_name`, the folded
    sort key."""
    folder = in_folders("r.folder_id", folders)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {DIR_COLUMNS}, d.sort_key
                  FROM directories r JOIN directories d ON d.parent_id = r.id
                  LEFT JOIN annotations an ON an.user_id = %(user)s AND an.kind = 4 AND an.item_id = d.id
                 WHERE r.parent_id IS NULL {folder}
                 ORDER BY d.sort_key, d.id""",
            {"user": user_id, "folders": folder_list(folders)})
        return await cur.fetchall()


async def root_directory_ids(conn: AsyncConnection, folders: Folders = None) -> list[int]:
    """Ids of the roots of the music folders in `folders` (their loose files are
    getIndexes `child` entries), by folder id."""
    cur = await conn.execute("SELECT id FROM directories WHERE parent_id IS NULL"
                             + in_folders("folder_id", folders) + " ORDER BY folder_id",
                             {"folders": folder_list(folders)})
    return [r[0] for r in await cur.fetchall()]


# Cover art id kind → "item %(id)s is in the music folders %(folders)s" (orbsonic.ids
# cover ids: tr, al, ar, dr). Artists are where their tracks are.
_COVER_ITEM_IN = {
    "tr": "SELECT EXISTS (SELECT 1 FROM tracks WHERE id = %(id)s AND folder_id = ANY(%(folders)s))",
    "al": "SELECT EXISTS (SELECT 1 FROM albums WHERE id = %(id)s AND folder_id = ANY(%(folders)s))",
    "dr": "SELECT EXISTS (SELECT 1 FROM directories WHERE id = %(id)s AND folder_id = ANY(%(folders)s))",
    "ar": """SELECT EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                             WHERE ta.artist_id = %(id)s AND t.folder_id = ANY(%(folders)s))""",
}


async def cover_visible(conn: AsyncConnection, kind: str, item_id: int, folders: Folders) -> bool:
    """May a user with music folders `folders` see the cover of item (`kind`, `item_id`)?

    True at once, with no query, when `folders` is None (the cached-cover fast path stays
    database-free for unrestricted users). Kinds other than tr/al/ar/dr are refused: a
    module adding a cover kind (playlists) adds its rule here.
    """
    if folders is None or kind in ("pl", "pc"):
        # Playlist mosaics are built per reader from the entries that reader may see
        # (orbsonic/library/playlist_covers.py checks the playlist and the folders itself).
        # Podcast channels are in no music folder: one server-wide list everyone reads.
        return True
    query = _COVER_ITEM_IN.get(kind)
    if query is None:
        return False
    cur = await conn.execute(query, {"id": item_id, "folders": folder_list(folders)})
    row = await cur.fetchone()
    return bool(row and row[0])


async def resolve(conn: AsyncConnection, refs: list[str]) -> list[int]:
    """Music folder ids from ids or names (the CLI's --folder). Raises NotFound."""
    rows = await music_folders(conn)
    out = []
    for ref in refs:
        match = [r["id"] for r in rows if str(r["id"]) == ref.strip() or r["name"] == ref.strip()]
        if not match:
            raise NotFound("music folder", ref)
        out.append(match[0])
    return out
