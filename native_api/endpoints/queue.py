"""The play queue (docs/native-api.md "Queue"): the same rows as Subsonic savePlayQueue /
getPlayQueue (orbsonic.library.queue). `changedBy` is the client's name (X-Orb-Client or the
User-Agent). Indexes are 0-based; every write answers the new Queue."""

from __future__ import annotations

from starlette.responses import Response

from native_api.endpoints.playlists import track_ids
from native_api.models_playlists import (
    Queue,
    QueueAdd,
    QueueCurrent,
    QueueEntry,
    QueueReplace,
    Move,
    track_of,
)
from native_api.registry import Ctx, route
from orbsonic.errors import BadParam
from orbsonic.library import queue, tracks
from orbsonic.library.playlists import folders_of

TAG = "queue"


async def current(ctx: Ctx) -> Queue:
    """The caller's queue as they see it."""
    q = await queue.get(ctx.conn, ctx.me)
    rows = await tracks.hydrate(ctx.conn, q.track_ids, ctx.me.id, folders_of(ctx.me))
    return Queue(
        entries=[QueueEntry(index=n, track=track_of(r)) for n, r in enumerate(rows)],
        currentIndex=q.current_index,
        positionMs=q.position_ms,
        changed=q.changed_at,
        changedBy=q.changed_by,
    )


@route("GET", "/queue", summary="My play queue", tag=TAG, response=Queue)
async def get_queue(ctx: Ctx) -> Queue:
    return await current(ctx)


@route(
    "PUT",
    "/queue",
    summary="Replace my play queue",
    tag=TAG,
    body=QueueReplace,
    response=Queue,
    errors=(404,),
)
async def replace_queue(ctx: Ctx) -> Queue:
    """`currentIndex` defaults to 0 (none for an empty queue)."""
    b: QueueReplace = ctx.body
    ids = track_ids(b.trackIds)
    cur = b.currentIndex if b.currentIndex is not None else (0 if ids else None)
    await queue.save(ctx.conn, ctx.me, ids, cur, b.positionMs, ctx.client)
    return await current(ctx)


@route("DELETE", "/queue", summary="Clear my play queue", tag=TAG, status=204)
async def clear_queue(ctx: Ctx) -> Response:
    await queue.clear(ctx.conn, ctx.me, ctx.client)
    return Response(status_code=204)


@route(
    "POST",
    "/queue/next",
    summary="Play these tracks after the current one",
    tag=TAG,
    body=QueueAdd,
    response=Queue,
    errors=(404,),
)
async def queue_next(ctx: Ctx) -> Queue:
    await queue.play_next(ctx.conn, ctx.me, track_ids(ctx.body.trackIds), ctx.client)
    return await current(ctx)


@route(
    "POST",
    "/queue/append",
    summary="Append tracks to my play queue",
    tag=TAG,
    body=QueueAdd,
    response=Queue,
    errors=(404,),
)
async def queue_append(ctx: Ctx) -> Queue:
    await queue.append(ctx.conn, ctx.me, track_ids(ctx.body.trackIds), ctx.client)
    return await current(ctx)


@route("POST", "/queue/move", summary="Move a queue entry", tag=TAG, body=Move, response=Queue)
async def queue_move(ctx: Ctx) -> Queue:
    """The entry at `from` ends at index `to`; the current entry stays current."""
    await queue.move(ctx.conn, ctx.me, ctx.body.from_, ctx.body.to, ctx.client)
    return await current(ctx)


@route(
    "DELETE", "/queue/entries/{index}", summary="Remove the queue entry at an index", tag=TAG, response=Queue
)
async def queue_remove(ctx: Ctx) -> Queue:
    raw = ctx.path["index"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadParam("index", "must be a 0-based index")
    await queue.remove(ctx.conn, ctx.me, int(raw), ctx.client)
    return await current(ctx)


@route(
    "PUT",
    "/queue/current",
    summary="Set the current entry and position",
    tag=TAG,
    body=QueueCurrent,
    response=Queue,
)
async def queue_current(ctx: Ctx) -> Queue:
    await queue.set_current(ctx.conn, ctx.me, ctx.body.index, ctx.body.positionMs, ctx.client)
    return await current(ctx)
