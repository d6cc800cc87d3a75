"""Idempotency-Key for native API writes (draft-ietf-httpapi-idempotency-key-header).

A write (POST/PUT/PATCH/DELETE) with an `Idempotency-Key` header is applied once per user and
key: the key is claimed in the request's own transaction (an INSERT; a concurrent retry with the
same key waits on the unique index until the first commits), and the response is stored in the
same transaction as the change, so "applied" and "remembered" commit together. A retry answers
the stored status and body (header `Idempotent-Replayed: true`). The same key sent with another
method or path is a Conflict (409). Keys are kept for `KEEP_HOURS` hours (pruned on claim).
"""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import class_row
from starlette.responses import Response

from orbsonic.errors import BadParam, Conflict

KEEP_HOURS = 24
MAX_KEY = 255
MAX_STORED_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Stored:
    """A remembered response: HTTP `status` and JSON `body` (b"" for none)."""

    method: str
    path: str
    status: int | None
    body: bytes


async def claim(conn: AsyncConnection, user_id: int, key: str, method: str, path: str) -> Stored | None:
    """Claim `key` for this request; return the stored response when it was seen before.

    Raises BadParam for a malformed key, Conflict when the key belongs to another request."""
    if not key or len(key) > MAX_KEY or not key.isprintable():
        raise BadParam("Idempotency-Key", f"must be 1–{MAX_KEY} printable characters")
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE user_id = %s AND created_at < now() - make_interval(hours => %s)",
        (user_id, KEEP_HOURS))
    cur = await conn.execute(
        """INSERT INTO idempotency_keys (user_id, key, method, path) VALUES (%s, %s, %s, %s)
           ON CONFLICT DO NOTHING RETURNING 1""", (user_id, key, method, path))
    if await cur.fetchone() is not None:
        return None
    async with conn.cursor(row_factory=class_row(Stored)) as c:
        await c.execute("""SELECT method, path, status, coalesce(body, ''::bytea) AS body
                           FROM idempotency_keys WHERE user_id = %s AND key = %s""", (user_id, key))
        row = await c.fetchone()
    if row is None or row.status is None:  # vanished or never completed: treat as new
        return None
    if (row.method, row.path) != (method, path):
        raise Conflict("this Idempotency-Key was used for another request")
    return Stored(row.method, row.path, row.status, bytes(row.body))


async def store(conn: AsyncConnection, user_id: int, key: str, response: Response) -> None:
    """Remember `response` for `key` (JSON bodies only; a streamed body is not replayable and
    is remembered as its status alone)."""
    body = getattr(response, "body", b"") or b""
    if len(body) > MAX_STORED_BYTES:
        body = b""
    await conn.execute("UPDATE idempotency_keys SET status = %s, body = %s WHERE user_id = %s AND key = %s",
                       (response.status_code, body, user_id, key))
