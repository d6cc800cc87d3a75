"""Uniform random samples of rows by random probes into a dense key (getRandomSongs,
getAlbumList type=random).

A per-row random number fixed at insert (the old `rand` column) makes every call a
contiguous run of the same neighbours; `ORDER BY random()` sorts the whole table (navidrome
#5618: 4 s at 1M tracks). Instead we draw distinct random values of a sequence-like key
(track ids, albums.seq) between its min and max, keep the ones that exist and pass the
filters, and repeat with more probes until `size` rows are found (rejection sampling).
Every existing key is probed with the same probability, so the result is a uniform sample
without replacement of the matching rows, in random order, and each call is a fresh one.

Selective filters lower the hit rate; each round sizes its probes from the rate seen so
far. Probing costs about (rows still needed / hit rate) index probes, the caller's
`fallback` (every matching id from a narrow index, in random order) about one cheaper step
per matching row (estimated as hit rate × key span): after each round the cheaper one goes
on, so a small genre or a narrow year range is sorted (a few thousand ids) and a big
library with a broad filter is probed. The fallback also answers when MAX_ROUNDS rounds
have not found enough.

getRandomSongs first tries the same rejection sampling as one SQL statement with draws made
by PostgreSQL (orbsonic.library.tracks.marks_random: with replacement, the first draw of an
id kept) and comes here only when that statement's draws fall short.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

MAX_ROUNDS = 6
MAX_PROBES = 20_000       # ids per round: one index probe each
FIRST_FILTERED = 256      # first-round probes with filters: enough to estimate the hit rate
FALLBACK_COST = 0.5       # cost of one matching row in the sorted fallback, in probes

_rng = random.SystemRandom()


def _draw(lo: int, hi: int, k: int, probed: set[int]) -> list[int]:
    """`k` distinct values of [lo, hi] not in `probed`, in random order (fewer if exhausted)."""
    span = hi - lo + 1
    left = span - len(probed)
    k = min(k, left)
    if k <= 0:
        return []
    if k * 3 >= left:  # most of what is left: enumerate it
        pool = [v for v in range(lo, hi + 1) if v not in probed]
        return _rng.sample(pool, k)
    out: list[int] = []
    fresh: set[int] = set()
    while len(out) < k:
        v = _rng.randint(lo, hi)
        if v not in probed and v not in fresh:
            fresh.add(v)
            out.append(v)
    return out


async def sample(conn: AsyncConnection, size: int, *, table: str, key: str, select: str,
                 where: str = "", args: Sequence[Any] = (), fallback: str | None = None,
                 fallback_args: Sequence[Any] = ()) -> list[int]:
    """Up to `size` distinct ids, uniformly at random among the rows matching `where`.

    `table` is the FROM item ("tracks t"), `key` the dense integer key with a unique index
    ("t.id", "al.seq"), `select` the id to return ("t.id"), `where` extra conditions that
    start with " AND " and use `args` (psycopg %s placeholders). `fallback` selects every
    matching id in random order with a LIMIT placeholder last (after `fallback_args`).
    """
    if size <= 0:
        return []
    cur = await conn.execute(f"SELECT min({key}), max({key}) FROM {table}")
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return []
    lo, hi = int(row[0]), int(row[1])
    span = hi - lo + 1
    found: dict[int, None] = {}  # insertion-ordered: the order of the random probes
    probed: set[int] = set()
    hits = 0
    sql = f"SELECT {key}, {select} FROM {table} WHERE {key} = ANY(%s) {where}"
    for _ in range(MAX_ROUNDS):
        need = size - len(found)
        if need <= 0 or len(probed) >= span:
            break
        if probed:
            rate = max(hits, 0.5) / len(probed)
            if fallback is not None and rate * span * FALLBACK_COST < need / rate:
                break  # few matches: sorting them is cheaper than probing on
            k = math.ceil(need * 1.25 / rate) + 16
        else:
            k = math.ceil(need * 1.25) + 16
            if where:
                k = max(k, FIRST_FILTERED)
        probes = _draw(lo, hi, min(MAX_PROBES, k), probed)
        probed.update(probes)
        cur = await conn.execute(sql, (probes, *args))
        by_key = {int(k): int(i) for k, i in await cur.fetchall()}
        hits += len(by_key)
        for p in probes:
            ident = by_key.get(p)
            if ident is not None and ident not in found:
                found[ident] = None
    ids = list(found)[:size]
    complete = len(probed) >= span
    if len(ids) < size and not complete and fallback is not None:
        # Few matching rows (else probing would have found enough; a very sparse key is
        # the only other way here): the narrow sorted query is both cheap and exact.
        cur = await conn.execute(fallback, (*fallback_args, size))
        return [int(r[0]) for r in await cur.fetchall()]
    return ids
