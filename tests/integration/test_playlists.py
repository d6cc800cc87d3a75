"""Playlists through the real app: write-then-read in XML and JSON (both validated), order and
duplicates, exact counts, who sees and who changes what, bad input, removed tracks, the
5,000-entry playlist and the playlist cover mosaic. Each test has a database of its own (a
clone of the two-folder library, tests/integration/conftest.py)."""

from __future__ import annotations

import asyncio
import io
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from PIL import Image

from tests.conftest import SECRET, Subsonic

BOB = ("bob", "bob-pass")  # folder 2 only, no roles
CAROL = ("carol", "carol-pass")  # all folders, playlist role, not admin


def add_user(
    url: str, name: str, password: str, *, folders: list[int] | None = None, playlist_role: bool = True
) -> None:
    from orbsonic.auth import users
    from orbsonic.auth.passwords import SecretKey

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await users.create_user(conn, SecretKey.from_text(SECRET), name, password)
            await conn.execute(
                "UPDATE users SET folder_ids = %s, can_playlist = %s WHERE username = %s",
                (folders, playlist_role, name),
            )
            await conn.commit()

    asyncio.run(go())


def songs(client: Subsonic, **params: Any) -> list[dict[str, Any]]:
    """Every song (of a musicFolderId), in a stable order (search3 "" pages by id)."""
    return client.raw("search3", query="", songCount=500, albumCount=0, artistCount=0, **params).json()[
        "subsonic-response"
    ]["searchResult3"]["song"]


def folder_ids(client: Subsonic) -> tuple[int, int]:
    folders = client.ok("getMusicFolders")["musicFolders"]["musicFolder"]
    assert len(folders) == 2
    return folders[0]["id"], folders[1]["id"]


def playlist(client: Subsonic, pid: str) -> dict[str, Any]:
    return client.ok("getPlaylist", id=pid)["playlist"]


def entry_ids(pl: dict[str, Any]) -> list[str]:
    return [e["id"] for e in pl.get("entry", [])]


def listed(client: Subsonic, **params: Any) -> dict[str, dict[str, Any]]:
    return {p["id"]: p for p in client.ok("getPlaylists", **params)["playlists"].get("playlist", [])}


def ok_once(client: Subsonic, method: str, fmt: str = "json", **params: Any) -> None:
    """One call (a write must not run twice, as ok() does for XML and JSON), validated."""
    r = client.raw(method, fmt=fmt, **params)
    assert (
        (b'status="ok"' in r.content) if fmt == "xml" else r.json()["subsonic-response"]["status"] == "ok"
    ), r.text


def db_duration_s(url: str, track_ids: list[str]) -> int:
    from orbsonic.ids import parse_id

    ids = [parse_id(t)[1] for t in track_ids]
    with psycopg.connect(url) as conn:
        by_id = dict(conn.execute("SELECT id, duration_ms FROM tracks WHERE id = ANY(%s)", (ids,)).fetchall())
    return round(sum(by_id[i] for i in ids) / 1000)


def create(client: Subsonic, name: str, ids: list[str]) -> dict[str, Any]:
    """createPlaylist once (JSON, validated): the returned playlist."""
    body = client.raw("createPlaylist", name=name, songId=ids).json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body["playlist"]


def test_write_then_read_order_duplicates_and_counts(own: Subsonic, own_db: str) -> None:
    a, b, c, d = (s["id"] for s in songs(own)[:4])
    created = create(own, "Mix", [a, b, a])
    pid = created["id"]
    assert pid.startswith("pl-") and entry_ids(created) == [a, b, a]
    assert created["songCount"] == 3 and created["duration"] == db_duration_s(own_db, [a, b, a])
    assert created["owner"] == "admin" and created["public"] is False and created["readonly"] is False
    assert "coverArt" in created
    pl = playlist(own, pid)
    assert entry_ids(pl) == [a, b, a] and pl["name"] == "Mix"
    assert listed(own)[pid]["songCount"] == 3
    first_changed = pl["changed"]

    # remove indexes 0 and 2 (both copies of a), then append d, d; rename, comment, make public
    ok_once(
        own,
        "updatePlaylist",
        fmt="xml",
        playlistId=pid,
        name="Mix 2",
        comment="for the road",
        public="true",
        songIndexToRemove=[0, 2],
        songIdToAdd=[d, c, d],
    )
    pl = playlist(own, pid)
    assert entry_ids(pl) == [b, d, c, d]
    assert (pl["name"], pl["comment"], pl["public"]) == ("Mix 2", "for the road", True)
    assert pl["songCount"] == 4 and pl["duration"] == db_duration_s(own_db, [b, d, c, d])
    assert pl["changed"] >= first_changed and pl["created"] == created["created"]
    # an index refers to the list as it is before the call; a repeated index removes once
    ok_once(own, "updatePlaylist", playlistId=pid, songIndexToRemove=[1, 1])
    assert entry_ids(playlist(own, pid)) == [b, c, d]
    # an empty comment clears it; an empty name keeps the name
    ok_once(own, "updatePlaylist", playlistId=pid, comment="", name="")
    pl = playlist(own, pid)
    assert pl["comment"] == "" and pl["name"] == "Mix 2"

    # createPlaylist with playlistId replaces the entries (and the name when given)
    body = own.raw("createPlaylist", playlistId=pid, songId=[c, c, a]).json()["subsonic-response"]
    assert body["status"] == "ok" and entry_ids(body["playlist"]) == [c, c, a]
    assert body["playlist"]["id"] == pid and body["playlist"]["name"] == "Mix 2"
    ok_once(own, "createPlaylist", playlistId=pid, name="Renamed")
    pl = playlist(own, pid)
    assert pl["name"] == "Renamed" and pl["songCount"] == 0 and pl.get("entry", []) == []
    assert "coverArt" not in pl

    ok_once(own, "deletePlaylist", id=pid)
    own.fail("getPlaylist", 70, id=pid)
    assert pid not in listed(own)
    with psycopg.connect(own_db) as conn:
        assert conn.execute("SELECT count(*) FROM playlist_entries").fetchone() == (0,)


def test_xml_shape(own: Subsonic) -> None:
    """XML: allowedUser before entry (XSD sequence), public/owner/songCount present (DSub)."""
    a = songs(own)[0]["id"]
    pid = create(own, "Shape", [a])["id"]
    xml = own.raw("getPlaylist", fmt="xml", id=pid).text
    assert 'public="false"' in xml and 'owner="admin"' in xml and 'songCount="1"' in xml
    assert f'<entry id="{a}"' in xml
    legacy = Subsonic(own.http, client="DSub", version="1.2.0")
    legacy_xml = legacy.raw("getPlaylists", fmt="xml").text  # validated against the plain 1.16.1 XSD
    assert f'id="{pid}"' in legacy_xml and "readonly" not in legacy_xml


def test_users_see_and_change_only_what_they_may(own: Subsonic, own_db: str) -> None:
    _, f2 = folder_ids(own)
    add_user(own_db, *BOB, folders=[f2], playlist_role=False)
    add_user(own_db, *CAROL)
    alice, bob, carol = own.as_user("alice", "alice-pass"), own.as_user(*BOB), own.as_user(*CAROL)
    everything = songs(own)
    in_f2 = [s["id"] for s in songs(own, musicFolderId=f2)]
    in_f1 = [s["id"] for s in everything if s["id"] not in in_f2]
    assert in_f2 and in_f1

    private = create(alice, "Alice private", [in_f1[0], in_f2[0]])["id"]
    public = create(alice, "Alice public", [in_f1[0], in_f2[0], in_f2[1]])["id"]
    ok_once(alice, "updatePlaylist", playlistId=public, public=True)

    # reading: the owner sees both; others see the public one only
    assert {private, public} <= set(listed(alice))
    for other in (bob, carol):
        seen = listed(other)
        assert public in seen and private not in seen
        other.fail("getPlaylist", 70, id=private)
    # bob reads only the folder-2 entries of the public playlist, and counts only those
    pl = playlist(bob, public)
    assert entry_ids(pl) == in_f2[:2] and pl["songCount"] == 2 and listed(bob)[public]["songCount"] == 2
    assert pl["readonly"] is True and listed(alice)[public]["readonly"] is False
    assert playlist(carol, public)["songCount"] == 3
    # … also once every entry's song is cached (the song cache knows each track's folder)
    assert entry_ids(playlist(alice, public)) == [in_f1[0], in_f2[0], in_f2[1]]
    pl = playlist(bob, public)
    assert entry_ids(pl) == in_f2[:2] and pl["songCount"] == 2

    # writing: no playlist role → 50; a role but not the owner → 50; a private one is not found → 70
    bob.fail("createPlaylist", 50, name="Nope", songId=in_f2[0])
    bob.fail("updatePlaylist", 50, playlistId=public, name="Bob's now")
    carol.fail("updatePlaylist", 50, playlistId=public, name="Carol's now")
    carol.fail("deletePlaylist", 50, id=public)
    carol.fail("createPlaylist", 50, playlistId=public, songId=in_f1[0])
    carol.fail("updatePlaylist", 70, playlistId=private, name="Carol's now")
    carol.fail("deletePlaylist", 70, id=private)
    assert playlist(alice, public)["name"] == "Alice public"
    assert entry_ids(playlist(alice, private)) == [in_f1[0], in_f2[0]]
    # a track outside the writer's folders is not found (70), never 50
    add_user(own_db, "dora", "dora-pass", folders=[f2])
    dora = own.as_user("dora", "dora-pass")
    dora.fail("createPlaylist", 70, name="Dora", songId=in_f1[0])

    # username: admins list what that user sees; others may not ask
    alice.fail("getPlaylists", 50, username="admin")
    assert set(listed(alice, username="alice")) == set(listed(alice))
    as_alice = listed(own, username="alice")
    assert {private, public} <= set(as_alice)
    own.fail("getPlaylists", 70, username="nobody")
    # admins read and write anyone's playlist
    assert entry_ids(playlist(own, private)) == [in_f1[0], in_f2[0]]
    ok_once(own, "updatePlaylist", playlistId=private, songIdToAdd=in_f1[1])
    assert entry_ids(playlist(alice, private)) == [in_f1[0], in_f2[0], in_f1[1]]
    ok_once(own, "deletePlaylist", id=private)
    alice.fail("getPlaylist", 70, id=private)


def test_bad_input_writes_nothing(own: Subsonic, own_db: str) -> None:
    a, b = (s["id"] for s in songs(own)[:2])
    album = own.ok("getAlbumList2", type="alphabeticalByName", size=1)["albumList2"]["album"][0]["id"]
    pid = create(own, "Keep", [a, b])["id"]

    def state() -> tuple[Any, ...]:
        with psycopg.connect(own_db) as conn:
            return (
                conn.execute(
                    "SELECT id, name, comment, public, changed_at FROM playlists ORDER BY id"
                ).fetchall(),
                conn.execute("SELECT * FROM playlist_entries ORDER BY 1, 2").fetchall(),
            )

    before = state()
    own.fail("createPlaylist", 10)  # neither name nor playlistId
    own.fail("createPlaylist", 70, name="X", songId=[a, album])  # a song id of the wrong kind
    own.fail("createPlaylist", 70, name="X", songId=[a, "tr-zzzzzzzz"])  # unknown song
    own.fail("createPlaylist", 70, playlistId="pl-zzzzzz", songId=a)
    own.fail("createPlaylist", 70, playlistId=album, songId=a)
    own.fail("updatePlaylist", 10)
    own.fail("updatePlaylist", 10, playlistId=pid, name="Changed", songIndexToRemove=2)  # out of range
    own.fail("updatePlaylist", 10, playlistId=pid, songIndexToRemove=-1)
    err = own.fail("updatePlaylist", 0, playlistId=pid, name="Changed", songIndexToRemove="first")
    assert "songIndexToRemove" in err["message"] and "integer" in err["message"]
    err = own.fail("updatePlaylist", 0, playlistId=pid, public="maybe")
    assert "public" in err["message"]
    own.fail("updatePlaylist", 70, playlistId=pid, name="Changed", songIdToAdd=[b, "tr-zzzzzzzz"])
    own.fail("updatePlaylist", 0, playlistId=pid, name="x" * 1001)
    own.fail("getPlaylist", 10)
    own.fail("getPlaylist", 70, id="pl-zzzzzz")
    own.fail("getPlaylist", 70, id=a)
    own.fail("getPlaylist", 70, id="nonsense")
    own.fail("deletePlaylist", 10)
    own.fail("deletePlaylist", 70, id="pl-zzzzzz")
    assert state() == before
    own.fail("createPlaylist", 0, name="   ")
    assert state() == before


def test_a_removed_track_leaves_the_list_not_the_positions(own: Subsonic, own_db: str) -> None:
    a, b, c, d = (s["id"] for s in songs(own)[:4])
    pid = create(own, "Holes", [a, b, c, b])["id"]
    from orbsonic.ids import parse_id

    with psycopg.connect(own_db) as conn:  # what a scan does when b's file is deleted
        conn.execute("DELETE FROM tracks WHERE id = %s", (parse_id(b)[1],))
    pl = playlist(own, pid)
    assert (
        entry_ids(pl) == [a, c] and pl["songCount"] == 2 and pl["duration"] == db_duration_s(own_db, [a, c])
    )
    assert listed(own)[pid]["songCount"] == 2
    # indexes count in the visible list: index 1 is c
    ok_once(own, "updatePlaylist", playlistId=pid, songIndexToRemove=1, songIdToAdd=d)
    assert entry_ids(playlist(own, pid)) == [a, d]
    own.fail("updatePlaylist", 10, playlistId=pid, songIndexToRemove=2)


def test_a_playlist_of_5000_entries(own: Subsonic, own_db: str) -> None:
    """Built with one formPost createPlaylist, read back whole and in order (ids, then one
    hydrating query). The benchmark measures its time; here the content is checked."""
    pool = [s["id"] for s in songs(own)]
    ids = [pool[(n * 7) % len(pool)] for n in range(5000)]
    form = [*own.auth().items(), ("f", "json"), ("name", "Huge"), *(("songId", i) for i in ids)]
    # Not validated: the schema check of 5,000 entries takes half a minute (shapes are validated
    # on the small playlists above).
    r = own.http.post(
        "/rest/createPlaylist",
        content=urlencode(form),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    body = r.json()["subsonic-response"]
    assert body["status"] == "ok" and body["playlist"]["songCount"] == 5000
    pid = body["playlist"]["id"]
    r = own.http.get("/rest/getPlaylist", params={**own.auth(), "f": "json", "id": pid})  # big: not validated
    pl = r.json()["subsonic-response"]["playlist"]
    assert entry_ids(pl) == ids and pl["songCount"] == 5000
    xml = own.http.get("/rest/getPlaylist", params={**own.auth(), "id": pid}).text
    assert xml.count("<entry ") == 5000
    # the ids come from the primary key index alone (it carries track_id), in position order
    from orbsonic.ids import parse_id

    with psycopg.connect(own_db) as conn:
        conn.execute("ANALYZE playlist_entries")
        plan = "\n".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT track_id FROM playlist_entries WHERE playlist_id = %s ORDER BY position",
                (parse_id(pid)[1],),
            ).fetchall()
        )
    assert "Index Only Scan using playlist_entries_pkey" in plan and "Sort" not in plan, plan


def _image(r: Any) -> Image.Image:
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), r.text[:300]
    return Image.open(io.BytesIO(r.content))


def _cover(client: Subsonic, cover: str, **params: Any) -> Any:
    return client.raw("getCoverArt", fmt=None, id=cover, **params)


def test_playlist_cover_is_a_mosaic_of_the_first_albums(own: Subsonic) -> None:
    albums = [
        a
        for a in own.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]
        if "coverArt" in a
    ]
    assert len(albums) >= 5
    firsts = [own.ok("getAlbum", id=a["id"])["album"]["song"][0]["id"] for a in albums[:5]]
    # the first album twice: four distinct albums make the mosaic, the fifth is not in it
    pl = create(own, "Covers", [firsts[0], firsts[0], *firsts[1:]])
    img = _image(_cover(own, pl["coverArt"]))
    assert img.size == (600, 600)
    # each quarter is the colour of one album cover (covers are flat colours in the test library)
    tiles = [_image(_cover(own, a["coverArt"], size=8)).convert("RGB").getpixel((4, 4)) for a in albums[:4]]
    quarters = [
        img.convert("RGB").getpixel((x, y)) for x, y in ((150, 150), (450, 150), (150, 450), (450, 450))
    ]
    for tile, quarter in zip(tiles, quarters):
        assert all(abs(t - q) <= 24 for t, q in zip(tile, quarter)), (tiles, quarters)
    assert _image(_cover(own, pl["coverArt"], size=100)).size == (100, 100)
    # one album: that album's cover
    single = create(own, "One", [firsts[2]])
    assert _cover(own, single["coverArt"]).content == _cover(own, albums[2]["coverArt"]).content
    # a private playlist's cover is not found for another user
    _cover_fail = own.as_user("alice", "alice-pass").raw("getCoverArt", id=pl["coverArt"]).json()
    assert _cover_fail["subsonic-response"]["error"]["code"] == 70


@pytest.mark.parametrize("fmt", ["xml", "json"])
def test_empty_playlists_list(own: Subsonic, fmt: str) -> None:
    r = own.as_user("alice", "alice-pass").raw("getPlaylists", fmt=fmt)
    assert r.status_code == 200
    if fmt == "json":
        assert r.json()["subsonic-response"]["playlists"] == {"playlist": []}
    else:
        assert "<playlists/>" in r.text or "<playlists></playlists>" in r.text


def test_a_shared_playlist_is_seen_not_changed(own: Subsonic, own_db: str) -> None:
    """playlist_users (Subsonic allowedUser): the user it is shared with sees it; only the
    owner writes. There is no Subsonic method to share; the native API will write the rows."""
    add_user(own_db, *CAROL)
    alice, carol = own.as_user("alice", "alice-pass"), own.as_user(*CAROL)
    a = songs(own)[0]["id"]
    pid = create(alice, "For Carol", [a])["id"]
    assert pid not in listed(carol)
    from orbsonic.ids import parse_id

    with psycopg.connect(own_db) as conn:
        conn.execute(
            "INSERT INTO playlist_users SELECT %s, id FROM users WHERE username = 'carol'",
            (parse_id(pid)[1],),
        )
    seen = listed(carol)[pid]
    assert seen["allowedUser"] == ["carol"] and seen["readonly"] is True
    assert entry_ids(playlist(carol, pid)) == [a]
    assert "<allowedUser>carol</allowedUser>" in carol.raw("getPlaylists", fmt="xml").text
    carol.fail("updatePlaylist", 50, playlistId=pid, songIdToAdd=a)
