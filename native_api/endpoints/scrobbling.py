"""My scrobble forwarding settings (docs/native-api.md "Scrobbling"): the ListenBrainz user
token and Last.fm session key that plays are forwarded with (orbsonic/library/scrobbling.py).
Secrets are write-only: reads say which services are set, never the values."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from native_api.registry import Ctx, route
from orbsonic.library import scrobbling
from orbsonic.library.scrobbling import Credentials

TAG = "scrobbling"


class ScrobbleSettings(BaseModel):
    """Which services my plays are forwarded to: `enabled` is the scrobbling role."""

    enabled: bool
    listenbrainz: bool
    lastfm: bool


class ScrobbleCredentials(BaseModel):
    """New credentials: a value sets it, "" removes it, a missing field leaves it as it is."""

    model_config = ConfigDict(extra="forbid")
    listenbrainzToken: str | None = Field(None, max_length=scrobbling.MAX_CREDENTIAL)
    lastfmSession: str | None = Field(None, max_length=scrobbling.MAX_CREDENTIAL)


def _shown(c: Credentials) -> ScrobbleSettings:
    return ScrobbleSettings(enabled=c.enabled, listenbrainz=bool(c.listenbrainz_token),
                            lastfm=bool(c.lastfm_session))


@route("GET", "/me/scrobbling", summary="My scrobble forwarding", tag=TAG, response=ScrobbleSettings)
async def get_scrobbling(ctx: Ctx) -> ScrobbleSettings:
    cred = await scrobbling.credentials(ctx.conn, ctx.me.id)
    assert cred is not None  # the caller exists
    return _shown(cred)


@route("PUT", "/me/scrobbling", summary="Set my ListenBrainz token / Last.fm session", tag=TAG,
       body=ScrobbleCredentials, response=ScrobbleSettings, errors=(400,))
async def put_scrobbling(ctx: Ctx) -> ScrobbleSettings:
    """400 when a value is not printable ASCII without spaces."""
    b: ScrobbleCredentials = ctx.body
    return _shown(await scrobbling.set_credentials(ctx.conn, ctx.me.username, listenbrainz_token=b.listenbrainzToken,
                                                   lastfm_session=b.lastfmSession))
