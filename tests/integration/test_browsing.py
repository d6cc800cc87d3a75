"""Browsing over the scanned test library, checked against bench.libgen's manifest:
getMusicFolders, getIndexes, getMusicDirectory (the real folder tree, and al-/ar- ids),
getArtists, getArtist, getAlbum, getSong, getGenres; the DSub (legacy XSD) profile.

Read-only: every test here uses the shared `api` / `dsub` clients over `library_db`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from typing import Any

import pytest

from tests.conftest import Subsonic
from tests.integration.conftest import EXTRA_ARTIST, album_of, fold, strip_article

UNKNOWN_ARTIST = "[Unknown Artist]"


# ---------------------------------------------------------------------------- helpers


def letter(name: str) -> str:
    first = strip_article(fold(name))[:1].upper()
    return first if "A" <= first <= "Z" else "#"


def readable(manifest: Any) -> list[Any]:
    return [e for e in manifest.files if e.readable]


def expected_albums(manifest: Any) -> dict[tuple[str, str], list[Any]]:
    """(album artist, album name) → manifest entries in disc/track order."""
    out: dict[tuple[str, str], list[Any]] = defaultdict(list)
    albums = album_of(manifest)
    for e in readable(manifest):
        out[albums[e.path]].append(e)
    for entries in out.values():
        # Same disc and track (the untagged ones of a folder album): by title, as the server.
        entries.sort(key=lambda e: (e.disc or 0, e.track or 0, (e.expected_title or "").lower()))
    return dict(out)


def check_child(c: dict[str, Any]) -> None:
    """XSD-required Child fields always present, with the right JSON types (§4.5 #3, #4, #11)."""
    assert isinstance(c["id"], str) and c["id"]
    assert isinstance(c["isDir"], bool)
    assert isinstance(c["title"], str)
    for key in ("track", "year", "size", "duration", "bitRate", "discNumber", "playCount"):
        if key in c:
            assert isinstance(c[key], int) and not isinstance(c[key], bool), (key, c[key])


def by_path(manifest: Any) -> dict[str, Any]:
    return {e.path: e for e in readable(manifest)}


@pytest.fixture(scope="module")
def all_albums(api_module: Any) -> list[dict[str, Any]]:
    return api_module.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]


@pytest.fixture(scope="module")
def api_module(app_http: Any) -> Subsonic:
    return Subsonic(app_http)


def album_named(albums: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found = [a for a in albums if a["name"] == name]
    assert len(found) == 1, (name, [a["name"] for a in albums])
    return found[0]


# ---------------------------------------------------------------------------- folders, indexes


def test_music_folders(api, test_library):
    folders = api.ok("getMusicFolders")["musicFolders"]["musicFolder"]
    assert len(folders) == 1
    assert isinstance(folders[0]["id"], int)  # xs:int
    assert folders[0]["name"] == test_library[0].name


def test_indexes_group_top_folders_by_letter(api, test_library):
    _, manifest = test_library
    ix = api.ok("getIndexes")["indexes"]
    assert "The" in ix["ignoredArticles"].split()
    assert isinstance(ix["lastModified"], int) and ix["lastModified"] > 0
    names = [i["name"] for i in ix["index"]]
    assert len(names) == len(set(names)), "each letter is one group"
    entries = {a["name"]: (i["name"], a) for i in ix["index"] for a in i["artist"]}
    expected_top = {e.path.split("/")[0] for e in readable(manifest) if "/" in e.path}
    assert set(entries) == expected_top
    for name, (group, a) in entries.items():
        assert group == letter(name), (name, group)
        assert a["id"].startswith("dr-")
    # "The Beatles" sorts under its noun, next to Björk; unicode folder names kept as is
    assert entries["The Beatles"][0] == "B" and entries["Björk"][0] == "B"
    assert entries["Ólafur Arnalds"][0] == "O"
    assert entries["坂本龍一"][0] == "#"
    for i in ix["index"]:
        keys = [strip_article(fold(a["name"])) for a in i["artist"]]
        assert keys == sorted(keys), i
    # the loose file at the root is a child, not a folder
    loose = [e for e in readable(manifest) if "/" not in e.path]
    assert [c["path"] for c in ix["child"]] == [e.path for e in loose]
    for c in ix["child"]:
        check_child(c)
        assert c["isDir"] is False and c["title"] == "Loose Track" and c["id"].startswith("tr-")


def test_indexes_if_modified_since(api):
    full = api.ok("getIndexes")["indexes"]
    last = full["lastModified"]
    same = api.ok("getIndexes", ifModifiedSince=last)["indexes"]
    assert same["lastModified"] == last
    assert not same.get("index") and not same.get("child"), "nothing changed: empty indexes"
    later = api.ok("getIndexes", ifModifiedSince=last + 60_000)["indexes"]
    assert not later.get("index")
    older = api.ok("getIndexes", ifModifiedSince=last - 1)["indexes"]
    assert older["index"] == full["index"] and older["child"] == full["child"]
    assert api.ok("getIndexes", ifModifiedSince=0)["indexes"]["index"] == full["index"]


def test_indexes_music_folder(api):
    folder_id = api.ok("getMusicFolders")["musicFolders"]["musicFolder"][0]["id"]
    assert api.ok("getIndexes", musicFolderId=folder_id)["indexes"]["index"] == \
        api.ok("getIndexes")["indexes"]["index"]
    api.fail("getIndexes", 70, musicFolderId=987654)
    api.fail("getArtists", 70, musicFolderId=987654)


def test_indexes_and_artists_per_music_folder(own, test_library):
    folders = {f["name"]: f["id"] for f in own.ok("getMusicFolders")["musicFolders"]["musicFolder"]}
    first, second = folders[test_library[0].name], folders["extra"]
    assert len(folders) == 2
    ix = own.ok("getIndexes", musicFolderId=second)["indexes"]
    assert sorted(a["name"] for i in ix["index"] for a in i["artist"]) == sorted(["Björk", EXTRA_ARTIST])
    assert not ix.get("child"), "the loose track is in the first folder"
    ix1 = own.ok("getIndexes", musicFolderId=first)["indexes"]
    names1 = [a["name"] for i in ix1["index"] for a in i["artist"]]
    assert EXTRA_ARTIST not in names1 and names1.count("Björk") == 1
    assert [c["title"] for c in ix1["child"]] == ["Loose Track"]
    both = own.ok("getIndexes")["indexes"]
    assert sorted(a["id"] for i in both["index"] for a in i["artist"]) == sorted(
        [a["id"] for i in ix1["index"] for a in i["artist"]] + [a["id"] for i in ix["index"] for a in i["artist"]])
    artists2 = own.ok("getArtists", musicFolderId=second)["artists"]["index"]
    assert sorted(a["name"] for i in artists2 for a in i["artist"]) == sorted(["Björk", EXTRA_ARTIST])
    artists1 = [a["name"] for i in own.ok("getArtists", musicFolderId=first)["artists"]["index"] for a in i["artist"]]
    assert EXTRA_ARTIST not in artists1 and "Björk" in artists1
    bjork = next(a for i in own.ok("getArtists")["artists"]["index"] for a in i["artist"] if a["name"] == "Björk")
    assert bjork["albumCount"] == 3  # Vespertine, Loose Ends + Post Extras in the second folder


def test_indexes_last_modified_follows_scans(own, own_db, two_folder_template):
    """A rescan that changes nothing keeps lastModified (ifModifiedSince → empty); a new
    file moves it (→ full indexes again)."""
    from orbsonic.scanner.scanner import scan

    folders = two_folder_template[1]
    last = own.ok("getIndexes")["indexes"]["lastModified"]
    report = scan(own_db, list(folders), workers=1)
    assert not report.changed, report
    body = own.ok("getIndexes", ifModifiedSince=last)["indexes"]
    assert body["lastModified"] == last and not body.get("index")
    extra = folders[1] / EXTRA_ARTIST / "1975 - Quuxtone Live"
    new = extra / "03 Quuxtone Encore.flac"
    new.write_bytes((extra / "01 Quuxtone Opening.flac").read_bytes())
    try:
        report = scan(own_db, list(folders), workers=1)
        assert report.changed, report
    finally:
        new.unlink()
    body = own.ok("getIndexes", ifModifiedSince=last)["indexes"]
    assert body["lastModified"] > last and body["index"]


# ---------------------------------------------------------------------------- folder tree


def test_music_directory_walks_the_whole_tree(api, test_library):
    """From getIndexes down to every track: names, parent links and isDir match the disk."""
    root, manifest = test_library
    files = by_path(manifest)
    ix = api.ok("getIndexes")["indexes"]
    seen: dict[str, dict[str, Any]] = {}
    dirs_seen: list[str] = []

    def walk(dir_id: str, rel: str, parent: str | None) -> None:
        d = api.ok("getMusicDirectory", id=dir_id)["directory"]
        dirs_seen.append(rel)
        assert d["id"] == dir_id and d["name"] == rel.rsplit("/", 1)[-1]
        if parent is not None:
            assert d["parent"] == parent
        assert d["child"], f"{rel} has audio below it"
        for c in d["child"]:
            check_child(c)
            assert c["parent"] == dir_id
            if c["isDir"]:
                assert c["id"].startswith("dr-")
                assert (root / rel / c["title"]).is_dir()
                walk(c["id"], f"{rel}/{c['title']}", dir_id)
            else:
                assert c["id"].startswith("tr-")
                assert c["path"].rsplit("/", 1)[0] == rel
                assert c["path"] not in seen
                seen[c["path"]] = c

    for group in ix["index"]:
        for a in group["artist"]:
            walk(a["id"], a["name"], None)
    for c in ix["child"]:
        seen[c["path"]] = c
    assert set(seen) == set(files), "every readable file once; unreadable and non-audio files never"
    for path, c in seen.items():
        e = files[path]
        assert c["title"] == e.expected_title
        assert c.get("track") == e.track
    # folders that only hold folders (CD1/CD2) are listed with both discs below them
    assert "Nine Inch Nails/1999 - The Fragile/CD1" in dirs_seen
    assert "Nine Inch Nails/1999 - The Fragile/CD2" in dirs_seen


def test_music_directory_split_album_folders(api, test_library):
    ix = api.ok("getIndexes")["indexes"]
    nin = next(a for i in ix["index"] for a in i["artist"] if a["name"] == "Nine Inch Nails")
    artist_dir = api.ok("getMusicDirectory", id=nin["id"])["directory"]
    assert [c["title"] for c in artist_dir["child"]] == ["1999 - The Fragile"]
    assert artist_dir["child"][0]["isDir"] is True
    album_dir = api.ok("getMusicDirectory", id=artist_dir["child"][0]["id"])["directory"]
    assert [(c["title"], c["isDir"]) for c in album_dir["child"]] == [("CD1", True), ("CD2", True)]
    assert album_dir["parent"] == nin["id"]
    discs = []
    for cd in album_dir["child"]:
        songs = api.ok("getMusicDirectory", id=cd["id"])["directory"]["child"]
        assert all(s["isDir"] is False for s in songs)
        discs.append([(s.get("discNumber"), s["track"], s["title"]) for s in songs])
    assert discs == [[(1, 1, "Somewhat Damaged"), (1, 2, "The Day the World Went Away")],
                     [(2, 1, "The Way Out Is Through"), (2, 2, "Into the Void")]]
    # both folders are one album
    assert len({s["albumId"] for cd in album_dir["child"]
                for s in api.ok("getMusicDirectory", id=cd["id"])["directory"]["child"]}) == 1


def test_top_folder_parent_resolves(api):
    """A top-level folder's parent (the music folder root), when given, is browsable."""
    ix = api.ok("getIndexes")["indexes"]
    first = ix["index"][0]["artist"][0]
    d = api.ok("getMusicDirectory", id=first["id"])["directory"]
    if "parent" in d:
        up = api.ok("getMusicDirectory", id=d["parent"])["directory"]
        assert first["id"] in {c["id"] for c in up["child"]}


def test_music_directory_album_and_artist_ids(api, all_albums):
    ves = album_named(all_albums, "Vespertine")
    d = api.ok("getMusicDirectory", id=ves["id"])["directory"]
    assert d["id"] == ves["id"] and d["name"] == "Vespertine"
    assert d["parent"] == ves["artistId"]
    assert [c["title"] for c in d["child"]] == ["Hidden Place", "Cocoon", "It's Not Up to You"]
    assert all(c["isDir"] is False and c["albumId"] == ves["id"] for c in d["child"])
    a = api.ok("getMusicDirectory", id=ves["artistId"])["directory"]
    assert a["id"] == ves["artistId"] and a["name"] == "Björk"
    assert {c["title"] for c in a["child"]} == {"Vespertine", "Loose Ends"}
    for c in a["child"]:
        check_child(c)
        assert c["isDir"] is True and c["id"].startswith("al-")
        # an album child browses on
        assert api.ok("getMusicDirectory", id=c["id"])["directory"]["child"]


def test_music_directory_unknown_ids(api):
    for bad in ("dr-zzzzzzzzzz", "al-zzzzzzzzzz", "ar-zzzzzzzzzz", "tr-1", "nonsense", "pl-1"):
        api.fail("getMusicDirectory", 70, id=bad)
    api.fail("getMusicDirectory", 10)


# ---------------------------------------------------------------------------- ID3 browsing


def test_artists_are_album_artists(api, test_library):
    _, manifest = test_library
    idx = api.ok("getArtists")["artists"]
    assert "The" in idx["ignoredArticles"].split()
    rows = [(i["name"], a) for i in idx["index"] for a in i["artist"]]
    names = [a["name"] for _, a in rows]
    assert len(names) == len(set(names))
    album_counts = Counter(artist for artist, _ in expected_albums(manifest))
    assert set(names) == set(album_counts)
    for name in ("Thom Yorke", "Billy Preston", "Pharrell Williams", "Portishead", "Röyksopp"):
        assert name not in names, f"{name} only plays on tracks"
    for group, a in rows:
        assert a["id"].startswith("ar-")
        assert a["albumCount"] == album_counts[a["name"]], a
        if a["name"] == "坂本龍一":
            assert group == "S"  # ALBUMARTISTSORT "Sakamoto, Ryuichi"
        elif a["name"] != UNKNOWN_ARTIST:
            assert group == letter(a["name"]), (group, a["name"])
    groups = {a["name"]: g for g, a in rows}
    assert groups["The Beatles"] == "B" and groups["Ólafur Arnalds"] == "O" and groups["Zoë Keating"] == "Z"
    assert album_counts["Björk"] == 2 and album_counts["Motörhead"] == 2
    letters = [i["name"] for i in idx["index"]]
    assert len(letters) == len(set(letters))
    assert api.ok("getArtists", musicFolderId=1)["artists"]["index"] == idx["index"]


def test_artist_albums(api, test_library):
    _, manifest = test_library
    expected: dict[str, set[str]] = defaultdict(set)
    for artist, album in expected_albums(manifest):
        expected[artist].add(album)
    idx = api.ok("getArtists")["artists"]["index"]
    for a in (a for i in idx for a in i["artist"]):
        body = api.ok("getArtist", id=a["id"])["artist"]
        assert body["id"] == a["id"] and body["name"] == a["name"]
        assert body["albumCount"] == len(body["album"]) == len(expected[a["name"]])
        assert Counter(al["name"] for al in body["album"]) == Counter(expected[a["name"]])
        for al in body["album"]:
            assert al["artistId"] == a["id"]
    bjork = next(a for i in idx for a in i["artist"] if a["name"] == "Björk")
    albums = api.ok("getArtist", id=bjork["id"])["artist"]["album"]
    assert [al["name"] for al in albums] == ["Vespertine", "Loose Ends"]  # oldest first
    api.fail("getArtist", 70, id="ar-zzzzzzzzzz")
    api.fail("getArtist", 70, id="al-1")


def test_albums_match_manifest(api, all_albums, test_library):
    """Every album: songs in disc/track order, counts and durations consistent, legacy
    fields from the tags."""
    _, manifest = test_library
    expected = expected_albums(manifest)
    got = Counter((a.get("artist"), a["name"]) for a in all_albums)
    assert got == Counter(expected.keys())
    for a in all_albums:
        body = api.ok("getAlbum", id=a["id"])["album"]
        entries = expected[(body["artist"], body["name"])]
        songs = body["song"]
        assert body["songCount"] == len(songs) == len(entries)
        assert abs(body["duration"] - sum(s["duration"] for s in songs)) <= len(songs)
        assert body["duration"] > 0
        assert [s["path"] for s in songs] == [e.path for e in entries], body["name"]
        assert [(s.get("discNumber", 0), s.get("track", 0)) for s in songs] == \
            sorted((s.get("discNumber", 0), s.get("track", 0)) for s in songs)
        years = {e.year for e in entries if e.year}
        if years:
            assert body["year"] == max(years)
        for s, e in zip(songs, entries):
            check_child(s)
            assert s["isDir"] is False and s["albumId"] == body["id"]
            assert s["title"] == e.expected_title
            assert s.get("track") == e.track and s.get("discNumber") == e.disc
            assert s.get("year") == e.year
            if e.genres:
                assert s["genre"] == e.genres[0]
                assert [g["name"] for g in s["genres"]] == e.genres
            assert s["suffix"] == e.path.rsplit(".", 1)[1]
            assert s["type"] == "music" and s["isVideo"] is False and s["mediaType"] == "song"
            assert s["duration"] >= 0 and s["size"] > 0


def test_multi_disc_albums(api, all_albums):
    for name in ("The Wall", "The Fragile"):
        songs = api.ok("getAlbum", id=album_named(all_albums, name)["id"])["album"]["song"]
        assert [(s["discNumber"], s["track"]) for s in songs] == [(1, 1), (1, 2), (2, 1), (2, 2)], name
    fragile = api.ok("getAlbum", id=album_named(all_albums, "The Fragile")["id"])["album"]
    assert len({s["parent"] for s in fragile["song"]}) == 2, "CD1 and CD2 are separate folders"
    assert fragile["songCount"] == 4


def test_album_opensubsonic_fields(api, all_albums, test_library):
    _, manifest = test_library
    ves = api.ok("getAlbum", id=album_named(all_albums, "Vespertine")["id"])["album"]
    first = manifest.entry("Björk/2001 - Vespertine/01 Hidden Place.flac")
    assert ves["musicBrainzId"] == first.extra["mbid_album"]
    assert [g["name"] for g in ves["genres"]] == ["Electronic", "Art Pop"]
    assert ves["genre"] == "Electronic"
    assert [x["name"] for x in ves["artists"]] == ["Björk"] and ves["artists"][0]["id"] == ves["artistId"]
    assert ves["displayArtist"] == "Björk"
    assert ves["originalReleaseDate"] == {"year": 2001, "month": 5, "day": 17}
    assert ves["releaseDate"] == {"year": 2001, "month": 8, "day": 27}
    assert ves["isCompilation"] is False
    s1, s2, _ = ves["song"]
    assert s1["replayGain"] == pytest.approx({"trackGain": first.extra["rg_track_gain"],
                                              "trackPeak": first.extra["rg_track_peak"],
                                              "albumGain": first.extra["rg_album_gain"],
                                              "albumPeak": first.extra["rg_album_peak"]}, abs=0.006)
    assert s2["replayGain"] == pytest.approx({"albumGain": -7.25, "albumPeak": 0.998}, abs=0.006)
    assert s1["musicBrainzId"] == first.extra["mbid_recording"]
    assert s1["bpm"] == 92 and s1["comment"] == "test comment"
    assert s1["bitDepth"] == 16 and s1["samplingRate"] == 44100
    # multi-artist track: legacy artist is the display string, artists[] the split values
    cocoon = manifest.entry("Björk/2001 - Vespertine/02 Cocoon.flac")
    assert s2["artist"] == s2["displayArtist"] == cocoon.artist_display
    assert [x["name"] for x in s2["artists"]] == cocoon.artists
    assert all(x["id"].startswith("ar-") for x in s2["artists"])
    assert s2["artists"][0]["id"] == ves["artistId"]
    assert [x["name"] for x in s2["albumArtists"]] == ["Björk"] and s2["displayAlbumArtist"] == "Björk"
    abbey = api.ok("getAlbum", id=album_named(all_albums, "Abbey Road")["id"])["album"]
    assert abbey["originalReleaseDate"] == {"year": 1969, "month": 9, "day": 26}
    for s in abbey["song"]:
        assert s["replayGain"] == pytest.approx(
            {"trackGain": -3.1, "trackPeak": 0.91, "albumGain": -3.4, "albumPeak": 0.95}, abs=0.006)
        assert "bitDepth" not in s, "lossy"
    peace = api.ok("getAlbum", id=album_named(all_albums, "Some Kind of Peace")["id"])["album"]
    assert {(s["bitDepth"], s["samplingRate"]) for s in peace["song"]} == {(24, 192000)}
    solo = api.ok("getAlbum", id=album_named(all_albums, "Solo")["id"])["album"]
    assert {(s["bitDepth"], s["samplingRate"]) for s in solo["song"]} == {(24, 96000)}
    # every OpenSubsonic field present even without data (§5: "must always return it")
    blue = api.ok("getAlbum", id=album_named(all_albums, "Kind of Blue")["id"])["album"]
    for key in ("genres", "artists", "displayArtist", "musicBrainzId", "originalReleaseDate", "isCompilation",
                "releaseTypes", "recordLabels", "moods", "sortName", "discTitles", "explicitStatus"):
        assert key in blue, key
    assert blue["originalReleaseDate"] == {} and blue["musicBrainzId"] == ""
    for s in blue["song"]:
        assert s["replayGain"] == {}
        for key in ("genres", "artists", "albumArtists", "displayArtist", "displayAlbumArtist", "contributors",
                    "moods", "isrc", "musicBrainzId", "bpm", "comment", "sortName", "mediaType"):
            assert key in s, key


def test_compilation_album(api, all_albums, test_library):
    _, manifest = test_library
    comp = album_named(all_albums, "Orbsonic Sampler")
    body = api.ok("getAlbum", id=comp["id"])["album"]
    assert body["artist"] == "Various Artists" and body["isCompilation"] is True
    assert [x["name"] for x in body["artists"]] == ["Various Artists"]
    entries = [e for e in readable(manifest) if e.album == "Orbsonic Sampler"]
    assert [s["artist"] for s in body["song"]] == [e.artists[0] for e in sorted(entries, key=lambda e: e.track)]
    assert len({s["artistId"] for s in body["song"]}) == 4
    for s in body["song"]:
        assert s["artistId"] != body["artistId"]
        assert [x["name"] for x in s["albumArtists"]] == ["Various Artists"]
        assert s["displayAlbumArtist"] == "Various Artists"
    assert body["song"][2]["title"] == "Smile 😀"
    assert sorted(g["name"] for g in body["genres"]) == ["Big Beat", "Electronic", "Trip-Hop"]
    others = [a for a in all_albums if a["name"] != "Orbsonic Sampler"]
    assert not any(a["isCompilation"] for a in others)


def test_albums_without_any_picture_have_no_cover(api, all_albums, test_library):
    _, manifest = test_library
    for (artist, name), entries in expected_albums(manifest).items():
        if not any(e.folder_cover or e.has_embedded_cover for e in entries):
            a = next(x for x in all_albums if x["name"] == name and x["artist"] == artist)
            assert "coverArt" not in a, name


def test_albums_with_a_picture_have_a_cover(api, all_albums, test_library):
    """Including The Fragile, whose only image is in the parent of its CD1/CD2 folders."""
    _, manifest = test_library
    missing = []
    for (artist, name), entries in expected_albums(manifest).items():
        if any(e.folder_cover or e.has_embedded_cover for e in entries):
            a = next(x for x in all_albums if x["name"] == name and x["artist"] == artist)
            if "coverArt" not in a:
                missing.append(name)
    assert missing == []


def test_song(api, all_albums, test_library):
    _, manifest = test_library
    files = by_path(manifest)
    for name in ("Vespertine", "Orbsonic Sampler", "Kind of Blue"):
        for s in api.ok("getAlbum", id=album_named(all_albums, name)["id"])["album"]["song"]:
            song = api.ok("getSong", id=s["id"])["song"]
            assert song == s
            e = files[song["path"]]
            assert song["title"] == e.title and song["album"] == e.album
    api.fail("getSong", 70, id="tr-zzzzzzzzzz")
    api.fail("getSong", 70, id=all_albums[0]["id"])
    api.fail("getSong", 10)


def test_missing_tags_use_file_name(api, test_library):
    _, manifest = test_library
    e = manifest.entry("Unsorted/untagged track.flac")
    found = api.ok("search3", query="untagged", artistCount=0, albumCount=0)["searchResult3"]["song"]
    song = next(s for s in found if s["path"] == e.path)
    assert song["title"] == "untagged track" == e.expected_title
    song = api.ok("getSong", id=song["id"])["song"]
    check_child(song)
    assert song["title"] == "untagged track"
    assert "track" not in song and "year" not in song and "genre" not in song
    assert song["artist"] == UNKNOWN_ARTIST and song["album"] == "Unsorted"  # its folder (issue 6 §4)
    assert song["genres"] == [] and song["replayGain"] == {}


def test_genres_counts(api, test_library):
    _, manifest = test_library
    songs: Counter[str] = Counter()
    albums: dict[str, set[tuple[str, str]]] = defaultdict(set)
    album_keys = album_of(manifest)
    for e in readable(manifest):
        for g in e.genres:
            songs[g] += 1
            albums[g].add(album_keys[e.path])
    got = api.ok("getGenres")["genres"]["genre"]
    assert {g["value"]: (g["songCount"], g["albumCount"]) for g in got} == \
        {g: (songs[g], len(albums[g])) for g in songs}
    assert [g["value"] for g in got] == sorted((g["value"] for g in got), key=str.lower)
    # multi-valued genres, including "Post-Rock;Ambient" written as one joined value
    as_dict = {g["value"]: g for g in got}
    assert as_dict["Electronic"]["songCount"] == 7 and as_dict["Electronic"]["albumCount"] == 4
    assert as_dict["Ambient"]["songCount"] == 5 and as_dict["Funk"]["songCount"] == 1
    assert "Post-Rock;Ambient" not in as_dict and "Rock;Pop" not in as_dict


# ---------------------------------------------------------------------------- DSub profile

OS_ATTRIBUTES = {"mediaType", "displayArtist", "displayAlbumArtist", "displayComposer", "bitDepth", "samplingRate",
                 "channelCount", "musicBrainzId", "sortName", "played", "bpm", "comment", "isCompilation",
                 "explicitStatus", "roles", "openSubsonic"}
OS_ELEMENTS = {"genres", "artists", "albumArtists", "contributors", "replayGain", "originalReleaseDate",
               "releaseDate", "recordLabels", "discTitles", "moods", "isrc", "releaseTypes", "groupings"}


def legacy_xml(dsub: Any, method: str, **params: Any) -> ET.Element:
    """Call as DSub (XML; validated against the 1.16.1 XSD by the client) and check that
    no OpenSubsonic attribute or nested element appears."""
    r = dsub.raw(method, fmt="xml", **params)
    assert r.status_code == 200 and b'status="ok"' in r.content, r.text[:300]
    root = ET.fromstring(r.content)
    payload = set(root)
    for el in root.iter():
        tag = el.tag.split("}")[-1]
        assert el in payload or tag not in OS_ELEMENTS, (method, tag)
        extra = OS_ATTRIBUTES & set(el.attrib)
        if el is not root and "version" in el.attrib:  # AlbumID3.version; the envelope's is the protocol
            extra.add("version")
        assert not extra, (method, tag, extra)
    return root


def test_dsub_browsing_has_no_opensubsonic_fields(dsub, api, all_albums):
    ns = "{http://subsonic.org/restapi}"
    root = legacy_xml(dsub, "getIndexes")
    top = root.findall(f"{ns}indexes/{ns}index/{ns}artist")
    assert top and root.findall(f"{ns}indexes/{ns}child")
    nin = next(a for a in top if a.get("name") == "Nine Inch Nails")
    d = legacy_xml(dsub, "getMusicDirectory", id=nin.get("id"))
    sub = d.findall(f"{ns}directory/{ns}child")
    assert [c.get("isDir") for c in sub] == ["true"]
    album_dir = legacy_xml(dsub, "getMusicDirectory", id=sub[0].get("id"))
    cd1 = album_dir.findall(f"{ns}directory/{ns}child")[0]
    songs = legacy_xml(dsub, "getMusicDirectory", id=cd1.get("id")).findall(f"{ns}directory/{ns}child")
    assert [s.get("isDir") for s in songs] == ["false", "false"]
    for name in ("Vespertine", "Orbsonic Sampler", "The Fragile"):
        a = legacy_xml(dsub, "getAlbum", id=album_named(all_albums, name)["id"])
        songs = a.findall(f"{ns}album/{ns}song")
        assert len(songs) == album_named(all_albums, name)["songCount"]
        # DSub counts <artist> elements as artists: none may hide in songs (§4.5 #5)
        assert not a.findall(f".//{ns}artist")
    legacy_xml(dsub, "getArtists")
    legacy_xml(dsub, "getGenres")
    legacy_xml(dsub, "getSong", id=songs[0].get("id"))
