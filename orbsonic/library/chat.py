"""Chat: one room shared by every user (getChatMessages, addChatMessage;
docs/subsonic-spec.md §3 Chat). Messages live in PostgreSQL so that every worker and
replica shows the same room."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.errors import BadParam

MAX_MESSAGE = 2000  # characters
MAX_LISTED = 500  # newest messages returned by one getChatMessages
# Latest `since` (ms) taken as given (year 33658); later ones are clamped to it, as PostgreSQL
# timestamps end in 294276 AD and to_timestamp() would fail beyond.
MAX_SINCE_MS = 10**15


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A chat message; `created_at` becomes the Subsonic `time` (ms since the epoch)."""

    id: int
    username: str
    message: str
    created_at: datetime


async def add(conn: AsyncConnection, user_id: int, message: str) -> None:
    """Post a message. Raises BadParam when it is blank or longer than MAX_MESSAGE characters."""
    if not message.strip():
        raise BadParam("message", "must not be empty")
    if len(message) > MAX_MESSAGE:
        raise BadParam("message", f"longer than {MAX_MESSAGE} characters")
    await conn.execute("INSERT INTO chat_messages (user_id, message) VALUES (%s, %s)", (user_id, message))


async def since(conn: AsyncConnection, since_ms: int) -> list[ChatMessage]:
    """Messages posted after `since_ms` (ms since the epoch; 0 = all), newest first (id
    tiebreak), at most MAX_LISTED. A message's `time` is its creation truncated to the ms, so
    passing the newest `time` seen back as `since` never repeats that message."""
    async with conn.cursor(row_factory=class_row(ChatMessage)) as cur:
        await cur.execute(
            """SELECT m.id, u.username, m.message, m.created_at
                 FROM chat_messages m JOIN users u ON u.id = m.user_id
                WHERE m.created_at >= to_timestamp((%s + 1) / 1000.0)
                ORDER BY m.created_at DESC, m.id DESC LIMIT %s""", (since_ms, MAX_LISTED))
        return await cur.fetchall()
