"""Play queue and bookmarks: getPlayQueue, savePlayQueue, getPlayQueueByIndex,
savePlayQueueByIndex (OpenSubsonic indexBasedQueue), getBookmarks, createBookmark,
deleteBookmark (docs/subsonic-spec.md §2.8, §3 Bookmarks and play queue).

Both queue forms read and write the one queue of the user (orbsonic.library.queue).
"""

from __future__ import annotations

from orbsonic.errors import IndexOutOfRange
from orbsonic.library import bookmarks, queue, tracks
from subsonic_api import shapes
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload, clean_text


def _position(ctx: Ctx) -> int:
    """`position` in ms; empty or absent counts as 0 (OpenSubsonic)."""
    return ctx.params.int("position", 0, lo=0, clamp=False)


def _client(ctx: Ctx) -> str:
    return clean_text(ctx.params.get("c") or "")


async def _queue_payload(ctx: Ctx, *, by_index: bool) -> Payload:
    q, songs = await queue.get_with_songs(ctx.conn, ctx.user)
    key = "playQueueByIndex" if by_index else "playQueue"
    return Payload(key, shapes.play_queue(q, ctx.user.username, songs, by_index=by_index, os=ctx.os))


@endpoint("getPlayQueue", readonly=True)
async def get_play_queue(ctx: Ctx) -> Payload:
    return await _queue_payload(ctx, by_index=False)


@endpoint("getPlayQueueByIndex", readonly=True)
async def get_play_queue_by_index(ctx: Ctx) -> Payload:
    return await _queue_payload(ctx, by_index=True)


@endpoint("savePlayQueue")
async def save_play_queue(ctx: Ctx) -> Payload:
    """No `id`: clears the queue. Otherwise `current` is required and must be in the id
    list (OpenSubsonic erratum); with duplicates its first occurrence is current."""
    ids = [i for _, i in ctx.params.ids("id", "tr")]
    index = None
    if ids:
        _, current = ctx.params.id("current", "tr")
        if current not in ids:
            raise IndexOutOfRange("current", f"{ctx.params.get('current')!r} is not in the id list")
        index = ids.index(current)
    await queue.save(ctx.conn, ctx.user, ids, index, _position(ctx), _client(ctx))
    return Payload()


@endpoint("savePlayQueueByIndex")
async def save_play_queue_by_index(ctx: Ctx) -> Payload:
    """No `id`: clears the queue, and `currentIndex` must then be absent. Otherwise
    `currentIndex` (0-based) is required and an index of the id list (else error 10)."""
    p = ctx.params
    ids = [i for _, i in p.ids("id", "tr")]
    index = p.opt_int("currentIndex")
    if ids and index is None:
        p.str("currentIndex")  # raises MissingParam
    if not ids and index is not None:
        raise IndexOutOfRange("currentIndex", "must not be set without id")
    await queue.save(ctx.conn, ctx.user, ids, index, _position(ctx), _client(ctx))
    return Payload()


@endpoint("getBookmarks")
async def get_bookmarks(ctx: Ctx) -> Payload:
    rows = await bookmarks.list_for(ctx.conn, ctx.user)
    songs = {r["id"]: r for r in await tracks.hydrate(ctx.conn, [b.track_id for b in rows], ctx.user.id)}
    return Payload(
        "bookmarks",
        {
            "bookmark": [
                shapes.bookmark(b, ctx.user.username, songs[b.track_id], ctx.os)
                for b in rows
                if b.track_id in songs
            ]
        },
    )


@endpoint("createBookmark")
async def create_bookmark(ctx: Ctx) -> Payload:
    """`position` (ms) is required here; an existing bookmark of the track is overwritten."""
    _, ident = ctx.params.id("id", "tr")
    position = ctx.params.int("position", lo=0, clamp=False)
    await bookmarks.save(ctx.conn, ctx.user, ident, position, clean_text(ctx.params.get("comment") or ""))
    return Payload()


@endpoint("deleteBookmark")
async def delete_bookmark(ctx: Ctx) -> Payload:
    _, ident = ctx.params.id("id", "tr")
    await bookmarks.delete(ctx.conn, ctx.user, ident)
    return Payload()
