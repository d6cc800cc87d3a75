"""API keys of the calling user (issue 9 Auth: "API keys can be listed, created and revoked by
their owner"). The same keys as the Subsonic `apiKey` parameter (OpenSubsonic
apiKeyAuthentication); the key itself is shown once, at creation, and stored only hashed."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from native_api.registry import Ctx, route
from orbsonic.auth import users
from orbsonic.errors import BadParam


class ApiKey(BaseModel):
    """A key's record: `lastUsed` is null for a key never used."""

    id: int
    name: str
    created: datetime
    lastUsed: datetime | None


class NewApiKey(BaseModel):
    """The body of POST /api-keys."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("", max_length=100, description="a label, e.g. the app that will use it")


class CreatedApiKey(ApiKey):
    """A new key: `key` is the secret, shown only in this answer."""

    key: str


@route("GET", "/api-keys", summary="List my API keys", tag="auth", response=list[ApiKey])
async def list_api_keys(ctx: Ctx) -> list[ApiKey]:
    rows = await users.list_api_keys(ctx.conn, ctx.me.username)
    return [ApiKey(id=i, name=n, created=c, lastUsed=lu) for i, n, c, lu in rows]


@route("POST", "/api-keys", summary="Create an API key", tag="auth", body=NewApiKey,
       response=CreatedApiKey, status=201)
async def create_api_key(ctx: Ctx) -> CreatedApiKey:
    key = await users.create_api_key(ctx.conn, ctx.me.username, ctx.body.name)
    rows = await users.list_api_keys(ctx.conn, ctx.me.username)
    i, n, c, lu = rows[-1]
    return CreatedApiKey(id=i, name=n, created=c, lastUsed=lu, key=key)


@route("DELETE", "/api-keys/{key_id}", summary="Revoke one of my API keys", tag="auth", status=204,
       errors=(404,))
async def revoke_api_key(ctx: Ctx) -> Response:
    raw = ctx.path["key_id"]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadParam("key_id", "must be a key id")
    await users.revoke_api_key(ctx.conn, ctx.me.username, int(raw))
    return Response(status_code=204)
