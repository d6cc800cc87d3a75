"""jukeboxControl (docs/subsonic-spec.md §3 Jukebox; needs the jukebox role): `get` answers
jukeboxPlaylist, every other action jukeboxStatus. Parameters: action, index, offset
(seconds), id[] (songs), gain (0.0–1.0). With `jukebox_enabled` off: error 0, "jukebox is
not enabled on this server". The player and where its state lives: orbsonic/library/jukebox.py."""

from __future__ import annotations

import math
from typing import Any

from orbsonic.errors import BadParam
from orbsonic.library import jukebox, tracks
from subsonic_api import shapes
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload


def _status(st: jukebox.Status) -> dict[str, Any]:
    return {"currentIndex": st.current_index, "playing": st.playing, "gain": st.gain,
            "position": st.position_s}


def _gain(ctx: Ctx) -> float | None:
    text = ctx.params.get("gain")
    if text is None or text.strip() == "":
        return None
    try:
        gain = float(text)
    except ValueError:
        raise BadParam("gain", "is not a number") from None
    if not math.isfinite(gain):
        raise BadParam("gain", "is not a number")
    return gain


@endpoint("jukeboxControl", role="jukebox")
async def jukebox_control(ctx: Ctx) -> Payload:
    p, settings = ctx.params, ctx.state.settings
    action = p.str("action")
    if action == "get":
        st, ids = await jukebox.playlist(ctx.conn, settings, ctx.user)
        rows = await tracks.hydrate(ctx.conn, ids, ctx.user.id)
        return Payload("jukeboxPlaylist", {**_status(st), "entry": [shapes.song(r, ctx.os) for r in rows]})
    if action != "status":
        await jukebox.control(ctx.conn, settings, ctx.user, action,
                              track_ids=[i for _, i in p.ids("id", "tr")], index=p.opt_int("index"),
                              offset_s=p.int("offset", 0, lo=0), gain=_gain(ctx))
    return Payload("jukeboxStatus", _status(await jukebox.status(ctx.conn, settings)))
