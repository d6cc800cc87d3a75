"""The /api/v1 mount: the registered native routes, the OpenAPI document, and `GET /me`.

Route modules register with `@route(...)` (native_api/registry.py) and are imported here, so that
mounting /api/v1 registers every route once. Anything under /api/v1 that matches no route is a
404 problem+json, never Starlette's plain-text page.
"""

from __future__ import annotations

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.types import Receive, Scope, Send

from native_api import openapi
from native_api.dispatch import json_response, starlette_routes
from native_api.errors import problem
from native_api.registry import Ctx, route
from orbsonic.auth.users import ROLE_ATTRS

PREFIX = "/api/v1"


class Me(BaseModel):
    """The calling user: name, admin flag, the Subsonic roles they hold, their music folders
    (null: all folders)."""

    id: int
    username: str
    email: str
    admin: bool
    roles: list[str]
    folders: list[int] | None
    maxBitRate: int


@route("GET", "/me", summary="The calling user", tag="auth", response=Me)
async def get_me(ctx: Ctx) -> Me:
    u = ctx.me
    return Me(id=u.id, username=u.username, email=u.email, admin=u.is_admin,
              roles=[r for r in ROLE_ATTRS if u.has_role(r)], folders=u.folder_ids,
              maxBitRate=u.max_bitrate)


async def openapi_json(request: Request) -> Response:
    return json_response(openapi.document())


async def not_found(request: Request) -> Response:
    return problem(404, "not-found", f"no route {request.url.path}")


def mount() -> Mount:
    """The /api/v1 Mount with every registered route (imports the route modules)."""
    import native_api.endpoints  # noqa: F401  (registers the route modules)

    routes = [Route("/openapi.json", openapi_json, methods=["GET", "HEAD"]), *starlette_routes(),
              Route("/{rest:path}", not_found, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])]
    return Mount(PREFIX, routes=routes)


class Fallback(BaseRoute):
    """Whatever under /api/v1 the mount did not take is a 404 problem: Starlette's path patterns
    do not match a newline (`/api/v1/x/%0A`), so such a path would otherwise get the app's
    plain-text 404 (found by schemathesis)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == PREFIX or path.startswith(PREFIX + "/")):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: object) -> object:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await problem(404, "not-found", "no such route")(scope, receive, send)
