"""Real-time (docs/native-api.md "Real-time"): `GET /events` (Server-Sent Events for the
caller), `POST /playback`, `POST /playback/takeover`.

Events travel through PostgreSQL LISTEN/NOTIFY (orbsonic/events.py), or Valkey pub/sub with
VALKEY_URL (orbsonic/eventbus.py), so a device connected to another worker or replica sees them. Playlist and queue events come from triggers, whichever API
wrote; scan progress from the scanner's status row. A `: ping` comment every HEARTBEAT_S keeps
proxies from closing an idle stream; the stream ends when the client goes away (Starlette
cancels it on http.disconnect). `?token=` is accepted because EventSource cannot send headers.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response, StreamingResponse

from native_api.registry import Ctx, route
from orbsonic import events
from orbsonic.auth.users import User
from orbsonic.ids import parse_id, public_id
from orbsonic.library import nowplaying, queue

HEARTBEAT_S = 15.0
SSE_TYPE = "text/event-stream"


class Playback(BaseModel):
    """The body of POST /playback: what this device plays, where (ms), in which state."""

    model_config = ConfigDict(extra="forbid")
    deviceId: str = Field(min_length=1, max_length=100)
    deviceName: str = Field("", max_length=100)
    trackId: str = Field(min_length=1, max_length=40)
    positionMs: int = Field(0, ge=0, le=10**12)
    state: Literal["playing", "paused", "stopped"]


class Takeover(BaseModel):
    """The body of POST /playback/takeover: the device that continues ("play here")."""

    model_config = ConfigDict(extra="forbid")
    deviceId: str = Field(min_length=1, max_length=100)


def _sse(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _queue_data(ctx: Ctx, user: User) -> dict[str, Any]:
    async with ctx.state.pool.connection() as conn:
        q = await queue.get(conn, user)
    return {"entries": [{"index": i, "trackId": public_id("tr", t)} for i, t in enumerate(q.track_ids)],
            "currentIndex": q.current_index, "positionMs": q.position_ms,
            "changed": q.changed_at.isoformat(), "changedBy": q.changed_by}


async def _stream(ctx: Ctx, listener: events.Listener, user: User) -> AsyncIterator[bytes]:
    async with listener.subscribe(user.id) as inbox:
        yield b": connected\n\n"
        while True:
            try:
                ev = await asyncio.wait_for(inbox.get(), HEARTBEAT_S)
            except TimeoutError:
                yield b": ping\n\n"
                continue
            data = ev.data
            if ev.name == "queue":
                data = await _queue_data(ctx, user)
            elif ev.name == "playlist" and isinstance(data.get("id"), int):
                data = {"id": public_id("pl", data["id"])}
            yield _sse(ev.name, data)


@route("GET", "/events", summary="The caller's real-time events (Server-Sent Events)", tag="realtime",
       binary=SSE_TYPE)
async def get_events(ctx: Ctx) -> Response:
    """`event: playback|queue|playlist|scan|takeover` with a JSON `data` line each; a comment
    every 15 s. Reconnect (EventSource does) and resync with GET /queue and /sync."""
    listener: events.Listener = ctx.request.app.state.events
    return StreamingResponse(_stream(ctx, listener, ctx.me), media_type=SSE_TYPE,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@route("POST", "/playback", summary="Report this device's playback", tag="realtime", body=Playback,
       status=204, errors=(404,))
async def post_playback(ctx: Ctx) -> Response:
    """Feeds Subsonic getNowPlaying (the player is the device name, else its id) and sends a
    `playback` event to the caller's other devices. 404 for a track the caller cannot read."""
    b: Playback = ctx.body
    _, track_id = parse_id(b.trackId, "tr", param="trackId")
    await nowplaying.report(ctx.conn, ctx.me.id, b.deviceName or b.deviceId, track_id, b.state, b.positionMs,
                            user_folders=ctx.me.folder_ids)
    await events.publish(ctx.conn, ctx.me.id, "playback", {
        "deviceId": b.deviceId, "deviceName": b.deviceName, "trackId": public_id("tr", track_id),
        "positionMs": b.positionMs, "state": b.state, "at": datetime.now(UTC).isoformat()})
    return Response(status_code=204)


@route("POST", "/playback/takeover", summary="Continue playback on this device", tag="realtime",
       body=Takeover, status=204)
async def post_takeover(ctx: Ctx) -> Response:
    """Sends `takeover {deviceId}`: the other devices pause, this one continues."""
    await events.publish(ctx.conn, ctx.me.id, "takeover", {"deviceId": ctx.body.deviceId})
    return Response(status_code=204)
