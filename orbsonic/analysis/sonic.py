"""The sonic-similarity index: nearest neighbours and smooth paths between tracks.

The raw feature vectors (orbsonic/analysis/features.py) live in PostgreSQL (`track_sonic.vec`,
float32 bytes; schema/0025_sonic_features.sql). Each process keeps one in-memory index built
from them — every dimension standardised over the library (z-score), each feature group
weighted (`features.GROUP_WEIGHTS`), each vector scaled to unit length — and rebuilds it when
`sonic_state.version` moved (the analysis job bumps it after every album it stores; at most
one rebuild per REBUILD_S while it keeps moving). Checking
the version is one primary-key read per request, so every worker and replica answers from the
same data; the index is a cache of PostgreSQL, not state of its own.

Similarity is the cosine of two index vectors mapped to 0..1: (cos + 1) / 2 — 1.0 the same
song, 0.0 the opposite (OpenSubsonic SonicMatch.similarity). One query is a matrix–vector product
over the N×46 float32 matrix (100k tracks: 18 MB, a few ms); `path` is one k×N product for its
k interpolated points.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from psycopg import AsyncConnection

from orbsonic.analysis.features import DIM, GROUP_WEIGHTS, GROUPS

__all__ = ["SonicIndex", "current_index", "normalise"]

_STD_FLOOR = 1e-4


def normalise(raw: np.ndarray) -> np.ndarray:
    """Unit vectors (N×DIM float32) from raw features: z-scored per dimension over the rows,
    each group scaled so that its dimensions together weigh GROUP_WEIGHTS[group]."""
    if raw.shape[0] == 0:
        return raw.astype(np.float32)
    z = (raw - raw.mean(axis=0)) / np.maximum(raw.std(axis=0), _STD_FLOOR)
    scale = np.ones(DIM, dtype=np.float64)
    for name, part in GROUPS.items():
        width = part.stop - part.start
        scale[part] = math.sqrt(GROUP_WEIGHTS[name] / width)
    weighted = z * scale
    norms = np.linalg.norm(weighted, axis=1, keepdims=True)
    return (weighted / np.maximum(norms, 1e-9)).astype(np.float32)


@dataclass(frozen=True)
class SonicIndex:
    """Analysed tracks: `ids` (track ids), `folders` (their music folder ids), `vecs` (unit
    vectors, row i for ids[i]) and the `version` of sonic_state they were built at."""

    version: int
    ids: np.ndarray
    folders: np.ndarray
    vecs: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "_pos", {int(t): i for i, t in enumerate(self.ids.tolist())})

    def position(self, track_id: int) -> int | None:
        """The row of `track_id`, or None when it has not been analysed."""
        return self._pos.get(track_id)  # type: ignore[attr-defined, no-any-return]

    def _allowed(self, folders: Sequence[int] | None) -> np.ndarray | None:
        return None if folders is None else np.isin(self.folders, np.asarray(list(folders), dtype=np.int64))

    @staticmethod
    def similarity(cos: float | np.ndarray) -> float | np.ndarray:
        """Cosine → SonicMatch similarity in 0..1."""
        return np.clip((np.asarray(cos) + 1.0) / 2.0, 0.0, 1.0)

    def similar(self, track_id: int, count: int, folders: Sequence[int] | None = None
                ) -> list[tuple[int, float]]:
        """Up to `count` (track id, similarity) pairs nearest to `track_id`, most similar
        first, the track itself left out; only tracks in `folders` (None: all). [] when the
        track has not been analysed."""
        i = self.position(track_id)
        if i is None or count <= 0:
            return []
        cos = self.vecs @ self.vecs[i]
        cos[i] = -np.inf
        allowed = self._allowed(folders)
        if allowed is not None:
            cos[~allowed] = -np.inf
        k = min(count, int(np.isfinite(cos).sum()))
        if k <= 0:
            return []
        top = np.argpartition(-cos, k - 1)[:k]
        top = top[np.lexsort((self.ids[top], -cos[top]))]  # ties: lower id first (deterministic)
        return [(int(self.ids[j]), float(self.similarity(cos[j]))) for j in top]

    def path(self, start: int, end: int, count: int, folders: Sequence[int] | None = None
             ) -> list[tuple[int, float]] | None:
        """A smooth path of at most `count` tracks (at least the two ends) from `start` to
        `end`, similarities to `start`. None when either end has not been analysed.

        Candidates: the ends' nearest tracks and those of points spaced along the great circle
        from one end to the other (spherical interpolation) — a tube around the direct way,
        at most a few hundred tracks. Among them, the walk of exactly count − 1 steps from start
        to end with the least sum of *squared* step lengths (a min-plus dynamic programme, one
        m×m step per hop): squaring makes even, small steps cheaper than a few big jumps, so
        the walk follows where the tracks are instead of cutting through empty space."""
        a, b = self.position(start), self.position(end)
        if a is None or b is None:
            return None
        if start == end:
            return [(start, 1.0)]
        allowed = self._allowed(folders)
        cand = self._candidates(a, b, count, allowed)
        steps = min(max(1, count - 1), len(cand) - 1)
        local = self.vecs[cand].astype(np.float64)
        dist = np.maximum(0.0, 2.0 - 2.0 * (local @ local.T))  # squared chord lengths
        np.fill_diagonal(dist, np.inf)
        ia, ib = 0, 1  # cand[0] is a, cand[1] is b
        dist[:, ia] = np.inf  # never back to the start
        cost = np.full(len(cand), np.inf)
        cost[ia] = 0.0
        back = np.zeros((steps, len(cand)), dtype=np.int64)
        for step in range(steps):
            hop = dist.copy()
            if step < steps - 1:
                hop[:, ib] = np.inf  # the end only as the last track
            total = cost[:, None] + hop
            back[step] = np.argmin(total, axis=0)
            cost = total[back[step], np.arange(len(cand))]
        order = [ib]
        for step in range(steps - 1, -1, -1):
            order.append(int(back[step][order[-1]]))
        seen: set[int] = set()
        local_walk = [i for i in reversed(order) if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
        local_walk = self._fill(local_walk, steps + 1, local)
        walk = [int(cand[i]) for i in local_walk]
        cos = self.vecs[walk] @ self.vecs[a]
        return [(int(self.ids[j]), 1.0 if j == a else float(self.similarity(c))) for j, c in zip(walk, cos)]

    @staticmethod
    def _fill(walk: list[int], want: int, local: np.ndarray) -> list[int]:
        """A walk that revisited a track (a 2-cycle of the programme) is short: insert unused
        candidates where they lengthen it least (cheapest insertion, squared lengths)."""
        if len(walk) >= want:
            return walk
        dist = np.maximum(0.0, 2.0 - 2.0 * (local @ local.T))
        unused = np.setdiff1d(np.arange(local.shape[0]), walk)
        while len(walk) < want and unused.size:
            w = np.asarray(walk)
            delta = dist[w[:-1]][:, unused] + dist[unused][:, w[1:]].T - dist[w[:-1], w[1:]][:, None]
            gap, pick = np.unravel_index(int(np.argmin(delta)), delta.shape)
            walk.insert(int(gap) + 1, int(unused[pick]))
            unused = np.delete(unused, pick)
        return walk

    def _candidates(self, a: int, b: int, count: int, allowed: np.ndarray | None) -> np.ndarray:
        """Rows a, b first, then the nearest rows of both ends and of up to 6 points between."""
        va, vb = self.vecs[a].astype(np.float64), self.vecs[b].astype(np.float64)
        points = max(0, min(count - 2, 6))
        ts = np.arange(0, points + 2) / (points + 1)
        omega = math.acos(max(-1.0, min(1.0, float(va @ vb))))
        if omega < 1e-6:
            line = np.outer(1 - ts, va) + np.outer(ts, vb)
        else:
            line = (np.outer(np.sin((1 - ts) * omega), va) + np.outer(np.sin(ts * omega), vb)) / math.sin(omega)
        scores = line.astype(np.float32) @ self.vecs.T  # (points + 2, N)
        if allowed is not None:
            scores[:, ~allowed] = -np.inf
        scores[:, [a, b]] = -np.inf
        # 16 per point keeps the programme small (m ≤ 130: 24 hops of m² are ~1 ms) while the
        # tube stays continuous: consecutive points' neighbourhoods overlap.
        per = min(16, scores.shape[1])
        near = np.argpartition(scores, -per, axis=1)[:, -per:] if per else np.zeros((0, 0), np.int64)
        picked = near[np.isfinite(np.take_along_axis(scores, near, axis=1))] if per else near.ravel()
        rest = np.unique(picked)
        return np.concatenate([[a, b], rest]).astype(np.int64)


_EMPTY = SonicIndex(-1, np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, DIM), np.float32))
_cache: SonicIndex = _EMPTY
_built_at = 0.0
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()
REBUILD_S = 30.0
THROTTLE_ABOVE = 5000  # smaller indexes rebuild in milliseconds: always at once


def _lock_of_loop() -> asyncio.Lock:
    """One rebuild at a time per event loop (an asyncio.Lock belongs to one loop)."""
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


async def _version(conn: AsyncConnection) -> int:
    cur = await conn.execute("SELECT version FROM sonic_state WHERE id = 1")
    row = await cur.fetchone()
    return int(row[0]) if row else 0


async def load(conn: AsyncConnection, version: int) -> SonicIndex:
    """Build the index from every analysed track (one query; vectors arrive as bytes)."""
    async with conn.cursor(binary=True) as cur:
        await cur.execute("""SELECT s.track_id, t.folder_id, s.vec FROM track_sonic s
                               JOIN tracks t ON t.id = s.track_id
                              WHERE s.vec IS NOT NULL ORDER BY s.track_id""")
        rows = await cur.fetchall()
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    folders = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
    raw = np.frombuffer(b"".join(bytes(r[2]) for r in rows), dtype="<f4").reshape(len(rows), DIM)
    vecs = await asyncio.to_thread(normalise, raw.astype(np.float64))
    return SonicIndex(version, ids, folders, vecs)


async def current_index(conn: AsyncConnection) -> SonicIndex:
    """This process's index at the database's current version. When the version moved it is
    rebuilt — at once while it is small, else at most every REBUILD_S seconds: while the analysis
    job stores album after album (a bump each) requests keep the index of a moment ago
    instead of each paying a rebuild (about a second at 100k tracks)."""
    global _cache, _built_at
    version = await _version(conn)
    if _cache.version == version:
        return _cache
    if len(_cache.ids) >= THROTTLE_ABOVE and time.monotonic() - _built_at < REBUILD_S:
        return _cache
    async with _lock_of_loop():
        if _cache.version != version:
            _cache = await load(conn, version)
            _built_at = time.monotonic()
        return _cache
