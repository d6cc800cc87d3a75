"""The deprecated Subsonic `search` (v1, docs/subsonic-spec.md §3 Searching): artist, album,
title and any criteria, a page of matching songs and the total number of hits.

The criteria are joined into one query for orbsonic.library.search (a track's
search_text holds its title, artist and album, so each word must match one of them);
`newerThan` (ms since the epoch) keeps tracks added after that time. At most MAX_HITS
matches are counted: totalHits is exact below that, and pages past it are empty.
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection

from orbsonic.library import search
from orbsonic.library.filters import Folders

MAX_HITS = 5000
MAX_MS = 10**15  # latest newerThan taken as given (PostgreSQL timestamps end in 294276 AD)


@dataclass(frozen=True, slots=True)
class Hits:
    """One page of matching track ids (in search rank order) and the number of matches."""

    track_ids: list[int]
    total: int


async def search_v1(conn: AsyncConnection, criteria: list[str], offset: int, count: int,
                    newer_than_ms: int | None, folders: Folders = None) -> Hits:
    """Tracks matching every word of `criteria` (empty strings ignored) in `folders`
    (None = all). No criteria: no hits (v1 has no "match everything")."""
    query = search.normalize_query(" ".join(c for c in criteria if c))
    if not query:
        return Hits([], 0)
    ids = await search.search_ids(conn, "tracks", query, 0, MAX_HITS, folders)
    if newer_than_ms is not None and ids:
        cur = await conn.execute(
            "SELECT id FROM tracks WHERE id = ANY(%s) AND created_at > to_timestamp(%s / 1000.0)",
            (ids, newer_than_ms))
        newer = {r[0] for r in await cur.fetchall()}
        ids = [i for i in ids if i in newer]
    return Hits(ids[offset:offset + count], len(ids))
