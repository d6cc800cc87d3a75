"""Server-side figures of the SQL behind the 1M scenarios: `probe(url)` (bench/run.py runs
it on the SQL library after the HTTP scenarios; `python -m bench.sqlprobe URL` on its own).

On a machine shared by several engineers the wall p50 of an HTTP scenario carries the load
of everyone else; what the database spends does not (much). For each probe — the library
calls one request of that scenario makes (ids, then hydration), without HTTP or rendering —
this records the median wall time of the calls from Python over `rounds` runs, and the
database's own execution time: the sum of `Execution Time` of EXPLAIN (ANALYZE, TIMING OFF: no
clock reads per row) of every
SELECT the calls send, taken by a cursor that explains each statement before running it
(the same statements with the same parameters, so the same plans). The load average at the
start and end is recorded with them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncCursor

from orbsonic.library import albums, search, similar, tracks

Call = Callable[[AsyncConnection], Awaitable[Any]]


class _ExplainCursor(AsyncCursor[Any]):
    """Explains (ANALYZE) each SELECT/WITH statement before running it and adds its
    execution time to the connection's `explained_ms`."""

    async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        text = query if isinstance(query, str) else None
        if text is not None and text.lstrip().upper().startswith(("SELECT", "WITH")):
            async with AsyncCursor(self.connection) as cur:
                await cur.execute("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + text, params)
                row = await cur.fetchone()
            plan = row[0][0] if row else {}
            conn: Any = self.connection
            conn.explained_ms += float(plan.get("Execution Time", 0.0))
        return await super().execute(query, params, **kw)


async def _measure(url: str, call: Call, rounds: int) -> dict[str, float]:
    walls = []
    async with await AsyncConnection.connect(url, autocommit=True) as conn:
        await call(conn)  # warm: the first call loads statistics and caches
        for _ in range(rounds):
            t0 = time.perf_counter()
            await call(conn)
            walls.append((time.perf_counter() - t0) * 1000)
    explained = []
    async with await AsyncConnection.connect(url, autocommit=True, cursor_factory=_ExplainCursor) as conn:
        for _ in range(max(3, rounds // 2)):
            setattr(conn, "explained_ms", 0.0)
            await call(conn)
            explained.append(getattr(conn, "explained_ms"))
    return {"wall_ms": round(statistics.median(walls), 2),
            "db_exec_ms": round(statistics.median(explained), 2)}


def _probes(words: list[str], seed_tracks: list[int], seed_artists: list[int]) -> list[tuple[str, Call]]:
    """(name, call) for each probe; names follow the HTTP scenarios they stand for."""
    user = 1

    def empty_songs(off: int) -> Call:
        async def go(conn: AsyncConnection) -> Any:
            return await tracks.hydrate(conn, await tracks.ids_all(conn, off, 500), user)
        return go

    def empty_albums(off: int) -> Call:
        async def go(conn: AsyncConnection) -> Any:
            return await albums.hydrate(conn, await albums.ids_all(conn, off, 500), user)
        return go

    def text(q: str) -> Call:  # search3's default counts: 20 of each kind
        async def go(conn: AsyncConnection) -> Any:
            ids = [await search.search_ids(conn, t, q, 0, 20) for t in ("artists", "albums", "tracks")]
            return await tracks.hydrate(conn, ids[2], user), await albums.hydrate(conn, ids[1], user)
        return go

    def album_list(order: str, off: int) -> Call:
        async def go(conn: AsyncConnection) -> Any:
            return await albums.hydrate(conn, await albums.list_ids(conn, order, off, 50, user_id=user), user)
        return go

    def random_songs(size: int) -> Call:
        async def go(conn: AsyncConnection) -> Any:
            return await tracks.hydrate(conn, await tracks.ids_random(conn, size), user)
        return go

    async def mix(conn: AsyncConnection) -> Any:
        out = []
        for t in seed_tracks:
            seed = await similar.seed_of(conn, "tr", t, None)
            if seed is None:
                continue
            alike = (await similar.similar_artists(conn, seed.artist_id, [], 10, None)).present \
                if seed.artist_id else []
            mixed = await similar.instant_mix(conn, seed, alike, 50, None)
            out.append(await tracks.hydrate(conn, mixed, user))
        return out

    async def top(conn: AsyncConnection) -> Any:
        return [await tracks.hydrate(conn, await similar.top_songs(conn, a, [], 50, None), user)
                for a in seed_artists]

    out: list[tuple[str, Call]] = []
    out += [(f'search3 "" songs @{o}', empty_songs(o)) for o in (0, 500_000, 900_000)]
    out += [(f'search3 "" albums @{o}', empty_albums(o)) for o in (0, 35_000, 64_000)]
    common = words[:3]
    out += [(f"search3 common word {w!r}", text(w)) for w in common]
    out += [(f"search3 two common words {a + ' ' + b!r}", text(f"{a} {b}"))
            for a, b in zip(common, common[1:])]
    out += [(f"search3 one-letter prefix {c!r}", text(c)) for c in dict.fromkeys(w[0] for w in common)]
    out += [(f"getAlbumList2 {o} @{off}", album_list(o, off))
            for o in ("newest", "name", "artist", "year") for off in (0, 64_000)]
    out += [("getRandomSongs", random_songs(50)), ("getRandomSongs size=500", random_songs(500))]
    out += [(f"getSimilarSongs (per seed, {len(seed_tracks)} seeds)", mix),
            (f"getTopSongs (per artist, {len(seed_artists)} artists)", top)]
    return out


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def probe(url: str, *, rounds: int = 9, log: Any = None) -> dict[str, Any]:
    """{"load_before", "load_after", "probes": {name: {"wall_ms", "db_exec_ms"}}}; the
    similar and top-songs probes are per seed (their totals divided by the seed count)."""
    say = log or print
    with psycopg.connect(url) as conn:
        words = [r[0] for r in conn.execute(
            """SELECT e FROM (SELECT unnest(most_common_elems::text::text[]) e,
                                     unnest(most_common_elem_freqs) f
                                FROM pg_stats WHERE tablename = 'albums' AND attname = 'tsv') x
                WHERE length(e) >= 3 AND e ~ '^[a-z]+$' ORDER BY f DESC LIMIT 3""")]
        seed_tracks = [r[0] for r in conn.execute("SELECT id FROM tracks ORDER BY hashint8(id) LIMIT 10")]
        seed_artists = [r[0] for r in conn.execute(
            "SELECT id FROM artists WHERE album_count > 0 ORDER BY hashint8(id) LIMIT 10")]
    out: dict[str, Any] = {"load_before": load_average(), "probes": {}}
    for name, call in _probes(words or ["the"], seed_tracks, seed_artists):
        r = asyncio.run(_measure(url, call, rounds))
        if name.startswith(("getSimilarSongs", "getTopSongs")):
            n = len(seed_tracks) if name.startswith("getSimilar") else len(seed_artists)
            r = {k: round(v / max(1, n), 2) for k, v in r.items()}
        out["probes"][name] = r
        say(f"  {name:44s} wall {r['wall_ms']:7.2f} ms   database {r['db_exec_ms']:7.2f} ms")
    out["load_after"] = load_average()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sqlprobe", description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="a database with a library (bench/sqllib.py)")
    p.add_argument("--rounds", type=int, default=9)
    args = p.parse_args(argv)
    print(json.dumps(probe(args.url, rounds=args.rounds), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
