"""Discovery: getArtistInfo, getArtistInfo2, getAlbumInfo, getAlbumInfo2, getSimilarSongs,
getSimilarSongs2, getTopSongs (docs/subsonic-spec.md §3 Browsing, §2.8, §4 topSongsByArtistId).

Image URLs are absolute `getCoverArt` URLs of this server (`ar-…` for an artist's own picture,
else its cover album's `al-…`) at IMAGE_SIZES px, carrying the caller's own credentials as
`hls` segment URLs do, so an image loader that knows nothing of Subsonic auth can fetch them.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from orbsonic.library import discovery
from subsonic_api import shapes
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload, Text

IMAGE_SIZES = {"smallImageUrl": 64, "mediumImageUrl": 300, "largeImageUrl": 600}
_CREDENTIALS = ("u", "p", "t", "s", "apiKey", "v", "c")
MAX_COUNT = 500


def _image_urls(ctx: Ctx, cover: str | None) -> dict[str, Text]:
    if cover is None:
        return {}
    base = str(ctx.request.base_url).rstrip("/") + "/rest/getCoverArt?"
    auth = [(k, v) for k in _CREDENTIALS for v in ctx.params.list(k)]
    return {key: Text(base + urlencode([*auth, ("id", cover), ("size", str(px))]))
            for key, px in IMAGE_SIZES.items()}


def _texts(**values: str) -> dict[str, Text]:
    return {k: Text(v) for k, v in values.items() if v}


async def _artist_info(ctx: Ctx) -> discovery.ArtistInfo:
    p = ctx.params
    kind, ident = p.id("id", "ar", "al", "tr", "dr")
    folders = ctx.user.folder_ids
    kind, ident = await discovery.from_directory(ctx.conn, kind, ident, folders)
    artist_id = await discovery.artist_of(ctx.conn, kind, ident, folders)
    return await discovery.artist_info(ctx.conn, ctx.state.settings, ctx.state.jobs, ctx.user.id, artist_id,
                                       folders, count=p.int("count", 20, lo=0, hi=MAX_COUNT),
                                       include_absent=p.bool("includeNotPresent"))


def _artist_body(ctx: Ctx, info: discovery.ArtistInfo) -> dict[str, Any]:
    # XSD ArtistInfoBase: biography, musicBrainzId, lastFmUrl, small/medium/largeImageUrl, in order.
    return {**_texts(biography=info.biography, musicBrainzId=info.mbid, lastFmUrl=info.lastfm_url),
            **_image_urls(ctx, info.image)}


@endpoint("getArtistInfo")
async def get_artist_info(ctx: Ctx) -> Payload:
    info = await _artist_info(ctx)
    similar = [shapes.artist_legacy(r) for r in info.similar]
    # An artist the library lacks has no id to give (includeNotPresent).
    similar += [{"id": "", "name": name} for name in info.absent]
    return Payload("artistInfo", {**_artist_body(ctx, info), "similarArtist": similar})


@endpoint("getArtistInfo2")
async def get_artist_info2(ctx: Ctx) -> Payload:
    info = await _artist_info(ctx)
    similar = [shapes.artist_id3(r, ctx.os) for r in info.similar]
    similar += [{"id": "", "name": name, "albumCount": 0} for name in info.absent]
    return Payload("artistInfo2", {**_artist_body(ctx, info), "similarArtist": similar})


async def _album_info(ctx: Ctx) -> Payload:
    kind, ident = ctx.params.id("id", "al", "tr", "dr")
    kind, ident = await discovery.from_directory(ctx.conn, kind, ident, ctx.user.folder_ids)
    info = await discovery.album_info(ctx.conn, ctx.state.settings, ctx.state.jobs, ctx.user.id, kind, ident,
                                      ctx.user.folder_ids)
    return Payload("albumInfo", {**_texts(notes=info.notes, musicBrainzId=info.mbid, lastFmUrl=info.lastfm_url),
                                 **_image_urls(ctx, info.image)})


@endpoint("getAlbumInfo")
async def get_album_info(ctx: Ctx) -> Payload:
    return await _album_info(ctx)


@endpoint("getAlbumInfo2")
async def get_album_info2(ctx: Ctx) -> Payload:
    return await _album_info(ctx)


async def _similar(ctx: Ctx) -> list[dict[str, Any]]:
    kind, ident = ctx.params.id("id", "ar", "al", "tr", "dr")
    kind, ident = await discovery.from_directory(ctx.conn, kind, ident, ctx.user.folder_ids)
    rows = await discovery.similar_songs(ctx.conn, ctx.user.id, kind, ident, ctx.user.folder_ids,
                                         ctx.params.int("count", 50, lo=0, hi=MAX_COUNT))
    return [shapes.song(r, ctx.os) for r in rows]


@endpoint("getSimilarSongs")
async def get_similar_songs(ctx: Ctx) -> Payload:
    return Payload("similarSongs", {"song": await _similar(ctx)})


@endpoint("getSimilarSongs2")
async def get_similar_songs2(ctx: Ctx) -> Payload:
    """`id` is an artist id (Subsonic); album and song ids are taken too, as getSimilarSongs does."""
    return Payload("similarSongs2", {"song": await _similar(ctx)})


@endpoint("getTopSongs")
async def get_top_songs(ctx: Ctx) -> Payload:
    """`id` (an artist id, OpenSubsonic topSongsByArtistId) wins over `artist` (a name)."""
    p = ctx.params
    artist_id = p.id("id", "ar")[1] if p.has("id") else None
    name = None if artist_id is not None else p.str("artist")
    rows = await discovery.top_songs(ctx.conn, ctx.state.settings, ctx.state.jobs, ctx.user.id, artist_id, name,
                                     ctx.user.folder_ids, p.int("count", 50, lo=0, hi=MAX_COUNT))
    return Payload("topSongs", {"song": [shapes.song(r, ctx.os) for r in rows]})
