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


# ---------------------------------------------------------------- getArtists / getIndexes

import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import psycopg  # noqa: E402
import pytest  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from orbsonic.ids import parse_id  # noqa: E402
from tests.conftest import ADMIN, ALICE, add_users, make_app  # noqa: E402

BASE = {"v": "1.16.1", "c": "pytest", "f": "json"}


def _call(http: TestClient, method: str, user: tuple[str, str] = ADMIN,
          headers: dict[str, str] | None = None, **params: Any) -> Any:
    q = {**BASE, "u": user[0], "p": user[1], **params}
    return http.get(f"/rest/{method}", params=q, headers=headers or {})


def _artists(http: TestClient, user: tuple[str, str] = ADMIN) -> list[dict[str, Any]]:
    body = _call(http, "getArtists", user).json()["subsonic-response"]
    assert body["status"] == "ok", body
    return [a for i in body["artists"]["index"] for a in i["artist"]]


def _settled(probe: Any, want: Any) -> None:
    """`probe()` becomes `want` within a NOTIFY's delivery time and stays so (see
    test_auth_cache.settled: the invalidation is a message from another process)."""
    deadline = time.monotonic() + 2.0
    while (got := probe()) != want:
        assert time.monotonic() < deadline, f"still {got!r}, want {want!r}"
        time.sleep(0.005)
    for _ in range(3):
        assert probe() == want


def _artist_reads(url: str) -> int:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                           " WHERE relname = 'artists'").fetchone()
        return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def scanned_template(pg: Any, template_url: str, test_library: tuple[Path, Any],
                     tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test library scanned once into a database used only as a template here."""
    from orbsonic.scanner.scanner import scan
    from tests.conftest import clone_db

    url = clone_db(pg, template_url)
    assert scan(url, [test_library[0]], workers=2).added > 0
    add_users(url, tmp_path_factory.mktemp("tpl"))
    return url


@pytest.fixture
def two(pg: Any, scanned_template: str, test_library: tuple[Path, Any],
        tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, str]]:
    """Two app instances (two workers or replicas) on a copy of the scanned library."""
    name = f"answers_{time.monotonic_ns()}"
    template = scanned_template.rsplit("/", 1)[1]
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE {template}")
    url = pg.url.rsplit("/", 1)[0] + "/" + name
    folders = (test_library[0],)
    with TestClient(make_app(url, tmp_path / "a", folders)) as a, \
            TestClient(make_app(url, tmp_path / "b", folders)) as b:
        yield a, b, url


def test_artist_index_is_kept_with_an_etag_and_304(two: Any) -> None:
    a, _, url = two
    first = _call(a, "getArtists")
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.json()["subsonic-response"]["artists"]["index"]
    reads = _artist_reads(url)
    again = _call(a, "getArtists")
    assert again.content == first.content and again.headers["etag"] == etag
    assert _artist_reads(url) == reads  # served without reading the artists table
    for header in (etag, f"W/{etag}", f'"x", {etag}', "*"):
        r = _call(a, "getArtists", headers={"if-none-match": header})
        assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert _call(a, "getArtists", headers={"if-none-match": '"stale"'}).content == first.content
    # Each format and flavour its own answer.
    xml = _call(a, "getArtists", f="xml")
    assert xml.content.startswith(b"<?xml") and xml.headers["etag"] != etag
    legacy = _call(a, "getArtists", c="DSub")
    assert legacy.content != first.content  # no OpenSubsonic root attributes
    assert b"openSubsonic" not in legacy.content


def test_a_star_through_one_worker_reaches_the_other_and_only_that_user(two: Any) -> None:
    a, b, _ = two
    target = _artists(b)[0]
    assert "starred" not in target
    _artists(b, ALICE)  # both users' answers cached in B
    ok = _call(a, "star", artistId=target["id"]).json()["subsonic-response"]
    assert ok["status"] == "ok"
    _settled(lambda: "starred" in next(x for x in _artists(b) if x["id"] == target["id"]), True)
    assert "starred" not in next(x for x in _artists(b, ALICE) if x["id"] == target["id"])
    # The same process sees its own write at once, not after the NOTIFY.
    _call(a, "setRating", id=target["id"], rating=4)
    assert next(x for x in _artists(a) if x["id"] == target["id"])["userRating"] == 4
    _settled(lambda: next(x for x in _artists(b) if x["id"] == target["id"]).get("userRating"), 4)


def test_a_library_change_by_any_writer_reaches_every_worker(two: Any) -> None:
    a, b, url = two
    before = {x["id"]: x["name"] for x in _artists(a)}
    _artists(b)
    indexes_etag = _call(b, "getIndexes").headers["etag"]
    some = next(iter(before))
    with psycopg.connect(url, autocommit=True) as conn:  # a rescan's rename, by hand
        conn.execute("UPDATE artists SET name = 'Renamed By Scan' WHERE id = %s",
                     (parse_id(some, "ar")[1],))
        conn.execute("UPDATE directories SET name = 'Renamed Dir' WHERE parent_id IS NOT NULL"
                     " AND id = (SELECT min(id) FROM directories WHERE parent_id IS NOT NULL)")
    for http in (a, b):
        _settled(lambda http=http: {x["id"]: x["name"] for x in _artists(http)}[some], "Renamed By Scan")
    _settled(lambda: _call(b, "getIndexes").headers["etag"] != indexes_etag, True)


def test_rolled_back_change_keeps_the_answer(two: Any) -> None:
    a, _, url = two
    etag = _call(a, "getArtists").headers["etag"]
    with psycopg.connect(url) as conn:
        conn.execute("UPDATE artists SET name = 'Never' WHERE id = (SELECT min(id) FROM artists)")
        conn.rollback()
    reads = _artist_reads(url)
    assert _call(a, "getArtists").headers["etag"] == etag
    assert _artist_reads(url) == reads  # NOTIFY is transactional: still a hit


def test_get_indexes_if_modified_since(two: Any) -> None:
    a, _, _ = two
    full = _call(a, "getIndexes").json()["subsonic-response"]["indexes"]
    modified = full["lastModified"]
    assert full["index"]
    same = _call(a, "getIndexes", ifModifiedSince=modified).json()["subsonic-response"]["indexes"]
    assert same["lastModified"] == modified and not same.get("index")
    older = _call(a, "getIndexes", ifModifiedSince=modified - 1).json()["subsonic-response"]["indexes"]
    assert older["index"] == full["index"]
