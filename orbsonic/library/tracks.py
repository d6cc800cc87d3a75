"""Track queries: hydrate ids into full rows, and the narrow id lists that page them.

Every list is two-phase (client-compat §3.5): first select ids from a narrow index in a
deterministic order with the id as tiebreak, then `hydrate` just that page. Rows are
dicts; user annotations (star, rating, plays) of `user_id` are joined in. getRandomSongs is
the exception: `marks_random` samples and reads the reader's marks in one statement, the rest
of each song coming from the song cache (subsonic_api/song_cache.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg.types.json import set_json_loads

from orbsonic.library import sampling
from orbsonic.library.filters import Folders, YearRange, folder_list, in_folders

KIND_TRACK = 1

# Columns a song response needs. artist_links/genre_names come from the link tables.
# COLUMNS and JOINS are also composed into the one-statement pages (orbsonic.library.pages).
COLUMNS = """t.id, t.folder_id, t.directory_id, t.path, t.size, t.suffix, t.content_type, t.codec,
       t.bit_depth, t.sample_rate, t.channels, t.bitrate, t.duration_ms, t.title, t.sort_title,
       t.album_id, t.album_name, t.artist_id, t.artist_name, t.album_artist_name, t.composer_name,
       t.track_no, t.disc_no, t.year, t.genre, t.comment, t.bpm, t.explicit_status, t.isrc, t.moods,
       t.groupings,
       -- ReplayGain tags win; else the EBU R128 analysis (orbsonic/analysis/loudness.py)
       coalesce(t.rg_track_gain, t.r128_track_gain) AS rg_track_gain,
       coalesce(t.rg_track_peak, t.r128_track_peak) AS rg_track_peak,
       coalesce(t.rg_album_gain, t.r128_album_gain) AS rg_album_gain,
       coalesce(t.rg_album_peak, t.r128_album_peak) AS rg_album_peak,
       t.mbid_recording, t.created_at, t.has_picture, t.mtime_ns, t.own_cover,
       al.artist_id AS album_artist_id, al.cover_kind AS album_cover_kind,
       al.cover_mtime AS album_cover_mtime,
       an.starred_at, an.rating, coalesce(an.play_count, 0) AS play_count, an.last_played,
       (SELECT coalesce(json_agg(json_build_array(ta.role, ta.artist_id, ar.name)
                                 ORDER BY ta.role, ta.position), '[]')
          FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id
         WHERE ta.track_id = t.id) AS artist_links,
       (SELECT coalesce(array_agg((SELECT g.name FROM genres g WHERE g.id = tg.genre_id)
                                  ORDER BY tg.position), '{}')
          FROM track_genres tg WHERE tg.track_id = t.id) AS genre_names"""
ANNOTATION_JOIN = """
  LEFT JOIN LATERAL (SELECT a.starred_at, a.rating, a.play_count, a.last_played FROM annotations a
                      WHERE a.user_id = %(user)s AND a.kind = 1 AND a.item_id = t.id LIMIT 1) an ON true
"""
JOINS = """
  LEFT JOIN LATERAL (SELECT a.artist_id, a.cover_kind, a.cover_mtime FROM albums a
                      WHERE a.id = t.album_id LIMIT 1) al ON true""" + ANNOTATION_JOIN
def probe(track_id: str) -> str:
    """`CROSS JOIN LATERAL (...) t`: the track row whose id is `track_id` (an entry's column,
    e.g. "e.track_id"), as `t`, by one primary-key probe per entry; entries without a track
    yield no row, as an inner join does.

    For the entries of one playlist or play queue. As a plain `JOIN tracks t` the planner
    matches a 5,000-entry playlist by hashing the whole tracks table (an index-only scan of
    every track: 15 ms at 100k, 105-150 ms at 1M, more while the visibility map lags behind
    writes); a LATERAL subquery with LIMIT cannot be flattened into a join, so the cost
    follows the list's length, not the library's (tests/integration/test_explain.py)."""
    return f"CROSS JOIN LATERAL (SELECT t.* FROM tracks t WHERE t.id = {track_id} LIMIT 1) t"


# What a song list needs per entry when the rest of each song is already shaped
# (subsonic_api.song_cache): the id, the duration (playlist totals) and the user's annotations.
MARK_FIELDS = ("id", "duration_ms", "starred_at", "rating", "play_count", "last_played")
_MARK_EXPRS = ("t.id", "t.duration_ms", "an.starred_at", "an.rating", "coalesce(an.play_count, 0)",
               "an.last_played")


def mark_arrays(order: str) -> str:
    """Select-list of one array per MARK_FIELDS, aggregated in `order` (one row for a whole
    list: 6 arrays convert far faster than 5,000 rows). Over no rows each array is NULL."""
    return ", ".join(f"array_agg({e} ORDER BY {order}) AS {f}" for e, f in zip(_MARK_EXPRS, MARK_FIELDS))
_HYDRATE = f"SELECT {COLUMNS}\n  FROM tracks t{JOINS}"
# genre_names: track_genres_pkey already yields a track's genres by position, and a scalar
# lookup of each name keeps it that way (a join with genres built a hash table and a sort
# per track: 4.5 → 2.3 ms for a 500-song page). The LATERAL ... LIMIT 1 lookups (primary
# keys, so at most one row anyway) keep the planner on one index probe per hydrated row:
# as plain joins it hashes the whole albums and annotations tables for a 500-row page
# (tests/integration/test_explain.py).


async def hydrate(conn: AsyncConnection, ids: Sequence[int], user_id: int,
                  folders: Folders = None) -> list[dict[str, Any]]:
    """Full rows for `ids`, in the order given; ids without a row, or outside `folders`
    (the user's music folders; None = all), are skipped.

    Binary results: parsing 500 rows × 45 columns from text took 9 of the 14 ms of a
    500-song page's hydration, from binary about 5 (also in albums and artists)."""
    if not ids:
        return []
    async with conn.cursor(row_factory=dict_row, binary=True) as cur:
        # artist_links is json_agg text: the standard library's parser was a tenth of a
        # 5,000-song getPlaylist's server time, orjson's is several times faster (the values
        # are 63-bit ids and names, within what orjson reads exactly).
        set_json_loads(orjson.loads, cur)
        await cur.execute(_HYDRATE + " WHERE t.id = ANY(%(ids)s)" + in_folders("t.folder_id", folders),
                          {"user": user_id, "ids": list(ids), "folders": folder_list(folders)})
        rows = {r["id"]: r for r in await cur.fetchall()}
    return [rows[i] for i in ids if i in rows]


async def get(conn: AsyncConnection, track_id: int, user_id: int,
              folders: Folders = None) -> dict[str, Any] | None:
    """One full track row, or None (also when it is outside `folders`)."""
    rows = await hydrate(conn, [track_id], user_id, folders)
    return rows[0] if rows else None


async def file_info(conn: AsyncConnection, track_id: int, folders: Folders = None) -> dict[str, Any] | None:
    """What streaming needs, from the primary key alone: folder id and path, relative path,
    size, mtime_ns, content type, suffix, codec, duration_ms, bitrate (kbps), sample_rate (Hz),
    has_picture (an embedded cover). None when unknown or outside `folders`."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT t.folder_id, f.path AS root, t.path, t.size, t.mtime_ns, t.content_type, t.suffix,
                      t.codec, t.duration_ms, t.bitrate, t.sample_rate, t.has_picture
                 FROM tracks t JOIN music_folders f ON f.id = t.folder_id
                WHERE t.id = %s""" + in_folders("t.folder_id", folders, "%s"),
            (track_id, *([folder_list(folders)] if folders is not None else [])))
        return await cur.fetchone()


async def ids_by_album(conn: AsyncConnection, album_id: int, folders: Folders = None) -> list[int]:
    """Track ids of an album in disc, track, title order (index tracks_album); an album
    spanning music folders lists only its tracks in `folders`."""
    cur = await conn.execute(
        "SELECT id FROM tracks WHERE album_id = %s" + in_folders("folder_id", folders, "%s")
        + " ORDER BY disc_no, track_no, sort_title, id",
        (album_id, *([folder_list(folders)] if folders is not None else [])))
    return [r[0] for r in await cur.fetchall()]


async def ids_by_directory(conn: AsyncConnection, directory_id: int) -> list[int]:
    """Track ids directly inside a folder (index tracks_directory)."""
    cur = await conn.execute(
        "SELECT id FROM tracks WHERE directory_id = %s ORDER BY disc_no, track_no, sort_title, id",
        (directory_id,))
    return [r[0] for r in await cur.fetchall()]


BLOCK_BITS = 10  # track_id_blocks counts the tracks of each block of 2**10 ids (schema/0036)

# One statement (one snapshot: the counts and the rows agree): the first block whose
# running count passes the offset, then the ids from the start of that block — fewer than
# one block plus the page, whatever the offset.
_PAGE_FROM_BLOCK = """
WITH b AS (SELECT block, sum(n) AS n FROM track_id_blocks WHERE {folder_blocks} GROUP BY block),
     s AS (SELECT block, before FROM (SELECT block, n, sum(n) OVER (ORDER BY block) - n AS before FROM b) c
            WHERE before + n > %(offset)s ORDER BY block LIMIT 1)
SELECT s.before, t.id FROM s CROSS JOIN LATERAL (
    SELECT id FROM tracks WHERE id >= s.block << {bits} {folder_tracks} ORDER BY id LIMIT %(reach)s) t"""


async def ids_all(conn: AsyncConnection, offset: int, limit: int, folders: Folders = None) -> list[int]:
    """A page of every track in `folders` in id order (primary key index): the
    empty-query sync order (search3 ""). The page starts at the block of ids that holds
    its first row (track_id_blocks), so a deep offset costs what the first page does
    instead of a walk of `offset` index entries."""
    if limit <= 0:
        return []
    folder_blocks = "true" if folders is None else "folder_id = ANY(%(folders)s)"
    query = _PAGE_FROM_BLOCK.format(folder_blocks=folder_blocks, bits=BLOCK_BITS,
                                    folder_tracks=in_folders("folder_id", folders))
    cur = await conn.execute(query, {"offset": offset, "reach": (1 << BLOCK_BITS) + limit,
                                     "folders": folder_list(folders)})
    rows = await cur.fetchall()
    if not rows:
        return []
    skip = offset - int(rows[0][0])  # rows of the block before the page
    return [r[1] for r in rows[skip:skip + limit]]


async def ids_random(conn: AsyncConnection, size: int, *, genre_id: int | None = None,
                     years: YearRange | None = None, folders: Folders = None) -> list[int]:
    """Up to `size` track ids, a fresh uniform sample of the tracks in `folders` (None = all)
    matching the filters, in random order.

    Random probes into the id sequence (orbsonic.library.sampling); the fallback for
    small matching sets takes a genre's ids from the narrow track_genres index.
    """
    where, args = _filters(None, years, folders)
    fallback_args: tuple[Any, ...] = args
    if genre_id is None:
        fallback = f"SELECT t.id FROM tracks t WHERE true {where} ORDER BY random() LIMIT %s"
    elif not where:  # the genre alone: its ids straight from the narrow index, no table access
        fallback = "SELECT track_id FROM track_genres WHERE genre_id = %s ORDER BY random() LIMIT %s"
        fallback_args = (genre_id,)
    else:
        fallback = f"""SELECT t.id FROM track_genres g JOIN tracks t ON t.id = g.track_id
                        WHERE g.genre_id = %s {where} ORDER BY random() LIMIT %s"""
        fallback_args = (genre_id, *args)
    if genre_id is not None:
        where += " AND EXISTS (SELECT 1 FROM track_genres tg WHERE tg.track_id = t.id AND tg.genre_id = %s)"
        args = (*args, genre_id)
    return await sampling.sample(conn, size, table="tracks t", key="t.id", select="t.id", where=where,
                                 args=args, fallback=fallback, fallback_args=fallback_args)


# getRandomSongs in one round trip when the song cache holds the rest of each song: `probes`
# draws with replacement of an id between min(id) and max(id) (both ends of the primary key),
# each looked up (LATERAL … LIMIT 1: one index probe per draw, never a hash of the table) and
# kept when it exists and passes the filters (applied outside the LIMIT 1, so they cannot steer
# the probe to another index: with the year range inside, the planner walked tracks_year's whole
# range once per draw, 5 ms), the first draw of each id wins, and the first
# `size` of those in draw order are the sample, with the reader's marks (MARK_FIELDS arrays).
# A rejection sampler: each next kept id is uniform among the matching ids not yet kept, so the
# `size` kept ids are a uniform sample without replacement in random order. `hits` (distinct ids
# found) sizes the next call's draws. random() is the backend's own generator (pg_prng, seeded
# per backend from the OS), so each call is a fresh draw. Every parameter is read through a
# scalar subquery, which the planner cannot see into: the plan is the same whatever the values,
# so once the statement is prepared (psycopg's prepare_threshold) PostgreSQL keeps its generic
# plan. With the values visible it re-planned every call (custom plans looked cheaper than the
# generic one's guess of 1,000 draws): 0.25 ms planning of a 0.55 ms statement.
_RANDOM_MARKS = """
WITH b AS (SELECT min(id) AS lo, max(id) - min(id) + 1 AS span FROM tracks),
     p AS MATERIALIZED (SELECT g AS ord, b.lo + floor(random() * b.span)::bigint AS v
                          FROM b, generate_series(1, (SELECT %(probes)s::int)) g),
     h AS (SELECT DISTINCT ON (m.id) m.id, m.duration_ms, p.ord
             FROM p CROSS JOIN LATERAL (SELECT t.id, t.duration_ms, t.year, t.folder_id FROM tracks t
                                         WHERE t.id = p.v LIMIT 1) m
            WHERE true {where}
            ORDER BY m.id, p.ord),
     t AS (SELECT * FROM h ORDER BY ord LIMIT (SELECT %(size)s::int))
SELECT (SELECT count(*) FROM h) AS hits, {marks}
  FROM t""" + ANNOTATION_JOIN.replace("%(user)s", "(SELECT %(user)s::int)")
FAST_MAX_PROBES = 1_000   # more draws (a selective filter, ~1 µs each): sampling.sample decides
_rates: dict[tuple[Any, ...], float] = {}  # hits per draw last seen, by filter set (bounded below)


def random_marks_query(genre_id: int | None, years: YearRange | None,
                       folders: Folders) -> tuple[str, dict[str, Any]]:
    """_RANDOM_MARKS with the filters, and their arguments (without user, size and probes)."""
    where = ""
    args: dict[str, Any] = {"folders": folder_list(folders)}
    if years is not None:
        where += " AND m.year BETWEEN (SELECT %(year_lo)s::int) AND (SELECT %(year_hi)s::int)"
        args.update(year_lo=years.low, year_hi=years.high)
    where += in_folders("m.folder_id", folders, "(SELECT %(folders)s::int[])::int[]")
    if genre_id is not None:
        where += (" AND EXISTS (SELECT 1 FROM track_genres tg"
                  " WHERE tg.track_id = m.id AND tg.genre_id = (SELECT %(genre)s::bigint))")
        args["genre"] = genre_id
    return _RANDOM_MARKS.format(where=where, marks=mark_arrays("t.ord")), args


async def marks_random(conn: AsyncConnection, size: int, user_id: int, *, genre_id: int | None = None,
                       years: YearRange | None = None, folders: Folders = None) -> list[tuple[Any, ...]]:
    """What ids_random samples (up to `size` tracks in `folders` matching the filters, a fresh
    uniform sample in random order), as MARK_FIELDS tuples of `user_id` for the song cache.

    Usually one statement (_RANDOM_MARKS). When its draws found fewer than `size` (few
    matching tracks, a sparse id range, or an unlucky draw) the answer is ids_random's, whose
    rounds and sorted fallback are exact, and that draw is discarded: whether a draw is kept
    does not depend on which matching ids it found, so the kept ones stay uniform."""
    if size <= 0:
        return []
    key = (genre_id, years, None if folders is None else tuple(sorted(folders)))
    rate = _rates.get(key, 0.25 if key != (None, None, None) else 1.0)
    probes = math.ceil(size * 1.25 / rate) + 16
    if probes <= FAST_MAX_PROBES:
        query, args = random_marks_query(genre_id, years, folders)
        async with conn.cursor(binary=True) as cur:
            await cur.execute(query, {**args, "user": user_id, "size": size, "probes": probes})
            row = await cur.fetchone()
        assert row is not None  # an aggregate over no rows is still a row
        if len(_rates) > 256:
            _rates.clear()
        _rates[key] = min(1.0, max(int(row[0]), 0.5) / probes)
        if row[1] is not None and len(row[1]) >= size:
            return list(zip(*row[1:]))
    ids = await ids_random(conn, size, genre_id=genre_id, years=years, folders=folders)
    return await marks_of(conn, ids, user_id)


async def marks_of(conn: AsyncConnection, ids: Sequence[int], user_id: int) -> list[tuple[Any, ...]]:
    """MARK_FIELDS tuples of `user_id` for `ids`, in the order given (ids without a track skipped)."""
    if not ids:
        return []
    async with conn.cursor(binary=True) as cur:
        await cur.execute(f"SELECT {', '.join(_MARK_EXPRS)} FROM tracks t{ANNOTATION_JOIN}"
                          " WHERE t.id = ANY(%(ids)s)", {"user": user_id, "ids": list(ids)})
        found = {r[0]: tuple(r) for r in await cur.fetchall()}
    return [found[i] for i in ids if i in found]


async def annotations_of(conn: AsyncConnection, ids: Sequence[int],
                         user_id: int) -> dict[int, tuple[Any, ...]]:
    """The annotations `user_id` has of the tracks `ids`, by track id: (starred_at, rating,
    play_count, last_played), MARK_FIELDS after id and duration; tracks without one are
    absent. For lists of ids known only after a query of their own (a smart playlist's)."""
    if not ids:
        return {}
    async with conn.cursor(binary=True) as cur:
        await cur.execute("SELECT item_id, starred_at, rating, play_count, last_played FROM annotations"
                          " WHERE user_id = %s AND kind = %s AND item_id = ANY(%s)",
                          (user_id, KIND_TRACK, sorted(set(ids))))
        return {r[0]: tuple(r[1:]) for r in await cur.fetchall()}


async def ids_by_genre(conn: AsyncConnection, genre_id: int, offset: int, limit: int,
                       folders: Folders = None) -> list[int]:
    """A page of a genre's tracks in `folders` in album order (album name, album id), then
    disc, track, title, id: how a listener browses a genre (getSongsByGenre), not insertion order.

    The genre's ids come from the narrow track_genres_genre index and only they are sorted
    (a top-N sort of one genre's matches, never of the whole table: test_explain.py);
    within an album the order is that of the tracks_album index."""
    where, args = _filters(None, None, folders)
    cur = await conn.execute(
        f"""SELECT t.id FROM track_genres tg JOIN tracks t ON t.id = tg.track_id
              LEFT JOIN LATERAL (SELECT a.sort_key FROM albums a WHERE a.id = t.album_id LIMIT 1) al ON true
             WHERE tg.genre_id = %s {where}
             ORDER BY al.sort_key, t.album_id, t.disc_no, t.track_no, t.sort_title, t.id
             OFFSET %s LIMIT %s""",
        (genre_id, *args, offset, limit))
    return [r[0] for r in await cur.fetchall()]


def _filters(genre_id: int | None, years: YearRange | None,
             folders: Folders) -> tuple[str, tuple[Any, ...]]:
    clauses: list[str] = []
    args: list[Any] = []
    if years is not None:
        clauses.append("t.year BETWEEN %s AND %s")
        args += [years.low, years.high]
    if folders is not None:
        clauses.append("t.folder_id = ANY(%s)")
        args.append(folder_list(folders))
    return "".join(" AND " + c for c in clauses), tuple(args)
