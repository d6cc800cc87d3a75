"""The Subsonic/OpenSubsonic REST API: /rest/<method> and /rest/<method>.view.

One route takes every method, GET, POST and HEAD. The dispatcher merges the query
string with a form body (formPost; old DSub POSTs with parameters in the URL), picks
the client profile, checks the protocol version and credentials, runs the handler on
one pooled connection, and renders the result in the requested format. Every failure
is an error envelope in that format, with HTTP 200.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive

from orbsonic import clients
from orbsonic.auth.ratelimit import Policy, SlowedFailure
from orbsonic.clients import ClientProfile
from orbsonic.auth.users import User
from orbsonic.config import Settings
from orbsonic.errors import BadParam, NotAuthorized
from orbsonic.state import AppState
from subsonic_api import endpoints  # noqa: F401  (registers the handlers)
from subsonic_api.auth import authenticate, authenticate_cached, check_version
from subsonic_api.errors import NotImplementedEndpoint, UnknownMethod, to_failure
from subsonic_api.params import Params, parse_int
from subsonic_api.answers import Answer, AnswerCache, answer_key, cacheable, etag_matches, etag_of
from subsonic_api.registry import ALL_METHODS, ENDPOINTS, AfterRelease, Ctx, Endpoint, FastCtx, Handler
from subsonic_api.response import Failure, Payload, render

log = logging.getLogger("orbsonic.subsonic")
MAX_FORM_BYTES = 10 * 1024 * 1024  # Navidrome caps formPost bodies at 10 MB too


async def _params(request: Request) -> Params:
    """Query string plus, for a form POST, the form body. The body is read as a stream with
    a byte counter: Content-Length is only a hint (a chunked body has none, and 20 MB of
    `id=…` sent that way took the server to 1.1 GB, issue 6 §2). Raises BadParam past
    MAX_FORM_BYTES or on a malformed form; ClientDisconnect when the client goes away."""
    items = list(request.query_params.multi_items())
    if request.method == "POST":
        ctype = request.headers.get("content-type", "")
        if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            declared = parse_int(request.headers.get("content-length") or "0")
            if declared is None or declared > MAX_FORM_BYTES:
                raise BadParam("body", "form body larger than 10 MB")
            body = bytearray()
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_FORM_BYTES:
                    raise BadParam("body", "form body larger than 10 MB")
            try:
                # formPost exists for long lists (thousands of songId): the 10 MB cap bounds
                # the body, not Starlette's default of 1000 fields.
                form = await Request(request.scope, _replay(bytes(body))).form(max_fields=MAX_FORM_BYTES)
            except HTTPException as exc:  # malformed or oversized form: an error envelope
                raise BadParam("body", str(exc.detail)) from None
            items += [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    return Params(items)


def _replay(body: bytes) -> Receive:
    """An ASGI receive callable that hands out an already read body once."""
    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}
    return receive


def client_profile(request: Request, state: AppState, params: Params) -> ClientProfile:
    """The request's client profile: by `c`, else by User-Agent (orbsonic/clients.py), from the
    server's table (`client_profiles`, the built-in ones, `legacy_clients`)."""
    return clients.match(state.settings.profiles, params.get("c"), request.headers.get("user-agent"))


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
    except ClientDisconnect:
        # The client went away mid-body (a closed app, a lost network): nobody to answer,
        # and not an error of ours (issue 6 §2).
        log.debug("client disconnected while sending the body of %s", method)
        return Response(status_code=400)
    except Exception as exc:  # noqa: BLE001  (malformed body: still an envelope)
        result = to_failure(exc)
    else:
        result = await _call(request, state, method, params)
    if isinstance(result, Response):
        return result
    profile = client_profile(request, state, params)
    return render(result, (params.get("f") or "xml").lower(), callback=params.get("callback"),
                  opensubsonic=profile.opensubsonic, version=profile.api_version, slim=profile.minimal)


async def _call(request: Request, state: AppState, method: str,
                params: Params) -> Payload | Failure | Response:
    try:
        ep = ENDPOINTS.get(method)
        if ep is None:
            raise NotImplementedEndpoint(method) if method in ALL_METHODS else UnknownMethod(method)
        if ep.auth:
            check_version(params)
            if ep.fast is not None and (answer := await _fast(request, state, ep, params)) is not None:
                return answer
            if state.answers is not None and cacheable(method, params.get("type")) \
                    and (kept := await _kept(request, state, ep, method, params)) is not None:
                return kept
        async with state.pool.connection() as conn:
            user = None
            if ep.auth:
                user = await authenticate(conn, params, state.key, token_auth=state.settings.token_auth,
                                          address=request.client.host if request.client else None,
                                          limits=login_limits(state.settings), cache=state.auth_cache)
                if ep.admin and not user.is_admin:
                    raise NotAuthorized(f"'{method}' needs an admin user")
                if ep.role is not None and not user.has_role(ep.role):
                    raise NotAuthorized(f"'{method}' needs the {ep.role} role")
            profile = client_profile(request, state, params)
            ctx = Ctx(request, params, user, conn, state, profile.opensubsonic, profile)  # type: ignore[arg-type]
            if not ep.readonly:
                result = await ep.handler(ctx)
            else:
                # Authentication may have written (a login-limit row) in a transaction: end it.
                await conn.commit()
                await conn.set_autocommit(True)
                try:
                    if state.answers is not None and user is not None and cacheable(method, params.get("type")):
                        return await _cached(method, ctx, ep.handler, state.answers)
                    return await ep.handler(ctx)
                finally:
                    if not conn.closed:
                        await conn.set_autocommit(False)
        if user is not None and state.answers is not None:
            # Committed: this user's cached answers may show what the request changed. The
            # other processes learn it from schema/0022's NOTIFY.
            state.answers.forget_user(user.id)
        if isinstance(result, AfterRelease):
            return await result.build()  # the connection is back in the pool
        return result
    except SlowedFailure as exc:
        # Wait with the pooled connection back in the pool: slowed guesses must not starve it.
        await asyncio.sleep(exc.delay_s)
        return to_failure(exc)
    except Exception as exc:  # noqa: BLE001  (the single mapping point, subsonic_api.errors)
        return to_failure(exc)


async def _fast(request: Request, state: AppState, ep: Endpoint,
                params: Params) -> Response | Payload | None:
    """The endpoint's fast path, when the credentials are cached and allow the method; None
    sends the request down the ordinary path (which also gives every error)."""
    user = await authenticate_cached(params, state.key, token_auth=state.settings.token_auth,
                                     cache=state.auth_cache)
    if user is None or (ep.admin and not user.is_admin) or (ep.role is not None and not user.has_role(ep.role)):
        return None
    assert ep.fast is not None
    return await ep.fast(FastCtx(request, params, user, state))


def _key(method: str, user: User, params: Params, prof: ClientProfile) -> tuple[object, ...]:
    # The client profile shapes the answer (flavour, version, minimal songs) and may come from
    # the User-Agent rather than `c`: it is part of the key.
    flavour = f"{prof.opensubsonic}/{prof.api_version}/{prof.minimal}"
    return answer_key(method, user.id, user.folder_ids, [*params.pairs(), ("\0profile", flavour)])


def _answer_response(request: Request, answer: Answer) -> Response:
    headers = {"ETag": answer.etag}
    if etag_matches(request.headers.get("if-none-match", ""), answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(answer.body, media_type=answer.media_type, headers=headers)


async def _kept(request: Request, state: AppState, ep: Endpoint, method: str,
                params: Params) -> Response | None:
    """A kept answer served with no pool checkout, when the credentials are in the
    credential cache and allow the method; None sends the request down the ordinary path
    (a miss, any error, the credentials to verify against the database). The answer cache's
    own rules hold: no hit while its LISTEN connection is down (subsonic_api/answers.py)."""
    user = await authenticate_cached(params, state.key, token_auth=state.settings.token_auth,
                                     cache=state.auth_cache)
    if user is None or (ep.admin and not user.is_admin) \
            or (ep.role is not None and not user.has_role(ep.role)):
        return None
    answer = state.answers.lookup(_key(method, user, params, client_profile(request, state, params)),
                                  count_miss=False)
    return None if answer is None else _answer_response(request, answer)


async def _cached(method: str, ctx: Ctx, handler: Handler, answers: AnswerCache) -> Response:
    """The handler's answer rendered, from `answers` when kept there (subsonic_api/answers.py);
    with an ETag, and 304 for a matching If-None-Match."""
    p = ctx.params
    prof = ctx.profile
    key = _key(method, ctx.user, p, prof)
    answer = answers.lookup(key)
    if answer is None:
        generation = answers.generation(ctx.user.id)
        result = await handler(ctx)
        if not isinstance(result, Payload):
            return result  # type: ignore[return-value]
        rendered = render(result, (p.get("f") or "xml").lower(), callback=p.get("callback"),
                          opensubsonic=prof.opensubsonic, version=prof.api_version, slim=prof.minimal)
        body = bytes(rendered.body)
        answer = Answer(body, rendered.media_type or "", etag_of(body))
        answers.store(key, answer, generation)
    return _answer_response(ctx.request, answer)


def login_limits(s: Settings) -> Policy:
    """The login rate limits of the settings (orbsonic.auth.ratelimit)."""
    return Policy(s.login_max_failures, s.login_lockout, s.login_delay_ms)


def routes() -> list[Route]:
    """Starlette routes of the Subsonic API (mounted at the app root)."""
    return [Route("/rest/{method}", dispatch, methods=["GET", "POST", "HEAD"])]
