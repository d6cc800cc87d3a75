"""The bundled web client (issue 10), served at `/`.

`npm run build` in webclient/ writes the Svelte app to orbsonic/_webclient/ (git-ignored,
force-included in the wheel by pyproject's hatch config). This module serves it:

- `/assets/*`: hashed, content-addressed files (Vite names them `name-<hash>.js`), sent with
  `Cache-Control: public, max-age=31536000, immutable`;
- every other GET/HEAD path that is not an API path → `index.html` with `Cache-Control:
  no-cache` (the SPA's router handles it: style-and-layout B4 "a hash router");
- top-level static files of the build (favicon, …) as themselves with `no-cache`.

When there is no build (a source checkout without npm), `/` answers a small HTML page that
says how to build it, instead of a 404. `ORBSONIC_WEBCLIENT_DIR` points at another build
directory (tests use a tiny fake one; packagers may ship the client elsewhere).

These routes go LAST in the app's route list, so /rest, /api/v1, /healthz, /readyz and /share
win; API prefixes that fall through here answer 404, never index.html.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

PACKAGE_BUILD = Path(__file__).resolve().parent / "_webclient"
IMMUTABLE = "public, max-age=31536000, immutable"
NO_CACHE = "no-cache"
# Paths owned by other route tables: an unknown one is an API 404, not the SPA.
API_PREFIXES = ("rest/", "api/", "share/", "healthz", "readyz")

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Orbsonic</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<h1>Orbsonic is running</h1>
<p>The Subsonic API is at <code>/rest</code> and the native API at <code>/api/v1</code>,
but the bundled web client has not been built in this checkout.</p>
<p>Build it with <code>scripts/setup</code> (needs Node.js and npm), or by hand:
<code>cd webclient &amp;&amp; npm ci &amp;&amp; npm run build</code>, then reload this page.</p>
</body></html>
"""


def build_dir() -> Path:
    """The directory holding the built client: $ORBSONIC_WEBCLIENT_DIR or orbsonic/_webclient."""
    env = os.environ.get("ORBSONIC_WEBCLIENT_DIR")
    return Path(env).resolve() if env else PACKAGE_BUILD


def routes(root: Path | None = None) -> list[BaseRoute]:
    """The catch-all routes serving the client from `root` (default: build_dir(), read now)."""
    base = (root or build_dir()).resolve()

    def inside(rel: str) -> Path | None:
        """`rel` resolved under `base`, or None when it escapes it or is not a file."""
        try:
            path = (base / rel).resolve()
        except (OSError, ValueError):
            return None
        if base not in path.parents or not path.is_file():
            return None
        return path

    async def serve(request: Request) -> Response:
        rel = request.path_params.get("path", "")
        if rel.startswith(API_PREFIXES) or rel in ("rest", "api", "share"):
            return PlainTextResponse("Not Found", 404)
        index = base / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, headers={"Cache-Control": NO_CACHE})
        if rel.startswith("assets/"):
            asset = inside(rel)
            if asset is None:
                return PlainTextResponse("Not Found", 404)
            return FileResponse(asset, headers={"Cache-Control": IMMUTABLE})
        if rel and "/" not in rel and rel != "index.html":
            top = inside(rel)
            if top is not None:
                return FileResponse(top, headers={"Cache-Control": NO_CACHE})
        return FileResponse(index, headers={"Cache-Control": NO_CACHE}, media_type="text/html")

    return [Route("/{path:path}", serve, methods=["GET", "HEAD"])]
