"""Album and song lists: getAlbumList, getAlbumList2, getRandomSongs, getSongsByGenre,
getStarred, getStarred2 (docs/subsonic-spec.md §3 Album/song lists)."""

from __future__ import annotations

from typing import Any

from orbsonic.errors import BadParam
from orbsonic.library import albums, annotations, artists, genres, tracks
from orbsonic.library.filters import YearRange
from subsonic_api import shapes
from subsonic_api.endpoints.browsing import folder_param
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload
from subsonic_api.song_cache import songs_of_rows

MAX_SIZE = 500
# Subsonic list type → orbsonic.library.albums order.
ALBUM_LIST_TYPES = {
    "random": "random", "newest": "newest", "highest": "highest", "frequent": "frequent",
    "recent": "recent", "alphabeticalByName": "name", "alphabeticalByArtist": "artist",
    "starred": "starred", "byYear": "year", "byGenre": "genre",
}


async def _album_rows(ctx: Ctx) -> list[dict[str, Any]]:
    p = ctx.params
    kind = p.str("type")
    order = ALBUM_LIST_TYPES.get(kind)
    if order is None:
        raise BadParam("type", f"unknown album list type {kind!r}")
    size = p.int("size", 10, lo=0, hi=MAX_SIZE)
    offset = p.int("offset", 0, lo=0)
    scope = await folder_param(ctx)
    years = genre_id = None
    if order == "year":
        # fromYear > toYear means newest first (spec); DSub's decade queries rely on it.
        years = YearRange.between(p.int("fromYear"), p.int("toYear"))
    elif order == "genre":
        genre_id = genres.genre_id(p.str("genre"))
    ids = await albums.list_ids(ctx.conn, order, offset, size, user_id=ctx.user.id, folders=scope,
                                years=years, genre_id=genre_id)
    return await albums.hydrate(ctx.conn, ids, ctx.user.id)


@endpoint("getAlbumList", readonly=True)
async def get_album_list(ctx: Ctx) -> Payload:
    rows = await _album_rows(ctx)
    return Payload("albumList", {"album": [shapes.album_child(r, ctx.os) for r in rows]})


@endpoint("getAlbumList2", readonly=True)
async def get_album_list2(ctx: Ctx) -> Payload:
    rows = await _album_rows(ctx)
    return Payload("albumList2", {"album": [shapes.album_id3(r, ctx.os) for r in rows]})


@endpoint("getRandomSongs", readonly=True)
async def get_random_songs(ctx: Ctx) -> Payload:
    p = ctx.params
    size = p.int("size", 10, lo=0, hi=MAX_SIZE)
    lo, hi = p.opt_int("fromYear"), p.opt_int("toYear")
    years = None
    if lo is not None or hi is not None:
        years = YearRange.between(lo if lo is not None else 0, hi if hi is not None else 9999)
    genre = p.str("genre", None)
    genre_id = genres.genre_id(genre) if genre else None
    scope = await folder_param(ctx)
    cache = ctx.state.answers.songs if ctx.state.answers is not None else None
    if cache is not None:
        # One round trip: the sample with the reader's marks, the rest of each song from the
        # song cache (one more query only for the tracks it does not hold yet).
        marks = await tracks.marks_random(ctx.conn, size, ctx.user.id, genre_id=genre_id, years=years,
                                          folders=scope)
        return Payload("randomSongs", {"song": await cache.songs(ctx.conn, marks, ctx.user.id, ctx.os)})
    ids = await tracks.ids_random(ctx.conn, size, genre_id=genre_id, years=years, folders=scope)
    rows = await tracks.hydrate(ctx.conn, ids, ctx.user.id)
    return Payload("randomSongs", {"song": _songs(ctx, rows)})


@endpoint("getSongsByGenre", readonly=True)
async def get_songs_by_genre(ctx: Ctx) -> Payload:
    p = ctx.params
    genre_id = genres.genre_id(p.str("genre"))
    ids = await tracks.ids_by_genre(ctx.conn, genre_id, p.int("offset", 0, lo=0),
                                    p.int("count", 10, lo=0, hi=MAX_SIZE), await folder_param(ctx))
    rows = await tracks.hydrate(ctx.conn, ids, ctx.user.id)
    return Payload("songsByGenre", {"song": _songs(ctx, rows)})


async def _starred(ctx: Ctx) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    scope = await folder_param(ctx)
    uid = ctx.user.id
    artist_rows = await artists.hydrate(
        ctx.conn, await annotations.starred_ids(ctx.conn, uid, annotations.ARTIST, scope), uid, scope)
    album_rows = await albums.hydrate(
        ctx.conn, await annotations.starred_ids(ctx.conn, uid, annotations.ALBUM, scope), uid)
    song_rows = await tracks.hydrate(
        ctx.conn, await annotations.starred_ids(ctx.conn, uid, annotations.TRACK, scope), uid)
    return artist_rows, album_rows, song_rows


@endpoint("getStarred", readonly=True)
async def get_starred(ctx: Ctx) -> Payload:
    """Starred folders (star id=dr-…) are listed after the albums, as directory Child
    entries that getMusicDirectory opens (DSub in folder mode stars folders)."""
    found = await _starred(ctx)
    body = shapes.artists_albums_songs(*found, id3=False, os=ctx.os, songs=_songs(ctx, found[2]))
    dirs = await annotations.starred_directories(ctx.conn, ctx.user.id, await folder_param(ctx))
    body["album"] += [shapes.directory_child(d, d["parent_name"], ctx.os) for d in dirs]
    return Payload("starred", body)


@endpoint("getStarred2", readonly=True)
async def get_starred2(ctx: Ctx) -> Payload:
    found = await _starred(ctx)
    return Payload("starred2", shapes.artists_albums_songs(*found, id3=True, os=ctx.os,
                                                           songs=_songs(ctx, found[2])))


def _songs(ctx: Ctx, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Song Children of hydrated rows, from the song cache's fragments when there is one."""
    return songs_of_rows(ctx.state.answers.songs if ctx.state.answers is not None else None, rows, ctx.os)
