"""Per-user annotations: stars and ratings (star, unstar, setRating); play counts are
maintained from the play history by orbsonic.library.plays (scrobble).

Kinds: 1 track, 2 album, 3 artist, 4 directory. Rows are upserts keyed by
(user, kind, item); there is no foreign key to the item, so a file that is missing
for one scan keeps its stars and plays for when it comes back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from orbsonic.errors import BadParam, NotFound
from orbsonic.library.filters import Folders, folder_list, in_folders

TRACK, ALBUM, ARTIST, DIRECTORY = 1, 2, 3, 4
_TABLES = {TRACK: "tracks", ALBUM: "albums", ARTIST: "artists", DIRECTORY: "directories"}
# "item x is in one of the music folders %(folders)s", per kind: artists are where their
# tracks (any role) are.
_IN_FOLDERS = {
    TRACK: " AND x.folder_id = ANY(%(folders)s)", ALBUM: " AND x.folder_id = ANY(%(folders)s)",
    DIRECTORY: " AND x.folder_id = ANY(%(folders)s)",
    ARTIST: """ AND EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                             WHERE ta.artist_id = x.id AND t.folder_id = ANY(%(folders)s))""",
}


async def _require(conn: AsyncConnection, kind: int, ids: Sequence[int], folders: Folders = None) -> None:
    """Raise NotFound unless every id exists in `folders` (nothing is written for a bad
    request; an item outside the user's folders is not found, never "forbidden")."""
    if not ids:
        return
    folder = _IN_FOLDERS[kind] if folders is not None else ""
    cur = await conn.execute(
        f"SELECT count(DISTINCT id) FROM {_TABLES[kind]} x WHERE id = ANY(%(ids)s) {folder}",
        {"ids": list(ids), "folders": folder_list(folders)})
    row = await cur.fetchone()
    if row is None or row[0] != len(set(ids)):
        raise NotFound(_TABLES[kind][:-1])


async def set_starred(conn: AsyncConnection, user_id: int, items: Sequence[tuple[int, int]],
                      starred: bool, folders: Folders = None) -> None:
    """Star (or unstar) (kind, id) items, all or nothing. Raises NotFound for unknown ids
    and ids outside `folders`."""
    by_kind: dict[int, dict[int, None]] = {}
    for kind, item in items:
        by_kind.setdefault(kind, {})[item] = None  # repeated ids: one row (ON CONFLICT hits a row once)
    async with conn.transaction():
        for kind, unique in by_kind.items():
            ids = list(unique)
            await _require(conn, kind, ids, folders)
            if starred:
                await conn.execute(
                    """INSERT INTO annotations (user_id, kind, item_id, starred_at)
                       SELECT %s, %s, unnest(%s::bigint[]), now()
                       ON CONFLICT (user_id, kind, item_id) DO UPDATE
                       SET starred_at = coalesce(annotations.starred_at, excluded.starred_at)""",
                    (user_id, kind, ids))
            else:
                await conn.execute(
                    "UPDATE annotations SET starred_at = NULL WHERE user_id = %s AND kind = %s "
                    "AND item_id = ANY(%s)", (user_id, kind, ids))


async def set_rating(conn: AsyncConnection, user_id: int, kind: int, item_id: int, rating: int,
                     folders: Folders = None) -> None:
    """Rating 1–5, or 0 to remove it. Raises BadParam / NotFound (also outside `folders`)."""
    if not 0 <= rating <= 5:
        raise BadParam("rating", "must be between 0 and 5")
    await _require(conn, kind, [item_id], folders)
    await conn.execute(
        """INSERT INTO annotations (user_id, kind, item_id, rating) VALUES (%s, %s, %s, %s)
           ON CONFLICT (user_id, kind, item_id) DO UPDATE SET rating = excluded.rating""",
        (user_id, kind, item_id, rating or None))


async def starred_ids(conn: AsyncConnection, user_id: int, kind: int,
                      folders: Folders = None) -> list[int]:
    """Ids of the user's starred items of a kind that still exist in `folders`, most
    recent first."""
    table = _TABLES[kind]
    folder = _IN_FOLDERS[kind] if folders is not None else ""
    cur = await conn.execute(
        # EXISTS ... OFFSET 0: one primary-key probe per starred row, in annotations_starred
        # order. As a join, a sampled estimate of the user's stars sometimes tipped the
        # planner into a hash join over the whole item table plus a sort.
        f"""SELECT a.item_id FROM annotations a
             WHERE a.user_id = %(user)s AND a.kind = %(kind)s AND a.starred_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM {table} x WHERE x.id = a.item_id {folder} OFFSET 0)
             ORDER BY a.starred_at DESC, a.item_id DESC""",
        {"user": user_id, "kind": kind, "folders": folder_list(folders)})
    return [r[0] for r in await cur.fetchall()]


async def starred_directories(conn: AsyncConnection, user_id: int,
                              folders: Folders = None) -> list[dict[str, Any]]:
    """The user's starred folders (star id=dr-…, DSub in folder mode), most recently starred
    first, as directory rows (orbsonic.library.folders columns) with `parent_name`; only
    folders in music folders `folders` (None = all)."""
    where = in_folders("d.folder_id", folders)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            f"""SELECT d.id, d.folder_id, d.parent_id, d.path, d.name, d.cover_kind, d.cover_mtime,
                       d.created_at, a.starred_at, a.rating, a.play_count, p.name AS parent_name
                  FROM annotations a JOIN directories d ON d.id = a.item_id
                  LEFT JOIN directories p ON p.id = d.parent_id
                 WHERE a.user_id = %(user)s AND a.kind = 4 AND a.starred_at IS NOT NULL {where}
                 ORDER BY a.starred_at DESC, a.item_id DESC""",
            {"user": user_id, "folders": folder_list(folders)})
        return await cur.fetchall()
