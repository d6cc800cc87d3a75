"""Delta sync (docs/native-api.md "Delta sync"): `GET /sync?since=TOKEN&limit=N`.

The feed is written by PostgreSQL triggers (schema/0015_changes.sql) and read by
orbsonic/library/changes.py. Tokens are decimal strings of the change log's ids (strings: a
JavaScript number loses bigint precision). No `since` answers the current token and no changes
(the client loads everything first, then syncs from that token).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from native_api.registry import Ctx, route
from orbsonic.ids import public_id
from orbsonic.library import changes


class SyncQuery(BaseModel):
    """`since`: a token from an earlier answer (absent: start now); `limit`: changes read per
    page, 1–1000."""

    model_config = ConfigDict(extra="forbid")
    since: str | None = Field(None, pattern=r"^[0-9]{1,18}$", description="a sync token")
    limit: int = Field(500, ge=1, le=1000)


class SyncChange(BaseModel):
    """One change: the item's public id (for star/rating, the starred or rated item), upsert or
    delete (a tombstone: the item is gone, or unstarred/unrated), and when it happened."""

    kind: Literal["track", "album", "artist", "playlist", "star", "rating"]
    id: str
    op: Literal["upsert", "delete"]
    at: datetime


class SyncPage(BaseModel):
    """A page of changes in token order (the latest op per item); `token` to ask from next;
    `more`: ask again at once."""

    changes: list[SyncChange]
    token: str
    more: bool


@route("GET", "/sync", summary="Changes since a sync token", tag="sync", query=SyncQuery, response=SyncPage,
       errors=(410,))
async def get_sync(ctx: Ctx) -> SyncPage:
    """Adds, updates and removals of tracks, albums, artists, playlists, stars and ratings the
    caller may see since `since`. 410 `full-resync-needed` for a token older than the kept
    history."""
    q: SyncQuery = ctx.query
    if q.since is None:
        return SyncPage(changes=[], token=str(await changes.current_token(ctx.conn)), more=False)
    page = await changes.page(ctx.conn, ctx.me.id, ctx.me.folder_ids, int(q.since), q.limit)
    return SyncPage(
        changes=[SyncChange(kind=c.kind, id=public_id(c.prefix, c.item_id),
                            op="delete" if c.deleted else "upsert", at=c.at) for c in page.changes],
        token=str(page.token), more=page.more)
