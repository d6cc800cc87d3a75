"""Searching: search (v1), search2 and search3 (docs/subsonic-spec.md §3 Searching, §2.8).

An empty query — missing, "", or the literal `""` Symfonium sends — matches everything:
each entity type is paged on its own (its own count and offset; count 0 means none of
that type) in id order, so a client syncing a whole library in pages of 500 sees every
item exactly once (client-compat §4.5 #1, #2).
"""

from __future__ import annotations

from typing import Any

from orbsonic.library import albums, artists, search, tracks
from orbsonic.library import search_v1 as search_v1_lib
from subsonic_api import shapes
from subsonic_api.endpoints.browsing import folder_param
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload
from subsonic_api.song_cache import songs_of_rows

# Aonsoku asks for songCount=999999999 (client-compat §3.3): cap each page.
MAX_COUNT = 1000


async def _search(ctx: Ctx) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    p, conn, uid = ctx.params, ctx.conn, ctx.user.id
    query = search.normalize_query(p.get("query"))
    scope = await folder_param(ctx)
    pages = {}
    for key in ("artist", "album", "song"):
        pages[key] = (p.int(f"{key}Offset", 0, lo=0), p.int(f"{key}Count", 20, lo=0, hi=MAX_COUNT))
    if not query:
        artist_ids = await artists.ids_all(conn, *pages["artist"], scope) if pages["artist"][1] else []
        album_ids = await albums.ids_all(conn, *pages["album"], scope) if pages["album"][1] else []
        song_ids = await tracks.ids_all(conn, *pages["song"], scope) if pages["song"][1] else []
    else:
        artist_ids = await search.search_ids(conn, "artists", query, *pages["artist"], scope)
        album_ids = await search.search_ids(conn, "albums", query, *pages["album"], scope)
        song_ids = await search.search_ids(conn, "tracks", query, *pages["song"], scope)
    return (await artists.hydrate(conn, artist_ids, uid, scope), await albums.hydrate(conn, album_ids, uid),
            await tracks.hydrate(conn, song_ids, uid))


@endpoint("search2", readonly=True)
async def search2(ctx: Ctx) -> Payload:
    found = await _search(ctx)
    return Payload("searchResult2", shapes.artists_albums_songs(*found, id3=False, os=ctx.os, songs=_songs(ctx, found[2])))


@endpoint("search3", readonly=True)
async def search3(ctx: Ctx) -> Payload:
    found = await _search(ctx)
    return Payload("searchResult3", shapes.artists_albums_songs(*found, id3=True, os=ctx.os, songs=_songs(ctx, found[2])))


@endpoint("search")
async def search_v1(ctx: Ctx) -> Payload:
    """Deprecated since 1.4.0 but answered (old clients): artist, album, title, any,
    count (20), offset (0), newerThan (ms) → searchResult {offset, totalHits, match: Child[]}."""
    p = ctx.params
    offset, count = p.int("offset", 0, lo=0), p.int("count", 20, lo=0, hi=MAX_COUNT)
    criteria = [p.str(k, "") for k in ("any", "artist", "album", "title")]
    newer_than = p.int("newerThan", None, lo=0, hi=search_v1_lib.MAX_MS)
    hits = await search_v1_lib.search_v1(ctx.conn, criteria, offset, count, newer_than,
                                         await folder_param(ctx))
    rows = await tracks.hydrate(ctx.conn, hits.track_ids, ctx.user.id)
    return Payload("searchResult", {"offset": offset, "totalHits": hits.total,
                                    "match": [shapes.song(r, ctx.os) for r in rows]})


def _songs(ctx: Ctx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Song Children of hydrated rows, from the song cache's fragments when there is one."""
    return songs_of_rows(ctx.state.answers.songs if ctx.state.answers is not None else None, rows, ctx.os)
