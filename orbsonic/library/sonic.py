"""Sonic similarity queries (OpenSubsonic `sonicSimilarity`): similar tracks and sonic paths,
hydrated for a user. The vectors and the index are orbsonic/analysis/sonic.py's.

Both answer only tracks the user may read (`folders`), and raise NotFound for a seed the user
cannot see. A track not analysed yet has no neighbours (an empty list); a path between tracks
of which one is not analysed is just the two ends, the end with similarity -1 ("similarity not
known", as SonicMatch.similarity allows).
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from orbsonic.analysis.sonic import current_index
from orbsonic.errors import NotFound
from orbsonic.library import tracks
from orbsonic.library.filters import Folders

__all__ = ["path", "similar"]

# Extra neighbours asked of the index: some may be gone from the library since it was built.
_SLACK = 8


async def _visible(conn: AsyncConnection, track_id: int, user_id: int, folders: Folders) -> dict[str, Any]:
    row = await tracks.get(conn, track_id, user_id, folders)
    if row is None:
        raise NotFound("song", track_id)
    return row


async def similar(conn: AsyncConnection, track_id: int, count: int, user_id: int,
                  folders: Folders) -> list[tuple[dict[str, Any], float]]:
    """Up to `count` (track row, similarity 0..1) most similar to `track_id`, best first."""
    await _visible(conn, track_id, user_id, folders)
    index = await current_index(conn)
    pairs = index.similar(track_id, count + _SLACK if count else 0, folders)
    rows = {r["id"]: r for r in await tracks.hydrate(conn, [p[0] for p in pairs], user_id, folders)}
    return [(rows[t], s) for t, s in pairs if t in rows][:count]


async def path(conn: AsyncConnection, start: int, end: int, count: int, user_id: int,
               folders: Folders) -> list[tuple[dict[str, Any], float]]:
    """A smooth path of at most `count` tracks from `start` to `end` (both included)."""
    first = await _visible(conn, start, user_id, folders)
    last = await _visible(conn, end, user_id, folders)
    index = await current_index(conn)
    pairs = index.path(start, end, count, folders)
    if pairs is None:
        return [(first, 1.0)] if start == end else [(first, 1.0), (last, -1.0)]
    rows = {r["id"]: r for r in await tracks.hydrate(conn, [p[0] for p in pairs], user_id, folders)}
    return [(rows[t], s) for t, s in pairs if t in rows]
