"""Subsonic calls made once: `Subsonic.ok` calls twice (XML, then JSON), which a write
(scrobble, star, createShare …) cannot repeat. Each is one validated JSON call."""

from __future__ import annotations

from typing import Any

from tests.conftest import Subsonic


def once(client: Subsonic, method: str, **params: Any) -> dict[str, Any]:
    """One JSON call (validated) → the `subsonic-response` envelope, whatever its status."""
    return client.raw(method, **params).json()["subsonic-response"]


def ok_once(client: Subsonic, method: str, **params: Any) -> dict[str, Any]:
    """One call that must succeed → its envelope."""
    body = once(client, method, **params)
    assert body["status"] == "ok", body
    return body


def fail_once(client: Subsonic, method: str, code: int, **params: Any) -> dict[str, Any]:
    """One call that must fail with Subsonic error `code` → the `error` object."""
    body = once(client, method, **params)
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    return body["error"]


def album(client: Subsonic, name: str) -> dict[str, Any]:
    """The AlbumID3 (getAlbum, with its songs) of the album called `name`."""
    albums = client.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]
    found = next(a for a in albums if a["name"] == name)
    return client.ok("getAlbum", id=found["id"])["album"]
