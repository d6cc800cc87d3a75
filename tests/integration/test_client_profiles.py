"""Client profiles through the real app: DSub's plain 1.16.1 XML (validated against the original
XSD by the client), a configured profile's reported version, minimal songs, User-Agent
matching, and the default for everyone else (orbsonic/clients.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from orbsonic.clients import parse_profiles
from tests.conftest import Subsonic, make_app

NS = "{http://subsonic.org/restapi}"
OS_ATTRS = ("bpm", "mediaType", "sortName", "displayArtist", "musicBrainzId", "explicitStatus", "played")
OS_ELEMENTS = ("artists", "albumArtists", "genres", "contributors", "replayGain", "moods", "isrc")


@pytest.fixture(scope="module")
def http(library_db: str, test_library: tuple[Path, Any],
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from starlette.testclient import TestClient

    profiles = parse_profiles({
        "Old Player": {"api_version": "1.13.0", "legacy": True},
        "Tiny": {"minimal": True, "api_version": "1.8.0"},
        "carplayer": {"client": "", "user_agent": "CarPlayer/", "api_version": "1.12.0"},
    })
    app = make_app(library_db, tmp_path_factory.mktemp("profiles"), (test_library[0],), client_profiles=profiles)
    with TestClient(app) as client:
        yield client


def legacy(http: Any, name: str, version: str = "1.16.1") -> Subsonic:
    """A client whose answers are validated against the plain 1.16.1 XSD."""
    client = Subsonic(http, client=name, version=version)
    client.legacy = True
    return client


def xml(client: Subsonic, method: str, **params: Any) -> etree._Element:
    r = client.raw(method, fmt="xml", **params)
    assert r.status_code == 200 and b'status="ok"' in r.content, r.text[:300]
    return etree.fromstring(r.content)


def some_album(api: Subsonic) -> str:
    albums = api.ok("getAlbumList2", type="alphabeticalByName", size=50)["albumList2"]["album"]
    return next(a["id"] for a in albums if a.get("songCount", 0) >= 2)


def test_dsub_gets_plain_subsonic_xml(http: Any) -> None:
    dsub = Subsonic(http, client="DSub", version="1.2.0")  # legacy validation: tests/conftest.py
    album_id = some_album(Subsonic(http))
    for method, params in (("getAlbum", {"id": album_id}), ("search3", {"query": "", "songCount": 20}),
                           ("getRandomSongs", {"size": 5}), ("getAlbumList2", {"type": "newest"}),
                           ("getArtists", {}), ("ping", {})):
        root = xml(dsub, method, **params)
        assert root.get("version") == "1.16.1"
        for attr in ("type", "serverVersion", "openSubsonic"):
            assert attr not in root.attrib, (method, attr)
        for el in root.iter():
            assert not set(el.attrib) & set(OS_ATTRS), (method, el.tag, el.attrib)
            assert el.tag.removeprefix(NS) not in OS_ELEMENTS or el.tag == f"{NS}artists" and el.getparent() is root, \
                (method, el.tag)
    # the same client in JSON: no OpenSubsonic fields either
    song = dsub.ok("getAlbum", id=album_id)["album"]["song"][0]
    assert not set(song) & set(OS_ATTRS + OS_ELEMENTS)


def test_unknown_clients_get_the_default(http: Any) -> None:
    other = Subsonic(http, client="Whatever 1.0")
    root = xml(other, "getAlbum", id=some_album(other))
    assert root.get("version") == "1.16.1" and root.get("openSubsonic") == "true"
    assert root.get("type") == "orbsonic"
    song = other.ok("getAlbum", id=some_album(other))["album"]["song"][0]
    assert "mediaType" in song and "genres" in song and "path" in song


def test_configured_version_is_reported(http: Any) -> None:
    old = legacy(http, "old player android")  # prefix, any case
    root = xml(old, "ping")
    assert root.get("version") == "1.13.0" and "openSubsonic" not in root.attrib
    body = old.ok("getAlbum", id=some_album(old))
    assert body["version"] == "1.13.0" and "openSubsonic" not in body
    assert not set(body["album"]["song"][0]) & set(OS_ATTRS + OS_ELEMENTS)
    # errors report it too
    err = old.raw("getAlbum", fmt="json", id="al-zzzz").json()["subsonic-response"]
    assert err["status"] == "failed" and err["version"] == "1.13.0"


def test_user_agent_selects_a_profile(http: Any) -> None:
    generic = Subsonic(http, client="Subsonic")
    r = generic.raw("ping", fmt="xml", headers={"User-Agent": "Mozilla/5.0 carplayer/3.1 (Linux)"})
    assert b'version="1.12.0"' in r.content
    plain = Subsonic(http, client="Subsonic")
    assert b'version="1.16.1"' in plain.raw("ping", fmt="xml", headers={"User-Agent": "curl/8"}).content
    # a c= prefix wins over the User-Agent
    old = legacy(http, "Old Player")
    r = old.raw("ping", fmt="xml", headers={"User-Agent": "CarPlayer/1"})
    assert b'version="1.13.0"' in r.content


def test_minimal_songs(http: Any) -> None:
    tiny = legacy(http, "Tiny", version="1.8.0")
    album_id = some_album(Subsonic(http))
    root = xml(tiny, "getAlbum", id=album_id)
    assert root.get("version") == "1.8.0"
    album = root.find(f"{NS}album")
    assert album is not None and album.get("created")  # required on AlbumID3: kept
    songs = album.findall(f"{NS}song")
    assert len(songs) >= 2
    for song in songs:
        assert not {"path", "playCount", "created", "isVideo"} & set(song.attrib), song.attrib
        assert song.get("id") and song.get("title") is not None and song.get("duration") and song.get("suffix")
    full = Subsonic(http).ok("getAlbum", id=album_id)["album"]["song"][0]
    assert "path" in full and "created" in full
    # directory children and random songs too
    for el in xml(tiny, "getRandomSongs", size=5).iter(f"{NS}song"):
        assert "path" not in el.attrib and "created" not in el.attrib


def test_legacy_clients_setting_empty_gives_dsub_opensubsonic(library_db: str, test_library: tuple[Path, Any],
                                                              tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    with TestClient(make_app(library_db, tmp_path, (test_library[0],), legacy_clients=())) as http:
        dsub = Subsonic(http, client="DSub")
        dsub.legacy = False  # now an OpenSubsonic client: validated against the OpenSubsonic schemas
        root = xml(dsub, "ping")
        assert root.get("openSubsonic") == "true"
