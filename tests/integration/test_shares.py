"""Shares: createShare/getShares/updateShare/deleteShare through the validating client, and
the public /share/<token> page, stream and cover over real HTTP (uvicorn on loopback).
Every test writes, so each gets its own clone of the two-folder library."""

from __future__ import annotations

import html
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.calls import album, fail_once, ok_once
from tests.conftest import LiveServer, Subsonic, make_app, users_sql
from tests.integration.conftest import Library

FUTURE_MS = int((time.time() + 86_400) * 1000)


def sql(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def alice(client: Subsonic) -> Subsonic:
    return client.as_user("alice", "alice-pass")


def create(client: Subsonic, **params: Any) -> dict[str, Any]:
    (share,) = ok_once(client, "createShare", **params)["shares"]["share"]
    return share


def shares(client: Subsonic) -> list[dict[str, Any]]:
    return client.ok("getShares")["shares"].get("share", [])


def token_of(share: dict[str, Any]) -> str:
    return share["url"].rsplit("/share/", 1)[1]


# ---------------------------------------------------------------------------- the API


def test_share_write_then_read(own, own_db):
    ves, abbey = album(own, "Vespertine"), album(own, "Abbey Road")
    song = ves["song"][1]
    share = create(own, id=[song["id"], abbey["id"]], description="for Bob", expires=FUTURE_MS)
    assert share["username"] == "admin" and share["description"] == "for Bob" and share["visitCount"] == 0
    assert "/share/" in share["url"] and len(token_of(share)) >= 22 and "lastVisited" not in share
    assert share["expires"].startswith(time.strftime("%Y-%m-%d", time.gmtime(FUTURE_MS / 1000)))
    assert [e["id"] for e in share["entry"]] == [song["id"]] + [s["id"] for s in abbey["song"]]
    assert shares(own) == [share]
    # two shares of the same songs have different tokens
    other = create(own, id=song["id"])
    assert token_of(other) != token_of(share) and "expires" not in other
    ok_once(own, "updateShare", id=share["id"], description="for Bob and Ann", expires=0)
    got = next(s for s in shares(own) if s["id"] == share["id"])
    assert got["description"] == "for Bob and Ann" and "expires" not in got
    ok_once(own, "updateShare", id=share["id"], expires=FUTURE_MS)
    got = next(s for s in shares(own) if s["id"] == share["id"])
    assert got["description"] == "for Bob and Ann" and "expires" in got
    ok_once(own, "deleteShare", id=share["id"])
    assert [s["id"] for s in shares(own)] == [other["id"]]
    fail_once(own, "deleteShare", 70, id=share["id"])
    assert sql(own_db, "SELECT count(*) FROM share_entries") == [(1,)]


def test_share_roles_and_ownership(own, own_db):
    a = alice(own)
    song = album(own, "Vespertine")["song"][0]
    fail_once(a, "createShare", 50, id=song["id"])
    fail_once(a, "getShares", 50)
    mine = create(own, id=song["id"])
    grant(own, shareRole=True)
    hers = create(a, id=song["id"], description="alice's")
    assert hers["username"] == "alice"
    assert [s["id"] for s in shares(a)] == [hers["id"]]
    assert [s["id"] for s in shares(own)] == [mine["id"], hers["id"]]  # admins manage every share
    fail_once(a, "updateShare", 70, id=mine["id"], description="mine now")
    fail_once(a, "deleteShare", 70, id=mine["id"])
    ok_once(own, "updateShare", id=hers["id"], description="edited by the admin")
    assert shares(a)[0]["description"] == "edited by the admin"
    assert sql(own_db, "SELECT description FROM shares ORDER BY id") == [("",), ("edited by the admin",)]


def test_share_bad_input_writes_nothing(own, own_db):
    song = album(own, "Vespertine")["song"][0]
    artist_id = song["artistId"]
    fail_once(own, "createShare", 10)
    fail_once(own, "createShare", 70, id=[song["id"], "tr-zzzzzzzzzz"])
    fail_once(own, "createShare", 70, id=artist_id)  # artists are not shareable
    fail_once(own, "createShare", 70, id="nonsense")
    for bad in ({"expires": "tomorrow"}, {"expires": 1_000_000_000_000}, {"expires": -5},
                {"description": "x" * 3000}):
        err = fail_once(own, "createShare", 0, id=song["id"], **bad)
        assert next(iter(bad)) in err["message"]
    assert sql(own_db, "SELECT count(*) FROM shares") == [(0,)]
    share = create(own, id=song["id"])
    fail_once(own, "updateShare", 10)
    fail_once(own, "updateShare", 70, id="abc")
    fail_once(own, "deleteShare", 70, id="²")  # "²".isdigit() is true: int() would fail
    fail_once(own, "updateShare", 70, id="999999")
    fail_once(own, "updateShare", 0, id=share["id"], expires="soon")
    fail_once(own, "deleteShare", 10)


def grant(admin: Subsonic, **changes: Any) -> None:
    """The admin changes alice through updateUser. Not by SQL: the server's credential cache
    learns of a hand-made change by NOTIFY a little after the commit, and a request right
    after it may still see the old roles (test_share_roles_and_ownership failed so once)."""
    ok_once(admin, "updateUser", username="alice", **changes)


def extra_folder(url: str) -> int:
    return sql(url, "SELECT id FROM music_folders WHERE path LIKE '%%/extra'")[0][0]


def test_shares_respect_folder_access(own, own_db):
    users_sql(own_db, "UPDATE users SET can_share = true, folder_ids = %s WHERE username = 'alice'",
        ([extra_folder(own_db)],))
    a = alice(own)
    ves = album(own, "Vespertine")  # in folder 1
    fail_once(a, "createShare", 70, id=ves["song"][0]["id"])
    fail_once(a, "createShare", 70, id=ves["id"])
    quux = album(own, "Quuxtone Live")
    share = create(a, id=quux["id"])
    assert [e["title"] for e in share["entry"]] == ["Quuxtone Opening", "Quuxtone Closing"]
    # an admin's share of folder 1 shows alice nothing of it, and she cannot manage it anyway
    create(own, id=ves["id"])
    assert [s["id"] for s in shares(a)] == [share["id"]]


# ---------------------------------------------------------------------------- the public page


@pytest.fixture
def live(own_db: str, two_folder_template: Library, tmp_path: Path) -> Iterator[LiveServer]:
    with LiveServer(make_app(own_db, tmp_path, two_folder_template[1])) as server:
        yield server


def song_file(url: str, public_id: str) -> bytes:
    from orbsonic.ids import parse_id

    ((root, rel),) = sql(url, "SELECT f.path, t.path FROM tracks t JOIN music_folders f ON f.id = t.folder_id"
                              " WHERE t.id = %s", (parse_id(public_id)[1],))
    return (Path(root) / rel).read_bytes()


def test_share_page_stream_and_cover_over_http(own, own_db, live):
    ves = album(own, "Vespertine")
    share = create(own, id=[ves["song"][2]["id"], ves["id"]], description="Vespertine <3 & more")
    base = f"{live.url}/share/{token_of(share)}"
    with httpx.Client(timeout=10) as http:
        page = http.get(base)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert page.headers["referrer-policy"] == "no-referrer"
        assert "Vespertine &lt;3 &amp; more" in page.text and "<3 &" not in page.text
        # the song, then the album's other songs (a song shared twice is listed once)
        listed = [ves["song"][2], ves["song"][0], ves["song"][1]]
        assert [e["id"] for e in share["entry"]] == [s["id"] for s in listed]
        for n, s in enumerate(listed):
            assert f'/share/{token_of(share)}/stream/{n}"' in page.text
            assert html.escape(s["title"]) in page.text
        assert f"/stream/{len(listed)}" not in page.text
        got = next(s for s in shares(own) if s["id"] == share["id"])
        assert got["visitCount"] == 1 and "lastVisited" in got
        http.get(base)
        assert http.head(base).status_code == 200
        assert next(s for s in shares(own) if s["id"] == share["id"])["visitCount"] == 2
        # entry 1 is the album's first song
        data = song_file(own_db, ves["song"][0]["id"])
        full = http.get(f"{base}/stream/1")
        assert full.status_code == 200 and full.content == data
        assert full.headers["accept-ranges"] == "bytes"
        part = http.get(f"{base}/stream/1", headers={"Range": "bytes=10-109"})
        assert part.status_code == 206 and part.content == data[10:110]
        assert part.headers["content-range"] == f"bytes 10-109/{len(data)}"
        assert http.get(f"{base}/stream/1", headers={"Range": f"bytes={len(data) + 5}-"}).status_code == 416
        head = http.head(f"{base}/stream/0")
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(
            song_file(own_db, ves["song"][2]["id"]))
        cover = http.get(f"{base}/cover/0", params={"size": 64})
        assert "coverArt" in ves  # the test library's Vespertine has a folder image
        assert cover.status_code == 200 and cover.headers["content-type"].startswith("image/")
        from PIL import Image

        with Image.open(io.BytesIO(cover.content)) as img:
            assert max(img.size) <= 64
        # only the share's own entries, by position: nothing else is reachable
        assert http.get(f"{base}/stream/3").status_code == 404
        assert http.get(f"{base}/stream/-1").status_code == 404
        assert http.get(f"{base}/stream/abc").status_code == 404
        assert http.get(f"{base}/stream/²").status_code == 404  # "²".isdigit() is true
        assert http.get(f"{base}/cover/0", params={"size": "²"}).status_code == 200
        token = token_of(share)
        wrong = token[:-1] + ("x" if token[-1] != "x" else "y")  # one character off, never the same
        assert http.get(f"{live.url}/share/{wrong}").status_code == 404
        assert http.get(f"{live.url}/share/nope/stream/0").status_code == 404
        # the visits counted are the page's only
        assert next(s for s in shares(own) if s["id"] == share["id"])["visitCount"] == 2


def test_expired_and_deleted_shares_are_gone(own, own_db, live):
    song = album(own, "Vespertine")["song"][0]
    share = create(own, id=song["id"], expires=FUTURE_MS)
    base = f"{live.url}/share/{token_of(share)}"
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{base}/stream/0").status_code == 200
        sql(own_db, "UPDATE shares SET expires_at = now() - interval '1 second'")
        for url in (base, f"{base}/stream/0", f"{base}/cover/0"):
            assert http.get(url).status_code == 410, url
        assert next(s for s in shares(own))["visitCount"] == 0
        ok_once(own, "updateShare", id=share["id"], expires=0)  # 0 removes the expiry
        assert http.get(f"{base}/stream/0").status_code == 200
        ok_once(own, "deleteShare", id=share["id"])
        assert http.get(base).status_code == 404 and http.get(f"{base}/stream/0").status_code == 404


def test_share_follows_its_owners_folder_access(own, own_db, live):
    grant(own, shareRole=True)
    a = alice(own)
    ves = album(own, "Vespertine")
    share = create(a, id=ves["id"])
    base = f"{live.url}/share/{token_of(share)}"
    with httpx.Client(timeout=10) as http:
        assert http.get(f"{base}/stream/0").status_code == 200
        # the admin narrows alice to the other folder: her share no longer opens folder 1
        users_sql(own_db, "UPDATE users SET folder_ids = %s WHERE username = 'alice'", ([extra_folder(own_db)],))
        assert http.get(f"{base}/stream/0").status_code == 404
        page = http.get(base)
        assert page.status_code == 200 and ves["song"][0]["title"] not in page.text


# ---------------------------------------------------------------------------- playlists


def playlist(client: Subsonic, name: str, ids: list[str]) -> str:
    return ok_once(client, "createPlaylist", name=name, songId=ids)["playlist"]["id"]


def share_of(client: Subsonic, share: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in shares(client) if s["id"] == share["id"])


def test_playlist_share_follows_the_playlist_then_is_gone(own, own_db, live):
    ves, quux = album(own, "Vespertine")["song"], album(own, "Quuxtone Live")["song"]
    order = [ves[1], quux[0], ves[0], ves[1]]  # a duplicate entry stays: it is the playlist's order
    pid = playlist(own, "Mix", [s["id"] for s in order])
    assert pid.startswith("pl-")
    share = create(own, id=pid, description="my mix")
    assert [e["id"] for e in share["entry"]] == [s["id"] for s in order]
    base = f"{live.url}/share/{token_of(share)}"
    with httpx.Client(timeout=10) as http:
        page = http.get(base)
        assert page.status_code == 200 and "my mix" in page.text
        assert f"/stream/{len(order) - 1}\"" in page.text and f"/stream/{len(order)}\"" not in page.text
        for n, s in enumerate(order):
            assert http.get(f"{base}/stream/{n}").content == song_file(own_db, s["id"])
        # the share follows the playlist: an entry removed, one added
        ok_once(own, "updatePlaylist", playlistId=pid, songIndexToRemove=0, songIdToAdd=quux[1]["id"])
        now = [quux[0], ves[0], ves[1], quux[1]]
        assert [e["id"] for e in share_of(own, share)["entry"]] == [s["id"] for s in now]
        assert http.get(f"{base}/stream/3").content == song_file(own_db, quux[1]["id"])
        assert http.get(f"{base}/stream/4").status_code == 404
        # createPlaylist playlistId=… replaces the entries: the share shows the new ones
        ok_once(own, "createPlaylist", playlistId=pid, songId=[ves[2]["id"]])
        assert [e["id"] for e in share_of(own, share)["entry"]] == [ves[2]["id"]]
        assert http.get(f"{base}/stream/0").content == song_file(own_db, ves[2]["id"])
        # an emptied playlist still exists: the page is there, with nothing to play
        ok_once(own, "updatePlaylist", playlistId=pid, songIndexToRemove=0)
        assert "entry" not in share_of(own, share) or share_of(own, share)["entry"] == []
        empty = http.get(base)
        assert empty.status_code == 200 and "Nothing to play here" in empty.text
        # a deleted playlist: the link is gone for good (410); the owner still sees the share
        # (no entries) in getShares and may delete it
        ok_once(own, "updatePlaylist", playlistId=pid, songIdToAdd=ves[0]["id"])
        ok_once(own, "deletePlaylist", id=pid)
        for url in (base, f"{base}/stream/0", f"{base}/cover/0"):
            assert http.get(url).status_code == 410, url
        assert share_of(own, share).get("entry", []) == []
        visits = share_of(own, share)["visitCount"]
        http.get(base)
        assert share_of(own, share)["visitCount"] == visits  # a gone share counts no visit
        ok_once(own, "deleteShare", id=share["id"])
        assert http.get(base).status_code == 404


def test_mixed_share_keeps_its_other_entries_when_the_playlist_goes(own, own_db, live):
    ves = album(own, "Vespertine")["song"]
    pid = playlist(own, "Short", [ves[0]["id"]])
    share = create(own, id=[pid, ves[2]["id"]])
    assert [e["id"] for e in share["entry"]] == [ves[0]["id"], ves[2]["id"]]
    ok_once(own, "deletePlaylist", id=pid)
    assert [e["id"] for e in share_of(own, share)["entry"]] == [ves[2]["id"]]
    with httpx.Client(timeout=10) as http:
        base = f"{live.url}/share/{token_of(share)}"
        assert http.get(base).status_code == 200
        assert http.get(f"{base}/stream/0").content == song_file(own_db, ves[2]["id"])


def test_playlist_shares_respect_ownership_and_folders(own, own_db, live):
    """B (alice) may share her own playlists and public ones, never another user's private
    playlist (nor one only shared with her by name); only tracks in her folders are listed."""
    grant(own, shareRole=True, playlistRole=True)
    a = alice(own)
    ves, quux = album(own, "Vespertine")["song"], album(own, "Quuxtone Live")["song"]
    private = playlist(own, "Admin's own", [ves[0]["id"], quux[0]["id"]])
    fail_once(a, "createShare", 70, id=private)
    fail_once(a, "createShare", 70, id=[quux[1]["id"], private])  # all or nothing
    assert sql(own_db, "SELECT count(*) FROM shares") == [(0,)]
    # shared with alice by name: she may play it, not hand it out to the world
    sql(own_db, "INSERT INTO playlist_users (playlist_id, user_id) SELECT %s, id FROM users"
                " WHERE username = 'alice'", (int(private.split("-")[1], 36),))
    assert a.ok("getPlaylist", id=private)["playlist"]["id"] == private
    fail_once(a, "createShare", 70, id=private)
    # public: alice may share it; with only the extra folder, she shares only its songs
    ok_once(own, "updatePlaylist", playlistId=private, public=True)
    grant(own, musicFolderId=extra_folder(own_db))
    hers = create(a, id=private)
    assert [e["id"] for e in hers["entry"]] == [quux[0]["id"]]
    base = f"{live.url}/share/{token_of(hers)}"
    with httpx.Client(timeout=10) as http:
        page = http.get(base)
        assert page.status_code == 200 and quux[0]["title"] in page.text and ves[0]["title"] not in page.text
        assert http.get(f"{base}/stream/0").content == song_file(own_db, quux[0]["id"])
        assert http.get(f"{base}/stream/1").status_code == 404
        # made private again by its owner: alice's link no longer plays it (checked at each read)
        ok_once(own, "updatePlaylist", playlistId=private, public=False)
        assert http.get(f"{base}/stream/0").status_code == 404
        assert share_of(a, hers).get("entry", []) == []
        assert http.get(base).status_code == 200  # not deleted: just nothing alice may share
    # her own private playlist she may share; the admin may share anyone's
    mine = ok_once(a, "createPlaylist", name="Alice's", songId=[quux[1]["id"]])["playlist"]["id"]
    assert [e["id"] for e in create(a, id=mine)["entry"]] == [quux[1]["id"]]
    assert [e["id"] for e in create(own, id=mine)["entry"]] == [quux[1]["id"]]
    fail_once(a, "createShare", 70, id="pl-zzzzzz")
