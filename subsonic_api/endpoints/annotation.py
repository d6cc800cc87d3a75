"""Media annotation: star, unstar, setRating, scrobble (docs/subsonic-spec.md §3)."""

from __future__ import annotations

from orbsonic.library import annotations
from subsonic_api.params import parse_int
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload

_KIND_OF_PREFIX = {"tr": annotations.TRACK, "al": annotations.ALBUM, "ar": annotations.ARTIST,
                   "dr": annotations.DIRECTORY}


def _items(ctx: Ctx) -> list[tuple[int, int]]:
    """(kind, id) from id[] (any kind: songs, or folders of getMusicDirectory), albumId[], artistId[]."""
    p = ctx.params
    items = [(_KIND_OF_PREFIX[k], i) for k, i in p.ids("id", "tr", "al", "ar", "dr")]
    items += [(annotations.ALBUM, i) for _, i in p.ids("albumId", "al")]
    items += [(annotations.ARTIST, i) for _, i in p.ids("artistId", "ar")]
    return items


@endpoint("star")
async def star(ctx: Ctx) -> Payload:
    await annotations.set_starred(ctx.conn, ctx.user.id, _items(ctx), True, ctx.user.folder_ids)
    return Payload()


@endpoint("unstar")
async def unstar(ctx: Ctx) -> Payload:
    await annotations.set_starred(ctx.conn, ctx.user.id, _items(ctx), False, ctx.user.folder_ids)
    return Payload()


@endpoint("setRating")
async def set_rating(ctx: Ctx) -> Payload:
    kind, ident = ctx.params.id("id", "tr", "al", "ar", "dr")
    await annotations.set_rating(ctx.conn, ctx.user.id, _KIND_OF_PREFIX[kind], ident,
                                 ctx.params.int("rating", lo=0, hi=5, clamp=False), ctx.user.folder_ids)
    return Payload()


@endpoint("scrobble")
async def scrobble(ctx: Ctx) -> Payload:
    """submission=false is a "now playing" notice: accepted, nothing counted. Each id is
    paired with the time at the same position (ms; seconds and future times corrected)."""
    p = ctx.params
    ids = [i for _, i in p.ids("id", "tr")]
    if not ids:
        p.str("id")  # raises MissingParam
    if p.bool("submission", True):
        times = p.list("time")
        plays = []
        for n, track_id in enumerate(ids):
            ms = parse_int(times[n]) if n < len(times) else None  # not int(): "²".isdigit()
            plays.append((track_id, annotations.scrobble_time(ms)))
        await annotations.record_plays(ctx.conn, ctx.user.id, plays, ctx.user.folder_ids)
    return Payload()
