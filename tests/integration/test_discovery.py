"""Discovery: getArtistInfo(2), getAlbumInfo(2), getSimilarSongs(2), getTopSongs — local data,
then Last.fm and MusicBrainz through the metadata cache and its jobs, every provider a local
fake on loopback (tests/integration/fake_services.py) that is also down, slow and garbage.

The library (written here, real FLAC files): Aurora Vale (two Dream Pop albums, `artist.jpg`,
`artist.txt`, an album `notes.txt`, a MusicBrainz artist id in the tags), Brass Hollow (Dream
Pop, no artist files), Cinder Road and Dune Choir (Metal; Dune Choir's folder has `folder.jpg`).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image
from starlette.testclient import TestClient

from orbsonic.ids import public_id
from orbsonic.jobs import worker
from tests.conftest import Subsonic, add_users, clone_db, make_app
from tests.integration.conftest import clone_from
from tests.integration.fake_services import FakeService

AURORA_MBID = "5b11f4ce-a62d-471e-81fc-a69a8278c7da"
LIBRARY = {  # artist: [(album, year, genre, [titles])]
    "Aurora Vale": [("First Light", 2001, "Dream Pop", ["Dawn", "Halo", "Glass"]),
                    ("Second Light", 2004, "Dream Pop", ["Dusk", "Ember"])],
    "Brass Hollow": [("Tin", 1999, "Dream Pop", ["Rust", "Copper", "Zinc"])],
    "Cinder Road": [("Ash", 2010, "Metal", ["Smoke", "Coal"])],
    "Dune Choir": [("Sand", 2012, "Metal", ["Dune", "Wind"])],
}


def _png(path: Path, size: int, color: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), color).save(path, "PNG")


def write_library(root: Path) -> None:
    from bench.tagwrite import TrackTags, default_template_dir, load_templates, retag

    template = load_templates(["flac16"], default_template_dir())["flac16"]
    for artist, albums in LIBRARY.items():
        for album, year, genre, titles in albums:
            folder = root / artist / f"{year} - {album}"
            folder.mkdir(parents=True, exist_ok=True)
            base = TrackTags(artists=(artist,), album_artist=artist, album=album, date=str(year), genres=(genre,),
                             mbid_artists=(AURORA_MBID,) if artist == "Aurora Vale" else (),
                             mbid_album_artists=(AURORA_MBID,) if artist == "Aurora Vale" else ())
            for n, title in enumerate(titles, 1):
                data = retag(template, "flac16", replace(base, title=title, track_no=n, track_total=len(titles)))
                (folder / f"{n:02d} {title}.flac").write_bytes(data)
    _png(root / "Aurora Vale" / "artist.jpg", 400, "red")
    (root / "Aurora Vale" / "artist.txt").write_text("Aurora Vale make slow, bright songs.\n", encoding="utf-8")
    (root / "Aurora Vale" / "2001 - First Light" / "notes.txt").write_text("Recorded in one night.", encoding="utf-8")
    _png(root / "Aurora Vale" / "2001 - First Light" / "cover.png", 500, "blue")
    _png(root / "Dune Choir" / "folder.jpg", 300, "yellow")


@pytest.fixture(scope="module")
def disco_template(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from orbsonic.scanner.scanner import scan

    root = tmp_path_factory.mktemp("disco") / "music"
    write_library(root)
    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert report.added == 12 and not report.errors, report
    add_users(url, tmp_path_factory.mktemp("disco-data"))
    with psycopg.connect(url) as conn:  # the scan's own jobs (loudness, thumbnails) are not ours
        conn.execute("DELETE FROM procrastinate_jobs")
    return url, root


class World:
    def __init__(self, url: str, root: Path, api: Subsonic) -> None:
        self.url, self.root, self.api = url, root, api

    def q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, args).fetchall()

    def artist(self, name: str) -> str:
        [(ident,)] = self.q("SELECT id FROM artists WHERE name = %s", name)
        return public_id("ar", ident)

    def album(self, name: str) -> str:
        [(ident,)] = self.q("SELECT id FROM albums WHERE name = %s", name)
        return public_id("al", ident)

    def track(self, title: str) -> str:
        [(ident,)] = self.q("SELECT id FROM tracks WHERE title = %s", title)
        return public_id("tr", ident)

    def titles(self, songs: list[dict[str, Any]]) -> list[str]:
        return [s["title"] for s in songs]

    def run_jobs(self) -> None:
        async def go() -> None:
            await worker.run(self.url, concurrency=2, wait=False, name="t", install_signal_handlers=False)

        for _ in range(5):
            asyncio.run(go())
            if not self.q("SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"):
                return
        raise AssertionError("jobs still waiting")

    def jobs(self, status: str = "todo") -> list[str]:
        return [r[0] for r in self.q("SELECT task_name FROM procrastinate_jobs WHERE status = %s ORDER BY id",
                                     status)]


@pytest.fixture
def world(pg: Any, disco_template: tuple[str, Path], tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """The library with no provider configured."""
    url = clone_from(pg, disco_template[0])
    monkeypatch.setenv("ORBSONIC_DATA_DIR", str(tmp_path))
    with TestClient(make_app(url, tmp_path, (disco_template[1],))) as http:
        yield World(url, disco_template[1], Subsonic(http))


def _near(img: Image.Image, rgb: tuple[int, int, int]) -> bool:
    """The image's centre is about colour `rgb` (a resized cover is a JPEG)."""
    px = img.convert("RGB").getpixel((img.size[0] // 2, img.size[1] // 2))
    return all(abs(a - b) <= 8 for a, b in zip(px, rgb))


def _image(api: Subsonic, url: str) -> Image.Image:
    assert url.startswith("http://testserver/rest/getCoverArt?"), url
    r = api.http.get(url)
    assert r.status_code == 200, r.text[:200]
    return Image.open(io.BytesIO(r.content))


# ------------------------------------------------------------------ local data

def test_artist_info_from_local_files(world: World) -> None:
    api = world.api
    for method in ("getArtistInfo", "getArtistInfo2"):
        info = api.ok(method, id=world.artist("Aurora Vale"))["artistInfo2" if method.endswith("2") else "artistInfo"]
        assert info["biography"] == "Aurora Vale make slow, bright songs."
        assert info["musicBrainzId"] == AURORA_MBID
        assert "lastFmUrl" not in info
        # the artist's own artist.jpg (red, 400 px), at the size each URL names
        for key, px in (("smallImageUrl", 64), ("mediumImageUrl", 300), ("largeImageUrl", 600)):
            img = _image(api, info[key])
            assert max(img.size) == min(px, 400)
            assert _near(img, (255, 0, 0))
    # a song or album id stands for its artist
    by_song = api.ok("getArtistInfo", id=world.track("Halo"))["artistInfo"]
    assert by_song["biography"].startswith("Aurora Vale")
    by_album = api.ok("getArtistInfo2", id=world.album("Second Light"))["artistInfo2"]
    assert by_album["musicBrainzId"] == AURORA_MBID


def test_artist_image_falls_back_to_folder_jpg_then_the_album_cover(world: World) -> None:
    api = world.api
    dune = api.ok("getArtistInfo2", id=world.artist("Dune Choir"))["artistInfo2"]
    assert _near(_image(api, dune["largeImageUrl"]), (255, 255, 0))
    assert "biography" not in dune and "musicBrainzId" not in dune
    brass = api.ok("getArtistInfo2", id=world.artist("Brass Hollow"))["artistInfo2"]
    assert "largeImageUrl" not in brass  # no artist picture, no album cover


def test_album_info_from_local_files(world: World) -> None:
    api = world.api
    for method in ("getAlbumInfo", "getAlbumInfo2"):
        info = api.ok(method, id=world.album("First Light"))["albumInfo"]
        assert info["notes"] == "Recorded in one night."
        assert _near(_image(api, info["largeImageUrl"]), (0, 0, 255))
        assert max(_image(api, info["smallImageUrl"]).size) == 64
    by_song = api.ok("getAlbumInfo", id=world.track("Dawn"))["albumInfo"]
    assert by_song["notes"] == "Recorded in one night."
    assert "notes" not in api.ok("getAlbumInfo2", id=world.album("Tin"))["albumInfo"]
    api.fail("getAlbumInfo", 70, id="al-zzzz")
    api.fail("getAlbumInfo", 70, id=world.artist("Aurora Vale"))
    api.fail("getAlbumInfo2", 10)


def test_folder_mode_directory_ids_stand_for_their_artist_and_album(world: World) -> None:
    """DSub in folder mode sends getIndexes/getMusicDirectory ids (dr-…) to getArtistInfo,
    getAlbumInfo and getSimilarSongs (the conformance suite found them answering 70)."""
    api = world.api
    (album_dir, artist_dir), = world.q(
        """SELECT d.id, d.parent_id FROM albums al JOIN directories d ON d.id = al.directory_id
            WHERE al.name = %s""", "First Light")
    album = api.ok("getAlbumInfo", id=public_id("dr", album_dir))["albumInfo"]
    assert album["notes"] == "Recorded in one night."
    # an artist folder holds album folders: its artist is the one of the songs below it
    artist = api.ok("getArtistInfo", id=public_id("dr", artist_dir))["artistInfo"]
    assert artist["biography"] == "Aurora Vale make slow, bright songs."
    assert api.ok("getSimilarSongs", id=public_id("dr", album_dir), count=5)["similarSongs"]["song"]
    [(unknown,)] = world.q("SELECT max(id) + 1000 FROM directories")
    api.fail("getArtistInfo", 70, id=public_id("dr", unknown))


def test_similar_artists_from_genres_and_co_listening(world: World) -> None:
    api = world.api
    aurora = world.artist("Aurora Vale")
    names = [a["name"] for a in api.ok("getArtistInfo2", id=aurora)["artistInfo2"]["similarArtist"]]
    assert names == ["Brass Hollow"]  # shares Dream Pop; the Metal artists share nothing yet
    # someone who plays Aurora Vale also plays Cinder Road a lot: co-listening makes it similar
    for n, title in enumerate(("Dawn", "Halo", "Smoke", "Coal", "Smoke", "Coal")):
        api.ok("scrobble", id=world.track(title), time=1_600_000_000_000 + n * 1000)
    names = [a["name"] for a in api.ok("getArtistInfo2", id=aurora)["artistInfo2"]["similarArtist"]]
    assert names[0] == "Cinder Road" and "Brass Hollow" in names and "Dune Choir" not in names
    legacy = api.ok("getArtistInfo", id=aurora, count=1)["artistInfo"]["similarArtist"]
    assert [a["name"] for a in legacy] == ["Cinder Road"]  # count honoured
    assert legacy[0]["id"] == world.artist("Cinder Road")
    assert api.ok("getArtistInfo", id=aurora, count=0)["artistInfo"].get("similarArtist", []) == []
    api.fail("getArtistInfo", 70, id="ar-zzzz")
    api.fail("getArtistInfo2", 10)


def test_similar_songs_is_a_varied_mix_of_the_seed_and_its_neighbours(world: World) -> None:
    api = world.api
    aurora, brass = set(LIBRARY["Aurora Vale"][0][3] + LIBRARY["Aurora Vale"][1][3]), set(LIBRARY["Brass Hollow"][0][3])
    mixes = []
    for _ in range(6):
        songs = api.ok("getSimilarSongs2", id=world.artist("Aurora Vale"), count=6)["similarSongs2"]["song"]
        titles = world.titles(songs)
        assert len(titles) == 6 and len(set(titles)) == 6
        assert set(titles) <= aurora | brass  # the seed artist and its (Dream Pop) neighbour
        assert set(titles) & aurora and set(titles) & brass
        mixes.append(tuple(titles))
    assert len(set(mixes)) > 1  # a new mix on every call
    # a song seed leaves the song itself out; count is honoured
    songs = api.ok("getSimilarSongs", id=world.track("Dawn"), count=3)["similarSongs"]["song"]
    assert len(songs) == 3 and "Dawn" not in world.titles(songs)
    by_album = api.ok("getSimilarSongs", id=world.album("Ash"), count=50)["similarSongs"]["song"]
    assert set(world.titles(by_album)) == {"Smoke", "Coal", "Dune", "Wind"}  # Metal: Cinder Road + Dune Choir
    assert api.ok("getSimilarSongs", id=world.track("Dawn"), count=0)["similarSongs"].get("song", []) == []
    api.fail("getSimilarSongs2", 70, id="ar-zzzz")
    api.fail("getSimilarSongs", 10)


def test_top_songs_by_server_wide_plays_by_name_or_id(world: World) -> None:
    api = world.api
    for n, title in enumerate(["Halo"] * 3 + ["Glass"] * 2 + ["Dusk"]):
        api.ok("scrobble", id=world.track(title), time=1_600_000_000_000 + n * 1000)
    by_name = api.ok("getTopSongs", artist="Aurora Vale")["topSongs"]["song"]
    assert world.titles(by_name) == ["Halo", "Glass", "Dusk"]
    assert world.titles(api.ok("getTopSongs", artist="aurora vale", count=2)["topSongs"]["song"]) == ["Halo", "Glass"]
    # topSongsByArtistId: id wins over artist
    by_id = api.ok("getTopSongs", id=world.artist("Aurora Vale"), artist="Brass Hollow")["topSongs"]["song"]
    assert world.titles(by_id) == ["Halo", "Glass", "Dusk"]
    assert api.ok("getTopSongs", artist="Nobody Here")["topSongs"].get("song", []) == []
    api.fail("getTopSongs", 10)
    api.fail("getTopSongs", 70, id="ar-zzzz")
    ext = {e["name"]: e["versions"] for e in api.ok("getOpenSubsonicExtensions")["openSubsonicExtensions"]}
    assert ext["topSongsByArtistId"] == [1]


def test_without_providers_nothing_is_queued(world: World) -> None:
    world.api.ok("getArtistInfo2", id=world.artist("Brass Hollow"))
    world.api.ok("getAlbumInfo", id=world.album("Tin"))
    assert not [j for j in world.jobs() if j.startswith("metadata.")]
