"""getSonicSimilarTracks and findSonicPath (OpenSubsonic `sonicSimilarity`; spec §3 table:
`sonicMatch` root array of {entry: Child, similarity}). The analysis behind them is
orbsonic/analysis (features.py, sonic.py, sonic_jobs.py)."""

from __future__ import annotations

from orbsonic.library import sonic
from subsonic_api import shapes
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload

MAX_COUNT = 500


def _matches(ctx: Ctx, found: list[tuple[dict, float]]) -> Payload:  # type: ignore[type-arg]
    # similarity as an attribute: the XSD SonicMatch allows it as attribute or element.
    return Payload("sonicMatch", [{"entry": shapes.song(row, ctx.os), "similarity": round(sim, 4)}
                                  for row, sim in found])


@endpoint("getSonicSimilarTracks")
async def get_sonic_similar_tracks(ctx: Ctx) -> Payload:
    p = ctx.params
    _, ident = p.id("id", "tr")
    count = p.int("count", 10, lo=0, hi=MAX_COUNT)
    return _matches(ctx, await sonic.similar(ctx.conn, ident, count, ctx.user.id, ctx.user.folder_ids))


@endpoint("findSonicPath")
async def find_sonic_path(ctx: Ctx) -> Payload:
    p = ctx.params
    _, start = p.id("startSongId", "tr")
    _, end = p.id("endSongId", "tr")
    count = p.int("count", 25, lo=1, hi=MAX_COUNT)
    return _matches(ctx, await sonic.path(ctx.conn, start, end, count, ctx.user.id, ctx.user.folder_ids))
