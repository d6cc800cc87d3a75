"""Album queries: hydration and the ordered album lists (newest, by name, by year …).

Each list order has its own btree index whose last column is the id (schema/0001):
the page's ids come from an index-only walk, then `hydrate` fetches the 500 wide rows.
Per-user orders (starred, frequent, recent, highest) walk the partial indexes of the
annotations table.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from orbsonic.library import sampling
from orbsonic.library.filters import Folders, YearRange, folder_list, in_folders

KIND_ALBUM = 2

COLUMNS = """al.id, al.folder_id, al.name, al.sort_name, al.artist_id, al.artist_name, al.year,
       al.original_date, al.release_date, al.genre, al.compilation, al.mbid, al.release_types,
       al.record_labels, al.version, al.explicit_status, al.disc_titles, al.song_count, al.duration_ms, al.size, al.cover_kind,
       al.cover_mtime, al.directory_id, al.created_at,
       an.starred_at, an.rating, coalesce(an.play_count, 0) AS play_count, an.last_played,
       (SELECT coalesce(json_agg(json_build_array(aa.artist_id, ar.name) ORDER BY aa.position), '[]')
          FROM album_artists aa JOIN artists ar ON ar.id = aa.artist_id
         WHERE aa.album_id = al.id) AS artist_links,
       (SELECT coalesce(array_agg((SELECT g.name FROM genres g WHERE g.id = ag.genre_id)
                                  ORDER BY ag.position), '{}')
          FROM album_genres ag WHERE ag.album_id = al.id) AS genre_names,
       CASE WHEN EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = al.id AND t.moods <> '{}')
            THEN (SELECT array_agg(DISTINCT m ORDER BY m)
                    FROM tracks t, unnest(t.moods) m WHERE t.album_id = al.id AND t.moods <> '{}')
            ELSE '{}' END AS moods"""
JOINS = """
  LEFT JOIN LATERAL (SELECT a.starred_at, a.rating, a.play_count, a.last_played FROM annotations a
                      WHERE a.user_id = %(user)s AND a.kind = 2 AND a.item_id = al.id LIMIT 1) an ON true
"""
_HYDRATE = f"SELECT {COLUMNS}\n  FROM albums al{JOINS}"
# COLUMNS and JOINS are also composed into the one-statement pages (orbsonic.library.pages).
# LATERAL ... LIMIT 1: an index probe per row, never a hash of all annotations (tracks.py)
# moods: the distinct moods of the album's tracks (OpenSubsonic AlbumID3.moods), from the partial
# index tracks_album_moods (only tracks that have moods). The EXISTS probe first: the aggregate's
# sort costs ~25 µs per album even over no rows (14 of 15 ms for a 500-album page without moods).

# Album list orders over the albums table: (ORDER BY, index that serves it).
_ORDERS = {
    "newest": "al.created_at DESC, al.id DESC",
    "name": "al.sort_key, al.id",
    "artist": "al.artist_sort_key, al.sort_key, al.id",
    "year": "al.year, al.id",
    "year_desc": "al.year DESC, al.id DESC",
}
# Per-user orders over annotations (kind 2 = album): (condition, ORDER BY).
_USER_ORDERS = {
    "starred": ("a.starred_at IS NOT NULL", "a.starred_at DESC, a.item_id DESC"),
    "frequent": ("a.play_count > 0", "a.play_count DESC, a.item_id DESC"),
    "recent": ("a.last_played IS NOT NULL", "a.last_played DESC, a.item_id DESC"),
    "highest": ("a.rating IS NOT NULL", "a.rating DESC, a.item_id DESC"),
}
LIST_ORDERS = frozenset(_ORDERS) | frozenset(_USER_ORDERS) | {"random", "genre"}


async def hydrate(conn: AsyncConnection, ids: Sequence[int], user_id: int,
                  folders: Folders = None) -> list[dict[str, Any]]:
    """Full album rows for `ids`, in the given order; unknown ids, and albums whose music
    folder (albums.folder_id, as the lists filter) is not in `folders`, are skipped."""
    if not ids:
        return []
    async with conn.cursor(row_factory=dict_row, binary=True) as cur:
        await cur.execute(_HYDRATE + " WHERE al.id = ANY(%(ids)s)" + in_folders("al.folder_id", folders),
                          {"user": user_id, "ids": list(ids), "folders": folder_list(folders)})
        rows = {r["id"]: r for r in await cur.fetchall()}
    return [rows[i] for i in ids if i in rows]


async def get(conn: AsyncConnection, album_id: int, user_id: int,
              folders: Folders = None) -> dict[str, Any] | None:
    """One album row, or None (unknown, or outside `folders`)."""
    rows = await hydrate(conn, [album_id], user_id, folders)
    return rows[0] if rows else None


async def list_ids(conn: AsyncConnection, order: str, offset: int, limit: int, *, user_id: int,
                   folders: Folders = None, years: YearRange | None = None,
                   genre_id: int | None = None) -> list[int]:
    """A page of album ids in list `order` (one of LIST_ORDERS).

    `years` restricts to that range (albums without a year are left out); with
    years.descending the "year" order runs newest first. `genre_id` is required for
    order "genre". Only albums in `folders` (None = all) are listed. Raises ValueError
    for an unknown order.
    """
    folder = in_folders("al.folder_id", folders)
    args: dict[str, Any] = {"folders": folder_list(folders), "offset": offset, "limit": limit,
                            "user": user_id}
    if order == "genre":
        sql = f"""SELECT ag.album_id FROM album_genres ag JOIN albums al ON al.id = ag.album_id
                   WHERE ag.genre_id = %(genre)s {folder}
                   ORDER BY ag.sort_key, ag.album_id OFFSET %(offset)s LIMIT %(limit)s"""
        if folders is None:
            sql = """SELECT album_id FROM album_genres WHERE genre_id = %(genre)s
                      ORDER BY sort_key, album_id OFFSET %(offset)s LIMIT %(limit)s"""
        args["genre"] = genre_id
    elif order == "random":
        return await _random_ids(conn, limit, folders, years)
    elif order in _USER_ORDERS:
        cond, by = _USER_ORDERS[order]
        sql = f"""SELECT a.item_id FROM annotations a JOIN albums al ON al.id = a.item_id
                   WHERE a.user_id = %(user)s AND a.kind = 2 AND {cond} {folder}
                   ORDER BY {by} OFFSET %(offset)s LIMIT %(limit)s"""
    elif order in _ORDERS:
        where = ""
        if years is not None:
            where = " AND al.year BETWEEN %(lo)s AND %(hi)s"
            args.update(lo=years.low, hi=years.high)
            if order == "year" and years.descending:
                order = "year_desc"
        sql = f"""SELECT al.id FROM albums al WHERE true {where} {folder}
                   ORDER BY {_ORDERS[order]} OFFSET %(offset)s LIMIT %(limit)s"""
    else:
        raise ValueError(f"unknown album order {order!r}")
    cur = await conn.execute(sql, args)
    return [r[0] for r in await cur.fetchall()]


async def _random_ids(conn: AsyncConnection, size: int, folders: Folders,
                      years: YearRange | None) -> list[int]:
    """A fresh uniform sample of albums in `folders` (None = all): random probes into the dense
    `seq` key (orbsonic.library.sampling; album ids are sparse hashes)."""
    where = ""
    args: list[Any] = []
    if years is not None:
        where += " AND al.year BETWEEN %s AND %s"
        args += [years.low, years.high]
    if folders is not None:
        where += " AND al.folder_id = ANY(%s)"
        args.append(folder_list(folders))
    return await sampling.sample(
        conn, size, table="albums al", key="al.seq", select="al.id", where=where, args=args,
        fallback=f"SELECT al.id FROM albums al WHERE true {where} ORDER BY random() LIMIT %s",
        fallback_args=args)


async def ids_all(conn: AsyncConnection, offset: int, limit: int, folders: Folders = None) -> list[int]:
    """A page of every album in `folders` in id order (primary key): the empty-query sync order."""
    if folders is None:
        cur = await conn.execute("SELECT id FROM albums ORDER BY id OFFSET %s LIMIT %s", (offset, limit))
    else:
        cur = await conn.execute(
            "SELECT id FROM albums WHERE folder_id = ANY(%s) ORDER BY id OFFSET %s LIMIT %s",
            (folder_list(folders), offset, limit))
    return [r[0] for r in await cur.fetchall()]


async def ids_by_artist(conn: AsyncConnection, artist_id: int, folders: Folders = None) -> list[int]:
    """Albums of an artist in `folders`, oldest first: those where it is an album artist,
    or, when there are none, those with a track it plays on (getArtist for a
    featured-only artist)."""
    folder = in_folders("al.folder_id", folders, "%(folders)s")
    args = {"artist": artist_id, "folders": folder_list(folders)}
    cur = await conn.execute(
        f"""SELECT al.id FROM album_artists aa JOIN albums al ON al.id = aa.album_id
            WHERE aa.artist_id = %(artist)s {folder} ORDER BY al.year NULLS LAST, al.sort_key, al.id""",
        args)
    ids = [r[0] for r in await cur.fetchall()]
    if ids:
        return ids
    cur = await conn.execute(
        f"""SELECT al.id FROM albums al
            WHERE al.id IN (SELECT t.album_id FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                             WHERE ta.artist_id = %(artist)s {in_folders("t.folder_id", folders)})
              {folder}
            ORDER BY al.year NULLS LAST, al.sort_key, al.id""",
        args)
    return [r[0] for r in await cur.fetchall()]
