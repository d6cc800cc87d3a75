"""Play queue (savePlayQueue/getPlayQueue and the indexBasedQueue forms: one queue per user)
and bookmarks, through the real app, XML and JSON validated; each test on a database of its
own (a clone of the two-folder library)."""

from __future__ import annotations

from typing import Any

import psycopg

from tests.conftest import Subsonic
from tests.integration.test_playlists import add_user, folder_ids, ok_once, songs


def queue(client: Subsonic, by_index: bool = False) -> dict[str, Any]:
    key = "playQueueByIndex" if by_index else "playQueue"
    return client.ok("getPlayQueueByIndex" if by_index else "getPlayQueue")[key]


def ids(q: dict[str, Any]) -> list[str]:
    return [e["id"] for e in q.get("entry", [])]


def queue_rows(url: str) -> tuple[Any, ...]:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT * FROM play_queues ORDER BY user_id").fetchall(),
            conn.execute("SELECT * FROM play_queue_entries ORDER BY user_id, idx").fetchall(),
        )


def test_never_saved_queue_is_empty(own: Subsonic) -> None:
    for by_index in (False, True):
        q = queue(own, by_index)
        assert q["username"] == "admin" and ids(q) == [] and q["changedBy"] == "" and "changed" in q
        assert "current" not in q and "currentIndex" not in q


def test_save_by_id_read_both_ways(own: Subsonic) -> None:
    a, b, c = (s["id"] for s in songs(own)[:3])
    client = Subsonic(own.http, client="Symfonium")
    ok_once(client, "savePlayQueue", id=[a, b, a, c], current=b, position=61_500)
    q = queue(own)
    assert ids(q) == [a, b, a, c] and q["current"] == b and q["position"] == 61_500
    assert q["changedBy"] == "Symfonium" and q["username"] == "admin"
    qi = queue(own, by_index=True)
    assert ids(qi) == [a, b, a, c] and qi["currentIndex"] == 1 and qi["position"] == 61_500
    # a duplicated current is its first occurrence; an empty position counts as 0
    ok_once(own, "savePlayQueue", id=[c, a, c], current=c, position="")
    assert queue(own, by_index=True)["currentIndex"] == 0 and queue(own)["position"] == 0
    xml = own.raw("getPlayQueue", fmt="xml").text
    assert f'current="{c}"' in xml and xml.count("<entry ") == 3


def test_save_by_index_keeps_duplicates_apart(own: Subsonic) -> None:
    a, b = (s["id"] for s in songs(own)[:2])
    ok_once(own, "savePlayQueueByIndex", id=[a, b, a], currentIndex=2, position=1000)
    qi = queue(own, by_index=True)
    assert ids(qi) == [a, b, a] and qi["currentIndex"] == 2 and qi["position"] == 1000
    assert qi["changedBy"] == "pytest"
    q = queue(own)  # the same queue by id: the current song is a
    assert ids(q) == [a, b, a] and q["current"] == a


def test_empty_save_clears(own: Subsonic) -> None:
    a = songs(own)[0]["id"]
    ok_once(own, "savePlayQueue", id=a, current=a, position=5)
    ok_once(own, "savePlayQueue")
    q = queue(own)
    assert ids(q) == [] and "current" not in q and "position" not in q
    ok_once(own, "savePlayQueueByIndex", id=a, currentIndex=0)
    ok_once(own, "savePlayQueueByIndex")
    assert ids(queue(own, by_index=True)) == []


def test_bad_input_changes_nothing(own: Subsonic, own_db: str) -> None:
    a, b = (s["id"] for s in songs(own)[:2])
    album = own.ok("getAlbumList2", type="alphabeticalByName", size=1)["albumList2"]["album"][0]["id"]
    ok_once(own, "savePlayQueueByIndex", id=[a, b], currentIndex=1, position=7)
    before = queue_rows(own_db)
    # indexBasedQueue: out of range, missing with ids, or present without ids → 10
    own.fail("savePlayQueueByIndex", 10, id=[a, b], currentIndex=2)
    own.fail("savePlayQueueByIndex", 10, id=[a, b], currentIndex=-1)
    own.fail("savePlayQueueByIndex", 10, id=[a, b])
    own.fail("savePlayQueueByIndex", 10, currentIndex=0)
    err = own.fail("savePlayQueueByIndex", 0, id=[a, b], currentIndex="one")
    assert "currentIndex" in err["message"]
    # by id: current missing or not in the list → 10
    own.fail("savePlayQueue", 10, id=[a, b])
    own.fail("savePlayQueue", 10, id=[a], current=b)
    # unknown or wrong-kind ids → 70
    own.fail("savePlayQueue", 70, id=[a, "tr-zzzzzzzz"], current=a)
    own.fail("savePlayQueue", 70, id=[a, album], current=a)
    own.fail("savePlayQueueByIndex", 70, id=[album], currentIndex=0)
    err = own.fail("savePlayQueue", 0, id=[a], current=a, position="soon")
    assert "position" in err["message"]
    own.fail("savePlayQueue", 0, id=[a], current=a, position=-5)
    assert queue_rows(own_db) == before


def test_queues_are_per_user_and_follow_folder_access(own: Subsonic, own_db: str) -> None:
    _, f2 = folder_ids(own)
    add_user(own_db, "bob", "bob-pass", folders=[f2], playlist_role=False)
    alice, bob = own.as_user("alice", "alice-pass"), own.as_user("bob", "bob-pass")
    in_f2 = [s["id"] for s in songs(own, musicFolderId=f2)]
    in_f1 = [s["id"] for s in songs(own) if s["id"] not in in_f2]
    ok_once(alice, "savePlayQueue", id=[in_f1[0], in_f1[1]], current=in_f1[1], position=3)
    assert ids(queue(own)) == [] and ids(queue(bob)) == []
    ok_once(own, "savePlayQueue", id=in_f1[2], current=in_f1[2])
    assert ids(queue(alice)) == [in_f1[0], in_f1[1]] and queue(alice)["username"] == "alice"
    # a track outside bob's folders is not found for him
    bob.fail("savePlayQueue", 70, id=[in_f2[0], in_f1[0]], current=in_f2[0])
    ok_once(bob, "savePlayQueueByIndex", id=[in_f2[0], in_f2[1]], currentIndex=1)
    assert ids(queue(bob)) == in_f2[:2] and ids(queue(alice)) == [in_f1[0], in_f1[1]]
    # entries that leave the library (or the user's folders) are not shown; current follows
    from orbsonic.ids import parse_id

    with psycopg.connect(own_db) as conn:
        conn.execute("DELETE FROM tracks WHERE id = %s", (parse_id(in_f1[0])[1],))
    qi = queue(alice, by_index=True)
    assert ids(qi) == [in_f1[1]] and qi["currentIndex"] == 0
    with psycopg.connect(own_db) as conn:
        conn.execute("DELETE FROM tracks WHERE id = %s", (parse_id(in_f1[1])[1],))
    qi = queue(alice, by_index=True)
    assert ids(qi) == [] and "currentIndex" not in qi


# ---------------------------------------------------------------------------- bookmarks


def bookmarks(client: Subsonic) -> list[dict[str, Any]]:
    return client.ok("getBookmarks")["bookmarks"].get("bookmark", [])


def test_bookmarks_write_then_read(own: Subsonic) -> None:
    a, b = (s["id"] for s in songs(own)[:2])
    assert bookmarks(own) == []
    ok_once(own, "createBookmark", id=a, position=90_000, comment="chapter 3")
    [bm] = bookmarks(own)
    assert (bm["entry"]["id"], bm["position"], bm["comment"], bm["username"]) == (
        a,
        90_000,
        "chapter 3",
        "admin",
    )
    created = bm["created"]
    # one per user and item: a second create overwrites
    ok_once(own, "createBookmark", id=a, position=120_000)
    [bm] = bookmarks(own)
    assert bm["position"] == 120_000 and bm["comment"] == "" and bm["created"] == created
    assert bm["changed"] >= created
    ok_once(own, "createBookmark", id=b, position=0)
    assert sorted(x["entry"]["id"] for x in bookmarks(own)) == sorted([a, b])
    assert "<bookmark " in own.raw("getBookmarks", fmt="xml").text
    ok_once(own, "deleteBookmark", id=a)
    assert [x["entry"]["id"] for x in bookmarks(own)] == [b]
    own.fail("deleteBookmark", 70, id=a)


def test_bookmarks_bad_input_and_isolation(own: Subsonic, own_db: str) -> None:
    a = songs(own)[0]["id"]
    album = own.ok("getAlbumList2", type="alphabeticalByName", size=1)["albumList2"]["album"][0]["id"]
    alice = own.as_user("alice", "alice-pass")
    ok_once(alice, "createBookmark", id=a, position=10)
    own.fail("createBookmark", 10, id=a)
    own.fail("createBookmark", 10, position=5)
    own.fail("createBookmark", 70, id=album, position=5)
    own.fail("createBookmark", 70, id="tr-zzzzzzzz", position=5)
    own.fail("createBookmark", 0, id=a, position="later")
    own.fail("createBookmark", 0, id=a, position=-1)
    own.fail("deleteBookmark", 10)
    assert bookmarks(own) == []
    # alice's bookmark is hers: admin neither sees nor deletes it
    own.fail("deleteBookmark", 70, id=a)
    assert [x["entry"]["id"] for x in bookmarks(alice)] == [a]
    _, f2 = folder_ids(own)
    add_user(own_db, "bob", "bob-pass", folders=[f2], playlist_role=False)
    bob = own.as_user("bob", "bob-pass")
    in_f2 = {s["id"] for s in songs(own, musicFolderId=f2)}
    outside = next(s["id"] for s in songs(own) if s["id"] not in in_f2)
    bob.fail("createBookmark", 70, id=outside, position=1)
    assert bookmarks(bob) == []


def test_index_based_queue_is_advertised(own: Subsonic) -> None:
    body = own.raw("getOpenSubsonicExtensions", auth=False).json()["subsonic-response"]
    assert {e["name"]: e["versions"] for e in body["openSubsonicExtensions"]}["indexBasedQueue"] == [1]
