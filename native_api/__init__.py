"""Orb's native API. This issue's part: /healthz (the process answers) and /readyz (the
database answers and carries the schema this server knows)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from orbsonic.db.migrate import migrations


def problem(status: int, title: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem+json response."""
    return JSONResponse({"type": "about:blank", "title": title, "status": status, "detail": detail},
                        status, media_type="application/problem+json")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = request.app.state.orbsonic
    try:
        async with state.pool.connection(timeout=2.0) as conn:
            cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
            row = await cur.fetchone()
            version = row[0] if row else 0
    except Exception as exc:  # noqa: BLE001  (not ready, whatever the reason)
        return problem(503, "Database unavailable", f"{type(exc).__name__}: {exc}")
    expected = migrations()[-1].version
    if version != expected:
        return problem(503, "Schema mismatch", f"database schema {version}, server expects {expected}")
    return JSONResponse({"status": "ready", "schema": version})


def routes() -> list[BaseRoute]:
    """/healthz, /readyz and the /api/v1 mount (native_api/v1.py)."""
    from native_api import v1

    return [Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]), v1.mount()]
