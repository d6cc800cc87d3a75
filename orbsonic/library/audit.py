"""The audit log of admin actions (schema/0005_audit_log.sql), readable with `orbsonic audit`.

Entries are written in the caller's transaction, so an action that fails (and rolls
back) leaves no entry, and one that succeeds always has one. Actions:

* `user.create` — details: roles, folders, email, maxBitRate of the new user;
* `user.update` — details: {field: [old, new]} of what changed (roles, folders, email,
  maxBitRate; `password` is recorded as changed, never its value);
* `user.delete`;
* `user.password` — a password changed by someone else (an admin, or the CLI);
* `scan.start` — details: {"full": bool}.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

CLI_ACTOR = "cli"  # actor of actions taken with the command line (no logged-in user)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit_log row. `details` is a JSON object (see the module docstring)."""

    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


async def record(conn: AsyncConnection, actor: str, action: str, target: str = "",
                 details: dict[str, Any] | None = None) -> None:
    """Append an entry in the current transaction."""
    await conn.execute("INSERT INTO audit_log (actor, action, target, details) VALUES (%s, %s, %s, %s)",
                       (actor, action, target, Jsonb(details or {})))


async def recent(conn: AsyncConnection, limit: int = 50) -> list[AuditEntry]:
    """The newest `limit` entries, newest first (primary key order)."""
    async with conn.cursor(row_factory=class_row(AuditEntry)) as cur:
        await cur.execute("SELECT id, at, actor, action, target, details FROM audit_log "
                          "ORDER BY id DESC LIMIT %s", (max(0, limit),))
        return await cur.fetchall()
