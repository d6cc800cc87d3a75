"""Internet radio: getInternetRadioStations (everyone) and create/update/
deleteInternetRadioStation (admins) (docs/subsonic-spec.md §3 Internet radio).

The parameter is `homepageUrl`, the response attribute `homePageUrl` (spec §7 #13)."""

from __future__ import annotations

from typing import Any

from orbsonic.errors import NotFound
from orbsonic.library import radio
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload


def _station_id(ctx: Ctx) -> int:
    text = ctx.params.str("id").strip()
    if not text.isdigit() or len(text) > 9:
        raise NotFound("internet radio station", text)
    return int(text)


def _shape(s: radio.Station) -> dict[str, Any]:
    d: dict[str, Any] = {"id": str(s.id), "name": s.name, "streamUrl": s.stream_url}
    if s.homepage_url:
        d["homePageUrl"] = s.homepage_url
    return d


@endpoint("getInternetRadioStations")
async def get_internet_radio_stations(ctx: Ctx) -> Payload:
    rows = await radio.list_all(ctx.conn)
    return Payload("internetRadioStations", {"internetRadioStation": [_shape(s) for s in rows]})


@endpoint("createInternetRadioStation", admin=True)
async def create_internet_radio_station(ctx: Ctx) -> Payload:
    p = ctx.params
    await radio.create(ctx.conn, p.str("name"), p.str("streamUrl"), p.str("homepageUrl", None))
    return Payload()


@endpoint("updateInternetRadioStation", admin=True)
async def update_internet_radio_station(ctx: Ctx) -> Payload:
    p = ctx.params
    await radio.update(ctx.conn, _station_id(ctx), p.str("name"), p.str("streamUrl"),
                       p.str("homepageUrl", None))
    return Payload()


@endpoint("deleteInternetRadioStation", admin=True)
async def delete_internet_radio_station(ctx: Ctx) -> Payload:
    await radio.delete(ctx.conn, _station_id(ctx))
    return Payload()
