"""One statement per page: getAlbum, getArtist and getMusicDirectory (and getPlaylist,
orbsonic.library.playlists.with_entries) read their item and its children in a single SQL
statement.

Why: readonly endpoints run in autocommit, so the three statements a page used to send (the
item, its child ids, the hydrated children) each saw their own snapshot — an album renamed
between them answered the old name with the new songs — and each cost a round trip. One
statement sees one snapshot and costs one round trip.

Shape of a page statement: the parent's columns, then for each kind of child a marker column
`__kind__` (non-NULL when the row carries a child of that kind), its ordinal `__ord__`, and that
kind's columns; the children come from LEFT JOIN LATERAL subqueries, so a parent without
children is one row whose markers are all NULL, and an unknown (or unreadable) parent is no
row at all. `fetch` splits such rows by position (the names repeat: both sides have an `id`).
The parent and child columns are the ones the hydrating queries select (tracks.COLUMNS,
albums.COLUMNS, artists.COLUMNS, folders.DIR_COLUMNS), so the rows, and the shapes built from
them, are exactly those of the former multi-statement pages.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads

from orbsonic.library import albums, artists, folders as folders_mod, tracks
from orbsonic.library.filters import Folders, folder_list, in_folders

KIND = "__kind__"
ORD = "__ord__"

Row = dict[str, Any]


def _page_row(cursor: Any) -> Callable[[Sequence[Any]], tuple[Sequence[Any], int, Any, Row | None]]:
    """Row factory: (raw values, child kind index or -1, child ordinal, child dict or None).
    The parent's dict is built once, by `fetch`, from the first row's leading values."""
    names = [c.name for c in cursor.description or ()]
    marks = [i for i, n in enumerate(names) if n == KIND]
    parts = []
    for j, m in enumerate(marks):
        end = marks[j + 1] if j + 1 < len(marks) else len(names)
        parts.append((m, names[m + 2:end], end))  # m + 1 is the ordinal

    def make(values: Sequence[Any]) -> tuple[Sequence[Any], int, Any, Row | None]:
        for k, (m, cols, end) in enumerate(parts):
            if values[m] is not None:
                return values, k, values[m + 1], dict(zip(cols, values[m + 2:end]))
        return values, -1, None, None

    return make


async def fetch(conn: AsyncConnection, query: str, args: dict[str, Any],
                kinds: int = 1) -> tuple[Row | None, list[list[Row]]]:
    """Run one page statement (module docstring): (parent row or None when there is no row,
    one list of child rows per kind, in the statement's order). Binary results, and the
    json columns (artist_links) parsed with orjson, as tracks.hydrate does."""
    async with conn.cursor(row_factory=_page_row, binary=True) as cur:
        set_json_loads(orjson.loads, cur)
        await cur.execute(query, args)
        rows = await cur.fetchall()
        names = [c.name for c in cur.description or ()]
    children: list[list[Row]] = [[] for _ in range(kinds)]
    if not rows:
        return None, children
    head = names.index(KIND) if KIND in names else len(names)
    parent = dict(zip(names[:head], rows[0][0][:head]))
    # The children arrive in (kind, ordinal) order from the nested loop that joins them; the
    # ordinals make that a checked property rather than an assumption about the plan.
    keyed = [(k, o, c) for _, k, o, c in rows if c is not None]
    if any((a[0], a[1]) > (b[0], b[1]) for a, b in zip(keyed, keyed[1:])):
        keyed.sort(key=lambda t: (t[0], t[1]))
    for k, _, c in keyed:
        children[k].append(c)
    return parent, children


def _tracks_of(where: str, order: str) -> str:
    """A child subquery of track rows (tracks.COLUMNS) matching `where`, in `order`."""
    return f"""SELECT 1 AS {KIND}, row_number() OVER (ORDER BY {order}) AS {ORD}, {tracks.COLUMNS}
                 FROM tracks t{tracks.JOINS}
                WHERE {where} ORDER BY {order}"""


_TRACK_ORDER = "t.disc_no, t.track_no, t.sort_title, t.id"  # index tracks_album / tracks_directory


async def album(conn: AsyncConnection, album_id: int, user_id: int,
                folders: Folders = None) -> tuple[Row, list[Row]] | None:
    """getAlbum (and getMusicDirectory id=al-…): the album row (albums.hydrate's columns) and
    its tracks in `folders` (tracks.hydrate's columns) in disc, track, title order, or None
    when the album is unknown or outside `folders`."""
    query = f"""SELECT p.*, c.*
                  FROM (SELECT {albums.COLUMNS} FROM albums al{albums.JOINS}
                         WHERE al.id = %(id)s {in_folders("al.folder_id", folders)}) p
                  LEFT JOIN LATERAL ({_tracks_of("t.album_id = p.id" + in_folders("t.folder_id", folders),
                                                 _TRACK_ORDER)}) c ON true"""
    parent, (songs,) = await fetch(conn, query, {"id": album_id, "user": user_id,
                                                 "folders": folder_list(folders)})
    return None if parent is None else (parent, songs)


async def artist(conn: AsyncConnection, artist_id: int, user_id: int,
                 folders: Folders = None) -> tuple[Row, list[Row]] | None:
    """getArtist (and getMusicDirectory id=ar-…): the artist row (artists.hydrate's columns)
    and its albums (albums.hydrate's columns), as albums.ids_by_artist lists them: those where
    it is an album artist in `folders`, or, when there are none, those with a track it plays on;
    oldest first. None when the artist is unknown or has no track in `folders`."""
    folder = in_folders("al.folder_id", folders)
    query = f"""WITH own AS (SELECT al.id FROM album_artists aa JOIN albums al ON al.id = aa.album_id
                              WHERE aa.artist_id = %(id)s {folder}),
                     ids AS (SELECT id FROM own
                             UNION ALL
                             SELECT al.id FROM albums al
                              WHERE NOT EXISTS (SELECT 1 FROM own)
                                AND al.id IN (SELECT t.album_id FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                                               WHERE ta.artist_id = %(id)s {in_folders("t.folder_id", folders)})
                                {folder})
                SELECT p.*, c.*
                  FROM (SELECT {artists.COLUMNS} {artists.from_clause(folders)}
                         WHERE ar.id = %(id)s {artists.in_folders(folders)}) p
                  LEFT JOIN LATERAL (
                    SELECT 1 AS {KIND}, row_number() OVER (ORDER BY al.year NULLS LAST, al.sort_key, al.id) AS {ORD},
                           {albums.COLUMNS}
                      FROM ids JOIN albums al ON al.id = ids.id{albums.JOINS}
                     ORDER BY al.year NULLS LAST, al.sort_key, al.id) c ON true"""
    parent, (rows,) = await fetch(conn, query, {"id": artist_id, "user": user_id,
                                                "folders": folder_list(folders)})
    return None if parent is None else (parent, rows)


async def directory(conn: AsyncConnection, dir_id: int, user_id: int,
                    folders: Folders = None) -> tuple[Row, list[Row], list[Row]] | None:
    """getMusicDirectory id=dr-…: the directory row (with the user's annotation), its
    sub-directories in name order and the tracks directly inside it in disc, track, title
    order; None when unknown or outside `folders`."""
    cols = folders_mod.DIR_COLUMNS
    query = f"""SELECT p.*, s.*, c.*
                  FROM (SELECT {cols} {folders_mod.DIR_FROM}
                         WHERE d.id = %(id)s {in_folders("d.folder_id", folders)}) p
                 CROSS JOIN (VALUES (1), (2)) part(n)
                  LEFT JOIN LATERAL (
                    SELECT 1 AS {KIND}, row_number() OVER (ORDER BY d.sort_key, d.id) AS {ORD}, {cols}
                           {folders_mod.DIR_FROM}
                     WHERE part.n = 1 AND d.parent_id = p.id ORDER BY d.sort_key, d.id) s ON true
                  LEFT JOIN LATERAL ({_tracks_of("part.n = 2 AND t.directory_id = p.id", _TRACK_ORDER)}) c ON true"""
    parent, (subdirs, songs) = await fetch(conn, query, {"id": dir_id, "user": user_id,
                                                         "folders": folder_list(folders)}, kinds=2)
    return None if parent is None else (parent, subdirs, songs)


async def play_queue(conn: AsyncConnection, user_id: int,
                     folders: Folders = None) -> tuple[Row, list[Row]] | None:
    """getPlayQueue / getPlayQueueByIndex: the user's play_queues row (current_index,
    position_ms, changed_at, changed_by) and its entries whose track is in the library and in
    `folders`, in queue order, each a track row (tracks.hydrate's columns) with its stored
    index as `queue_idx` (duplicates each their own row); None when the user never saved a
    queue. Formerly three statements (queue head, entry ids, hydrated songs)."""
    query = f"""SELECT p.*, c.*
                  FROM (SELECT q.user_id, q.current_index, q.position_ms, q.changed_at, q.changed_by
                          FROM play_queues q WHERE q.user_id = %(user)s) p
                  LEFT JOIN LATERAL (
                    SELECT 1 AS {KIND}, e.idx AS {ORD}, e.idx AS queue_idx, {tracks.COLUMNS}
                      FROM play_queue_entries e {tracks.probe("e.track_id")}{tracks.JOINS}
                     WHERE e.user_id = p.user_id {in_folders("t.folder_id", folders)}
                     ORDER BY e.idx) c ON true"""
    parent, (songs,) = await fetch(conn, query, {"user": user_id, "folders": folder_list(folders)})
    return None if parent is None else (parent, songs)
