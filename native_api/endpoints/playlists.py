"""Playlists and smart playlists (docs/native-api.md "Playlists"): the same rows as the Subsonic
playlists (orbsonic.library.playlists). Reading needs no role; writing needs the playlist role
and ownership (or admin: 403 otherwise); a playlist the caller cannot see is 404. Entry
positions are 0-based indexes into the entries the caller sees; duplicates are allowed."""

from __future__ import annotations

from starlette.responses import Response

from native_api.models_playlists import (
    Move,
    NewEntries,
    NewPlaylist,
    Playlist,
    PlaylistDetail,
    PlaylistEntry,
    PlaylistPatch,
    Preview,
    Track,
    track_of,
)
from native_api.registry import Ctx, route
from orbsonic.auth.users import User
from orbsonic.errors import BadParam
from orbsonic.ids import cover_id, parse_id, public_id
from orbsonic.library import playlists, smart, tracks
from orbsonic.library.playlists import PlaylistRow

TAG = "playlists"


def _summary(user: User, row: PlaylistRow) -> Playlist:
    return Playlist(
        id=public_id("pl", row.id), name=row.name, comment=row.comment, owner=row.owner, public=row.public,
        readOnly=not playlists.may_edit(user, row), smart=row.smart, trackCount=row.song_count,
        durationMs=row.duration_ms,
        coverArt=cover_id("pl", row.id, int(row.changed_at.timestamp())) if row.song_count else None,
        created=row.created_at, changed=row.changed_at)


def _playlist_id(ctx: Ctx) -> int:
    return parse_id(ctx.path["playlist_id"], "pl", param="playlist_id")[1]


def track_ids(texts: list[str], name: str = "trackIds") -> list[int]:
    """Internal ids of public track ids, order and duplicates kept. Raises BadParam."""
    return [parse_id(t, "tr", param=name)[1] for t in texts]


def _index(ctx: Ctx, name: str) -> int:
    raw = ctx.path[name]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadParam(name, "must be a 0-based position")
    return int(raw)


async def detail(ctx: Ctx, playlist_id: int) -> PlaylistDetail:
    row, songs = await playlists.with_entries(ctx.conn, ctx.me, playlist_id)
    base = _summary(ctx.me, row)
    return PlaylistDetail(**base.model_dump(), rules=smart.parse_stored(row.rules),
                          entries=[PlaylistEntry(position=n, track=track_of(s)) for n, s in enumerate(songs)])


@route("GET", "/playlists", summary="My playlists, public ones and those shared with me", tag=TAG,
       response=list[Playlist])
async def list_playlists(ctx: Ctx) -> list[Playlist]:
    rows = await playlists.list_visible(ctx.conn, ctx.me)
    return [_summary(ctx.me, r) for r in rows]


@route("POST", "/playlists", summary="Create a playlist (plain or smart)", tag=TAG, role="playlist",
       body=NewPlaylist, response=PlaylistDetail, status=201, errors=(403, 404))
async def create_playlist(ctx: Ctx) -> PlaylistDetail:
    """With `rules` a smart playlist (no `trackIds` then); else the tracks in order."""
    b: NewPlaylist = ctx.body
    if b.rules is not None:
        if b.trackIds:
            raise BadParam("trackIds", "a smart playlist's entries follow its rules: send rules or trackIds")
        ident = await playlists.create_smart(ctx.conn, ctx.me, b.name, b.rules, public=b.public,
                                             comment=b.comment)
    else:
        ident = await playlists.create(ctx.conn, ctx.me, b.name, track_ids(b.trackIds), public=b.public,
                                       comment=b.comment)
    return await detail(ctx, ident)


@route("GET", "/playlists/{playlist_id}", summary="A playlist with its entries", tag=TAG,
       response=PlaylistDetail, errors=(404,))
async def get_playlist(ctx: Ctx) -> PlaylistDetail:
    """A smart playlist's entries are its rules evaluated now."""
    return await detail(ctx, _playlist_id(ctx))


@route("PATCH", "/playlists/{playlist_id}", summary="Rename, describe, publish, or change the rules",
       tag=TAG, role="playlist", body=PlaylistPatch, response=PlaylistDetail, errors=(403, 404))
async def patch_playlist(ctx: Ctx) -> PlaylistDetail:
    """`rules` makes the playlist smart (its stored entries are dropped); `rules: null` makes a
    smart playlist plain and empty."""
    b: PlaylistPatch = ctx.body
    ident = _playlist_id(ctx)
    async with ctx.conn.transaction():
        if "rules" in b.model_fields_set:
            await playlists.set_rules(ctx.conn, ctx.me, ident, b.rules)
        await playlists.describe(ctx.conn, ctx.me, ident, name=b.name, comment=b.comment, public=b.public)
    return await detail(ctx, ident)


@route("DELETE", "/playlists/{playlist_id}", summary="Delete a playlist", tag=TAG, role="playlist",
       status=204, errors=(403, 404))
async def delete_playlist(ctx: Ctx) -> Response:
    await playlists.delete(ctx.conn, ctx.me, _playlist_id(ctx))
    return Response(status_code=204)


@route("POST", "/playlists/{playlist_id}/entries", summary="Insert tracks at a position (default: append)",
       tag=TAG, role="playlist", body=NewEntries, response=PlaylistDetail, errors=(403, 404, 409))
async def add_entries(ctx: Ctx) -> PlaylistDetail:
    ident = _playlist_id(ctx)
    await playlists.insert_entries(ctx.conn, ctx.me, ident, track_ids(ctx.body.trackIds), ctx.body.position)
    return await detail(ctx, ident)


@route("DELETE", "/playlists/{playlist_id}/entries/{position}", summary="Remove the entry at a position",
       tag=TAG, role="playlist", response=PlaylistDetail, errors=(403, 404, 409))
async def remove_entry(ctx: Ctx) -> PlaylistDetail:
    ident = _playlist_id(ctx)
    await playlists.remove_entry(ctx.conn, ctx.me, ident, _index(ctx, "position"))
    return await detail(ctx, ident)


@route("POST", "/playlists/{playlist_id}/move", summary="Move an entry", tag=TAG, role="playlist",
       body=Move, response=PlaylistDetail, errors=(403, 404, 409))
async def move_entry(ctx: Ctx) -> PlaylistDetail:
    """The entry at `from` ends at position `to`."""
    ident = _playlist_id(ctx)
    await playlists.move_entry(ctx.conn, ctx.me, ident, ctx.body.from_, ctx.body.to)
    return await detail(ctx, ident)


@route("POST", "/smart-playlists/preview", summary="The tracks smart rules match now", tag=TAG,
       body=Preview, response=list[Track])
async def preview_smart_playlist(ctx: Ctx) -> list[Track]:
    """The caller's annotations and folders; at most `limit` (default 50, ≤ 500) tracks."""
    rules = ctx.body.rules
    cap = min(ctx.body.limit or 50, rules.limit or 500)
    ids = await smart.evaluate(ctx.conn, rules.model_copy(update={"limit": cap}), ctx.me.id,
                               playlists.folders_of(ctx.me))
    rows = await tracks.hydrate(ctx.conn, ids, ctx.me.id, playlists.folders_of(ctx.me))
    return [track_of(r) for r in rows]
