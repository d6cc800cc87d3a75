"""The kept per-user reads (subsonic_api/answers.py, issue 13): getAlbum, getArtist, getSong,
getMusicDirectory, search3, getStarred2 and the play queue are served from memory, and no
write — through this process, another worker, or SQL by hand — leaves a stale one behind:
stars, ratings, scrobbles, savePlayQueue, the user's folder access and roles, a retag and
rescan. Two app instances on one database stand for two workers or replicas."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.ids import parse_id
from orbsonic.scanner.scanner import scan
from subsonic_api.shapes import public_id
from tests.conftest import ADMIN, ALICE, add_users, clone_db, make_app
from tests.integration.test_cached_answers import _call, _settled, scanned_template, two  # noqa: F401
from tests.integration.test_scan import retitle


def _ok(http: TestClient, method: str, user: tuple[str, str] = ADMIN, **params: Any) -> dict[str, Any]:
    body = _call(http, method, user, **params).json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body


def _error(http: TestClient, method: str, user: tuple[str, str] = ADMIN, **params: Any) -> int | None:
    body = _call(http, method, user, **params).json()["subsonic-response"]
    return body["error"]["code"] if body["status"] == "failed" else None


def _reads(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables"
                           " WHERE relname = %s", (table,)).fetchone()
        return int(row[0]) if row else 0


def _an_album(http: TestClient) -> dict[str, Any]:
    albums = _ok(http, "getAlbumList2", type="alphabeticalByName", size=50)["albumList2"]["album"]
    return next(a for a in albums if a.get("songCount", 0) >= 2)


def _song_of(http: TestClient, album: dict[str, Any], user: tuple[str, str] = ADMIN) -> dict[str, Any]:
    return _ok(http, "getAlbum", user, id=album["id"])["album"]["song"][0]


def test_album_song_artist_and_search_are_kept_with_an_etag(two: Any) -> None:
    a, _, url = two
    album = _an_album(a)
    song = _song_of(a, album)
    word = song["title"].split()[0]
    requests = [("getAlbum", {"id": album["id"]}), ("getSong", {"id": song["id"]}),
                ("getArtist", {"id": album["artistId"]}), ("getMusicDirectory", {"id": album["id"]}),
                ("search3", {"query": word}), ("search3", {"query": "zzznomatchzzz"}),
                ("getStarred2", {}), ("getPlayQueue", {}), ("getGenres", {})]
    first = {}
    for method, params in requests:
        r = _call(a, method, **params)
        assert r.status_code == 200 and r.json()["subsonic-response"]["status"] == "ok", (method, r.text)
        first[(method, tuple(params.items()))] = r
    reads = _reads(url, "tracks"), _reads(url, "albums")
    for method, params in requests:
        old = first[(method, tuple(params.items()))]
        again = _call(a, method, **params)
        assert again.content == old.content and again.headers["etag"] == old.headers["etag"], method
        not_modified = _call(a, method, headers={"if-none-match": old.headers["etag"]}, **params)
        assert not_modified.status_code == 304 and not_modified.content == b"", method
    assert (_reads(url, "tracks"), _reads(url, "albums")) == reads  # all from memory
    # A wrong password with a matching ETag is still an error, never the kept answer.
    old = first[("getAlbum", (("id", album["id"]),))]
    wrong = _call(a, "getAlbum", ("admin", "wrong"), headers={"if-none-match": old.headers["etag"]},
                  id=album["id"])
    assert wrong.status_code == 200 and wrong.json()["subsonic-response"]["error"]["code"] == 40
    # Another user has their own answer (their own stars), and an unknown id is still an error.
    assert _ok(a, "getAlbum", ALICE, id=album["id"])["album"]["id"] == album["id"]
    assert _error(a, "getAlbum", id="al-999999999") == 70


def test_star_rating_and_scrobble_show_at_once_here_and_soon_in_the_other_worker(two: Any) -> None:
    a, b, _ = two
    album = _an_album(a)
    song = _song_of(a, album)
    for http in (a, b):  # every answer cached in both, for both users
        for user in (ADMIN, ALICE):
            _song_of(http, album, user)
            _ok(http, "getSong", user, id=song["id"])
            _ok(http, "getStarred2", user)
            _ok(http, "search3", user, query=song["title"])
    _ok(a, "star", id=song["id"])
    assert "starred" in _song_of(a, album)  # this process: dropped before the answer
    assert "starred" in _ok(a, "getSong", id=song["id"])["song"]
    assert [s["id"] for s in _ok(a, "getStarred2")["starred2"].get("song", [])] == [song["id"]]
    _settled(lambda: "starred" in _ok(b, "getSong", id=song["id"])["song"], True)
    _settled(lambda: [s["id"] for s in _ok(b, "getStarred2")["starred2"].get("song", [])], [song["id"]])
    _settled(lambda: "starred" in next(s for s in _ok(b, "search3", query=song["title"])
                                       ["searchResult3"]["song"] if s["id"] == song["id"]), True)
    assert "starred" not in _ok(b, "getSong", ALICE, id=song["id"])["song"]  # only that user
    _ok(a, "setRating", id=album["id"], rating=3)
    assert _ok(a, "getAlbum", id=album["id"])["album"]["userRating"] == 3
    _settled(lambda: _ok(b, "getAlbum", id=album["id"])["album"].get("userRating"), 3)
    before = _ok(a, "getSong", id=song["id"])["song"].get("playCount", 0)
    _ok(a, "scrobble", id=song["id"])
    assert _ok(a, "getSong", id=song["id"])["song"].get("playCount", 0) == before + 1
    _settled(lambda: _ok(b, "getSong", id=song["id"])["song"].get("playCount", 0), before + 1)
    _settled(lambda: _song_of(b, album).get("playCount", 0), before + 1)
    # A write by hand (another tool, a restored backup) reaches both as well.
    _ok(a, "unstar", id=song["id"])
    assert "starred" not in _ok(a, "getSong", id=song["id"])["song"]
    _settled(lambda: "starred" in _ok(b, "getSong", id=song["id"])["song"], False)


def test_save_play_queue_in_one_worker_is_read_back_in_the_other(two: Any) -> None:
    a, b, url = two
    album = _an_album(a)
    ids = [s["id"] for s in _ok(a, "getAlbum", id=album["id"])["album"]["song"]]
    for http in (a, b):
        assert not _ok(http, "getPlayQueue")["playQueue"].get("entry")
        assert not _ok(http, "getPlayQueueByIndex")["playQueueByIndex"].get("entry")
    _ok(a, "savePlayQueue", id=ids, current=ids[1], position=1234)
    q = _ok(a, "getPlayQueue")["playQueue"]
    assert [e["id"] for e in q["entry"]] == ids and q["current"] == ids[1] and q["position"] == 1234
    _settled(lambda: [e["id"] for e in _ok(b, "getPlayQueue")["playQueue"].get("entry", [])], ids)
    _settled(lambda: _ok(b, "getPlayQueueByIndex")["playQueueByIndex"].get("currentIndex"), 1)
    assert not _ok(b, "getPlayQueue", ALICE)["playQueue"].get("entry")  # alice's own queue
    _ok(b, "savePlayQueueByIndex", id=ids[:1], currentIndex=0)
    assert [e["id"] for e in _ok(b, "getPlayQueue")["playQueue"]["entry"]] == ids[:1]
    _settled(lambda: [e["id"] for e in _ok(a, "getPlayQueue")["playQueue"].get("entry", [])], ids[:1])
    with psycopg.connect(url, autocommit=True) as conn:  # by hand: the entries table alone
        conn.execute("DELETE FROM play_queue_entries")
    for http in (a, b):
        _settled(lambda http=http: _ok(http, "getPlayQueue")["playQueue"].get("entry", []), [])


def test_folder_access_and_role_changes_drop_the_users_answers(two: Any) -> None:
    a, b, url = two
    album = _an_album(a)
    for http in (a, b):
        _ok(http, "getAlbum", ALICE, id=album["id"])
        _ok(http, "search3", ALICE, query=album["name"])
    with psycopg.connect(url, autocommit=True) as conn:  # alice may read no folder any more
        conn.execute("UPDATE users SET folder_ids = '{}' WHERE username = %s", (ALICE[0],))
    for http in (a, b):
        _settled(lambda http=http: _error(http, "getAlbum", ALICE, id=album["id"]), 70)
        _settled(lambda http=http: _ok(http, "search3", ALICE, query=album["name"])
                 ["searchResult3"].get("album", []), [])
    assert _ok(a, "getAlbum", id=album["id"])["album"]["id"] == album["id"]  # admin unaffected
    # Through the API in one worker: updateUser gives the folders back.
    folders = [f["id"] for f in _ok(a, "getMusicFolders")["musicFolders"]["musicFolder"]]
    _ok(a, "updateUser", username=ALICE[0], musicFolderId=folders)
    for http in (b, a):
        _settled(lambda http=http: _error(http, "getAlbum", ALICE, id=album["id"]), None)
    # A role change (here by hand) drops the user's kept answers on every worker.
    kept = b.app.state.orbsonic.answers
    _ok(b, "getAlbum", ALICE, id=album["id"])
    assert any(k[0] == "getAlbum" for k in kept._entries if _is_alice(url, k[1]))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE users SET can_share = NOT can_share WHERE username = %s", (ALICE[0],))
    # (generation(): takes in what has arrived, as every lookup does)
    _settled(lambda: kept.generation() is not None
             and any(_is_alice(url, k[1]) for k in kept._entries), False)
    # A deleted user gets no kept answer.
    _ok(a, "getSong", ALICE, id=_song_of(a, album)["id"])
    _ok(a, "deleteUser", username=ALICE[0])
    for http in (a, b):
        _settled(lambda http=http: _error(http, "getAlbum", ALICE, id=album["id"]), 40)


def _is_alice(url: str, user_id: object) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT username FROM users WHERE id = %s", (user_id,)).fetchone()
    return row is not None and row[0] == ALICE[0]


def test_public_playlist_edit_by_another_user_is_seen(two: Any) -> None:
    a, b, _ = two
    album = _an_album(a)
    ids = [s["id"] for s in _ok(a, "getAlbum", id=album["id"])["album"]["song"]]
    created = _ok(a, "createPlaylist", name="shared mix", songId=ids[:1])["playlist"]
    _ok(a, "updatePlaylist", playlistId=created["id"], public="true")
    for http in (a, b):
        entries = _ok(http, "getPlaylist", ALICE, id=created["id"])["playlist"]["entry"]
        assert [e["id"] for e in entries] == ids[:1]
        assert created["id"] in [p["id"] for p in _ok(http, "getPlaylists", ALICE)["playlists"]["playlist"]]
    _ok(a, "updatePlaylist", playlistId=created["id"], songIdToAdd=ids[1], name="renamed mix")
    for http in (a, b):
        _settled(lambda http=http: [e["id"] for e in _ok(http, "getPlaylist", ALICE, id=created["id"])
                                    ["playlist"]["entry"]], ids[:2])
        _settled(lambda http=http: next(p["name"] for p in _ok(http, "getPlaylists", ALICE)["playlists"]
                                        ["playlist"] if p["id"] == created["id"]), "renamed mix")


def test_album_genres_alone_changed_by_hand_reach_every_worker(two: Any) -> None:
    a, b, url = two
    with psycopg.connect(url) as conn:
        (al,) = conn.execute("SELECT min(album_id) FROM album_genres").fetchone()
    album_id = public_id("al", al)
    for http in (a, b):
        assert _ok(http, "getAlbum", id=album_id)["album"]["genres"]
    with psycopg.connect(url, autocommit=True) as conn:  # a retag's genre link, alone
        conn.execute("DELETE FROM album_genres WHERE album_id = %s", (al,))
    for http in (a, b):
        _settled(lambda http=http: _ok(http, "getAlbum", id=album_id)["album"].get("genres", []), [])


@pytest.fixture
def rescannable(pg: Any, template_url: str, test_library: tuple[Path, Any],
                tmp_path: Path) -> Iterator[tuple[TestClient, TestClient, str, Path]]:
    """Two app instances on a scanned copy of the test library that a test may retag."""
    root = tmp_path / "music"
    shutil.copytree(test_library[0], root)
    url = clone_db(pg, template_url)
    assert scan(url, [root], workers=2).added > 0
    add_users(url, tmp_path / "data")
    with TestClient(make_app(url, tmp_path / "a", (root,))) as a, \
            TestClient(make_app(url, tmp_path / "b", (root,))) as b:
        yield a, b, url, root


def test_a_retag_and_rescan_reaches_every_kept_answer(rescannable: Any) -> None:
    a, b, url, root = rescannable
    path = "Sigur Rós/1999 - Ágætis byrjun/02 Starálfur.ogg"
    with psycopg.connect(url) as conn:
        tid, al = conn.execute("SELECT id, album_id FROM tracks WHERE path = %s", (path,)).fetchone()
    song_id, album_id = public_id("tr", tid), public_id("al", al)
    for http in (a, b):
        assert _ok(http, "getSong", id=song_id)["song"]["title"] == "Starálfur"
        _ok(http, "getAlbum", id=album_id)
        assert not _ok(http, "search3", query="remaster")["searchResult3"].get("song")
    retitle(root / path, "Starálfur (remaster)")
    assert scan(url, [root], workers=2).updated == 1
    for http in (a, b):
        _settled(lambda http=http: _ok(http, "getSong", id=song_id)["song"]["title"], "Starálfur (remaster)")
        _settled(lambda http=http: next(s["title"] for s in
                                        _ok(http, "getAlbum", id=album_id)["album"]["song"]
                                        if s["id"] == song_id), "Starálfur (remaster)")
        _settled(lambda http=http: [s["id"] for s in _ok(http, "search3", query="remaster")
                                    ["searchResult3"].get("song", [])], [song_id])


def test_a_lost_listener_serves_no_kept_answer(two: Any) -> None:
    a, _, url = two
    album = _an_album(a)
    _ok(a, "getAlbum", id=album["id"])
    kept = a.app.state.orbsonic.answers
    assert kept._entries
    with psycopg.connect(url, autocommit=True) as conn:  # kill the LISTEN connections
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                     " WHERE query LIKE 'LISTEN%%' AND pid <> pg_backend_pid()")
        # A change made while nobody listens: its NOTIFY reaches no one.
        conn.execute("UPDATE albums SET name = 'Renamed Unheard' WHERE id = %s",
                     (parse_id(album["id"], "al")[1],))
    _settled(lambda: _ok(a, "getAlbum", id=album["id"])["album"]["name"], "Renamed Unheard")


def test_a_native_write_shows_at_once_in_the_same_process(two: Any) -> None:
    from tests.integration.native_client import api_key_for
    from tests.integration.test_native_playlists import Checked

    a, _, url = two
    album = _an_album(a)
    song = _song_of(a, album)
    assert not _ok(a, "getPlayQueue")["playQueue"].get("entry")
    assert "starred" not in _ok(a, "getSong", id=song["id"])["song"]
    n = Checked(a, api_key_for(url, ADMIN[0]))
    n.ok("PUT", "/queue", json={"trackIds": [song["id"]], "currentIndex": 0, "positionMs": 10})
    n.ok("PUT", f"/stars/{song['id']}", 204, route="/stars/{item_id}")
    # No wait: the native dispatcher drops the user's kept answers after its commit.
    assert [e["id"] for e in _ok(a, "getPlayQueue")["playQueue"]["entry"]] == [song["id"]]
    assert "starred" in _ok(a, "getSong", id=song["id"])["song"]


def _album_ids(http: TestClient, kind: str, user: tuple[str, str] = ADMIN, method: str = "getAlbumList2",
               size: int = 50) -> list[str]:
    key = "albumList2" if method == "getAlbumList2" else "albumList"
    return [a["id"] for a in _ok(http, method, user, type=kind, size=size)[key].get("album", [])]


def test_album_lists_are_kept_and_follow_every_write(two: Any) -> None:
    """getAlbumList/getAlbumList2 are kept per user (issue 12: the home screen of every
    client start), and a star, a rating, a scrobble or a library change by hand shows at
    once here and soon in the other worker; another user's writes never change them."""
    a, b, url = two
    album = _an_album(a)
    song = _song_of(a, album)
    kinds = ("starred", "highest", "frequent", "recent", "alphabeticalByName", "newest")
    for http in (a, b):
        for method in ("getAlbumList2", "getAlbumList"):
            for kind in kinds:
                for user in (ADMIN, ALICE):
                    _album_ids(http, kind, user, method)
    reads = _reads(url, "albums"), _reads(url, "annotations")
    first = _call(a, "getAlbumList2", type="newest", size=50)
    again = _call(a, "getAlbumList2", type="newest", size=50)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert _call(a, "getAlbumList2", headers={"if-none-match": first.headers["etag"]},
                 type="newest", size=50).status_code == 304
    assert (_reads(url, "albums"), _reads(url, "annotations")) == reads  # all from memory

    old_lists = {kind: _album_ids(a, kind, method="getAlbumList") for kind in ("starred", "highest", "recent")}
    _ok(a, "star", albumId=album["id"])
    _ok(a, "setRating", id=album["id"], rating=5)
    _ok(a, "scrobble", id=song["id"])
    assert album["id"] in _album_ids(a, "starred")
    assert album["id"] in _album_ids(a, "highest") and album["id"] in _album_ids(a, "frequent")
    assert _album_ids(a, "recent")[:1] == [album["id"]]
    for kind, old in old_lists.items():  # the folder-based lists of the same albums changed too
        assert _album_ids(a, kind, method="getAlbumList") != old, kind
    _settled(lambda: album["id"] in _album_ids(b, "starred"), True)
    _settled(lambda: album["id"] in _album_ids(b, "highest"), True)
    _settled(lambda: _album_ids(b, "recent")[:1], [album["id"]])
    for http in (a, b):  # only that user's lists
        assert album["id"] not in _album_ids(http, "starred", ALICE)
        assert album["id"] not in _album_ids(http, "highest", ALICE)
        assert album["id"] not in _album_ids(http, "recent", ALICE)

    # A library change by hand (another tool): the name order changes in both workers.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE albums SET name = '!!! First By Hand', sort_key = '!!! first by hand'"
                     " WHERE id = %s", (parse_id(album["id"], "al")[1],))
    for http in (a, b):
        _settled(lambda http=http: _ok(http, "getAlbumList2", type="alphabeticalByName", size=1)
                 ["albumList2"]["album"][0]["name"], "!!! First By Hand")


def test_random_album_lists_are_never_kept(two: Any) -> None:
    a, _, _ = two
    kept = a.app.state.orbsonic.answers
    seen = {tuple(_album_ids(a, "random", size=5)) for _ in range(12)}
    assert len(seen) > 1  # a fresh sample on each call
    assert not any(key[0] in ("getAlbumList2", "getAlbumList") for key in kept._entries)
    _album_ids(a, "newest")
    assert any(key[0] == "getAlbumList2" for key in kept._entries)
