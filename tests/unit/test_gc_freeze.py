"""orbsonic/http/server.py FreezeAfterStartup: a serving process freezes what is alive once
its lifespan startup is complete (issue 12: full collections stalled 200 streams)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from orbsonic.http.server import GC_YOUNG, FreezeAfterStartup, ServerConfig


def _app(seen: list[str]) -> Starlette:
    async def lifespan(app: Starlette) -> Any:
        seen.append("startup")
        yield
        seen.append("shutdown")

    from contextlib import asynccontextmanager

    return Starlette(routes=[Route("/", lambda r: PlainTextResponse("hi"))],
                     lifespan=asynccontextmanager(lifespan))


async def _lifespan(app: Any) -> list[str]:
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    sent: list[str] = []
    frozen_at_complete: list[int] = []

    async def send(message: dict[str, str]) -> None:
        sent.append(message["type"])
        if message["type"] == "lifespan.startup.complete":
            frozen_at_complete.append(gc.get_freeze_count())
            await inbox.put({"type": "lifespan.shutdown"})

    await inbox.put({"type": "lifespan.startup"})
    await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send)
    return sent + [f"frozen={n}" for n in frozen_at_complete]


def test_only_a_config_marked_by_run_wraps_the_app() -> None:
    seen: list[str] = []
    plain = ServerConfig(_app(seen), log_config=None)
    plain.load()
    assert not isinstance(plain.loaded_app, FreezeAfterStartup)  # tests' servers: never frozen
    marked = ServerConfig(_app(seen), log_config=None)
    marked.freeze_gc = True
    marked.load()
    assert isinstance(marked.loaded_app, FreezeAfterStartup)


def test_startup_complete_freezes_and_the_app_still_starts_and_stops() -> None:
    seen: list[str] = []
    gc.unfreeze()
    before = gc.get_threshold()
    try:
        assert gc.get_freeze_count() == 0
        out = asyncio.run(_lifespan(FreezeAfterStartup(_app(seen))))
        assert seen == ["startup", "shutdown"]
        assert out[:2] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
        assert int(out[2].split("=")[1]) > 0  # frozen before the server said it was up
        # large answers no longer set off a young collection every 700 containers
        assert gc.get_threshold() == (GC_YOUNG, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_http_requests_pass_through() -> None:
    from starlette.testclient import TestClient

    with TestClient(FreezeAfterStartup(_app([]))) as http:  # type: ignore[arg-type]
        assert http.get("/").text == "hi"
    gc.unfreeze()
