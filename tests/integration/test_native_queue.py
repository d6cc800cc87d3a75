"""The native play queue (docs/native-api.md "Queue") through the real app: the same rows as
Subsonic savePlayQueue/getPlayQueue, read and written both ways; answers validated against the
OpenAPI document. Each test on a database of its own."""

from __future__ import annotations

from typing import Any

from tests.conftest import Subsonic
from tests.integration.test_native_playlists import Checked, native
from tests.integration.test_playlists import add_user, folder_ids, ok_once, songs


def ids(q: dict[str, Any]) -> list[str]:
    assert [e["index"] for e in q["entries"]] == list(range(len(q["entries"])))
    return [e["track"]["id"] for e in q["entries"]]


def sub_queue(client: Subsonic, by_index: bool = False) -> dict[str, Any]:
    key = "playQueueByIndex" if by_index else "playQueue"
    return client.ok("getPlayQueueByIndex" if by_index else "getPlayQueue")[key]


def test_subsonic_queue_reads_natively(own: Subsonic, own_db: str) -> None:
    a, b, c = (s["id"] for s in songs(own)[:3])
    ok_once(
        Subsonic(own.http, client="Symfonium"), "savePlayQueue", id=[a, b, a, c], current=b, position=61_500
    )
    q = native(own, own_db).ok("GET", "/queue")
    assert ids(q) == [a, b, a, c] and q["currentIndex"] == 1 and q["positionMs"] == 61_500
    assert q["changedBy"] == "Symfonium"


def test_native_changes_read_through_subsonic(own: Subsonic, own_db: str) -> None:
    n = native(own, own_db)
    a, b, c, d = (s["id"] for s in songs(own)[:4])
    hdr = {"X-Orb-Client": "orb-web"}
    q = n.ok("PUT", "/queue", json={"trackIds": [a, b], "currentIndex": 1, "positionMs": 5000}, headers=hdr)
    assert (
        ids(q) == [a, b]
        and q["currentIndex"] == 1
        and q["positionMs"] == 5000
        and q["changedBy"] == "orb-web"
    )
    q = n.ok("POST", "/queue/next", json={"trackIds": [c, c]}, route="/queue/next")
    assert ids(q) == [a, b, c, c] and q["currentIndex"] == 1
    q = n.ok("POST", "/queue/append", json={"trackIds": [d]}, route="/queue/append")
    assert ids(q) == [a, b, c, c, d]
    q = n.ok("POST", "/queue/move", json={"from": 1, "to": 4}, route="/queue/move")
    assert ids(q) == [a, c, c, d, b] and q["currentIndex"] == 4 and q["positionMs"] == 5000
    q = n.ok("DELETE", "/queue/entries/0", route="/queue/entries/{index}")
    assert ids(q) == [c, c, d, b] and q["currentIndex"] == 3
    q = n.ok("PUT", "/queue/current", json={"index": 2, "positionMs": 777}, route="/queue/current")
    assert q["currentIndex"] == 2 and q["positionMs"] == 777
    sq = sub_queue(own)
    assert [e["id"] for e in sq["entry"]] == [c, c, d, b] and sq["current"] == d and sq["position"] == 777
    assert sq["changedBy"].startswith("python-httpx") or sq["changedBy"]  # the User-Agent's product
    si = sub_queue(own, by_index=True)
    assert si["currentIndex"] == 2 and [e["id"] for e in si["entry"]] == [c, c, d, b]
    # removing the current entry makes the next current, position 0
    q = n.ok("DELETE", "/queue/entries/2", route="/queue/entries/{index}")
    assert ids(q) == [c, c, b] and q["currentIndex"] == 2 and q["positionMs"] == 0
    assert n.ok("DELETE", "/queue", 204) is None
    q = n.ok("GET", "/queue")
    assert ids(q) == [] and q["currentIndex"] is None
    assert "entry" not in sub_queue(own) or sub_queue(own)["entry"] == []


def test_play_next_on_empty_queue_and_bad_input(own: Subsonic, own_db: str) -> None:
    n = native(own, own_db)
    a = songs(own)[0]["id"]
    q = n.ok("POST", "/queue/next", json={"trackIds": [a]}, route="/queue/next")
    assert ids(q) == [a] and q["currentIndex"] == 0
    assert n.problem("PUT", "/queue/current", 400, json={"index": 5})["errors"][0]["field"] == "index"
    assert n.problem("POST", "/queue/move", 400, json={"from": 0, "to": 3})["errors"][0]["field"] == "to"
    assert n.problem("DELETE", "/queue/entries/9", 400)
    assert n.problem("DELETE", "/queue/entries/-1", 400)
    assert n.problem("PUT", "/queue", 400, json={"trackIds": [a], "currentIndex": 4})
    assert n.problem("PUT", "/queue", 422, json={"trackIds": [a], "positionMs": -1})
    assert n.problem("POST", "/queue/append", 404, json={"trackIds": ["tr-zzzzzz"]})
    assert n.problem("POST", "/queue/append", 400, json={"trackIds": ["al-1"]})
    assert n.problem("POST", "/queue/append", 422, json={"trackIds": "tr-1"})
    assert ids(n.ok("GET", "/queue")) == [a]  # nothing half-written
    # queues are per user
    assert ids(native(own, own_db, "alice").ok("GET", "/queue")) == []


def test_folder_access_on_the_queue(own: Subsonic, own_db: str) -> None:
    f1, f2 = folder_ids(own)
    add_user(own_db, "erin", "erin-pass", folders=[f1])
    erin: Checked = native(own, own_db, "erin")
    two = songs(own, musicFolderId=f2)[0]["id"]
    one = songs(own, musicFolderId=f1)[0]["id"]
    assert erin.problem("POST", "/queue/append", 404, json={"trackIds": [two]})
    assert ids(erin.ok("POST", "/queue/append", json={"trackIds": [one]}, route="/queue/append")) == [one]
