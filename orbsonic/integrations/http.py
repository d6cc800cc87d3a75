"""The HTTP client every provider uses: timeouts, a body size limit, JSON that must be JSON.

`ProviderError` is the one failure callers see (connection refused, timeout, an HTTP error
status, a body over its limit, malformed JSON), so that "the provider is down, slow or
answers garbage" is handled in one place: keep the cached or local data, retry later.
"""

from __future__ import annotations

from typing import Any

import httpx

from orbsonic import SERVER_NAME, __version__

MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_IMAGE_BYTES = 8 * 1024 * 1024
# MusicBrainz asks every client for a meaningful User-Agent (rate limiting rules).
USER_AGENT = f"{SERVER_NAME}/{__version__} ( https://github.com/orbsonic/orbsonic )"


class ProviderError(Exception):
    """A provider request that did not give a usable answer; `transient` is False when
    retrying cannot help (an HTTP 4xx other than 429, e.g. a revoked token)."""

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.transient = transient


def client(timeout_s: float) -> httpx.AsyncClient:
    """An AsyncClient with a total per-request timeout of `timeout_s` seconds (connect, read,
    write and pool each bounded by it), redirects followed (at most 5) and our User-Agent."""
    return httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=True, max_redirects=5,
                             headers={"User-Agent": USER_AGENT})


async def fetch(http: httpx.AsyncClient, method: str, url: str, *, limit: int, **kwargs: Any) -> httpx.Response:
    """Send a request and read its body, at most `limit` bytes. Raises ProviderError on a
    network failure, a timeout, a 4xx/5xx status or a longer body. The returned response's
    `.content` is the body read."""
    try:
        async with http.stream(method, url, **kwargs) as resp:
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise ProviderError(f"{_host(url)}: answer larger than {limit} bytes")
            if resp.status_code >= 400:
                transient = resp.status_code >= 500 or resp.status_code == 429
                raise ProviderError(f"{_host(url)}: HTTP {resp.status_code}", transient=transient)
            return httpx.Response(resp.status_code, headers=resp.headers, content=bytes(body),
                                  request=resp.request)
    except httpx.TimeoutException:
        raise ProviderError(f"{_host(url)}: timed out") from None
    except httpx.HTTPError as exc:
        raise ProviderError(f"{_host(url)}: {type(exc).__name__}: {exc}") from None


async def fetch_json(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
    """`fetch` a JSON object (ProviderError when the body is not a JSON object)."""
    resp = await fetch(http, method, url, limit=MAX_JSON_BYTES, **kwargs)
    try:
        data = resp.json()
    except ValueError:
        raise ProviderError(f"{_host(url)}: answer is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderError(f"{_host(url)}: answer is not a JSON object")
    return data


def text(value: Any) -> str:
    """A provider field as text ("" for anything that is not a non-empty string)."""
    return value.strip() if isinstance(value, str) else ""


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except Exception:  # noqa: BLE001
        return url
