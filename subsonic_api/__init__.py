"""The Subsonic/OpenSubsonic REST API: /rest/<method> and /rest/<method>.view.

One route takes every method, GET, POST and HEAD. The dispatcher merges the query
string with a form body (formPost; old DSub POSTs with parameters in the URL), picks
the client profile, checks the protocol version and credentials, runs the handler on
one pooled connection, and renders the result in the requested format. Every failure
is an error envelope in that format, with HTTP 200.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orbsonic.errors import BadParam, NotAuthorized
from orbsonic.state import AppState
from subsonic_api import endpoints  # noqa: F401  (registers the handlers)
from subsonic_api.auth import authenticate, check_version
from subsonic_api.errors import NotImplementedEndpoint, UnknownMethod, to_failure
from subsonic_api.params import Params
from subsonic_api.registry import ALL_METHODS, ENDPOINTS, Ctx
from subsonic_api.response import Failure, Payload, render

log = logging.getLogger("orbsonic.subsonic")
MAX_FORM_BYTES = 10 * 1024 * 1024  # Navidrome caps formPost bodies at 10 MB too


async def _params(request: Request) -> Params:
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
                raise BadParam("body", "form body larger than 10 MB")
            try:
                # formPost exists for long lists (thousands of songId): the 10 MB cap bounds
                # the body, not Starlette's default of 1000 fields.
                form = await request.form(max_fields=MAX_FORM_BYTES)
            except HTTPException as exc:  # malformed or oversized form: an error envelope
                raise BadParam("body", str(exc.detail)) from None
            items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return Params(items)


def legacy_client(client: str | None, legacy: tuple[str, ...]) -> bool:
    """True when `c` names a client that must not see OpenSubsonic fields (e.g. DSub)."""
    c = (client or "").strip().lower()
    return bool(c) and any(c.startswith(name.lower()) for name in legacy)


async def dispatch(request: Request) -> Response:
    """Serve one Subsonic method call."""
    state: AppState = request.app.state.orbsonic
    method = request.path_params["method"]
    if method.endswith(".view"):
        method = method[:-5]
    elif method in ("hls.m3u8", "hls.ts"):  # hls.m3u8: Subsonic's name; hls.ts: its segments
        method = "hls"
    params = Params(request.query_params.multi_items())
    result: Payload | Failure | Response
    try:
        params = await _params(request)
    except Exception as exc:  # noqa: BLE001  (malformed body: still an envelope)
        result = to_failure(exc)
    else:
        result = await _call(request, state, method, params)
    if isinstance(result, Response):
        return result
    os = not legacy_client(params.get("c"), state.settings.legacy_clients)
    return render(result, (params.get("f") or "xml").lower(), callback=params.get("callback"),
                  opensubsonic=os)


async def _call(request: Request, state: AppState, method: str,
                params: Params) -> Payload | Failure | Response:
    try:
        ep = ENDPOINTS.get(method)
        if ep is None:
            raise NotImplementedEndpoint(method) if method in ALL_METHODS else UnknownMethod(method)
        if ep.auth:
            check_version(params)
        async with state.pool.connection() as conn:
            user = None
            if ep.auth:
                user = await authenticate(conn, params, state.key, token_auth=state.settings.token_auth)
                if ep.admin and not user.is_admin:
                    raise NotAuthorized(f"'{method}' needs an admin user")
                if ep.role is not None and not user.has_role(ep.role):
                    raise NotAuthorized(f"'{method}' needs the {ep.role} role")
            os = not legacy_client(params.get("c"), state.settings.legacy_clients)
            ctx = Ctx(request, params, user, conn, state, os)  # type: ignore[arg-type]
            return await ep.handler(ctx)
    except Exception as exc:  # noqa: BLE001  (the single mapping point, subsonic_api.errors)
        return to_failure(exc)


def routes() -> list[Route]:
    """Starlette routes of the Subsonic API (mounted at the app root)."""
    return [Route("/rest/{method}", dispatch, methods=["GET", "POST", "HEAD"])]
