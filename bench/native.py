"""The native API (`/api/v1`, issue 9 "Performance") in the benchmark: discovery, scenarios and
the two figures the load generator cannot take (delta sync after 1,000 changes is a scenario;
the real-time round trip between two clients is measured here).

Targets at 100k tracks: library page ≤ 10 ms p50 (tracks, albums, artists; first page and a
deep cursor page); search-as-you-type ≤ 20 ms p50 for any prefix (1, 2, 3, 5 letters, common and
rare); delta sync of 1,000 changes ≤ 50 ms; stream time to first byte ≤ 5 ms (a Range request);
a real-time event from one client to another ≤ 50 ms p99 on loopback.

Everything goes through the API with an API key (`Authorization: Bearer`), made by the bench
user through `POST /auth/login` + `POST /api-keys`, as a client would. Ids, names and cursors
come from the server's own pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from bench.api import Api, Scenario
from bench.load import Connection, Reply, percentile

PREFIX = "/api/v1"
PAGE = 50  # the web client's page size (its default `limit`)
WALK = 500  # page size used to walk a list to its deep end


def native_ok(reply: Reply) -> bool:
    """A native answer: the HTTP status is the whole check (errors are problem+json 4xx/5xx)."""
    return True


@dataclass
class NativeLibrary:
    """What native discovery found."""

    key: str = ""
    tracks: list[dict[str, Any]] = field(default_factory=list)  # a sample of Track objects
    totals: dict[str, int] = field(default_factory=dict)  # items walked per list
    deep: dict[str, str] = field(default_factory=dict)  # list → a cursor at ~90 % of it
    words: list[str] = field(default_factory=list)  # lowercased words of names (for prefixes)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


class Native:
    """Sequential native calls over one keep-alive connection (discovery and seeding)."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = Connection(host, port)
        self.headers: dict[str, str] = {}

    async def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        data = b"" if body is None else json.dumps(body).encode()
        hdrs = {**self.headers, **({"Content-Type": "application/json"} if body is not None else {})}
        full = path if path.startswith(PREFIX + "/") else PREFIX + path
        reply = await self.conn.request(method, full, data, hdrs)
        if reply.status != expect:
            raise RuntimeError(f"{method} {path}: HTTP {reply.status} {reply.body[:300]!r}")
        return json.loads(reply.body) if reply.body else None

    async def close(self) -> None:
        await self.conn.close()


def path(p: str, **params: Any) -> str:
    """A native path with its query string."""
    q = urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote)
    return PREFIX + p + ("?" + q if q else "")


async def _walk(n: Native, p: str, lib: NativeLibrary, name: str, keep: bool) -> None:
    """Page through list `p` to its end; remember a cursor about 90 % into it."""
    cursors: list[str] = []
    total, cursor = 0, None
    while True:
        page = await n.call("GET", path(p, limit=WALK, cursor=cursor))
        items = page["items"]
        total += len(items)
        for it in items:
            lib.words += _words(it.get("title") or it.get("name") or "")
        if keep:
            lib.tracks += items
        cursor = page.get("next")
        if not cursor:
            break
        cursors.append(cursor)
    lib.totals[name] = total
    # The deep page: a full page starting about 90 % into the list (cursors[j] continues
    # after item (j + 1) · WALK).
    k = max(0, int(total * 0.9) - PAGE)
    base, rem = divmod(k, WALK)
    start = cursors[base - 1] if base > 0 else None
    deep = (await n.call("GET", path(p, limit=rem, cursor=start)))["next"] if rem else start
    if deep:
        lib.deep[name] = deep


def _words(text: str) -> list[str]:
    out = []
    for w in text.lower().split():
        w = "".join(c for c in w if c.isalnum())
        if w:
            out.append(w)
    return out


async def discover(host: str, port: int, user: str, password: str) -> NativeLibrary:
    """Log in, make an API key, walk tracks, albums and artists (names for the prefixes)."""
    n = Native(host, port)
    lib = NativeLibrary()
    try:
        tokens = await n.call("POST", "/auth/login",
                              {"username": user, "password": password, "client": "bench"})
        n.headers = {"Authorization": f"Bearer {tokens['accessToken']}"}
        lib.key = (await n.call("POST", "/api-keys", {"name": "bench"}, expect=201))["key"]
        n.headers = lib.auth
        await _walk(n, "/tracks", lib, "tracks", keep=True)
        await _walk(n, "/albums", lib, "albums", keep=False)
        await _walk(n, "/artists", lib, "artists", keep=False)
    finally:
        await n.close()
    return lib


def prefixes(words: list[str], seed: int = 1) -> dict[str, list[str]]:
    """Per label ("1 letter common", "3 letters rare" …): a few prefixes of the library's own
    words. Common: the most frequent prefixes of that length; rare: ones that begin exactly one
    or two words (the least frequent that exist)."""
    rng = random.Random(f"orbsonic-bench-prefixes:{seed}")
    out: dict[str, list[str]] = {}
    for k in (1, 2, 3, 5):
        counts = Counter(w[:k] for w in words if len(w) >= k and w[:k].isalpha())
        if not counts:
            continue
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        letters = "letter" if k == 1 else "letters"
        out[f"{k} {letters} common"] = [p for p, _ in ranked[:5]]
        low = min(c for _, c in ranked)
        rare = sorted(p for p, c in ranked if c <= max(2, low))
        out[f"{k} {letters} rare"] = rng.sample(rare, min(5, len(rare)))
    return out


def scenarios(lib: NativeLibrary, seed: int = 1) -> list[Scenario]:
    """Library pages, search prefixes and ranged stream starts (the load generator's part)."""
    rng = random.Random(f"orbsonic-bench-native:{seed}")
    auth, ok = lib.auth, native_ok
    out: list[Scenario] = []
    for name in ("tracks", "albums", "artists"):
        out.append(Scenario(f"native {name} page", [path("/" + name, limit=PAGE)], group="native",
                            headers=auth, check=ok))
        if name in lib.deep:
            deep = path("/" + name, limit=PAGE, cursor=lib.deep[name])
            out.append(Scenario(f"native {name} deep page", [deep], group="native", headers=auth, check=ok))
    for label, ps in prefixes(lib.words, seed).items():
        out.append(Scenario(f"native search {label}", [path("/search", q=p) for p in ps], group="native",
                            headers=auth, check=ok))
    sample = rng.sample(lib.tracks, min(300, len(lib.tracks)))
    out.append(Scenario("native stream (Range)", [PREFIX + f"/stream/{t['id']}" for t in sample],
                        group="native", headers={**auth, "Range": "bytes=0-65535"}, expect=(206,),
                        check=ok, keep_body=False))
    return out


async def sync_scenario(host: str, port: int, api: Api, lib: NativeLibrary, changes: int = 1000) -> Scenario:
    """Make `changes` changes (stars of tracks not starred yet, through Subsonic `star`, 50 ids a
    call), then a scenario reading them back as one page: GET /sync?since=<before>&limit=1000.
    Raises RuntimeError when the page does not hold exactly those changes."""
    n = Native(host, port)
    n.headers = lib.auth
    try:
        token = (await n.call("GET", "/sync"))["token"]
        fresh = [t["id"] for t in lib.tracks if not t.get("starred")][:changes]
        changes = len(fresh)  # a small (smoke) library may have fewer unstarred tracks
        if not changes:
            raise RuntimeError("no unstarred track to star")
        for k in range(0, changes, 50):
            await api.call("star", id=fresh[k:k + 50])
        p = path("/sync", since=token, limit=changes)
        page = await n.call("GET", p)
        # Background jobs (loudness, thumbnails after the scan) may write tracks meanwhile: the
        # page then holds a few of their changes too; every star must be in the pages since.
        stars, more, since = 0, True, token
        while more:
            body = await n.call("GET", path("/sync", since=since, limit=1000))
            stars += sum(c["kind"] == "star" for c in body["changes"])
            more, since = body["more"], body["token"]
        if stars != changes:
            raise RuntimeError(f"the sync pages after {changes} stars hold {stars} of them")
    finally:
        await n.close()
    return Scenario(f"native sync, {len(page['changes']):,} changes", [p], group="native", headers=lib.auth,
                    check=native_ok)


async def realtime(host: str, port: int, lib: NativeLibrary, rounds: int = 300) -> dict[str, Any]:
    """Client A reports playback (POST /playback); client B's SSE stream (GET /events) receives
    it. `rounds` sequential round trips; latency = A sends → B has the event (ms)."""
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
    head = (f"GET {PREFIX}/events HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n"
            f"Authorization: Bearer {lib.key}\r\n\r\n")
    writer.write(head.encode())
    status = await reader.readline()
    if b" 200 " not in status:
        raise RuntimeError(f"GET /events: {status!r}")
    arrived: asyncio.Queue[tuple[int, float]] = asyncio.Queue()

    async def read() -> None:
        while line := await reader.readline():
            if line.startswith(b"data: "):  # chunk-size lines and comments are not data lines
                data = json.loads(line[6:])
                if "positionMs" in data:
                    arrived.put_nowait((int(data["positionMs"]), time.perf_counter()))

    reading = asyncio.create_task(read())
    a = Native(host, port)
    a.headers = lib.auth
    track = lib.tracks[0]["id"]
    lat: list[float] = []
    lost = 0
    try:
        for i in range(rounds + 5):  # 5 warm-up rounds
            t0 = time.perf_counter()
            await a.call("POST", "/playback", {"deviceId": "bench-a", "trackId": track, "positionMs": i,
                                               "state": "playing"}, expect=204)
            try:
                while True:
                    pos, at = await asyncio.wait_for(arrived.get(), 2.0)
                    if pos == i:
                        break
            except TimeoutError:
                lost += 1
                continue
            if i >= 5:
                lat.append(at - t0)
    finally:
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):
            await reading
        writer.close()
        await a.close()
    lat.sort()
    ms = 1000.0
    return {"rounds": rounds, "received": len(lat), "lost": lost,
            "p50_ms": round(percentile(lat, 50) * ms, 2), "p99_ms": round(percentile(lat, 99) * ms, 2),
            "max_ms": round(lat[-1] * ms, 2) if lat else 0.0}
