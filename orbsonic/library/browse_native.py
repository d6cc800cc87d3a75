"""Keyset-paged track, album and artist lists for the native API (docs/native-api.md "Library").

Every list is two-phase like the Subsonic ones (client-compat §3.5): the page's ids come from
one index walk in a total order — the sort's key columns, then the id — continuing strictly
after the previous page's last key (`WHERE (k1, …, id) > (cursor…)`, no OFFSET), so a row
inserted before the cursor never shifts or repeats items of later pages; then only those ids
are hydrated (orbsonic.library.tracks/albums/artists.hydrate). An index behind each sort:
schema/0001 and schema/0012_native_library.sql; the EXPLAIN checks of
tests/integration/test_native_library.py (on the big library of test_explain.py) hold them to it.

Per-user sorts (`played`, `plays`, `rating`) walk that user's annotations (kind 1/2) and list
only the items that have the value (a track never played has no place in "by last played").

Keys are JSON values (the cursor, native_api/pagination.py): timestamps travel as RFC 3339
text and are cast back in SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from orbsonic.library import albums, tracks
from orbsonic.library.filters import Folders, YearRange, folder_list

ASC, DESC = "asc", "desc"


@dataclass(frozen=True, slots=True)
class Sort:
    """One list order: `source` (FROM … [JOIN …]) and `base` (its fixed WHERE condition),
    `keys` the (SQL expression, SQL type) sort columns before the unique `id` column, and the
    order used when the caller names none."""

    source: str
    base: str
    keys: tuple[tuple[str, str], ...]
    id: str
    default_order: str = ASC


def _per_user(kind: int, column: str, cond: str, item: str) -> Sort:
    return Sort(f"annotations a JOIN {item} ON {item.split()[-1]}.id = a.item_id",
                f"a.user_id = %(user)s AND a.kind = {kind} AND {cond}",
                ((column, _TYPES[column]),), "a.item_id", DESC)


_TYPES = {"a.last_played": "timestamptz", "a.play_count": "integer", "a.rating": "smallint"}
_T, _AL, _AR = "tracks t", "albums al", "artists ar"
# a track's place in album order: album name, album, disc, track (index tracks_by_album)
_ALBUM_ORDER = (("t.album_name", "text"), ("t.album_id", "bigint"), ("coalesce(t.disc_no, 0)", "integer"),
                ("coalesce(t.track_no, 0)", "integer"))

TRACK_SORTS: dict[str, Sort] = {
    "title": Sort(_T, "true", (("t.sort_title", "text"),), "t.id"),
    "artist": Sort(_T, "true", (("t.artist_name", "text"), *_ALBUM_ORDER), "t.id"),
    "album": Sort(_T, "true", _ALBUM_ORDER, "t.id"),
    "year": Sort(_T, "true", (("coalesce(t.year, 0)", "integer"),), "t.id"),
    "added": Sort(_T, "true", (("t.created_at", "timestamptz"),), "t.id", DESC),
    "played": _per_user(tracks.KIND_TRACK, "a.last_played", "a.last_played IS NOT NULL", _T),
    "plays": _per_user(tracks.KIND_TRACK, "a.play_count", "a.play_count > 0", _T),
}
ALBUM_SORTS: dict[str, Sort] = {
    "name": Sort(_AL, "true", (("al.sort_key", "text"),), "al.id"),
    "artist": Sort(_AL, "true", (("al.artist_sort_key", "text"), ("al.sort_key", "text")), "al.id"),
    "year": Sort(_AL, "true", (("coalesce(al.year, 0)", "integer"),), "al.id"),
    "added": Sort(_AL, "true", (("al.created_at", "timestamptz"),), "al.id", DESC),
    "played": _per_user(albums.KIND_ALBUM, "a.last_played", "a.last_played IS NOT NULL", _AL),
    "plays": _per_user(albums.KIND_ALBUM, "a.play_count", "a.play_count > 0", _AL),
    "rating": _per_user(albums.KIND_ALBUM, "a.rating", "a.rating IS NOT NULL", _AL),
}
# Artists listed are the album artists, as getArtists lists them.
ARTIST_SORTS: dict[str, Sort] = {
    "name": Sort(_AR, "ar.is_album_artist", (("ar.sort_key", "text"),), "ar.id"),
    "albums": Sort(_AR, "ar.is_album_artist", (("ar.album_count", "integer"),), "ar.id", DESC),
}


@dataclass(frozen=True, slots=True)
class Filters:
    """List filters: `genre_id` (orbsonic.library.genres.genre_id), `years` (inclusive),
    `format` (a suffix or codec, lower-case: "flac"), `folders` (music folder ids the caller may
    read and asked for; None = all), `starred` (True: only starred by the user, False: only
    not starred, None: either)."""

    genre_id: int | None = None
    years: YearRange | None = None
    format: str | None = None
    folders: Folders = None
    starred: bool | None = None


def _starred(kind: int, alias: str, starred: bool) -> str:
    cond = (f"EXISTS (SELECT 1 FROM annotations s WHERE s.user_id = %(user)s AND s.kind = {kind} "
            f"AND s.item_id = {alias}.id AND s.starred_at IS NOT NULL)")
    return cond if starred else "NOT " + cond


def _track_where(f: Filters) -> list[str]:
    out = []
    if f.genre_id is not None:
        out.append("EXISTS (SELECT 1 FROM track_genres tg WHERE tg.track_id = t.id "
                   "AND tg.genre_id = %(genre)s)")
    if f.years is not None:
        out.append("t.year BETWEEN %(lo)s AND %(hi)s")
    if f.format is not None:
        out.append("(t.suffix = %(format)s OR t.codec = %(format)s)")
    if f.folders is not None:
        out.append("t.folder_id = ANY(%(folders)s)")
    if f.starred is not None:
        out.append(_starred(tracks.KIND_TRACK, "t", f.starred))
    return out


def _album_where(f: Filters) -> list[str]:
    out = []
    if f.genre_id is not None:
        out.append("EXISTS (SELECT 1 FROM album_genres ag WHERE ag.album_id = al.id "
                   "AND ag.genre_id = %(genre)s)")
    if f.years is not None:
        out.append("al.year BETWEEN %(lo)s AND %(hi)s")
    if f.format is not None:
        # a per-album probe of tracks_album
        out.append("EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = al.id "
                   "AND (t.suffix = %(format)s OR t.codec = %(format)s))")
    if f.folders is not None:
        out.append("al.folder_id = ANY(%(folders)s)")
    if f.starred is not None:
        out.append(_starred(albums.KIND_ALBUM, "al", f.starred))
    return out


def _artist_where(f: Filters) -> list[str]:
    out = []
    if f.folders is not None:
        # the getArtists rule (orbsonic.library.artists.browse): an album in one of the folders
        out.append("""EXISTS (SELECT 1 FROM album_artists aa JOIN albums a2 ON a2.id = aa.album_id
                              WHERE aa.artist_id = ar.id AND a2.folder_id = ANY(%(folders)s) OFFSET 0)""")
    if f.starred is not None:
        out.append(_starred(3, "ar", f.starred))
    return out


def _json_key(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


async def page_ids(conn: AsyncConnection, sort: Sort, where: Sequence[str], order: str,
                   after: tuple[Any, ...] | None, limit: int,
                   args: dict[str, Any]) -> list[tuple[int, list[Any]]]:
    """Up to `limit` (id, key) pairs in `sort` and `order` ("asc"/"desc"), strictly after the
    key `after` (the sort's key values then the id, as a cursor holds them; None = from the
    start). `key` is the JSON-ready cursor key of that row."""
    if order not in (ASC, DESC):
        raise ValueError(f"unknown order {order!r}")
    direction, op = ("", ">") if order == ASC else (" DESC", "<")
    cols = [expr for expr, _ in sort.keys] + [sort.id]
    conds = [sort.base, *where]
    params = dict(args, limit=limit)
    if after is not None:
        placeholders = []
        for i, ((_, typ), value) in enumerate(zip((*sort.keys, ("", "bigint")), after)):
            params[f"k{i}"] = value
            placeholders.append(f"%(k{i})s::{typ}")
        conds.append(f"({', '.join(cols)}) {op} ({', '.join(placeholders)})")
    sql = (f"SELECT {', '.join(cols)} FROM {sort.source} WHERE {' AND '.join(conds)} "
           f"ORDER BY {', '.join(c + direction for c in cols)} LIMIT %(limit)s")
    cur = await conn.execute(sql, params)
    return [(row[-1], [_json_key(v) for v in row]) for row in await cur.fetchall()]


def _args(user_id: int, f: Filters) -> dict[str, Any]:
    return {"user": user_id, "genre": f.genre_id, "format": f.format, "folders": folder_list(f.folders),
            "lo": f.years.low if f.years else None, "hi": f.years.high if f.years else None}


def _check_arity(sort: Sort, after: tuple[Any, ...] | None) -> None:
    if after is not None and len(after) != len(sort.keys) + 1:
        raise ValueError("cursor key of another sort")


async def track_ids(conn: AsyncConnection, sort: str, order: str, after: tuple[Any, ...] | None, limit: int,
                    *, user_id: int, filters: Filters = Filters()) -> list[tuple[int, list[Any]]]:
    """A page of (track id, cursor key) in TRACK_SORTS[sort]. Raises KeyError (unknown sort),
    ValueError (bad order or key)."""
    s = TRACK_SORTS[sort]
    _check_arity(s, after)
    return await page_ids(conn, s, _track_where(filters), order, after, limit, _args(user_id, filters))


async def album_ids(conn: AsyncConnection, sort: str, order: str, after: tuple[Any, ...] | None, limit: int,
                    *, user_id: int, filters: Filters = Filters()) -> list[tuple[int, list[Any]]]:
    """A page of (album id, cursor key) in ALBUM_SORTS[sort]; see track_ids."""
    s = ALBUM_SORTS[sort]
    _check_arity(s, after)
    return await page_ids(conn, s, _album_where(filters), order, after, limit, _args(user_id, filters))


async def artist_ids(conn: AsyncConnection, sort: str, order: str, after: tuple[Any, ...] | None, limit: int,
                     *, user_id: int, filters: Filters = Filters()) -> list[tuple[int, list[Any]]]:
    """A page of (album-artist id, cursor key) in ARTIST_SORTS[sort]; only `folders` and
    `starred` of the filters apply to artists."""
    s = ARTIST_SORTS[sort]
    _check_arity(s, after)
    return await page_ids(conn, s, _artist_where(filters), order, after, limit, _args(user_id, filters))


async def total_samples(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, int | None]:
    """Track id → total samples (FLAC STREAMINFO; None when unknown), for the native Track's
    audio properties (tracks.hydrate leaves this column out: the Subsonic Child has no use
    for it)."""
    if not ids:
        return {}
    cur = await conn.execute("SELECT id, total_samples FROM tracks WHERE id = ANY(%s)", (list(ids),))
    return {r[0]: r[1] for r in await cur.fetchall()}
