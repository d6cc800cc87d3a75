"""HTTP for podcasts with httpx: a feed or image into memory, an episode onto disk, each with
a connect/read timeout, an overall deadline, a size cap and at most MAX_REDIRECTS redirects.
Every connection, redirect hops included, goes through the SSRF guard (orbsonic/http/ssrf.py):
an address of the server's own networks is refused unless the policy allows it.

A feed that does not answer, answers 404, redirects in a loop or grows past its cap raises
`FetchError` with a message fit for PodcastChannel.errorMessage; nothing is half-written (an
episode goes to a temporary file renamed into place only when complete).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx

from orbsonic import SERVER_NAME, __version__
from orbsonic.http.ssrf import AddressPolicy, BlockedAddress, guarded_client

MAX_REDIRECTS = 5
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 30.0  # between two reads of the body, not for the whole body
USER_AGENT = f"{SERVER_NAME}/{__version__} (podcasts)"


class FetchError(Exception):
    """The URL could not be fetched; the message says why (safe to show to clients)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A body read into memory, with its final URL (after redirects) and Content-Type."""

    url: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Downloaded:
    """A body written to `path` (`size` bytes), with the response's Content-Type."""

    path: Path
    size: int
    content_type: str


@asynccontextmanager
async def _get(url: str, policy: AddressPolicy, *, deadline_s: float) -> AsyncIterator[httpx.Response]:
    """A streamed GET of `url` (2xx only), within `deadline_s` seconds overall, reaching only
    addresses `policy` allows (at every redirect hop)."""
    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    try:
        with anyio.fail_after(deadline_s):
            async with guarded_client(policy, follow_redirects=True, max_redirects=MAX_REDIRECTS,
                                      timeout=timeout, headers={"User-Agent": USER_AGENT}) as client:
                async with client.stream("GET", url) as response:
                    if response.status_code >= 400:
                        raise FetchError(f"HTTP {response.status_code} {response.reason_phrase}".strip()
                                         + f" from {_host(str(response.url))}")
                    yield response
    except BlockedAddress as exc:
        raise FetchError(f"refused: {exc}") from None
    except TimeoutError:
        raise FetchError(f"no complete answer from {_host(url)} within {deadline_s:.0f} s") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise FetchError(f"{_host(url)} did not answer in time") from None
    except httpx.InvalidURL as exc:
        raise FetchError(f"invalid URL: {exc}") from None
    except httpx.UnsupportedProtocol:
        raise FetchError("only http:// and https:// URLs can be fetched") from None
    except httpx.HTTPError as exc:
        raise FetchError(f"cannot fetch from {_host(url)}: {type(exc).__name__} {exc}".strip()) from None


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url[:100]
    except Exception:  # noqa: BLE001  (only for a message)
        return url[:100]


def _check_length(response: httpx.Response, max_bytes: int) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"larger than {max_bytes // (1024 * 1024)} MB ({int(declared)} bytes)")


async def fetch(url: str, max_bytes: int, policy: AddressPolicy, *, deadline_s: float = 120.0) -> Fetched:
    """The body of `url` in memory, at most `max_bytes`. Raises FetchError."""
    async with _get(url, policy, deadline_s=deadline_s) as response:
        _check_length(response, max_bytes)
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise FetchError(f"larger than {max_bytes // (1024 * 1024)} MB")
        return Fetched(str(response.url), response.headers.get("content-type", ""), bytes(body))


async def download(url: str, directory: Path, name: str, max_bytes: int, policy: AddressPolicy, *,
                   deadline_s: float = 6 * 3600.0) -> Downloaded:
    """Write the body of `url` to `directory/name` (created), at most `max_bytes`: into a
    temporary file first, renamed into place once complete. Raises FetchError (the temporary
    file is removed)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".part-")
    done = False
    try:
        with os.fdopen(fd, "wb") as out:
            async with _get(url, policy, deadline_s=deadline_s) as response:
                _check_length(response, max_bytes)
                size = 0
                async for chunk in response.aiter_bytes(256 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"larger than {max_bytes // (1024 * 1024)} MB")
                    await anyio.to_thread.run_sync(out.write, chunk)
                content_type = response.headers.get("content-type", "")
        if size == 0:
            raise FetchError("the server sent an empty file")
        final = directory / name
        os.replace(tmp, final)
        done = True
        return Downloaded(final, size, content_type)
    finally:
        if not done:
            Path(tmp).unlink(missing_ok=True)
