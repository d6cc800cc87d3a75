"""Playlists: getPlaylists, getPlaylist, createPlaylist, updatePlaylist, deletePlaylist
(docs/subsonic-spec.md §3 Playlists). Reading needs no role; writing needs playlistRole and
ownership (or admin), checked in orbsonic.library.playlists."""

from __future__ import annotations

from dataclasses import replace

from orbsonic.auth import users
from orbsonic.errors import BadParam, IndexOutOfRange, NotAuthorized, NotFound
from orbsonic.library import playlists
from subsonic_api import shapes
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload, clean_text


def _song_ids(ctx: Ctx, name: str) -> list[int]:
    """Repeated song ids in request order, duplicates kept; another kind of id is 70."""
    return [i for _, i in ctx.params.ids(name, "tr")]


async def _playlist_payload(ctx: Ctx, playlist_id: int) -> Payload:
    """The playlist and its entries. With the answer cache's song cache (song_cache.py): one
    statement for the playlist, its entries' track ids and the reader's annotations of them,
    the songs from the cache (one more query for the tracks it does not hold yet)."""
    cache = ctx.state.answers.songs if ctx.state.answers is not None else None
    if cache is None:
        row, rows = await playlists.with_entries(ctx.conn, ctx.user, playlist_id)
        entries = [shapes.song(s, ctx.os) for s in rows]
    else:
        row, ids, notes = await playlists.with_entry_ids(ctx.conn, ctx.user, playlist_id)
        entries, ms = await cache.entries(ctx.conn, ids, notes, ctx.user.id, playlists.folders_of(ctx.user),
                                          ctx.os)
        row = replace(row, song_count=len(entries), duration_ms=ms)
    d = shapes.playlist(row, writable=playlists.may_write(ctx.user, row), os=ctx.os)
    d["entry"] = entries
    return Payload("playlist", d)


@endpoint("getPlaylists", readonly=True)
async def get_playlists(ctx: Ctx) -> Payload:
    """Own, public and shared playlists; `username` (admins only, or oneself) lists what that
    user sees."""
    owner = None
    name = ctx.params.str("username", None)
    if name is not None and name != ctx.user.username:
        if not ctx.user.is_admin:
            raise NotAuthorized("only admins may list another user's playlists")
        owner = await users.get_by_name(ctx.conn, name)
        if owner is None:
            raise NotFound("user", name)
    rows = await playlists.list_visible(ctx.conn, ctx.user, owner)
    return Payload(
        "playlists",
        {
            "playlist": [
                shapes.playlist(r, writable=playlists.may_write(ctx.user, r), os=ctx.os) for r in rows
            ]
        },
    )


@endpoint("getPlaylist", readonly=True)
async def get_playlist(ctx: Ctx) -> Payload:
    _, ident = ctx.params.id("id", "pl")
    return await _playlist_payload(ctx, ident)


@endpoint("createPlaylist", role="playlist")
async def create_playlist(ctx: Ctx) -> Payload:
    """With `playlistId`: replace that playlist's entries (and its name when `name` is given);
    else create playlist `name`. Returns the playlist (since 1.14.0)."""
    p = ctx.params
    songs = _song_ids(ctx, "songId")
    if p.has("playlistId"):
        _, ident = p.id("playlistId", "pl")
        await playlists.replace_entries(
            ctx.conn, ctx.user, ident, songs, name=_text(ctx, "name", keep_empty=False)
        )
    else:
        ident = await playlists.create(ctx.conn, ctx.user, clean_text(p.str("name")), songs)
    return await _playlist_payload(ctx, ident)


def _text(ctx: Ctx, name: str, *, keep_empty: bool) -> str | None:
    """An optional text parameter, cleaned of characters XML cannot carry (stored text is
    cleaned where it enters). Absent: None; empty: "" with keep_empty (clears a comment), else None."""
    value = ctx.params.get(name)
    if value is None or (value == "" and not keep_empty):
        return None
    return clean_text(value)


def _indexes(ctx: Ctx, name: str) -> list[int]:
    out = []
    for text in ctx.params.list(name):
        try:
            n = int(text.strip())
        except ValueError:
            raise BadParam(name, f"{text!r} is not an integer") from None
        if n < 0:
            raise IndexOutOfRange(name, f"{n} is not an entry index")
        out.append(n)
    return out


@endpoint("updatePlaylist", role="playlist")
async def update_playlist(ctx: Ctx) -> Payload:
    p = ctx.params
    _, ident = p.id("playlistId", "pl")
    await playlists.update(
        ctx.conn,
        ctx.user,
        ident,
        name=_text(ctx, "name", keep_empty=False),
        comment=_text(ctx, "comment", keep_empty=True),
        public=p.bool("public") if p.has("public") else None,
        add=_song_ids(ctx, "songIdToAdd"),
        remove=_indexes(ctx, "songIndexToRemove"),
    )
    return Payload()


@endpoint("deletePlaylist", role="playlist")
async def delete_playlist(ctx: Ctx) -> Payload:
    _, ident = ctx.params.id("id", "pl")
    await playlists.delete(ctx.conn, ctx.user, ident)
    return Payload()
