"""Sharing: getShares, createShare, updateShare, deleteShare (docs/subsonic-spec.md §3
Sharing). Every method needs the share role; owners manage their own shares, admins all.

A share's `url` is the public page served by share_web (`/share/<token>`), under the
address the client used to reach this server. Share ids are plain integers as strings.
"""

from __future__ import annotations

from typing import Any

from orbsonic.errors import BadParam, MissingParam, NotFound
from orbsonic.ids import parse_id
from orbsonic.library import shares, tracks
from subsonic_api import shapes
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload

SHARE_PATH = "/share/"


def share_url(ctx: Ctx, token: str) -> str:
    """Absolute URL of a share page, from the request's base URL (Host, root_path)."""
    return str(ctx.request.base_url).rstrip("/") + SHARE_PATH + token


def _share_id(ctx: Ctx) -> int:
    text = ctx.params.str("id").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 9:  # "²".isdigit() is true
        raise NotFound("share", text)
    return int(text)


def _expires(ctx: Ctx) -> Any:
    return shares.expiry_from_ms(ctx.params.int("expires"))


async def _shape(ctx: Ctx, share: shares.Share) -> dict[str, Any]:
    ids = await shares.track_ids(ctx.conn, share, ctx.user.folder_ids)
    rows = await tracks.hydrate(ctx.conn, ids, ctx.user.id)
    d: dict[str, Any] = {"id": str(share.id), "url": share_url(ctx, share.token),
                         "description": share.description, "username": share.username,
                         "created": shapes.iso(share.created_at), "visitCount": share.visit_count}
    if share.expires_at is not None:
        d["expires"] = shapes.iso(share.expires_at)
    if share.last_visited is not None:
        d["lastVisited"] = shapes.iso(share.last_visited)
    d["entry"] = [shapes.song(r, ctx.os) for r in rows]
    return d


@endpoint("getShares", role="share")
async def get_shares(ctx: Ctx) -> Payload:
    """The shares this user manages (own; every share for an admin), oldest first; entries
    are the shared songs (albums expanded) that the caller may read."""
    rows = await shares.list_for(ctx.conn, ctx.user.id, ctx.user.is_admin)
    return Payload("shares", {"share": [await _shape(ctx, s) for s in rows]})


def _items(ctx: Ctx) -> list[tuple[str, int]]:
    texts = ctx.params.list("id")
    if not texts:
        raise MissingParam("id")
    out = []
    for text in texts:
        try:
            out.append(parse_id(text, *shares.ENTRY_KINDS))
        except BadParam:
            raise NotFound("item", text) from None
    return out


@endpoint("createShare", role="share")
async def create_share(ctx: Ctx) -> Payload:
    """id[]: songs (tr-…), albums (al-…), playlists (pl-…: own or public ones; an admin any)
    and every other registered entry kind; all must exist and be the caller's to share (else
    70, nothing written). expires: ms since 1970. A shared playlist's entries are read when
    the share is: the share follows the playlist (orbsonic.library.shares)."""
    items = _items(ctx)
    expires = _expires(ctx) if ctx.params.has("expires") else None
    share_id = await shares.create(ctx.conn, ctx.user.id, items,
                                   description=ctx.params.str("description", ""), expires_at=expires,
                                   user_folders=ctx.user.folder_ids, is_admin=ctx.user.is_admin)
    share = await shares.get_managed(ctx.conn, share_id, ctx.user.id, ctx.user.is_admin)
    return Payload("shares", {"share": [await _shape(ctx, share)]})


@endpoint("updateShare", role="share")
async def update_share(ctx: Ctx) -> Payload:
    """description and/or expires (ms; 0 removes the expiry)."""
    share_id = _share_id(ctx)
    kw: dict[str, Any] = {}
    if "description" in ctx.params:
        kw["description"] = ctx.params.str("description", "")
    if ctx.params.has("expires"):
        kw["expires_at"] = _expires(ctx)
    await shares.update(ctx.conn, share_id, ctx.user.id, ctx.user.is_admin, **kw)
    return Payload()


@endpoint("deleteShare", role="share")
async def delete_share(ctx: Ctx) -> Payload:
    await shares.delete(ctx.conn, _share_id(ctx), ctx.user.id, ctx.user.is_admin)
    return Payload()
