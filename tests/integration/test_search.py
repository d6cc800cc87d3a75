"""search2 / search3 over the scanned test library, checked against bench.libgen's manifest:
text queries (prefix, accents, typos, several words), the empty query that syncs a whole
library (client-compat §4.5 #1, #2: every form, each type paged on its own, no gaps or
duplicates), musicFolderId, and capped counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Subsonic
from tests.integration.conftest import (
    album_of,
    fold,
    EXTRA_ARTIST,
    Library,
    bulk_up,
    clone_from,
    serve,
    unvalidated,
)

UNKNOWN_ARTIST = "[Unknown Artist]"
RESULT = {"search2": "searchResult2", "search3": "searchResult3"}
EMPTY_FORMS = [None, "", '""', "''"]  # missing, query=, query=%22%22 (Symfonium), query=''


def search(client: Subsonic, method: str = "search3", **params: Any) -> dict[str, list[dict[str, Any]]]:
    """One call in JSON (validated against the OpenAPI schema): {artist, album, song} lists."""
    body = client.raw(method, **params).json()["subsonic-response"]
    assert body["status"] == "ok", body
    result = body[RESULT[method]]
    return {k: result.get(k, []) for k in ("artist", "album", "song")}


def readable(manifest: Any) -> list[Any]:
    return [e for e in manifest.files if e.readable]


def expected_everything(manifest: Any) -> dict[str, Any]:
    """What an empty query must return in total: artist names, (artist, album) pairs, paths."""
    artists = set(manifest.artists) | {UNKNOWN_ARTIST}
    albums = []
    album_keys = album_of(manifest)
    for e in readable(manifest):
        artist = e.album_artist or e.artist_display or (e.artists or [UNKNOWN_ARTIST])[0]
        artists.add(artist)
        albums.append(album_keys[e.path])
    return {"artist": sorted(artists), "album": sorted(set(albums)), "song": sorted(e.path for e in readable(manifest))}


def album_key(method: str, a: dict[str, Any]) -> tuple[str, str]:
    return a.get("artist", ""), a["name"] if method == "search3" else a["title"]


# ---------------------------------------------------------------------------- text queries


@pytest.mark.parametrize("method", ["search3", "search2"])
@pytest.mark.parametrize("query", ["bjö", "bjork", "Björk", "BJORK", "BJÖRK"])
def test_prefix_and_accent_insensitive(api, test_library, method, query):
    _, manifest = test_library
    r = search(api, method, query=query)
    assert [a["name"] for a in r["artist"]] == ["Björk"]
    assert {album_key(method, a)[1] for a in r["album"]} == {"Vespertine", "Loose Ends"}
    expected = {e.path for e in readable(manifest) if "Björk" in e.artists}
    assert {s["path"] for s in r["song"]} == expected


def test_typos_within_trigram_reach(api):
    r = search(api, query="motorhed")
    assert [a["name"] for a in r["artist"]] == ["Motörhead"]
    assert {a["name"] for a in r["album"]} == {"Ace of Spades", "Rarities"}
    r = search(api, query="pink floid")
    assert [a["name"] for a in r["artist"]] == ["Pink Floyd"]
    assert [a["name"] for a in r["album"]] == ["The Wall"]
    assert len(r["song"]) == 4
    # far from everything: nothing (no random fuzzy noise)
    assert search(api, query="zzqxv") == {"artist": [], "album": [], "song": []}


def test_multi_word(api):
    r = search(api, query="abbey road")
    assert r["artist"] == [] and [a["name"] for a in r["album"]] == ["Abbey Road"]
    assert {s["title"] for s in r["song"]} == {"Come Together", "Something", "Octopus's Garden"}
    r = search(api, query="hidden place")
    assert [s["title"] for s in r["song"]] == ["Hidden Place"] and not r["album"]
    # words may come from different fields (title + artist) and in any order
    assert [s["title"] for s in search(api, query="teardrop massive")["song"]] == ["Teardrop"]
    assert [s["title"] for s in search(api, query="massive teardrop")["song"]] == ["Teardrop"]
    r = search(api, query="sigur ros")
    assert [a["name"] for a in r["artist"]] == ["Sigur Rós"] and len(r["song"]) == 3
    assert [a["name"] for a in search(api, query="坂本")["artist"]] == ["坂本龍一"]
    assert [s["title"] for s in search(api, query="it's not")["song"]] == ["It's Not Up to You"]


def test_featured_artists_are_found(api):
    r = search(api, query="thom yorke")
    assert [a["name"] for a in r["artist"]] == ["Thom Yorke"]
    assert [s["title"] for s in r["song"]] == ["Cocoon"]


def test_text_query_paging(api):
    full = search(api, query="the", artistCount=100, albumCount=100, songCount=100)
    assert len(full["song"]) > 5
    for count in (1, 2, 3):
        pages: list[str] = []
        offset = 0
        while True:
            page = search(api, query="the", artistCount=0, albumCount=0, songCount=count, songOffset=offset)["song"]
            if not page:
                break
            pages += [s["id"] for s in page]
            offset += count
        assert pages == [s["id"] for s in full["song"]], count
    r = search(api, query="the", artistCount=1, albumCount=0, songCount=0)
    assert len(r["artist"]) == 1 and not r["album"] and not r["song"]


@pytest.mark.parametrize("query", ["the", "s", "ro"])
def test_names_starting_with_the_query_come_first(api, query):
    """Relevance: every match whose name starts with the query (a song: its title) comes
    before every match that only has a word starting with it; the first ones by name."""
    r = search(api, query=query, artistCount=200, albumCount=200, songCount=200)
    both = 0
    for kind, key in (("artist", "name"), ("album", "name"), ("song", "title")):
        names = [fold(x[key]) for x in r[kind]]
        flags = [n.startswith(query) for n in names]
        assert flags == sorted(flags, reverse=True), (kind, names)
        starting = [n for n in names if n.startswith(query)]
        if kind == "artist":  # an artist's text is its name alone
            assert starting == sorted(starting), starting
        both += any(flags) and not all(flags)
    assert both, r  # the library has both kinds of match for these queries


def test_special_characters_are_not_patterns(api):
    """LIKE wildcards and tsquery operators are text, never syntax (no error, no match-all)."""
    for q in ("%", "_", "%%", "\\", "*", "'", "&", "|", "!", ":*", "(", "<->", "b%", "b:*&"):
        r = search(api, query=q)
        if q in ("%", "_", "%%"):
            assert r == {"artist": [], "album": [], "song": []}, q
    assert [a["name"] for a in search(api, query="bjork!")["artist"]] == ["Björk"]


# ---------------------------------------------------------------------------- empty query: everything


def _names(method: str, kind: str, rows: list[dict[str, Any]]) -> list[Any]:
    if kind == "artist":
        return [r["name"] for r in rows]
    if kind == "album":
        return [album_key(method, r) for r in rows]
    return [r["path"] for r in rows]


@pytest.mark.parametrize("method", ["search3", "search2"])
@pytest.mark.parametrize("query", EMPTY_FORMS, ids=["missing", "empty", "two-double-quotes", "two-quotes"])
def test_empty_query_pages_everything(api, test_library, method, query):
    """Each type paged with its own count and offset (3/5/7 rotated over the types) until
    exhausted: the union is exactly the library, with no duplicate and no gap."""
    _, manifest = test_library
    expected = expected_everything(manifest)
    full = search(api, method, query=query, artistCount=500, albumCount=500, songCount=500)
    for kind in ("artist", "album", "song"):
        assert sorted(_names(method, kind, full[kind])) == expected[kind], kind
    kinds = ("artist", "album", "song")
    for rotation in range(3 if method == "search3" else 1):
        counts = {k: (3, 5, 7)[(i + rotation) % 3] for i, k in enumerate(kinds)}
        got: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        done = {k: False for k in kinds}
        step = 0
        while not all(done.values()):
            params = {}
            for k in kinds:
                params[f"{k}Count"] = counts[k]
                params[f"{k}Offset"] = step * counts[k]
            page = search(api, method, query=query, **params)
            for k in kinds:
                assert len(page[k]) <= counts[k]
                if done[k]:
                    assert page[k] == [], f"{k}: rows after an empty page"
                elif not page[k]:
                    done[k] = True
                got[k] += page[k]
            step += 1
        for k in kinds:
            ids = [r["id"] for r in got[k]]
            assert len(ids) == len(set(ids)), f"{k}: duplicates across pages"
            assert ids == [r["id"] for r in full[k]], f"{k}: pages differ from the one-page result"


@pytest.mark.parametrize("method", ["search3", "search2"])
def test_empty_query_counts_are_independent(api, method):
    full = search(api, method, query="", artistCount=500, albumCount=500, songCount=500)
    r = search(api, method, query="", artistCount=2, artistOffset=4, albumCount=3, albumOffset=1, songCount=4,
               songOffset=9)
    assert r["artist"] == full["artist"][4:6]
    assert r["album"] == full["album"][1:4]
    assert r["song"] == full["song"][9:13]
    r = search(api, method, query="", songCount=0)
    # default counts 20; the library has 17 albums
    assert r["song"] == [] and len(r["artist"]) == 20 and len(r["album"]) == 17
    r = search(api, method, query="", artistCount=0, albumCount=0)
    assert r["artist"] == [] and r["album"] == [] and len(r["song"]) == 20
    r = search(api, method, query="", artistCount=0, albumCount=0, songCount=0)
    assert r == {"artist": [], "album": [], "song": []}
    r = search(api, method, query="", artistOffset=1000, albumOffset=1000, songOffset=1000)
    assert r == {"artist": [], "album": [], "song": []}


def test_empty_query_xml_and_legacy_client(api, dsub):
    from tests.integration.test_browsing import legacy_xml

    body = api.ok("search3", query='""', artistCount=1, albumCount=1, songCount=1)["searchResult3"]
    assert len(body["artist"]) == len(body["album"]) == len(body["song"]) == 1
    ns = "{http://subsonic.org/restapi}"
    root = legacy_xml(dsub, "search2", query="", artistCount=1, albumCount=2, songCount=3)
    assert [len(root.findall(f"{ns}searchResult2/{ns}{k}")) for k in ("artist", "album", "song")] == [1, 2, 3]
    root = legacy_xml(dsub, "search2", query="bjork")
    assert [a.get("name") for a in root.findall(f"{ns}searchResult2/{ns}artist")] == ["Björk"]
    albums = root.findall(f"{ns}searchResult2/{ns}album")
    assert {a.get("title") for a in albums} == {"Vespertine", "Loose Ends"}
    assert all(a.get("isDir") == "true" for a in albums)
    # the album ids of search2 browse on with getMusicDirectory (§4.5 #12)
    d = legacy_xml(dsub, "getMusicDirectory", id=albums[0].get("id"))
    assert all(c.get("isDir") == "false" for c in d.findall(f"{ns}directory/{ns}child"))


def test_search_result_containers_always_present(api):
    for method, key in RESULT.items():
        body = api.raw(method, query="zzqxv").json()["subsonic-response"]
        assert key in body and body[key] is not None
        xml = api.raw(method, fmt="xml", query="zzqxv").content
        assert f"<{key}".encode() in xml


# ---------------------------------------------------------------------------- folders, caps


@pytest.fixture(scope="module")
def two_folders(pg: Any, two_folder_template: Library, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Subsonic]:
    """Read-only client over a clone of the two-folder library."""
    url = clone_from(pg, two_folder_template[0])
    with serve(url, two_folder_template[1], tmp_path_factory.mktemp("app")) as client:
        yield client


def _folders(client: Subsonic, test_library: Any) -> tuple[int, int]:
    folders = {f["name"]: f["id"] for f in client.ok("getMusicFolders")["musicFolders"]["musicFolder"]}
    return folders[test_library[0].name], folders["extra"]


@pytest.mark.parametrize("method", ["search3", "search2"])
def test_music_folder_filter(two_folders, test_library, method):
    first, second = _folders(two_folders, test_library)
    r = search(two_folders, method, query="bjork", musicFolderId=second)
    assert {album_key(method, a)[1] for a in r["album"]} == {"Post Extras"}
    assert [s["title"] for s in r["song"]] == ["Isobel Demo"]
    assert [a["name"] for a in r["artist"]] == ["Björk"]
    r = search(two_folders, method, query="bjork", musicFolderId=first)
    assert {album_key(method, a)[1] for a in r["album"]} == {"Vespertine", "Loose Ends"}
    assert "Isobel Demo" not in {s["title"] for s in r["song"]} and len(r["song"]) == 4
    r = search(two_folders, method, query="quuxtone", musicFolderId=first)
    assert r == {"artist": [], "album": [], "song": []}, "nothing of folder 2 leaks into folder 1"
    r = search(two_folders, method, query="quuxtone", musicFolderId=second)
    assert [a["name"] for a in r["artist"]] == [EXTRA_ARTIST] and len(r["song"]) == 2
    assert len(search(two_folders, method, query="bjork")["album"]) == 3
    # empty query: the folder's items only
    _, manifest = test_library
    expected = expected_everything(manifest)
    r = search(two_folders, method, query="", musicFolderId=first, artistCount=500, albumCount=500, songCount=500)
    assert sorted(s["path"] for s in r["song"]) == expected["song"]
    assert sorted(_names(method, "album", r["album"])) == expected["album"]
    assert sorted(a["name"] for a in r["artist"]) == expected["artist"]
    r = search(two_folders, method, query="", musicFolderId=second, artistCount=500, albumCount=500, songCount=500)
    assert sorted(s["title"] for s in r["song"]) == ["Isobel Demo", "Quuxtone Closing", "Quuxtone Opening"]
    assert sorted(a["name"] for a in r["artist"]) == sorted(["Björk", EXTRA_ARTIST])
    two_folders.fail(method, 70, query="bjork", musicFolderId=424242)


def test_counts_are_capped(pg, two_folder_template, tmp_path):
    url = clone_from(pg, two_folder_template[0])
    bulk_up(url)
    with serve(url, two_folder_template[1], tmp_path) as client:
        total = 1100 + 45
        for query in ("", "bulk"):
            songs = unvalidated(client, "search3", "searchResult3", "song", query=query, artistCount=0,
                                albumCount=0, songCount=999_999_999)
            assert 500 <= len(songs) < total and len(songs) == len({s["id"] for s in songs}), query
            albums = unvalidated(client, "search3", "searchResult3", "album", query=query, artistCount=0,
                                 albumCount=999_999_999, songCount=0)
            assert 500 <= len(albums) <= 540
            # the next page continues where the capped one stopped
            rest = unvalidated(client, "search3", "searchResult3", "song", query=query, artistCount=0,
                               albumCount=0, songCount=999_999_999, songOffset=len(songs))
            assert not {s["id"] for s in rest} & {s["id"] for s in songs}
            if query == "":
                assert len(songs) + len(rest) == total


def test_control_characters_in_a_query_are_ignored(api):
    """A NUL in `query` must not reach PostgreSQL (which rejects it): it is dropped, and a
    form-POSTed search (formPost) answers like a GET."""
    body = api.raw("search3", http_method="POST", query="bj\x00ork").json()["subsonic-response"]
    assert body["status"] == "ok"
    assert any(a["name"] == "Björk" for a in body["searchResult3"]["artist"])
