"""Native library routes (docs/native-api.md "Library"): cursor-paged tracks, albums and
artists with sort and filters, their detail, search as the user types, the recently added /
played / most played lists, stars and ratings (the annotations table Subsonic star/setRating
writes), and covers (the getCoverArt cache).

Per-user folder access as in the Subsonic API: the caller's folders (users.folder_ids) go down
to every library query; an item outside them, an unknown id and a malformed id are all 404.
A `folder=` filter naming a folder the caller may not read, or none that exists, is 404 too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import anyio
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import FileResponse, Response

from native_api.models_library import (
    AlbumDetail, AlbumSummary, ArtistDetail, ArtistSummary, Lyrics, SearchResult, Track, album_detail,
    album_summary, artist_detail, artist_summary, lyrics, track,
)
from native_api.pagination import Page, decode_cursor, encode_cursor
from native_api.registry import Ctx, route
from orbsonic.covers import MAX_SIZE, find_source, media_type
from orbsonic.errors import BadParam, NotFound
from orbsonic.ids import parse_cover_id, parse_id
from orbsonic.library import (
    albums, annotations, artists, browse_native, folders, genres, playlist_covers, search, tracks,
)
from orbsonic.library import lyrics as track_lyrics
from orbsonic.library.browse_native import Filters, Sort
from orbsonic.library.filters import Folders, YearRange

Order = Literal["asc", "desc"]
_LIMIT = Field(50, ge=1, le=500, description="items per page")
_CURSOR = Field(None, max_length=2048, description="the `next` of the previous page")
_YEAR = Field(None, ge=0, le=9999)
KINDS = {"tr": annotations.TRACK, "al": annotations.ALBUM, "ar": annotations.ARTIST}


class _Filters(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order: Order | None = Field(None, description="default: asc, but desc for added/played/rating/albums")
    genre: str | None = Field(None, min_length=1, max_length=200)
    yearFrom: int | None = _YEAR
    yearTo: int | None = _YEAR
    format: str | None = Field(None, pattern=r"^[A-Za-z0-9]{1,16}$",
                               description="suffix or codec: flac, mp3 …")
    folder: int | None = Field(None, ge=1, le=2**31 - 1, description="a music folder id")
    starred: bool | None = Field(None, description="true: only starred items; false: only unstarred")
    cursor: str | None = _CURSOR
    limit: int = _LIMIT


class TrackQuery(_Filters):
    """GET /tracks query."""

    sort: Literal["title", "artist", "album", "year", "added", "played"] = "title"


class AlbumQuery(_Filters):
    """GET /albums query."""

    sort: Literal["name", "artist", "year", "added", "played", "rating"] = "name"


class ArtistQuery(BaseModel):
    """GET /artists query."""

    model_config = ConfigDict(extra="forbid")
    sort: Literal["name", "albums"] = "name"
    order: Order | None = None
    starred: bool | None = None
    cursor: str | None = _CURSOR
    limit: int = _LIMIT


class ListQuery(BaseModel):
    """GET /lists/… query."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["albums", "tracks"] = "albums"
    cursor: str | None = _CURSOR
    limit: int = _LIMIT


class SearchQuery(BaseModel):
    """GET /search query: `q` as typed so far; `limit` per kind."""

    model_config = ConfigDict(extra="forbid")
    q: str = Field("", max_length=1024)
    limit: int = Field(20, ge=1, le=100)


class RatingBody(BaseModel):
    """PUT /ratings/{id} body: 1–5, or 0 to remove the rating."""

    model_config = ConfigDict(extra="forbid")
    rating: int = Field(ge=0, le=5)


class CoverQuery(BaseModel):
    """GET /covers/{id} query: `size` in px (longest side); none = the original image."""

    model_config = ConfigDict(extra="forbid")
    size: int | None = Field(None, ge=1, le=MAX_SIZE - 1)


# --- helpers -------------------------------------------------------------------------------


def _id(text: str, *kinds: str) -> tuple[str, int]:
    """Parse a path id; a malformed id or one of another kind names nothing: 404."""
    try:
        return parse_id(text, *kinds)
    except BadParam:
        raise NotFound("item", text) from None


async def _folders(ctx: Ctx, folder: int | None) -> Folders:
    """The folders a list may read: the caller's, narrowed to `folder=` when given."""
    if folder is None:
        return ctx.me.folder_ids
    if not ctx.me.may_read_folder(folder) or not await folders.folder_exists(ctx.conn, folder):
        raise NotFound("music folder", folder)
    return [folder]


async def _filters(ctx: Ctx, q: Any) -> Filters:
    years = None
    if q.yearFrom is not None or q.yearTo is not None:
        lo, hi = q.yearFrom if q.yearFrom is not None else 0, q.yearTo if q.yearTo is not None else 9999
        if lo > hi:
            raise BadParam("yearFrom", "must not be after yearTo")
        years = YearRange(lo, hi)
    return Filters(genre_id=genres.genre_id(q.genre) if q.genre else None, years=years,
                   format=q.format.lower() if q.format else None, folders=await _folders(ctx, q.folder),
                   starred=q.starred)


_PY_TYPES = {"text": str, "integer": int, "bigint": int, "smallint": int, "timestamptz": str}


def _after(sort: Sort, name: str, cursor: str | None) -> tuple[Any, ...] | None:
    """The key a cursor continues after; BadParam("cursor") for one of another sort or with
    values the sort's columns cannot hold (a hand-made cursor must not reach SQL as a 500)."""
    key = decode_cursor(cursor, name, len(sort.keys) + 1)
    if key is None:
        return None
    for (_, typ), value in zip((*sort.keys, ("", "bigint")), key):
        ok = isinstance(value, _PY_TYPES[typ]) and not isinstance(value, bool)
        if ok and isinstance(value, int):
            ok = -(2**31) <= value < 2**31 if typ in ("integer", "smallint") else -(2**63) <= value < 2**63
        elif ok and typ == "text":
            ok = "\x00" not in value
        elif ok and typ == "timestamptz":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                ok = False
        if not ok:
            raise BadParam("cursor", "malformed cursor")
    return key


async def _page(ctx: Ctx, fetch: Any, sorts: dict[str, Sort], sort: str, order: str | None,
                cursor: str | None, limit: int, filters: Filters, build: Any) -> Page[Any]:
    """One keyset page: ids (plus one to know there is more) → hydrated items."""
    s = sorts[sort]
    order = order or s.default_order
    name = f"{sort}:{order}"
    rows = await fetch(ctx.conn, sort, order, _after(s, name, cursor), limit + 1, user_id=ctx.me.id,
                       filters=filters)
    more, rows = len(rows) > limit, rows[:limit]
    items = await build(ctx, [i for i, _ in rows], filters.folders)
    return Page[Any](items=items, next=encode_cursor(name, rows[-1][1]) if more and rows else None)


async def _tracks(ctx: Ctx, ids: list[int], folders_: Folders) -> list[Track]:
    rows = await tracks.hydrate(ctx.conn, ids, ctx.me.id, folders_)
    samples = await browse_native.total_samples(ctx.conn, [r["id"] for r in rows])
    return [track(r, samples.get(r["id"])) for r in rows]


async def _albums(ctx: Ctx, ids: list[int], folders_: Folders) -> list[AlbumSummary]:
    return [album_summary(r) for r in await albums.hydrate(ctx.conn, ids, ctx.me.id, folders_)]


async def _artists(ctx: Ctx, ids: list[int], folders_: Folders) -> list[ArtistSummary]:
    return [artist_summary(r) for r in await artists.hydrate(ctx.conn, ids, ctx.me.id, folders_)]


# --- lists ---------------------------------------------------------------------------------


@route("GET", "/tracks", summary="List tracks", tag="library", query=TrackQuery, response=Page[Track],
       errors=(404,))
async def list_tracks(ctx: Ctx) -> Page[Any]:
    """Keyset-paged tracks. `played` lists only the tracks the caller played (last played
    first by default); `year` puts tracks without a year first (asc)."""
    q = ctx.query
    return await _page(ctx, browse_native.track_ids, browse_native.TRACK_SORTS, q.sort, q.order, q.cursor,
                       q.limit, await _filters(ctx, q), _tracks)


@route("GET", "/albums", summary="List albums", tag="library", query=AlbumQuery, response=Page[AlbumSummary],
       errors=(404,))
async def list_albums(ctx: Ctx) -> Page[Any]:
    """Keyset-paged albums. `played`/`rating` list only the albums the caller played/rated.
    `format` keeps albums with at least one track of that suffix or codec."""
    q = ctx.query
    return await _page(ctx, browse_native.album_ids, browse_native.ALBUM_SORTS, q.sort, q.order, q.cursor,
                       q.limit, await _filters(ctx, q), _albums)


@route("GET", "/artists", summary="List album artists", tag="library", query=ArtistQuery,
       response=Page[ArtistSummary])
async def list_artists(ctx: Ctx) -> Page[Any]:
    """Keyset-paged album artists (those getArtists lists); `albums` sorts by album count."""
    q = ctx.query
    return await _page(ctx, browse_native.artist_ids, browse_native.ARTIST_SORTS, q.sort, q.order, q.cursor,
                       q.limit, Filters(folders=ctx.me.folder_ids, starred=q.starred), _artists)


async def _list(ctx: Ctx, sort: str) -> Page[Any]:
    q = ctx.query
    f = Filters(folders=ctx.me.folder_ids)
    if q.kind == "tracks":
        return await _page(ctx, browse_native.track_ids, browse_native.TRACK_SORTS, sort, "desc", q.cursor,
                           q.limit, f, _tracks)
    return await _page(ctx, browse_native.album_ids, browse_native.ALBUM_SORTS, sort, "desc", q.cursor,
                       q.limit, f, _albums)


_LIST_RESPONSE = Page[AlbumSummary] | Page[Track]


@route("GET", "/lists/recently-added", summary="Recently added albums or tracks", tag="library",
       query=ListQuery, response=_LIST_RESPONSE)
async def list_recently_added(ctx: Ctx) -> Page[Any]:
    """Newest first (when the album's first track, or the track, was scanned)."""
    return await _list(ctx, "added")


@route("GET", "/lists/recently-played", summary="Albums or tracks I played recently", tag="library",
       query=ListQuery, response=_LIST_RESPONSE)
async def list_recently_played(ctx: Ctx) -> Page[Any]:
    """The caller's plays (Subsonic scrobbles too), most recent first."""
    return await _list(ctx, "played")


@route("GET", "/lists/most-played", summary="Albums or tracks I played most", tag="library",
       query=ListQuery, response=_LIST_RESPONSE)
async def list_most_played(ctx: Ctx) -> Page[Any]:
    """The caller's play counts, highest first."""
    return await _list(ctx, "plays")


# --- detail --------------------------------------------------------------------------------


@route("GET", "/tracks/{track_id}", summary="A track with its audio properties", tag="library",
       response=Track, errors=(404,))
async def get_track(ctx: Ctx) -> Track:
    _, tid = _id(ctx.path["track_id"], "tr")
    items = await _tracks(ctx, [tid], ctx.me.folder_ids)
    if not items:
        raise NotFound("track", ctx.path["track_id"])
    return items[0]


@route("GET", "/albums/{album_id}", summary="An album with its discs and tracks", tag="library",
       response=AlbumDetail, errors=(404,))
async def get_album(ctx: Ctx) -> AlbumDetail:
    """An album spanning music folders lists only the tracks in the caller's folders."""
    _, aid = _id(ctx.path["album_id"], "al")
    mine = ctx.me.folder_ids
    row = await albums.get(ctx.conn, aid, ctx.me.id, mine)
    if row is None:
        raise NotFound("album", ctx.path["album_id"])
    return album_detail(row, await _tracks(ctx, await tracks.ids_by_album(ctx.conn, aid, mine), mine))


@route("GET", "/artists/{artist_id}", summary="An artist with its albums", tag="library",
       response=ArtistDetail, errors=(404,))
async def get_artist(ctx: Ctx) -> ArtistDetail:
    """Albums oldest first (as getArtist); a featured-only artist lists the albums it plays on."""
    _, aid = _id(ctx.path["artist_id"], "ar")
    mine = ctx.me.folder_ids
    row = await artists.get(ctx.conn, aid, ctx.me.id, mine)
    if row is None:
        raise NotFound("artist", ctx.path["artist_id"])
    return artist_detail(row, await _albums(ctx, await albums.ids_by_artist(ctx.conn, aid, mine), mine))


@route("GET", "/tracks/{track_id}/lyrics", summary="A track's lyrics", tag="library", response=list[Lyrics],
       errors=(404,))
async def get_lyrics(ctx: Ctx) -> list[Lyrics]:
    """Every stored set (embedded, .lrc, .txt), synced ones with line starts; [] when the
    track has none (the same data as getLyricsBySongId)."""
    _, tid = _id(ctx.path["track_id"], "tr")
    found = await track_lyrics.for_track(ctx.conn, tid, ctx.me.folder_ids)
    return lyrics(found.sets)


# --- search --------------------------------------------------------------------------------


@route("GET", "/search", summary="Search artists, albums and tracks as the user types", tag="library",
       query=SearchQuery, response=SearchResult)
async def search_library(ctx: Ctx) -> SearchResult:
    """Every word of `q` matches a word prefix ("beat ro" finds "Beatles — Rock"); typos
    match by trigram similarity after the prefix matches (orbsonic/library/search.py). An
    empty `q` finds nothing."""
    q = search.normalize_query(ctx.query.q)
    if not q:
        return SearchResult(artists=[], albums=[], tracks=[])
    mine, n = ctx.me.folder_ids, ctx.query.limit
    return SearchResult(
        artists=await _artists(ctx, await search.search_ids(ctx.conn, "artists", q, 0, n, mine), mine),
        albums=await _albums(ctx, await search.search_ids(ctx.conn, "albums", q, 0, n, mine), mine),
        tracks=await _tracks(ctx, await search.search_ids(ctx.conn, "tracks", q, 0, n, mine), mine))


# --- stars and ratings ---------------------------------------------------------------------


@route("PUT", "/stars/{item_id}", summary="Star a track, album or artist", tag="library", status=204,
       errors=(404,))
async def star(ctx: Ctx) -> Response:
    """The same star as Subsonic `star` (getStarred2 lists it); starring twice keeps the first time."""
    kind, ident = _id(ctx.path["item_id"], *KINDS)
    await annotations.set_starred(ctx.conn, ctx.me.id, [(KINDS[kind], ident)], True, ctx.me.folder_ids)
    return Response(status_code=204)


@route("DELETE", "/stars/{item_id}", summary="Unstar a track, album or artist", tag="library", status=204,
       errors=(404,))
async def unstar(ctx: Ctx) -> Response:
    kind, ident = _id(ctx.path["item_id"], *KINDS)
    await annotations.set_starred(ctx.conn, ctx.me.id, [(KINDS[kind], ident)], False, ctx.me.folder_ids)
    return Response(status_code=204)


@route("PUT", "/ratings/{item_id}", summary="Rate a track, album or artist", tag="library", body=RatingBody,
       status=204, errors=(404,))
async def rate(ctx: Ctx) -> Response:
    """The same rating as Subsonic `setRating`; 0 removes it."""
    kind, ident = _id(ctx.path["item_id"], *KINDS)
    await annotations.set_rating(ctx.conn, ctx.me.id, KINDS[kind], ident, ctx.body.rating, ctx.me.folder_ids)
    return Response(status_code=204)


# --- covers --------------------------------------------------------------------------------

YEAR_S = 31536000


@route("GET", "/covers/{cover_id}", summary="A cover image", tag="library", query=CoverQuery,
       binary="image/*", errors=(404,))
async def get_cover(ctx: Ctx) -> Response:
    """`cover_id` as in Track/Album/Artist `coverArt` (the getCoverArt ids). A versioned id
    names one image forever: `Cache-Control: private, max-age=31536000, immutable`; an
    unversioned one may change with a rescan (an hour). `ETag` is the source's version and
    the size; `If-None-Match` answers 304. Outside the caller's folders: 404."""
    try:
        kind, ident, canonical = parse_cover_id(ctx.path["cover_id"])
    except BadParam:
        raise NotFound("cover art", ctx.path["cover_id"]) from None
    if not await folders.cover_visible(ctx.conn, kind, ident, ctx.me.folder_ids):
        raise NotFound("cover art", canonical)
    size, cache = ctx.query.size, ctx.state.covers
    key = canonical
    path = cache.lookup(canonical, size) if "_" in canonical and kind != "pl" else None
    if path is None:
        source = (await playlist_covers.find_playlist_source(ctx.conn, cache, ctx.me, ident) if kind == "pl"
                  else await find_source(ctx.conn, kind, ident))
        if source is None:
            raise NotFound("cover art", canonical)
        key = source.key
        path = cache.lookup(key, size) or await anyio.to_thread.run_sync(cache.produce, source, key, size)
        if path is None:
            raise NotFound("cover art", canonical)
    max_age = f"max-age={YEAR_S}, immutable" if key == canonical else "max-age=3600"
    headers = {"ETag": f'"{key}.{size or 0}"', "Cache-Control": f"private, {max_age}"}
    tags = {t.strip().removeprefix("W/") for t in ctx.request.headers.get("if-none-match", "").split(",")}
    if headers["ETag"] in tags or "*" in tags:
        return Response(status_code=304, headers=headers)
    return FileResponse(path, media_type=media_type(path), headers=headers)
