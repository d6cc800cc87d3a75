"""Answers a client may keep: getCoverArt's ETag and If-None-Match → 304 (RFC 9110
§13.1.2; issue 13: covers while scrolling), through the real app on the test library."""

from __future__ import annotations

from typing import Any

from tests.conftest import Subsonic


def _cover(api: Subsonic) -> str:
    albums = api.ok("getAlbumList2", type="alphabeticalByName", size=50)["albumList2"]["album"]
    return next(a["coverArt"] for a in albums if a.get("coverArt"))


def _get(api: Subsonic, headers: dict[str, str] | None = None, method: str = "GET", **params: Any) -> Any:
    q = {**api.auth(), **params}
    return api.http.request(method, "/rest/getCoverArt", params=q, headers=headers or {})


def test_if_none_match_gives_304_without_a_body(api: Subsonic) -> None:
    cover = _cover(api)
    for size in (None, 64):
        params = {"id": cover} if size is None else {"id": cover, "size": size}
        first = _get(api, **params)
        assert first.status_code == 200 and first.content
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            again = _get(api, {"if-none-match": header}, **params)
            assert again.status_code == 304, header
            assert again.content == b""
            assert again.headers["etag"] == etag
            assert "content-length" not in again.headers or again.headers["content-length"] == "0"
        head = _get(api, {"if-none-match": etag}, method="HEAD", **params)
        assert head.status_code == 304
        stale = _get(api, {"if-none-match": '"not-this-one"'}, **params)
        assert stale.status_code == 200 and stale.content == first.content


def test_if_none_match_does_not_bypass_access_checks(api: Subsonic) -> None:
    # A wrong password with a matching ETag is still an error envelope, never a 304.
    cover = _cover(api)
    etag = _get(api, id=cover).headers["etag"]
    q = {**api.auth(), "p": "wrong", "id": cover, "f": "json"}
    r = api.http.get("/rest/getCoverArt", params=q, headers={"if-none-match": etag})
    assert r.status_code == 200
    assert r.json()["subsonic-response"]["error"]["code"] == 40
