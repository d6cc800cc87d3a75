"""A small native-API client for tests: bearer auth, JSON in and out, problem+json checks."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg

from orbsonic.auth import users


def api_key_for(url: str, username: str, name: str = "tests") -> str:
    """Create an API key for `username` in the database at `url`; returns the key."""

    async def go() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            key = await users.create_api_key(conn, username, name)
            await conn.commit()
            return key

    return asyncio.run(go())


class Native:
    """Calls /api/v1 with `Authorization: Bearer <token>` (an API key or an access token)."""

    def __init__(self, http: Any, token: str | None) -> None:
        self.http, self.token = http, token

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return {**h, **(extra or {})}

    def call(self, method: str, path: str, *, json: Any = None, params: Any = None,
             headers: dict[str, str] | None = None, content: bytes | None = None) -> httpx.Response:
        return self.http.request(method, "/api/v1" + path, json=json, params=params, content=content,
                                 headers=self.headers(headers))

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.call(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text[:500])
        is_json = r.headers.get("content-type", "").startswith("application/json")
        return r.json() if r.content and is_json else None

    def problem(self, method: str, path: str, status: int, **kw: Any) -> dict[str, Any]:
        r = self.call(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text[:500])
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        body = r.json()
        assert body["status"] == status and body["code"] and body["detail"], body
        return body
