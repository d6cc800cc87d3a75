"""Browsing: getMusicFolders, getIndexes, getMusicDirectory (real folders), getArtists,
getArtist, getAlbum, getSong (ID3 tags), getGenres (docs/subsonic-spec.md §3 Browsing)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import groupby
from typing import Any

from orbsonic.errors import NotFound
from orbsonic.library import artists, folders, genres, pages, tracks
from orbsonic.library.filters import Folders
from orbsonic.library.indexing import IGNORED_ARTICLES, index_letter, sort_key
from orbsonic.ids import public_id
from subsonic_api import shapes
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload

IGNORED = " ".join(IGNORED_ARTICLES)


async def folder_param(ctx: Ctx) -> Folders:
    """The music folders a list reads: the optional musicFolderId, else every folder the
    user may read (None = all). An unknown folder, or one the user may not read, is
    error 70 (not an empty list, and not 50: its existence is not revealed)."""
    folder_id = ctx.params.opt_int("musicFolderId")
    if folder_id is None:
        return ctx.user.folder_ids
    if not ctx.user.may_read_folder(folder_id) or not await folders.folder_exists(ctx.conn, folder_id):
        raise NotFound("music folder", folder_id)
    return [folder_id]


def _indexed(items: Iterable[dict[str, Any]], letter: Callable[[dict[str, Any]], str],
             shape: Callable[[dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    """Group rows (already in sort order) into [{name: letter, artist: [...]}]."""
    return [{"name": name, "artist": [shape(r) for r in rows]}
            for name, rows in groupby(items, key=letter)]


@endpoint("getMusicFolders", readonly=True)
async def get_music_folders(ctx: Ctx) -> Payload:
    rows = await folders.music_folders(ctx.conn, ctx.user.folder_ids)
    return Payload("musicFolders", {"musicFolder": [{"id": r["id"], "name": r["name"]} for r in rows]})


@endpoint("getIndexes", readonly=True)
async def get_indexes(ctx: Ctx) -> Payload:
    """Top-level folders of each music folder, grouped by letter; loose files as `child`."""
    scope = await folder_param(ctx)
    modified = await artists.last_modified_ms(ctx.conn)
    body: dict[str, Any] = {"lastModified": modified, "ignoredArticles": IGNORED}
    since = ctx.params.opt_int("ifModifiedSince")
    if since is not None and modified <= since:
        return Payload("indexes", body)
    dirs = await folders.top_directories(ctx.conn, ctx.user.id, scope)
    keyed = sorted(((sort_key(d["name"]), d["id"], d) for d in dirs), key=lambda t: (t[0], t[1]))
    body["index"] = _indexed((d for _, _, d in keyed), lambda d: index_letter(sort_key(d["name"])),
                             lambda d: shapes.artist_legacy(d, "dr"))
    loose: list[int] = []
    for root in await folders.root_directory_ids(ctx.conn, scope):
        loose += await tracks.ids_by_directory(ctx.conn, root)
    body["child"] = [shapes.song(r, ctx.os) for r in await tracks.hydrate(ctx.conn, loose, ctx.user.id)]
    return Payload("indexes", body)


@endpoint("getMusicDirectory", readonly=True)
async def get_music_directory(ctx: Ctx) -> Payload:
    """A real folder (dr-…); album (al-…) and artist (ar-…) ids are accepted too, so that
    ids from getAlbumList and search2 browse on (§4.5 #12)."""
    kind, ident = ctx.params.id("id", "dr", "al", "ar")
    uid, scope = ctx.user.id, ctx.user.folder_ids
    if kind == "dr":
        found = await pages.directory(ctx.conn, ident, uid, scope)
        if found is None:
            raise NotFound("directory", ctx.params.get("id"))
        row, subdirs, songs = found
        body = {"id": public_id("dr", ident), "name": row["name"] or ""}
        if row["parent_id"]:
            body["parent"] = public_id("dr", row["parent_id"])
        children = [shapes.directory_child(d, row["name"], ctx.os) for d in subdirs]
        children += [shapes.song(s, ctx.os) for s in songs]
    elif kind == "al":
        found_album = await pages.album(ctx.conn, ident, uid, scope)
        if found_album is None:
            raise NotFound("album", ctx.params.get("id"))
        row, songs = found_album
        body = {"id": public_id("al", ident), "name": row["name"] or ""}
        if row["artist_id"]:
            body["parent"] = public_id("ar", row["artist_id"])
        children = [shapes.song(s, ctx.os) for s in songs]
    else:
        found_artist = await pages.artist(ctx.conn, ident, uid, scope)
        if found_artist is None:
            raise NotFound("artist", ctx.params.get("id"))
        row, rows = found_artist
        body = {"id": public_id("ar", ident), "name": row["name"] or ""}
        children = [shapes.album_child(a, ctx.os) for a in rows]
    if row.get("starred_at"):
        body["starred"] = shapes.iso(row["starred_at"])
    if row.get("rating"):
        body["userRating"] = row["rating"]
    if row.get("play_count"):
        body["playCount"] = row["play_count"]
    body["child"] = children
    return Payload("directory", body)


@endpoint("getArtists", readonly=True)
async def get_artists(ctx: Ctx) -> Payload:
    rows = await artists.browse(ctx.conn, ctx.user.id, await folder_param(ctx))
    return Payload("artists", {
        "ignoredArticles": IGNORED,
        "index": _indexed(rows, lambda r: r["index_letter"], lambda r: shapes.artist_id3(r, ctx.os)),
    })


@endpoint("getArtist", readonly=True)
async def get_artist(ctx: Ctx) -> Payload:
    _, ident = ctx.params.id("id", "ar")
    found = await pages.artist(ctx.conn, ident, ctx.user.id, ctx.user.folder_ids)
    if found is None:
        raise NotFound("artist", ctx.params.get("id"))
    row, rows = found
    body = shapes.artist_id3(row, ctx.os)
    body["album"] = [shapes.album_id3(a, ctx.os) for a in rows]
    return Payload("artist", body)


@endpoint("getAlbum", readonly=True)
async def get_album(ctx: Ctx) -> Payload:
    _, ident = ctx.params.id("id", "al")
    found = await pages.album(ctx.conn, ident, ctx.user.id, ctx.user.folder_ids)
    if found is None:
        raise NotFound("album", ctx.params.get("id"))
    row, songs = found
    body = shapes.album_id3(row, ctx.os)
    body["song"] = [shapes.song(s, ctx.os) for s in songs]
    return Payload("album", body)


@endpoint("getSong", readonly=True)
async def get_song(ctx: Ctx) -> Payload:
    _, ident = ctx.params.id("id", "tr")
    row = await tracks.get(ctx.conn, ident, ctx.user.id, ctx.user.folder_ids)
    if row is None:
        raise NotFound("song", ctx.params.get("id"))
    return Payload("song", shapes.song(row, ctx.os))


@endpoint("getGenres", readonly=True)
async def get_genres(ctx: Ctx) -> Payload:
    rows = await genres.list_all(ctx.conn, ctx.user.folder_ids)
    return Payload("genres", {"genre": [
        {"songCount": r["song_count"], "albumCount": r["album_count"], "value": r["name"]} for r in rows]})
