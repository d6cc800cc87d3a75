"""The public share surface: `/share/<token>` pages, outside `/rest` and without login
(Subsonic createShare: "a public URL that can be used by anyone to stream").

* `GET /share/<token>`: a small HTML page that lists and plays the shared songs; each
  visit counts (visitCount, lastVisited).
* `GET|HEAD /share/<token>/stream/<n>`: the n-th shared song's file (0-based, in the
  share's order), with HTTP Range (206/416, If-Range, ETag), as /rest/stream serves it.
* `GET /share/<token>/cover/<n>?size=px`: the cover of the n-th song's album.

The token opens exactly the songs its entries expand to (orbsonic.library.shares), read
with the owner's current folder access; songs are addressed by position, never by id, so
a token reaches nothing else. A shared playlist lists its current entries. An unknown
token or position is 404; an expired share is 410, and so is one whose every item was
deleted since (its playlist deleted: the link will never open anything again).
Pages carry `Referrer-Policy: no-referrer` so the token does not leak to other sites.
"""

from __future__ import annotations

import html
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from orbsonic.covers import MAX_SIZE, find_source, media_type
from orbsonic.errors import NotFound
from orbsonic.http.ranges import RangeResponse
from orbsonic.library import shares, tracks
from orbsonic.state import AppState
from orbsonic.storage.local import folder_storage

_SECURITY = {
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
}
_PAGE_HEADERS = {
    **_SECURITY,
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; media-src 'self'; img-src 'self'; "
                               "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
}


def _text(status: int, message: str) -> Response:
    return PlainTextResponse(message, status, headers=_SECURITY)


async def _open(request: Request) -> tuple[shares.Share | None, list[int], Response | None]:
    """(share, its track ids, None) or (None, [], the error response)."""
    state: AppState = request.app.state.orbsonic
    token = request.path_params["token"]
    async with state.pool.connection() as conn:
        share = await shares.by_token(conn, token)
        if share is None:
            return None, [], _text(404, "No such share.")
        if share.expired():
            return None, [], _text(410, "This share has expired.")
        ids = await shares.track_ids(conn, share)
        if not ids and await shares.gone(conn, share):
            return None, [], _text(410, "What was shared here has been deleted.")
        return share, ids, None


def _position(request: Request, ids: list[int]) -> int | None:
    text = request.path_params["n"]
    if not (text.isascii() and text.isdigit()) or len(text) > 6 or int(text) >= len(ids):
        return None
    return int(text)


def _duration(ms: int) -> str:
    s = round(ms / 1000)
    return f"{s // 60}:{s % 60:02d}"


def _page(base: str, share: shares.Share, rows: list[dict[str, Any]]) -> str:
    title = share.description or f"Shared by {share.username}"
    items = []
    for n, r in enumerate(rows):
        cover = (f'<img src="{base}/cover/{n}?size=96" alt="" width="48" height="48">'
                 if r.get("album_cover_kind") else "")
        items.append(
            f'<li>{cover}<div><b>{html.escape(r["title"] or "")}</b>'
            f'<span>{html.escape(r["artist_name"] or "")} — {html.escape(r["album_name"] or "")}'
            f' · {_duration(r["duration_ms"] or 0)}</span>'
            f'<audio controls preload="none" src="{base}/stream/{n}"></audio></div></li>')
    body = "\n".join(items) if items else "<li>Nothing to play here any more.</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{html.escape(title)}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:44rem;margin:2rem auto;padding:0 1rem;color:#222}}
ol{{list-style:none;padding:0}} li{{display:flex;gap:.75rem;align-items:center;margin:.75rem 0}}
li div{{display:flex;flex-direction:column;flex:1}} span{{color:#666;font-size:.9em}}
audio{{width:100%;margin-top:.25rem}} img{{border-radius:4px;object-fit:cover}}
</style></head>
<body><h1>{html.escape(title)}</h1>
<p>Shared by {html.escape(share.username)}</p>
<ol>
{body}
</ol></body></html>"""


async def share_page(request: Request) -> Response:
    """The HTML page of a share; counts the visit."""
    share, ids, error = await _open(request)
    if error is not None or share is None:
        return error or _text(404, "No such share.")
    state: AppState = request.app.state.orbsonic
    async with state.pool.connection() as conn:
        if request.method == "GET":  # a HEAD (a link checker) is not a visit
            await shares.visit(conn, share.id)
        rows = await tracks.hydrate(conn, ids, share.user_id)
    base = request.scope.get("root_path", "") + "/share/" + share.token
    return HTMLResponse(_page(base, share, rows), headers=_PAGE_HEADERS)


async def share_stream(request: Request) -> Response:
    """The n-th shared song's file, with Range support."""
    share, ids, error = await _open(request)
    if error is not None or share is None:
        return error or _text(404, "No such share.")
    n = _position(request, ids)
    if n is None:
        return _text(404, "No such entry in this share.")
    state: AppState = request.app.state.orbsonic
    async with state.pool.connection() as conn:
        info = await tracks.file_info(conn, ids[n])
    if info is None:
        return _text(404, "No such entry in this share.")
    try:  # the storage seam: a regular file inside its music folder (no link leaving it)
        fh = folder_storage(info["root"], state.settings.outside_roots).open(info["path"])
    except NotFound:
        return _text(404, "The file of this entry is missing.")
    return RangeResponse(fh, info["content_type"],
                         headers={**_SECURITY, "Cache-Control": "private, max-age=3600"})


async def share_cover(request: Request) -> Response:
    """The album cover of the n-th shared song, optionally resized (?size=px)."""
    share, ids, error = await _open(request)
    if error is not None or share is None:
        return error or _text(404, "No such share.")
    n = _position(request, ids)
    if n is None:
        return _text(404, "No such entry in this share.")
    size_text = request.query_params.get("size", "")
    ok = size_text.isascii() and size_text.isdigit() and len(size_text) < 6  # "²".isdigit() is true
    size = int(size_text) if ok and 0 < int(size_text) < MAX_SIZE else None
    state: AppState = request.app.state.orbsonic
    async with state.pool.connection() as conn:
        source = await find_source(conn, "tr", ids[n], state.settings.outside_roots)
    if source is None:
        return _text(404, "This entry has no cover.")
    cache = state.covers
    path = cache.lookup(source.key, size) or await anyio.to_thread.run_sync(cache.produce, source, source.key,
                                                                            size)
    if path is None:
        return _text(404, "This entry has no cover.")
    return FileResponse(path, media_type=media_type(path),
                        headers={**_SECURITY, "Cache-Control": "private, max-age=3600"})


def routes() -> list[Route]:
    """Starlette routes of the share surface (mounted at the app root)."""
    return [
        Route("/share/{token}", share_page, methods=["GET", "HEAD"]),
        Route("/share/{token}/stream/{n}", share_stream, methods=["GET", "HEAD"]),
        Route("/share/{token}/cover/{n}", share_cover, methods=["GET", "HEAD"]),
    ]
