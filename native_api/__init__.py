"""Orb's native API. This issue's part: /healthz (the process answers) and /readyz (the
database answers and carries the schema this server knows). Errors are RFC 9457
problem+json responses, chosen in native_api/errors.py."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from native_api.errors import to_problem
from orbsonic.db.migrate import check_schema_async

# A readiness probe (Kubernetes, a load balancer) must get its answer before its own
# timeout (1 s by default in Kubernetes): the pool fails fast while the database is down.
READY_TIMEOUT_S = 2.0


async def healthz(request: Request) -> Response:
    """200 {"status": "ok"} while the process answers, whatever the database does."""
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 {"status": "ready", "schema": N} when PostgreSQL answers with the schema this
    server knows; else 503 problem+json, `code` "database-unavailable", "schema-too-old"
    or "schema-too-new"."""
    state = request.app.state.orbsonic
    try:
        async with state.pool.connection(timeout=READY_TIMEOUT_S) as conn:
            version = await check_schema_async(conn)
    except Exception as exc:  # noqa: BLE001  (not ready, whatever the reason: native_api.errors maps it)
        return to_problem(exc)
    return JSONResponse({"status": "ready", "schema": version})


def routes() -> list[BaseRoute]:
    """/healthz, /readyz and the /api/v1 mount (native_api/v1.py)."""
    from native_api import v1

    return [Route("/healthz", healthz, methods=["GET", "HEAD"]),
            Route("/readyz", readyz, methods=["GET", "HEAD"]), v1.mount(), v1.Fallback()]
