"""Chat: getChatMessages and addChatMessage (docs/subsonic-spec.md §3 Chat).
`since` and `time` are ms since the epoch (ChatMessage.time is xs:long)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from orbsonic.library import chat
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@endpoint("getChatMessages")
async def get_chat_messages(ctx: Ctx) -> Payload:
    rows = await chat.since(ctx.conn, ctx.params.int("since", 0, lo=0, hi=chat.MAX_SINCE_MS))
    return Payload("chatMessages", {"chatMessage": [
        {"username": m.username, "time": (m.created_at - _EPOCH) // _MS, "message": m.message}
        for m in rows]})


@endpoint("addChatMessage")
async def add_chat_message(ctx: Ctx) -> Payload:
    await chat.add(ctx.conn, ctx.user.id, ctx.params.str("message"))
    return Payload()
