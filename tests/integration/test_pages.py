"""One statement per page (orbsonic/library/pages.py) and the shaped-song cache of large song
lists (subsonic_api/song_cache.py), through the real app on a copy of the scanned test library.

* The pool's cursors (`CountingCursor`) record every statement; each page reads the library
  tables in exactly one (getPlaylist: one more, once, while its songs are not cached yet).
* Consistency: a writer flips an album's name (and its tracks' album name), or a playlist's
  name and entries, in one transaction while pages are read; every page shows one state.
* The cached songs equal `shapes.song` of freshly hydrated rows key for key, in order, with
  stars, ratings and plays that change after they were cached, and a library change by any
  writer reaches the cached songs (NOTIFY).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import AsyncCursor
from starlette.testclient import TestClient

from orbsonic.ids import parse_id
from tests.conftest import ADMIN, Subsonic, add_users, clone_db, make_settings

STATEMENTS: list[str] = []
# Tables a page reads; authentication, rate limits and sessions read others.
LIBRARY = re.compile(r"\b(tracks|albums|artists|directories|playlists|playlist_entries)\b")


class CountingCursor(AsyncCursor):  # type: ignore[type-arg]
    """Records the text of every statement it runs in STATEMENTS."""

    async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        STATEMENTS.append(query if isinstance(query, str) else query.as_string(self.connection))
        return await super().execute(query, params, **kw)


@pytest.fixture(scope="module")
def db(pg: Any, template_url: str, test_library: tuple[Path, Any],
       tmp_path_factory: pytest.TempPathFactory) -> str:
    """The test library scanned into a database of this module's own: these tests write to it."""
    from orbsonic.scanner.scanner import scan

    url = clone_db(pg, template_url)
    assert scan(url, [test_library[0]], workers=2).added > 0
    add_users(url, tmp_path_factory.mktemp("users"))
    return url


@pytest.fixture(scope="module")
def http(db: str, test_library: tuple[Path, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from orbsonic.app import create_app

    app = create_app(make_settings(tmp_path_factory.mktemp("pages"), (test_library[0],)), db,
                     background=False, pool_kwargs={"cursor_factory": CountingCursor})
    with TestClient(app) as client:
        yield client


@pytest.fixture
def api(http: Any) -> Subsonic:
    return Subsonic(http)


def library_statements(api: Subsonic, method: str, **params: Any) -> tuple[dict[str, Any], list[str]]:
    """One JSON request (validated): its answer and the statements of it that read the library."""
    STATEMENTS.clear()
    body = api.raw(method, fmt="json", **params).json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body, [s for s in STATEMENTS if LIBRARY.search(s)]


def _album_with_songs(api: Subsonic) -> dict[str, Any]:
    albums = api.ok("getAlbumList2", type="alphabeticalByName", size=100)["albumList2"]["album"]
    return max(albums, key=lambda a: a["songCount"])


def _playlist(api: Subsonic, name: str, song_ids: list[str]) -> str:
    return api.ok("createPlaylist", name=name, songId=song_ids)["playlist"]["id"]


def test_each_page_is_one_statement(api: Subsonic) -> None:
    album = _album_with_songs(api)
    body, sql = library_statements(api, "getAlbum", id=album["id"])
    assert len(body["album"]["song"]) == album["songCount"] > 1 and len(sql) == 1, sql
    song = body["album"]["song"][0]
    for method, params in [("getSong", {"id": song["id"]}), ("getArtist", {"id": album["artistId"]}),
                           ("getMusicDirectory", {"id": song["parent"]}),
                           ("getMusicDirectory", {"id": album["id"]}),
                           ("getMusicDirectory", {"id": album["artistId"]})]:
        body, sql = library_statements(api, method, **params)
        assert len(sql) == 1, (method, params, sql)
    # A directory of sub-directories (the other kind of child) from that one statement too.
    top = api.ok("getIndexes")["indexes"]["index"][0]["artist"][0]
    body, sql = library_statements(api, "getMusicDirectory", id=top["id"])
    assert body["directory"]["child"] and len(sql) == 1
    pid = _playlist(api, "one statement", [s["id"] for s in api.ok("getAlbum", id=album["id"])["album"]["song"]])
    first, sql = library_statements(api, "getPlaylist", id=pid)  # the songs are cached by createPlaylist
    assert first["playlist"]["songCount"] == album["songCount"] and len(sql) == 1, sql
    for client in (api, Subsonic(api.http, client="DSub")):  # OpenSubsonic and legacy songs, each kept
        client.ok("getPlaylist", id=pid)
        body, sql = library_statements(client, "getPlaylist", id=pid)
        assert len(sql) == 1, (client.client, sql)
    # Unknown ids are still 70, found with that one statement.
    for method, bad in [("getAlbum", "al-zzzz"), ("getArtist", "ar-zzzz"), ("getMusicDirectory", "dr-zzzz"),
                        ("getPlaylist", "pl-9999")]:
        api.fail(method, 70, id=bad)


def test_pages_show_one_state_while_a_writer_changes_them(api: Subsonic, db: str) -> None:
    album = _album_with_songs(api)
    aid = parse_id(album["id"], "al")[1]
    songs = [s["id"] for s in api.ok("getAlbum", id=album["id"])["album"]["song"]]
    pid = _playlist(api, "state A", songs[:1])
    pl = parse_id(pid, "pl")[1]
    tids = [parse_id(s, "tr")[1] for s in songs]
    stop = threading.Event()

    def writer() -> None:
        with psycopg.connect(db, autocommit=True) as conn:
            n = 0
            while not stop.is_set():
                n += 1
                name, count = ("state A", 1) if n % 2 else ("state B", len(tids))
                with conn.transaction():
                    conn.execute("UPDATE albums SET name = %s WHERE id = %s", (f"Flip {n}", aid))
                    conn.execute("UPDATE tracks SET album_name = %s WHERE album_id = %s", (f"Flip {n}", aid))
                    conn.execute("UPDATE playlists SET name = %s WHERE id = %s", (name, pl))
                    conn.execute("DELETE FROM playlist_entries WHERE playlist_id = %s", (pl,))
                    conn.execute("INSERT INTO playlist_entries (playlist_id, position, track_id)"
                                 " SELECT %s, 1024 * k, t FROM unnest(%s::bigint[]) WITH ORDINALITY u(t, k)",
                                 (pl, tids[:count]))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        for _ in range(60):
            got = api.ok("getAlbum", id=album["id"])["album"]
            assert {s.get("album") for s in got["song"]} == {got["name"]}, got["name"]
            got = api.ok("getMusicDirectory", id=album["id"])["directory"]
            assert {s.get("album") for s in got["child"]} == {got["name"]}
            p = api.ok("getPlaylist", id=pid)["playlist"]
            want = 1 if p["name"] == "state A" else len(tids)
            assert p["songCount"] == len(p["entry"]) == want, (p["name"], p["songCount"], len(p["entry"]))
    finally:
        stop.set()
        thread.join()


def _shaped(db: str, pid: str, username: str) -> list[tuple[list[Any], list[Any], list[Any], list[Any]]]:
    """For OpenSubsonic and legacy: (cache cold, cache warm, shapes.song of full rows) as item lists."""
    from orbsonic.auth import users
    from orbsonic.library import playlists
    from subsonic_api import shapes
    from subsonic_api.song_cache import SongCache

    async def go() -> list[Any]:
        out = []
        async with await psycopg.AsyncConnection.connect(db, autocommit=True) as conn:
            user = await users.get_by_name(conn, username)
            assert user is not None
            for os in (True, False):
                cache = SongCache(lambda: True)
                _, rows = await playlists.with_entries(conn, user, parse_id(pid, "pl")[1])
                plain = [list(shapes.song(r, os).items()) for r in rows]
                row, ids, notes = await playlists.with_entry_ids(conn, user, parse_id(pid, "pl")[1])
                folders = playlists.folders_of(user)
                songs, ms = await cache.entries(conn, ids, notes, user.id, folders, os)
                cold = [list(d.items()) for d in songs]
                assert len(cache) == len(set(ids))
                assert ms == sum(r["duration_ms"] for r in rows)  # the playlist's duration
                songs, ms = await cache.entries(conn, ids, notes, user.id, folders, os)
                warm = [list(d.items()) for d in songs]
                assert ms == sum(r["duration_ms"] for r in rows)
                out.append((cold, warm, plain, rows))
        return out

    return asyncio.run(go())


def test_cached_songs_are_the_shaped_songs(api: Subsonic, db: str) -> None:
    album = _album_with_songs(api)
    songs = [s["id"] for s in api.ok("getAlbum", id=album["id"])["album"]["song"]]
    pid = _playlist(api, "cached", songs + songs[:2])  # duplicates too
    for cold, warm, plain, _ in _shaped(db, pid, ADMIN[0]):
        assert cold == warm == plain
    # Annotations after the songs were shaped: a star, a rating, a play (last played), and all three.
    api.ok("star", id=songs[0])
    api.ok("setRating", id=songs[1], rating=4)
    api.ok("scrobble", id=songs[2], submission="true")
    api.ok("star", id=songs[3])
    api.ok("setRating", id=songs[3], rating=2)
    api.ok("scrobble", id=songs[3], submission="true")
    for cold, warm, plain, rows in _shaped(db, pid, ADMIN[0]):
        assert cold == warm == plain
        assert rows[0]["starred_at"] and rows[1]["rating"] == 4 and rows[2]["last_played"]
    entries = api.ok("getPlaylist", id=pid)["playlist"]["entry"]
    assert "starred" in entries[0] and entries[1]["userRating"] == 4 and "played" in entries[2]
    assert entries[3]["userRating"] == 2 and entries[3]["playCount"] >= 1
    # Another user's view of the same cached songs has none of them.
    api.ok("updatePlaylist", playlistId=pid, public="true")
    alice = api.as_user("alice", "alice-pass")
    theirs = alice.ok("getPlaylist", id=pid)["playlist"]["entry"]
    assert not any("starred" in e or "userRating" in e or "played" in e for e in theirs)
    assert [e["id"] for e in theirs] == [e["id"] for e in entries]


def test_a_library_change_reaches_the_cached_songs(api: Subsonic, db: str) -> None:
    album = _album_with_songs(api)
    songs = [s["id"] for s in api.ok("getAlbum", id=album["id"])["album"]["song"]]
    pid = _playlist(api, "retitled", songs)
    api.ok("getPlaylist", id=pid)
    with psycopg.connect(db, autocommit=True) as conn:  # a rescan's retag, by hand
        conn.execute("UPDATE tracks SET title = 'Retitled By Scan' WHERE id = %s", (parse_id(songs[0], "tr")[1],))
    deadline = time.monotonic() + 2.0
    while api.ok("getPlaylist", id=pid)["playlist"]["entry"][0]["title"] != "Retitled By Scan":
        assert time.monotonic() < deadline, "the cached song kept its old title"
        time.sleep(0.005)
    for _ in range(3):
        assert api.ok("getPlaylist", id=pid)["playlist"]["entry"][0]["title"] == "Retitled By Scan"
    # A track removed from the library leaves the list once its invalidation has arrived (the
    # cached songs know which tracks exist), and the counts follow.
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM tracks WHERE id = %s", (parse_id(songs[1], "tr")[1],))
    deadline = time.monotonic() + 2.0
    while songs[1] in [e["id"] for e in api.ok("getPlaylist", id=pid)["playlist"]["entry"]]:
        assert time.monotonic() < deadline, "the removed track stayed in the cached playlist"
        time.sleep(0.005)
    p = api.ok("getPlaylist", id=pid)["playlist"]
    assert songs[1] not in [e["id"] for e in p["entry"]] and p["songCount"] == len(songs) - 1
