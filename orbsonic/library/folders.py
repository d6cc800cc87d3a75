"""Music folders and the real directory tree (getMusicFolders, getIndexes, getMusicDirectory)."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

KIND_DIRECTORY = 4

_DIR_COLUMNS = """d.id, d.folder_id, d.parent_id, d.path, d.name, d.cover_kind, d.cover_mtime,
       d.created_at, an.starred_at, an.rating, coalesce(an.play_count, 0) AS play_count"""
_DIR_FROM = """FROM directories d
  LEFT JOIN annotations an ON an.user_id = %(user)s AND an.kind = 4 AND an.item_id = d.id"""


async def music_folders(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every music folder: id (int), name, path; ordered by id."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, name, path FROM music_folders ORDER BY id")
        return await cur.fetchall()


async def folder_exists(conn: AsyncConnection, folder_id: int) -> bool:
    cur = await conn.execute("SELECT 1 FROM music_folders WHERE id = %s", (folder_id,))
    return await cur.fetchone() is not None


async def directory(conn: AsyncConnection, dir_id: int, user_id: int) -> dict[str, Any] | None:
    """One directory row (with the user's annotation), or None."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(f"SELECT {_DIR_COLUMNS} {_DIR_FROM} WHERE d.id = %(id)s",
                          {"user": user_id, "id": dir_id})
        return await cur.fetchone()


async def subdirectories(conn: AsyncConnection, parent_id: int, user_id: int) -> list[dict[str, Any]]:
    """Child directories in name order (index directories_children)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"SELECT {_DIR_COLUMNS} {_DIR_FROM} WHERE d.parent_id = %(id)s ORDER BY d.sort_key, d.id",
            {"user": user_id, "id": parent_id})
        return await cur.fetchall()


async def top_directories(conn: AsyncConnection, user_id: int,
                          folder_id: int | None = None) -> list[dict[str, Any]]:
    """Directories directly below each music folder root (the getIndexes "artists"),
    ordered by name; each row also has `index_name`, the folded sort key."""
    folder = "AND r.folder_id = %(folder)s" if folder_id is not None else ""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT {_DIR_COLUMNS}, d.sort_key
                  FROM directories r JOIN directories d ON d.parent_id = r.id
                  LEFT JOIN annotations an ON an.user_id = %(user)s AND an.kind = 4 AND an.item_id = d.id
                 WHERE r.parent_id IS NULL {folder}
                 ORDER BY d.sort_key, d.id""",
            {"user": user_id, "folder": folder_id})
        return await cur.fetchall()


async def root_directory_ids(conn: AsyncConnection, folder_id: int | None = None) -> list[int]:
    """Ids of the music folder roots (their loose files are getIndexes `child` entries)."""
    if folder_id is None:
        cur = await conn.execute("SELECT id FROM directories WHERE parent_id IS NULL ORDER BY folder_id")
    else:
        cur = await conn.execute("SELECT id FROM directories WHERE parent_id IS NULL AND folder_id = %s",
                                 (folder_id,))
    return [r[0] for r in await cur.fetchall()]
