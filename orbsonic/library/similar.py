"""Similar artists, instant mixes (getSimilarSongs) and top songs (getTopSongs).

Every query is a bounded number of index probes, so that it costs the same at 1M tracks as at
1k (no scan or sort of a whole table; sorts only over the few hundred rows probed):

* local similar artists = shared genres (the seed's albums' genres, album_genres; for the top
  three genres the first GENRE_ALBUMS albums of each, index album_genres_genre, and their
  album artists) plus co-listening (the LISTENERS users who played the seed artist most,
  index annotations_item_plays, and each one's TOP_PER_LISTENER most played artists, index
  annotations_frequent), co-listening weighing more;
* provider similar artists (Last.fm, cached) are matched to the library by name (an artist's id
  is derived from its folded name) and come first; local ones fill up to `count`;
* an instant mix draws tracks from the seed's artist, the similar artists, the seed's genres
  and what the seed's listeners play most. Each artist and genre is read from a random pivot
  in its index range (`track_id >= pivot`, then wrapping below it), at most PER_SOURCE rows,
  and the draw is shuffled: a new mix on every call;
* top songs = server-wide play counts (annotations of every user, index annotations_item_plays)
  of the artist's tracks, then the provider's top tracks matched to them by title.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import AsyncConnection

from orbsonic.ids import fold, key_id
from orbsonic.library.filters import Folders, folder_list, in_folders

GENRE_ALBUMS = 400
LISTENERS = 50
TOP_PER_LISTENER = 50
PER_SOURCE = 200
ARTIST_TRACKS_MATCHED = 5000  # an artist's tracks looked at when matching provider top tracks


def artist_id_of(name: str) -> int:
    """The id an artist called `name` has in the library (the scanner's key_id of its folded name)."""
    return key_id("artist", fold(name))


_LOCAL_SIMILAR = """
WITH seed_genres AS (
    SELECT ag.genre_id, count(*) AS n FROM album_artists aa JOIN album_genres ag ON ag.album_id = aa.album_id
     WHERE aa.artist_id = %(a)s GROUP BY ag.genre_id ORDER BY n DESC, ag.genre_id LIMIT 3),
by_genre AS (
    SELECT aa.artist_id, count(*)::float8 AS w FROM seed_genres g
     CROSS JOIN LATERAL (SELECT album_id FROM album_genres x WHERE x.genre_id = g.genre_id
                          ORDER BY x.sort_key, x.album_id LIMIT %(genre_albums)s) ga
      JOIN album_artists aa ON aa.album_id = ga.album_id
     GROUP BY aa.artist_id),
listeners AS (
    SELECT user_id FROM annotations WHERE kind = 3 AND item_id = %(a)s AND play_count > 0
     ORDER BY play_count DESC, user_id LIMIT %(listeners)s),
by_listening AS (
    SELECT t.item_id AS artist_id, 5.0 * count(*) AS w FROM listeners l
     CROSS JOIN LATERAL (SELECT item_id FROM annotations an WHERE an.user_id = l.user_id AND an.kind = 3
                          AND an.play_count > 0 ORDER BY an.play_count DESC, an.item_id
                          LIMIT %(per_listener)s) t
     GROUP BY t.item_id)
SELECT artist_id FROM (SELECT * FROM by_genre UNION ALL SELECT * FROM by_listening) s
 WHERE artist_id <> %(a)s GROUP BY artist_id ORDER BY sum(w) DESC, artist_id LIMIT %(limit)s"""


async def local_similar_artists(conn: AsyncConnection, artist_id: int, limit: int) -> list[int]:
    """Artist ids most like `artist_id` by shared genres and co-listening, best first."""
    cur = await conn.execute(_LOCAL_SIMILAR, {"a": artist_id, "genre_albums": GENRE_ALBUMS,
                                              "listeners": LISTENERS, "per_listener": TOP_PER_LISTENER,
                                              "limit": limit})
    return [r[0] for r in await cur.fetchall()]


@dataclass(frozen=True, slots=True)
class SimilarArtists:
    """`present`: artist ids in the library (and the reader's folders), best first;
    `absent`: names of provider artists the library lacks (includeNotPresent)."""

    present: list[int]
    absent: list[str]


async def _visible(conn: AsyncConnection, ids: Sequence[int], folders: Folders) -> set[int]:
    if not ids:
        return set()
    cur = await conn.execute(
        "SELECT ar.id FROM artists ar WHERE ar.id = ANY(%(ids)s) AND (ar.album_count > 0 OR ar.song_count > 0)"
        + ("" if folders is None else """ AND EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                                          WHERE ta.artist_id = ar.id AND t.folder_id = ANY(%(folders)s) OFFSET 0)"""),
        {"ids": list(ids), "folders": folder_list(folders)})
    return {r[0] for r in await cur.fetchall()}


async def similar_artists(conn: AsyncConnection, artist_id: int, provider: Sequence[dict[str, str]],
                          count: int, folders: Folders, include_absent: bool = False) -> SimilarArtists:
    """The provider's similar artists found in the library (in its order), then local ones,
    at most `count` present artists; with `include_absent`, up to `count` in all with the
    provider's names the library lacks."""
    named = [(p["name"], artist_id_of(p["name"])) for p in provider if p.get("name")]
    local = await local_similar_artists(conn, artist_id, max(count, 1) * 2)
    visible = await _visible(conn, [i for _, i in named] + local, folders)
    present: list[int] = []
    absent: list[str] = []
    for name, ident in named:
        if ident == artist_id:
            continue
        if ident in visible:
            if ident not in present:
                present.append(ident)
        elif include_absent:
            absent.append(name)
    for ident in local:
        if ident in visible and ident not in present:
            present.append(ident)
    present = present[:count]
    return SimilarArtists(present, absent[:max(0, count - len(present))] if include_absent else [])


# ------------------------------------------------------------------ instant mix

_BY_ARTISTS = """
SELECT x.track_id FROM unnest(%(ids)s::bigint[], %(pivots)s::bigint[]) AS s(artist_id, pivot)
 CROSS JOIN LATERAL (
     (SELECT ta.track_id FROM track_artists ta WHERE ta.artist_id = s.artist_id AND ta.role = 'artist'
         AND ta.track_id >= s.pivot ORDER BY ta.track_id LIMIT %(n)s)
     UNION ALL
     (SELECT ta.track_id FROM track_artists ta WHERE ta.artist_id = s.artist_id AND ta.role = 'artist'
         AND ta.track_id < s.pivot ORDER BY ta.track_id LIMIT %(n)s)) x"""
_BY_GENRES = """
SELECT x.track_id FROM unnest(%(ids)s::bigint[], %(pivots)s::bigint[]) AS s(genre_id, pivot)
 CROSS JOIN LATERAL (
     (SELECT tg.track_id FROM track_genres tg WHERE tg.genre_id = s.genre_id AND tg.track_id >= s.pivot
       ORDER BY tg.track_id LIMIT %(n)s)
     UNION ALL
     (SELECT tg.track_id FROM track_genres tg WHERE tg.genre_id = s.genre_id AND tg.track_id < s.pivot
       ORDER BY tg.track_id LIMIT %(n)s)) x"""
_CO_LISTENED = """
WITH listeners AS (
    SELECT user_id FROM annotations WHERE kind = 3 AND item_id = %(a)s AND play_count > 0
     ORDER BY play_count DESC, user_id LIMIT %(listeners)s)
SELECT t.item_id FROM listeners l
 CROSS JOIN LATERAL (SELECT item_id FROM annotations an WHERE an.user_id = l.user_id AND an.kind = 1
                      AND an.play_count > 0 ORDER BY an.play_count DESC, an.item_id LIMIT %(n)s) t"""


@dataclass(frozen=True, slots=True)
class Seed:
    """What an instant mix starts from: an artist, its genres, and a track to leave out."""

    artist_id: int | None
    genre_ids: list[int]
    track_id: int | None = None


async def seed_of(conn: AsyncConnection, kind: str, item_id: int, folders: Folders) -> Seed | None:
    """The seed of a song ("tr"), album ("al") or artist ("ar"), or None when it is unknown or
    outside `folders`."""
    f = in_folders("t.folder_id", folders)
    params = {"id": item_id, "folders": folder_list(folders)}
    if kind == "tr":
        cur = await conn.execute(f"""SELECT t.artist_id, array(SELECT genre_id FROM track_genres g WHERE g.track_id = t.id
                                                            ORDER BY g.position) FROM tracks t WHERE t.id = %(id)s {f}""",
                                 params)
        row = await cur.fetchone()
        return Seed(row[0], list(row[1]), item_id) if row else None
    if kind == "al":
        cur = await conn.execute(f"""SELECT a.artist_id, array(SELECT genre_id FROM album_genres g WHERE g.album_id = a.id
                                                            ORDER BY g.position) FROM albums a
                                      WHERE a.id = %(id)s AND EXISTS (SELECT 1 FROM tracks t
                                            WHERE t.album_id = a.id {f})""", params)
        row = await cur.fetchone()
        return Seed(row[0], list(row[1])) if row else None
    cur = await conn.execute(f"""SELECT array(SELECT ag.genre_id FROM album_artists aa
                                          JOIN album_genres ag ON ag.album_id = aa.album_id
                                         WHERE aa.artist_id = %(id)s GROUP BY ag.genre_id
                                         ORDER BY count(*) DESC, ag.genre_id LIMIT 3)
                                  FROM artists ar WHERE ar.id = %(id)s AND EXISTS (
                                       SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                                        WHERE ta.artist_id = ar.id {f} OFFSET 0)""", params)
    row = await cur.fetchone()
    return Seed(item_id, list(row[0])) if row else None


async def _max_track_id(conn: AsyncConnection) -> int:
    cur = await conn.execute("SELECT max(id) FROM tracks")  # the primary key's last entry
    row = await cur.fetchone()
    return int(row[0] or 1) if row else 1


async def _draw(conn: AsyncConnection, query: str, ids: Sequence[int], top: int, n: int,
                rng: random.Random) -> list[int]:
    if not ids:
        return []
    pivots = [rng.randint(1, max(1, top)) for _ in ids]
    cur = await conn.execute(query, {"ids": list(ids), "pivots": pivots, "n": n})
    out = [r[0] for r in await cur.fetchall()]
    rng.shuffle(out)
    return out


async def instant_mix(conn: AsyncConnection, seed: Seed, similar: Sequence[int], count: int,
                      folders: Folders, rng: random.Random | None = None) -> list[int]:
    """Up to `count` distinct track ids in the reader's folders: about a quarter from the
    seed's artist, half from the similar artists, the rest from the seed's genres and what
    its listeners play, interleaved and shuffled (a new mix on every call)."""
    rng = rng or random.Random()
    top = await _max_track_id(conn)
    own = await _draw(conn, _BY_ARTISTS, [seed.artist_id] if seed.artist_id else [], top, PER_SOURCE, rng)
    alike = await _draw(conn, _BY_ARTISTS, list(similar), top, max(10, PER_SOURCE // max(1, len(similar))), rng)
    genre = await _draw(conn, _BY_GENRES, seed.genre_ids[:3], top, PER_SOURCE, rng)
    heard: list[int] = []
    if seed.artist_id:
        cur = await conn.execute(_CO_LISTENED, {"a": seed.artist_id, "listeners": LISTENERS, "n": 20})
        heard = [r[0] for r in await cur.fetchall()]
        rng.shuffle(heard)
    quota = [(own, max(1, count // 4)), (alike, max(1, count // 2)), (genre, max(1, count // 8)),
             (heard, max(1, count // 8))]
    picked: list[int] = []
    seen = {seed.track_id} if seed.track_id else set()
    for pool, want in quota:
        taken = 0
        for t in pool:
            if taken >= want:
                break
            if t not in seen:
                seen.add(t)
                picked.append(t)
                taken += 1
    for pool in (alike, own, genre, heard):  # fill what a thin source left over
        for t in pool:
            if t not in seen:
                seen.add(t)
                picked.append(t)
    readable = await _readable(conn, picked, folders)
    picked = [t for t in picked if t in readable][:count]
    rng.shuffle(picked)
    return picked


async def _readable(conn: AsyncConnection, ids: Sequence[int], folders: Folders) -> set[int]:
    if not ids:
        return set()
    cur = await conn.execute("SELECT t.id FROM tracks t WHERE t.id = ANY(%(ids)s)" + in_folders("t.folder_id", folders),
                             {"ids": list(ids), "folders": folder_list(folders)})
    return {r[0] for r in await cur.fetchall()}


# ------------------------------------------------------------------ top songs

_PLAYED = """
SELECT ta.track_id FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
  JOIN LATERAL (SELECT sum(an.play_count) AS plays FROM annotations an
                 WHERE an.kind = 1 AND an.item_id = ta.track_id AND an.play_count > 0) p ON p.plays > 0
 WHERE ta.artist_id = %(a)s AND ta.role = 'artist' {folders}
 ORDER BY p.plays DESC, ta.track_id LIMIT %(n)s"""


async def top_songs(conn: AsyncConnection, artist_id: int, provider: Sequence[dict[str, str]], count: int,
                    folders: Folders) -> list[int]:
    """The artist's most played tracks on this server (every user's plays), then the
    provider's top tracks found among the artist's tracks by title; at most `count`."""
    f = in_folders("t.folder_id", folders)
    cur = await conn.execute(_PLAYED.format(folders=f), {"a": artist_id, "n": count,
                                                         "folders": folder_list(folders)})
    out = [r[0] for r in await cur.fetchall()]
    if len(out) >= count or not provider:
        return out[:count]
    cur = await conn.execute(
        f"""SELECT t.id, t.title FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
             WHERE ta.artist_id = %(a)s AND ta.role = 'artist' {f} ORDER BY ta.track_id LIMIT %(n)s""",
        {"a": artist_id, "n": ARTIST_TRACKS_MATCHED, "folders": folder_list(folders)})
    by_title: dict[str, int] = {}
    for ident, title in await cur.fetchall():
        by_title.setdefault(fold(title), ident)
    seen = set(out)
    for p in provider:
        ident = by_title.get(fold(p.get("name", "")))
        if ident is not None and ident not in seen:
            seen.add(ident)
            out.append(ident)
            if len(out) >= count:
                break
    return out
