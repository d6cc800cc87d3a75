"""Songs kept shaped: the user-independent parts of each Child, for large song lists (issue 13,
issue 7: a getPlaylist of 5,000 entries).

Such a list spent most of its server time converting 45 columns per track from the database
and shaping them (bench/songlists.py). Almost all of a Child depends only on the track, its
album and its artists; only `playCount`, `starred`, `userRating` and `played` are the user's.
So a track's Child is kept split around those keys — `head` (id … isVideo), `mid` (discNumber
… type) and `tail` (the OpenSubsonic fields from bpm on) — per (track id, OpenSubsonic or
legacy), and a list then reads only tracks.MARK_FIELDS per entry (id, duration, the user's
annotations) and reassembles each Child in the key order `shapes.song` writes. The parts are
cut from `shapes.song`'s own output (`split`), so there is one definition of the shape;
tests/unit/test_song_cache.py checks that every reassembly equals `shapes.song`.

Invalidation: the answer cache's (subsonic_api/answers.py): schema/0022's NOTIFY '*' on any
change of the library tables (tracks, albums, artists, their links, genres), from any writer,
to every worker and replica, empties it; a lost LISTEN connection empties it and keeps it from
serving. A store is dropped when an invalidation came in while the rows were being read
(`generation`). Without a LISTEN channel (an AnswerCache built with None) nothing is kept.
Each entry also holds the parts' rendered JSON and XML (subsonic_api/fragments.py): the Children
returned are SongChild dicts that the renderers write from those fragments, with the reader's
fields spliced in. `of_rows` serves lists that hydrate full rows (getRandomSongs, search …).
The cached parts are shared between answers: callers get a fresh top-level dict per song and
must not mutate the nested lists (rendering and `response.minimal` only read them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from psycopg import AsyncConnection

from orbsonic.library import tracks
from subsonic_api import shapes
from subsonic_api.fragments import Fragments, SongChild

# (whole, head, mid, tail, fragments, duration_ms, folder_id): `whole` is head + playCount +
# mid (+ tail with OpenSubsonic), the Child of a reader without star, rating or last play,
# which needs only its playCount set; `fragments` the parts' rendered JSON/XML
# (subsonic_api/fragments.py); the track's exact duration (ms) and music folder, which a list
# of bare track ids needs to count its total and to keep to the reader's folders (`entries`);
# and the mark of a reader who has no annotation of it (the Child `whole` is for).
Parts = tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any], Fragments, int, int,
              tuple[Any, ...]]
# A list entry: tracks.MARK_FIELDS (id, duration_ms, starred_at, rating, play_count, last_played).
Mark = tuple[Any, ...]
# The per-user keys of a Child, in the order shapes.song writes them (after "type").
_USER_KEYS = frozenset({"starred", "userRating", "played"})
_NO_NOTES = (None, None, 0, None)  # starred_at, rating, play_count, last_played without annotations
MAX_ENTRIES = 40_000  # ≈ 8 × a 5,000-entry playlist in both flavours; then it starts over


def split(song: dict[str, Any], os: bool, duration_ms: int = 0, folder_id: int = 0,
          track_id: int = 0) -> Parts:
    """The parts of a Child from shapes.song(row, os): the keys before `playCount`, those
    after it up to and including `type`, and the rest without the user's keys; with the row's
    duration_ms, folder_id and the mark of no annotation (track_id: the row's id)."""
    keys = list(song)
    i, j = keys.index("playCount"), keys.index("type")
    head = {k: song[k] for k in keys[:i]}
    mid = {k: song[k] for k in keys[i + 1:j + 1]}
    tail = {k: song[k] for k in keys[j + 1:] if k not in _USER_KEYS}
    whole = {**head, "playCount": 0, **mid, **(tail if os else {})}
    bare = (track_id, duration_ms, *_NO_NOTES)
    return whole, head, mid, tail, Fragments(head, mid, tail, os), duration_ms, folder_id, bare


def _split_row(row: dict[str, Any], os: bool) -> Parts:
    """The parts of a hydrated track row (tracks.hydrate's columns)."""
    return split(shapes.song(row, os), os, row["duration_ms"] or 0, row["folder_id"], row["id"])


def assemble(parts: Parts, mark: Mark, os: bool) -> dict[str, Any]:
    """The Child of `parts` for one reader's `mark`, with playCount, starred, userRating and
    played where shapes.song places them: a SongChild, rendered from the parts' fragments."""
    _, _, starred, rating, plays, played = mark
    if starred is None and not rating and (played is None or not os):
        d = SongChild(parts[0])
        d["playCount"] = plays  # an existing key: its place is kept
        d.frag = parts[4]
        d.mark = mark
        return d
    head, mid, tail, frag = parts[1:5]
    d = SongChild(head)
    d.frag = frag
    d.mark = mark
    d["playCount"] = plays
    d.update(mid)
    if starred is not None:
        d["starred"] = shapes.iso(starred)
    if rating:
        d["userRating"] = rating
    if os:
        if played is not None:
            d["played"] = shapes.iso(played)
        d.update(tail)
    return d


class SongCache:
    """Parts by (track id, os). `fresh`: drains the invalidations that have arrived and says
    whether they are known (the answer cache's LISTEN connection is up); None: keep nothing."""

    def __init__(self, fresh: Callable[[], bool] | None, max_entries: int = MAX_ENTRIES) -> None:
        self._fresh = fresh
        self.max_entries = max_entries
        self._parts: dict[tuple[int, bool], Parts] = {}
        self._generation = 0

    def invalidate(self) -> None:
        """Forget every song (the library changed, or changes may have been missed)."""
        self._generation += 1
        self._parts.clear()

    def generation(self) -> int | None:
        """Take before reading rows; None when nothing may be served or kept now."""
        if self._fresh is None or not self._fresh():
            return None
        return self._generation

    def __len__(self) -> int:
        return len(self._parts)

    async def songs(self, conn: AsyncConnection, marks: Sequence[Mark], user_id: int,
                    os: bool) -> list[dict[str, Any]]:
        """The Children of `marks` (tracks.MARK_FIELDS tuples, in list order) for `user_id`:
        kept parts where there are any, the others hydrated in one query (tracks.hydrate),
        shaped and kept. A mark whose track is gone by then is left out."""
        generation = self.generation()
        known = self._parts if generation is not None else {}
        found: dict[int, Parts] = {}
        missing: list[int] = []
        for m in marks:
            tid = m[0]
            if tid in found:
                continue
            parts = known.get((tid, os))
            if parts is None:
                missing.append(tid)
                found[tid] = None  # type: ignore[assignment]  # filled below or dropped
            else:
                found[tid] = parts
        if missing:
            for row in await tracks.hydrate(conn, missing, user_id):
                found[row["id"]] = _split_row(row, os)
            self._keep({(tid, os): found[tid] for tid in missing if found[tid] is not None}, generation)
        return [assemble(found[m[0]], m, os) for m in marks if found[m[0]] is not None]

    async def entries(self, conn: AsyncConnection, ids: Sequence[int], notes: dict[int, tuple[Any, ...]],
                      user_id: int, folders: Sequence[int] | None,
                      os: bool) -> tuple[list[dict[str, Any]], int]:
        """The Children of a list of track ids in order, duplicates kept (a playlist's
        entries: playlists.with_entry_ids), with the reader's `notes` (annotations by track id:
        starred_at, rating, play_count, last_played), for `user_id` reading `folders` (None:
        all), and their total duration in ms. Ids whose track is gone, or outside `folders`,
        are left out. Kept parts where there are any (their folder and duration with them), the
        others hydrated in one query and kept. So a list whose songs are all kept reads no
        track row.

        A track that left the library is known gone once the invalidation has arrived (the
        same moment its cached title would change); until then it may still be listed, as a
        row read a moment earlier would have been."""
        generation = self.generation()
        known = self._parts if generation is not None else {}
        found: dict[int, Parts | None] = {tid: known.get((tid, os)) for tid in ids}
        missing = [tid for tid, parts in found.items() if parts is None]
        if missing:
            # every folder: the parts do not depend on the reader; the filter is below
            for row in await tracks.hydrate(conn, missing, user_id):
                found[row["id"]] = _split_row(row, os)
            self._keep({(tid, os): found[tid] for tid in missing if found[tid] is not None}, generation)
        allowed = None if folders is None else frozenset(folders)
        out: list[dict[str, Any]] = []
        total = 0
        for tid in ids:
            parts = found[tid]
            if parts is None or (allowed is not None and parts[6] not in allowed):
                continue
            note = notes.get(tid)
            if note is None:  # most entries: the kept Child (playCount 0) and mark as they are
                d = SongChild(parts[0])
                d.frag, d.mark = parts[4], parts[7]
                out.append(d)
            else:
                out.append(assemble(parts, (tid, parts[5], *note), os))
            total += parts[5]
        return out, total

    def _keep(self, new: dict[tuple[int, bool], Parts], generation: int | None) -> None:
        """Keep `new` parts if no invalidation came in since `generation` was taken."""
        if new and generation is not None and self.generation() == generation:
            if len(self._parts) + len(new) > self.max_entries:
                self._parts.clear()
            self._parts.update(new)

    def of_rows(self, rows: Sequence[dict[str, Any]], os: bool) -> list[dict[str, Any]]:
        """The Children of hydrated track rows (tracks.hydrate, with the reader's annotations):
        kept parts where there are any (so the answer renders from fragments), the others
        shaped from their row and kept. Equal to [shapes.song(r, os) for r in rows]."""
        generation = self.generation()
        known = self._parts if generation is not None else {}
        out: list[dict[str, Any]] = []
        new: dict[tuple[int, bool], Parts] = {}
        for r in rows:
            key = (r["id"], os)
            parts = known.get(key) or new.get(key)
            if parts is None:
                parts = new[key] = _split_row(r, os)
            out.append(assemble(parts, (r["id"], r["duration_ms"], r.get("starred_at"), r.get("rating"),
                                        r["play_count"], r.get("last_played")), os))
        self._keep(new, generation)
        return out


def songs_of_rows(cache: SongCache | None, rows: Sequence[dict[str, Any]], os: bool) -> list[dict[str, Any]]:
    """Children of hydrated track rows through `cache` (SongCache.of_rows), or shaped afresh
    without one (no answer cache configured)."""
    if cache is None:
        return [shapes.song(r, os) for r in rows]
    return cache.of_rows(rows, os)


async def warm_up(cache: SongCache, pool: Any, *, share: float = 0.25, batch: int = 500,
                  pause_s: float = 0.05) -> int:
    """Shape the library's songs into `cache` ahead of the first lists, in track id order, in
    batches of `batch` (one pooled connection each, `pause_s` seconds apart so requests come
    first), up to `share` of the cache's entries (a larger library keeps room for what its
    users read). OpenSubsonic flavour only (what current clients get). Returns the songs
    shaped. Runs in the serving process's background (orbsonic/app.py), once at start.

    Why: a list that misses the cache needs a second query and the shaping of each missing
    song (getRandomSongs at 10k tracks: 1.6 ms p50 while the cache filled, 0.95 ms warm; a
    random sample keeps missing until nearly every song has been drawn once). A change of the
    library empties the cache again (invalidation above); lists then refill it as before."""
    limit = int(cache.max_entries * share)
    shaped = 0
    while shaped < limit:
        if cache.generation() is None:
            return shaped  # nothing may be kept now (no LISTEN connection)
        async with pool.connection() as conn:
            # search3 ""'s page of every track in id order (its deep pages start at their block)
            ids = await tracks.ids_all(conn, shaped, min(batch, limit - shaped))
            if not ids:
                return shaped
            # user 0 is nobody: the rows carry no annotations, and the parts kept never do
            cache.of_rows(await tracks.hydrate(conn, ids, 0), True)
        shaped += len(ids)
        await asyncio.sleep(pause_s)
    return shaped
