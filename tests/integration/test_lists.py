"""Album and song lists: getAlbumList/getAlbumList2 (every type), getRandomSongs,
getSongsByGenre, getStarred/getStarred2, checked against bench.libgen's manifest.

Read-only checks use the shared `api`. Tests that write (star, rate, scrobble), need a
second music folder or a library larger than the size caps get a database of their own,
cloned from a module template scanned here (the shared library_db stays untouched).
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import Subsonic
from tests.integration.conftest import album_of, bulk_up, serve, sort_key, unvalidated

UNKNOWN_ALBUM = "[Unknown Album]"


# ---------------------------------------------------------------------------- helpers


def readable(manifest: Any) -> list[Any]:
    return [e for e in manifest.files if e.readable]


def album_years(manifest: Any) -> dict[str, int]:
    """Album name → year (the newest track year), for albums with a year (named albums only)."""
    out: dict[str, int] = {}
    for e in readable(manifest):
        if e.album and e.year:
            out[e.album] = max(out.get(e.album, 0), e.year)
    return out


def names(albums: list[dict[str, Any]], key: str = "name") -> list[str]:
    return [a[key] for a in albums]


def once(client: Subsonic, method: str, **params: Any) -> None:
    """Call a method once, in JSON (ok() calls twice: XML then JSON; scrobble is not idempotent)."""
    body = client.raw(method, **params).json()["subsonic-response"]
    assert body["status"] == "ok", body


def album_ids(client: Subsonic, method: str = "getAlbumList2", **params: Any) -> list[str]:
    key = "albumList2" if method == "getAlbumList2" else "albumList"
    return [a["id"] for a in client.ok(method, **params)[key]["album"]]


def find_album(client: Subsonic, name: str) -> dict[str, Any]:
    found = [a for a in client.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]
             if a["name"] == name]
    assert len(found) == 1, name
    return found[0]


# ---------------------------------------------------------------------------- orders


def test_alphabetical_by_name(api, test_library):
    _, manifest = test_library
    albums = api.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]
    expected = sorted({name for _artist, name in album_of(manifest).values()})
    assert sorted(names(albums)) == expected  # album-less files: one album of their folder, "Unsorted"
    assert UNKNOWN_ALBUM not in names(albums) and "Unsorted" in names(albums)
    assert [sort_key(n) for n in names(albums)] == sorted(sort_key(n) for n in names(albums))
    # articles are ignored: "The Fragile" under F, "The Wall" under W
    order = names(albums)
    assert order.index("Ágætis byrjun") < order.index("The Fragile") < order.index("Kind of Blue")
    assert order.index("Vespertine") < order.index("The Wall")
    legacy = api.ok("getAlbumList", type="alphabeticalByName", size=500)["albumList"]["album"]
    assert [a["id"] for a in legacy] == [a["id"] for a in albums]
    assert all(a["isDir"] is True and a["title"] == b["name"] for a, b in zip(legacy, albums))


def test_alphabetical_by_artist(api, test_library):
    _, manifest = test_library
    sort_artist: dict[str, str] = {}
    for e in readable(manifest):
        artist = e.album_artist or e.artist_display or (e.artists or ["[Unknown Artist]"])[0]
        sort_artist[artist] = e.extra.get("sort_album_artist") or artist
    albums = api.ok("getAlbumList2", type="alphabeticalByArtist", size=500)["albumList2"]["album"]
    keys = [(sort_key(sort_artist[a["artist"]]), sort_key(a["name"])) for a in albums]
    assert keys == sorted(keys)
    artists = [a["artist"] for a in albums]
    assert artists.index("The Beatles") < artists.index("Björk")  # "Beatles, The"
    assert artists.index("Pink Floyd") < artists.index("坂本龍一") < artists.index("Sigur Rós")  # "Sakamoto"
    assert album_ids(api, "getAlbumList", type="alphabeticalByArtist", size=500) == [a["id"] for a in albums]


def test_newest_and_random(api):
    every = set(album_ids(api, type="alphabeticalByName", size=500))
    newest = api.ok("getAlbumList2", type="newest", size=500)["albumList2"]["album"]
    assert {a["id"] for a in newest} == every
    created = [a["created"] for a in newest]
    assert created == sorted(created, reverse=True)
    assert album_ids(api, "getAlbumList", type="newest", size=4) == [a["id"] for a in newest[:4]]
    for method in ("getAlbumList2", "getAlbumList"):
        assert set(album_ids(api, method, type="random", size=500)) == every
        some = album_ids(api, method, type="random", size=5)
        assert len(some) == len(set(some)) == 5 and set(some) <= every
    assert album_ids(api, type="random") and len(album_ids(api, type="random")) == 10  # default size


@pytest.mark.parametrize("lo,hi", [(1990, 2000), (1999, 1999), (1950, 1980), (2000, 1990), (1980, 1950)])
def test_by_year(api, test_library, lo, hi):
    _, manifest = test_library
    years = album_years(manifest)
    low, high = min(lo, hi), max(lo, hi)
    expected = {n for n, y in years.items() if low <= y <= high}
    for method, key in (("getAlbumList2", "albumList2"), ("getAlbumList", "albumList")):
        albums = api.ok(method, type="byYear", fromYear=lo, toYear=hi, size=500)[key]["album"]
        got = [a["name" if key == "albumList2" else "title"] for a in albums]
        assert set(got) == expected and len(got) == len(expected)
        got_years = [a["year"] for a in albums]
        assert got_years == sorted(got_years, reverse=lo > hi), "fromYear > toYear: newest first"
    assert expected, "the range is not empty"


def test_by_year_paging_descending(api):
    full = album_ids(api, type="byYear", fromYear=2030, toYear=1900, size=500)
    paged = list(itertools.chain.from_iterable(
        album_ids(api, type="byYear", fromYear=2030, toYear=1900, size=3, offset=o) for o in range(0, len(full), 3)))
    assert paged == full


def test_by_genre(api, test_library):
    _, manifest = test_library
    for genre in ("Rock", "Electronic", "Ambient", "Funk", "Cello"):
        expected = {album_of(manifest)[e.path][1] for e in readable(manifest) if genre in e.genres}
        albums = api.ok("getAlbumList2", type="byGenre", genre=genre, size=500)["albumList2"]["album"]
        assert {a["name"] for a in albums} == expected and len(albums) == len(expected), genre
        legacy = api.ok("getAlbumList", type="byGenre", genre=genre, size=500)["albumList"]["album"]
        assert [a["id"] for a in legacy] == [a["id"] for a in albums]
    rock = api.ok("getAlbumList2", type="byGenre", genre="Rock", size=500)["albumList2"]["album"]
    assert [a["name"] for a in rock] == ["Abbey Road", "The Wall"]  # by name, articles ignored
    # genres are matched without regard to case; an unknown genre is an empty list
    assert album_ids(api, type="byGenre", genre="rock", size=500) == album_ids(api, type="byGenre", genre="Rock")
    assert album_ids(api, type="byGenre", genre="No Such Genre") == []
    electronic = album_ids(api, type="byGenre", genre="Electronic", size=500)
    assert album_ids(api, type="byGenre", genre="Electronic", size=2, offset=1) == electronic[1:3]


@pytest.mark.parametrize("method", ["getAlbumList2", "getAlbumList"])
def test_paging_concatenates(api, method):
    full = album_ids(api, method, type="alphabeticalByName", size=500)
    assert len(full) == len(set(full))
    for size in (1, 2, 3, 5, 7):
        pages: list[str] = []
        for offset in itertools.count(0, size):
            page = album_ids(api, method, type="alphabeticalByName", size=size, offset=offset)
            assert len(page) <= size
            if not page:
                break
            pages += page
        assert pages == full, size
    assert album_ids(api, method, type="alphabeticalByName", size=10, offset=len(full)) == []
    assert album_ids(api, method, type="alphabeticalByName") == full[:10]  # default size 10


def test_album_list_errors(api):
    for method in ("getAlbumList", "getAlbumList2"):
        err = api.fail(method, 0, type="bogus")
        assert "type" in err["message"] and "internal" not in err["message"]
        api.fail(method, 10)
        api.fail(method, 10, type="byYear", toYear=2000)
        api.fail(method, 10, type="byYear", fromYear=2000)
        api.fail(method, 10, type="byGenre")
        api.fail(method, 70, type="newest", musicFolderId=424242)


def test_dsub_album_list(dsub, api):
    from tests.integration.test_browsing import legacy_xml

    ns = "{http://subsonic.org/restapi}"
    for kind, extra in (("alphabeticalByName", {}), ("newest", {}), ("random", {}), ("byYear", {"fromYear": 2020,
                        "toYear": 1950}), ("byGenre", {"genre": "Rock"}), ("starred", {}), ("frequent", {})):
        root = legacy_xml(dsub, "getAlbumList", type=kind, size=500, **extra)
        albums = root.findall(f"{ns}albumList/{ns}album")
        assert [a.get("id") for a in albums] == album_ids(api, "getAlbumList", type=kind, size=500, **extra) \
            or kind == "random"
        assert all(a.get("isDir") == "true" and a.get("title") for a in albums)
    assert len(legacy_xml(dsub, "getAlbumList", type="alphabeticalByName", size=500).findall(
        f"{ns}albumList/{ns}album")) == 17
    legacy_xml(dsub, "getRandomSongs", size=5)
    legacy_xml(dsub, "getStarred")


def test_user_lists_empty_without_annotations(api):
    for kind in ("starred", "highest", "frequent", "recent"):
        for method in ("getAlbumList", "getAlbumList2"):
            assert album_ids(api.as_user("alice", "alice-pass"), method, type=kind, size=500) == []


# ---------------------------------------------------------------------------- per-user lists (writes)


def test_starred_highest_frequent_recent(own):
    a, b, c = (find_album(own, n) for n in ("Vespertine", "Abbey Road", "Kind of Blue"))
    for kind in ("starred", "highest", "frequent", "recent"):
        assert album_ids(own, type=kind) == []
    # starred: newest star first
    own.ok("star", albumId=a["id"])
    own.ok("star", albumId=c["id"])
    assert album_ids(own, type="starred") == [c["id"], a["id"]]
    assert album_ids(own, "getAlbumList", type="starred") == [c["id"], a["id"]]
    assert all("starred" in x for x in own.ok("getAlbumList2", type="starred")["albumList2"]["album"])
    own.ok("unstar", albumId=c["id"])
    assert album_ids(own, type="starred") == [a["id"]]
    # highest: by rating; rating 0 removes
    own.ok("setRating", id=a["id"], rating=3)
    own.ok("setRating", id=b["id"], rating=5)
    own.ok("setRating", id=c["id"], rating=4)
    assert album_ids(own, type="highest") == [b["id"], c["id"], a["id"]]
    assert [x["userRating"] for x in own.ok("getAlbumList2", type="highest")["albumList2"]["album"]] == [5, 4, 3]
    own.ok("setRating", id=c["id"], rating=0)
    assert album_ids(own, "getAlbumList", type="highest") == [b["id"], a["id"]]
    # frequent / recent from scrobbles (time in ms)
    songs = {x["id"]: own.ok("getAlbum", id=x["id"])["album"]["song"] for x in (a, b, c)}
    t0 = 1_700_000_000_000
    once(own, "scrobble", id=songs[b["id"]][0]["id"], time=t0)
    once(own, "scrobble", id=[songs[a["id"]][0]["id"], songs[a["id"]][1]["id"], songs[a["id"]][2]["id"]],
         time=[t0 + 1000, t0 + 2000, t0 + 3000])
    once(own, "scrobble", id=songs[c["id"]][0]["id"], time=t0 - 86_400_000)
    frequent = own.ok("getAlbumList2", type="frequent")["albumList2"]["album"]
    assert frequent[0]["id"] == a["id"] and {x["id"] for x in frequent} == {a["id"], b["id"], c["id"]}
    assert [x["playCount"] for x in frequent] == [3, 1, 1]
    assert album_ids(own, type="recent") == [a["id"], b["id"], c["id"]]
    assert album_ids(own, "getAlbumList", type="recent") == [a["id"], b["id"], c["id"]]
    assert album_ids(own, type="recent", size=1, offset=1) == [b["id"]]
    # per user: alice sees none of it
    alice = own.as_user("alice", "alice-pass")
    for kind in ("starred", "highest", "frequent", "recent"):
        assert album_ids(alice, type=kind) == []
    # and the folder filter applies to per-user lists too
    folders = own.ok("getMusicFolders")["musicFolders"]["musicFolder"]
    second = next(f["id"] for f in folders if f["name"] == "extra")
    assert album_ids(own, type="recent", musicFolderId=second) == []


def test_starred_lists(own):
    ves = find_album(own, "Vespertine")
    song = own.ok("getAlbum", id=ves["id"])["album"]["song"][1]
    artist_id = ves["artistId"]
    for method, key in (("getStarred", "starred"), ("getStarred2", "starred2")):
        body = own.ok(method)[key]
        assert not body.get("artist") and not body.get("album") and not body.get("song")
    own.ok("star", id=song["id"], albumId=ves["id"], artistId=artist_id)
    for method, key in (("getStarred", "starred"), ("getStarred2", "starred2")):
        body = own.ok(method)[key]
        assert [x["id"] for x in body["artist"]] == [artist_id]
        assert [x["id"] for x in body["album"]] == [ves["id"]]
        assert [x["id"] for x in body["song"]] == [song["id"]]
        assert all("starred" in x for x in body["artist"] + body["album"] + body["song"])
    assert own.ok("getStarred")["starred"]["album"][0]["isDir"] is True
    assert own.ok("getStarred2")["starred2"]["artist"][0]["name"] == "Björk"
    folders = own.ok("getMusicFolders")["musicFolders"]["musicFolder"]
    second = next(f["id"] for f in folders if f["name"] == "extra")
    first = next(f["id"] for f in folders if f["name"] != "extra")
    for method, key in (("getStarred", "starred"), ("getStarred2", "starred2")):
        body = own.ok(method, musicFolderId=second)[key]
        assert not body.get("album") and not body.get("song")
        assert [x["id"] for x in body["artist"]] == [artist_id], "Björk has a track in both folders"
    # an artist only in the second folder is not starred in the first
    extra = own.ok("search3", query="quuxtone", albumCount=0, songCount=0)["searchResult3"]["artist"][0]
    own.ok("star", artistId=extra["id"])
    for method, key in (("getStarred", "starred"), ("getStarred2", "starred2")):
        assert {x["id"] for x in own.ok(method)[key]["artist"]} == {artist_id, extra["id"]}
        assert [x["id"] for x in own.ok(method, musicFolderId=first)[key]["artist"]] == [artist_id]
        assert {x["id"] for x in own.ok(method, musicFolderId=second)[key]["artist"]} == {artist_id, extra["id"]}
    own.ok("unstar", artistId=extra["id"])
    own.fail("getStarred2", 70, musicFolderId=424242)
    own.ok("unstar", id=song["id"], albumId=ves["id"], artistId=artist_id)
    body = own.ok("getStarred2")["starred2"]
    assert not body.get("artist") and not body.get("album") and not body.get("song")


# ---------------------------------------------------------------------------- songs


def all_songs(client: Subsonic, **params: Any) -> list[dict[str, Any]]:
    return client.ok("search3", query="", artistCount=0, albumCount=0, songCount=1000, **params)[
        "searchResult3"]["song"]


def test_random_songs(api, test_library):
    _, manifest = test_library
    every = {s["id"]: s for s in all_songs(api)}
    assert len(every) == manifest.n_readable_audio
    for size in (1, 5, 17):
        songs = api.ok("getRandomSongs", size=size)["randomSongs"]["song"]
        ids = [s["id"] for s in songs]
        assert len(ids) == len(set(ids)) == size and set(ids) <= set(every)
    assert len(api.ok("getRandomSongs")["randomSongs"]["song"]) == 10
    assert {s["id"] for s in api.ok("getRandomSongs", size=500)["randomSongs"]["song"]} == set(every)
    assert not api.ok("getRandomSongs", size=0)["randomSongs"].get("song")
    # genre filter (multi-valued genres count)
    rock = [e.path for e in readable(manifest) if "Rock" in e.genres]
    got = api.ok("getRandomSongs", size=500, genre="Rock")["randomSongs"]["song"]
    assert sorted(s["path"] for s in got) == sorted(rock)
    assert len(api.ok("getRandomSongs", size=3, genre="Rock")["randomSongs"]["song"]) == 3
    got = api.ok("getRandomSongs", size=500, genre="rock")["randomSongs"]["song"]
    assert sorted(s["path"] for s in got) == sorted(rock)
    assert not api.ok("getRandomSongs", size=500, genre="No Such Genre")["randomSongs"].get("song")
    # year filters, open or closed
    for lo, hi in ((1990, 2000), (None, 1980), (2010, None), (2005, 2005)):
        expected = sorted(e.path for e in readable(manifest) if e.year and (lo is None or e.year >= lo)
                          and (hi is None or e.year <= hi))
        got = api.ok("getRandomSongs", size=500, fromYear=lo, toYear=hi)["randomSongs"]["song"]
        assert sorted(s["path"] for s in got) == expected, (lo, hi)
        assert expected
    both = api.ok("getRandomSongs", size=500, genre="Electronic", fromYear=2000, toYear=2004)["randomSongs"]["song"]
    assert sorted(s["path"] for s in both) == sorted(
        e.path for e in readable(manifest) if "Electronic" in e.genres and e.year and 2000 <= e.year <= 2004)
    api.fail("getRandomSongs", 70, musicFolderId=424242)


def test_songs_by_genre(api, test_library):
    _, manifest = test_library
    for genre in ("Electronic", "Rock", "Funk"):
        expected = sorted(e.path for e in readable(manifest) if genre in e.genres)
        full = api.ok("getSongsByGenre", genre=genre, count=500)["songsByGenre"]["song"]
        assert sorted(s["path"] for s in full) == expected
        for count in (1, 3, 4):
            paged: list[str] = []
            for offset in range(0, len(expected) + count, count):
                page = api.ok("getSongsByGenre", genre=genre, count=count, offset=offset)["songsByGenre"].get(
                    "song", [])
                assert len(page) <= count
                paged += [s["id"] for s in page]
            assert paged == [s["id"] for s in full], (genre, count)
    assert len(api.ok("getSongsByGenre", genre="Electronic")["songsByGenre"]["song"]) == 7  # default count 10
    assert not api.ok("getSongsByGenre", genre="No Such Genre")["songsByGenre"].get("song")
    api.fail("getSongsByGenre", 10)
    api.fail("getSongsByGenre", 70, genre="Rock", musicFolderId=424242)


def test_music_folder_filters(own, test_library):
    _, manifest = test_library
    folders = {f["name"]: f["id"] for f in own.ok("getMusicFolders")["musicFolders"]["musicFolder"]}
    assert set(folders) == {test_library[0].name, "extra"}
    first, second = folders[test_library[0].name], folders["extra"]
    extra_albums = {"Quuxtone Live", "Post Extras"}
    got = own.ok("getAlbumList2", type="alphabeticalByName", size=500, musicFolderId=second)["albumList2"]["album"]
    assert {a["name"] for a in got} == extra_albums
    got = own.ok("getAlbumList2", type="alphabeticalByName", size=500, musicFolderId=first)["albumList2"]["album"]
    assert not extra_albums & {a["name"] for a in got} and len(got) == 17
    for kind, extra in (("newest", {}), ("random", {}), ("byYear", {"fromYear": 1900, "toYear": 2100}),
                        ("byGenre", {"genre": "Rock"})):
        got = own.ok("getAlbumList", type=kind, size=500, musicFolderId=second, **extra)["albumList"]["album"]
        assert {a["title"] for a in got} <= extra_albums and got, kind
    rnd = own.ok("getRandomSongs", size=500, musicFolderId=second)["randomSongs"]["song"]
    assert sorted(s["title"] for s in rnd) == ["Isobel Demo", "Quuxtone Closing", "Quuxtone Opening"]
    rnd = own.ok("getRandomSongs", size=500, musicFolderId=first)["randomSongs"]["song"]
    assert len(rnd) == manifest.n_readable_audio
    rnd = own.ok("getRandomSongs", size=500, musicFolderId=second, genre="Rock")["randomSongs"]["song"]
    assert sorted(s["title"] for s in rnd) == ["Quuxtone Closing", "Quuxtone Opening"]
    rnd = own.ok("getRandomSongs", size=500, musicFolderId=first, genre="Krautrock")["randomSongs"]
    assert not rnd.get("song")
    by_genre = own.ok("getSongsByGenre", genre="Rock", count=500, musicFolderId=second)["songsByGenre"]["song"]
    assert sorted(s["title"] for s in by_genre) == ["Quuxtone Closing", "Quuxtone Opening"]
    by_genre = own.ok("getSongsByGenre", genre="Rock", count=500)["songsByGenre"]["song"]
    assert len(by_genre) == 2 + sum("Rock" in e.genres for e in readable(manifest))


# ---------------------------------------------------------------------------- size caps


def test_size_caps(own_db, two_folder_template, tmp_path):
    bulk_up(own_db)
    with serve(own_db, two_folder_template[1], tmp_path) as client:
        for method, key in (("getAlbumList2", "albumList2"), ("getAlbumList", "albumList")):
            for kind in ("alphabeticalByName", "newest", "random"):
                ids = [a["id"] for a in unvalidated(client, method, key, "album", type=kind, size=100000)]
                assert len(ids) == len(set(ids)) == 500, (method, kind)
            assert len(unvalidated(client, method, key, "album", type="byYear", fromYear=2000, toYear=2000,
                                   size=501)) == 500
        songs = unvalidated(client, "getRandomSongs", "randomSongs", "song", size=100000)
        assert len(songs) == len({s["id"] for s in songs}) == 500
        assert len(unvalidated(client, "getSongsByGenre", "songsByGenre", "song", genre="Bulk", count=9999)) == 500
        assert len(unvalidated(client, "getSongsByGenre", "songsByGenre", "song", genre="Bulk", count=9999,
                               offset=1000)) == 100
        # one capped page through the validating client too
        assert len(client.ok("getAlbumList2", type="newest", size=100000)["albumList2"]["album"]) == 500
