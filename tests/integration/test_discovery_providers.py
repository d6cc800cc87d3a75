"""Discovery with Last.fm and MusicBrainz configured, both local fakes on loopback: data is
fetched by background jobs (never on the request), cached, served, and kept when the
provider is down, slow or answers garbage (the library of tests/integration/test_discovery.py)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from starlette.testclient import TestClient

from orbsonic import jobs
from tests.conftest import Subsonic, make_app
from tests.integration.conftest import clone_from
from tests.integration.fake_services import FakeService, Seen
from tests.integration.test_discovery import World, _image, _near, disco_template  # noqa: F401

BRASS_BIO = "Brass Hollow are a band from the valley."


def _png_bytes(color: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (500, 500), color).save(buf, "PNG")
    return buf.getvalue()


def _artist_info(seen: Seen) -> dict[str, Any]:
    name = seen.params.get("artist", "")
    slug = name.replace(" ", "+")
    return {"artist": {
        "name": name, "mbid": "", "url": f"https://www.last.fm/music/{slug}",
        "image": [{"#text": "", "size": "small"},
                  {"#text": "https://lastfm.freetls.fastly.net/i/u/300x300/2a96cbd8b46e442fc41c2b86b821562f.png",
                   "size": "large"},
                  {"#text": f"{seen.headers.get('Host') and 'http://' + seen.headers['Host']}/img/{slug}.png",
                   "size": "extralarge"}],
        "bio": {"summary": f'{name} are a band from the valley. <a href="https://www.last.fm/music/{slug}">'
                           "Read more on Last.fm</a>"}}}


def lastfm_routes() -> dict[str, Any]:
    return {
        "artist.getInfo": _artist_info,
        "artist.getSimilar": {"similarartists": {"artist": [
            {"name": "Aurora Vale", "mbid": ""}, {"name": "Nobody Known", "mbid": ""}, {"name": "Dune Choir"}]}},
        "artist.getTopTracks": {"toptracks": {"track": [{"name": "Zinc"}, {"name": "Rust"}, {"name": "Not Ours"}]}},
        "album.getInfo": {"album": {"name": "Tin", "url": "https://www.last.fm/music/Brass+Hollow/Tin", "mbid": "",
                                    "wiki": {"summary": "An album about metals."}}},
        "/img/Brass+Hollow.png": _png_bytes("green"),
        "/img/Aurora+Vale.png": _png_bytes("white"),
        "/img/Dune+Choir.png": _png_bytes("black"),
    }


def mb_routes() -> dict[str, Any]:
    return {"/ws/2/artist": lambda s: {"artists": [
                {"id": "f00dfeed-0000-4000-8000-00000000b4a5", "name": "Brass Hollow", "score": 100}]
                if "Brass Hollow" in s.params.get("query", "") else []},
            "/ws/2/release": {"releases": [{"id": "7e1ea5e0-0000-4000-8000-000000000711", "title": "Tin",
                                            "score": 100}]}}


class Providers:
    def __init__(self, world: World, lastfm: FakeService, mb: FakeService) -> None:
        self.world, self.lastfm, self.mb = world, lastfm, mb


def _settings(lastfm_url: str, mb_url: str) -> dict[str, Any]:
    return {"lastfm_api_key": "test-key", "lastfm_url": lastfm_url + "/2.0/", "musicbrainz_url": mb_url,
            "provider_timeout": 1}


@pytest.fixture
def providers(pg: Any, disco_template: tuple[str, Path], tmp_path: Path,  # noqa: F811
              monkeypatch: pytest.MonkeyPatch) -> Iterator[Providers]:
    with FakeService() as lastfm, FakeService() as mb:
        lastfm.routes, mb.routes = lastfm_routes(), mb_routes()
        url = clone_from(pg, disco_template[0])
        kw = _settings(lastfm.url, mb.url)
        # the job worker reads its settings like `orbsonic worker` does: from the environment
        for key, value in kw.items():
            monkeypatch.setenv(f"ORBSONIC_{key.upper()}", str(value))
        monkeypatch.setenv("ORBSONIC_DATA_DIR", str(tmp_path))
        with TestClient(make_app(url, tmp_path, (disco_template[1],), **kw)) as http:
            yield Providers(World(url, disco_template[1], Subsonic(http)), lastfm, mb)


def test_provider_data_comes_from_a_background_job_and_is_cached(providers: Providers) -> None:
    w, api = providers.world, providers.world.api
    brass = w.artist("Brass Hollow")
    first = api.ok("getArtistInfo2", id=brass)["artistInfo2"]
    assert "biography" not in first and "lastFmUrl" not in first  # local data only: nothing fetched yet
    assert providers.lastfm.seen() == [] and providers.mb.seen() == []  # never on the request path
    assert w.jobs() == ["metadata.artist"]  # one waiting job, however many requests
    w.run_jobs()
    assert {s.params["method"] for s in providers.lastfm.seen() if "method" in s.params} == {
        "artist.getInfo", "artist.getSimilar", "artist.getTopTracks"}
    assert all(s.params.get("api_key") == "test-key" for s in providers.lastfm.seen() if "method" in s.params)
    info = api.ok("getArtistInfo2", id=brass, count=5)["artistInfo2"]
    assert info["biography"] == BRASS_BIO  # the "Read more" link removed
    assert info["lastFmUrl"] == "https://www.last.fm/music/Brass+Hollow"
    assert info["musicBrainzId"] == "f00dfeed-0000-4000-8000-00000000b4a5"  # from MusicBrainz: no tag
    img = _image(api, info["largeImageUrl"])
    assert max(img.size) == 500 and _near(img, (0, 128, 0))  # Last.fm's picture, downloaded and served
    assert max(_image(api, info["smallImageUrl"]).size) == 64
    # Last.fm's similar artists found in the library first, in its order; the absent one left out
    assert [a["name"] for a in info["similarArtist"]] == ["Aurora Vale", "Dune Choir"]
    both = api.ok("getArtistInfo", id=brass, includeNotPresent="true")["artistInfo"]["similarArtist"]
    assert [(a["name"], a["id"] == "") for a in both] == [
        ("Aurora Vale", False), ("Dune Choir", False), ("Nobody Known", True)]
    assert [a["name"] for a in api.ok("getArtistInfo", id=brass, count=1)["artistInfo"]["similarArtist"]] == [
        "Aurora Vale"]
    # Last.fm's top tracks matched to the library (no plays on this server yet)
    assert w.titles(api.ok("getTopSongs", id=brass)["topSongs"]["song"]) == ["Zinc", "Rust"]
    api.ok("scrobble", id=w.track("Copper"), time=1_600_000_000_000)
    assert w.titles(api.ok("getTopSongs", artist="Brass Hollow")["topSongs"]["song"]) == ["Copper", "Zinc", "Rust"]
    # the cache is fresh: nothing more is fetched or queued
    before = len(providers.lastfm.seen())
    api.ok("getArtistInfo2", id=brass)
    assert w.jobs() == [] and len(providers.lastfm.seen()) == before


def test_local_files_win_over_the_provider(providers: Providers) -> None:
    w, api = providers.world, providers.world.api
    api.ok("getArtistInfo2", id=w.artist("Aurora Vale"))
    w.run_jobs()
    info = api.ok("getArtistInfo2", id=w.artist("Aurora Vale"))["artistInfo2"]
    assert info["biography"] == "Aurora Vale make slow, bright songs."  # artist.txt
    assert info["lastFmUrl"] == "https://www.last.fm/music/Aurora+Vale"
    assert _near(_image(api, info["largeImageUrl"]), (255, 0, 0))  # artist.jpg, not Last.fm's white one


def test_album_info_from_the_providers(providers: Providers) -> None:
    w, api = providers.world, providers.world.api
    assert "notes" not in api.ok("getAlbumInfo2", id=w.album("Tin"))["albumInfo"]
    assert w.jobs() == ["metadata.album"]
    w.run_jobs()
    [req] = providers.lastfm.seen("album.getInfo")
    assert (req.params["artist"], req.params["album"]) == ("Brass Hollow", "Tin")
    info = api.ok("getAlbumInfo", id=w.album("Tin"))["albumInfo"]
    assert info["notes"] == "An album about metals."
    assert info["lastFmUrl"] == "https://www.last.fm/music/Brass+Hollow/Tin"
    assert info["musicBrainzId"] == "7e1ea5e0-0000-4000-8000-000000000711"
    # the sidecar wins
    api.ok("getAlbumInfo", id=w.album("First Light"))
    w.run_jobs()
    assert api.ok("getAlbumInfo", id=w.album("First Light"))["albumInfo"]["notes"] == "Recorded in one night."


@pytest.mark.parametrize("mode", ["down", "slow", "garbage", "refused"])
def test_a_failing_provider_leaves_local_data(providers: Providers, mode: str) -> None:
    w, api = providers.world, providers.world.api
    if mode == "refused":
        providers.lastfm.server.shutdown()
        providers.lastfm.server.server_close()  # nothing listens there any more
        providers.mb.mode = "down"
    else:
        providers.lastfm.mode = providers.mb.mode = mode
        providers.lastfm.slow_s = providers.mb.slow_s = 2.5  # provider_timeout is 1 s
    brass, aurora = w.artist("Brass Hollow"), w.artist("Aurora Vale")
    api.ok("getArtistInfo2", id=brass)
    api.ok("getArtistInfo2", id=aurora)
    api.ok("getAlbumInfo", id=w.album("Tin"))
    w.run_jobs()
    assert w.jobs("failed") == []  # a provider failure is no job failure: the expiry retries
    errors = w.q("SELECT artist_id, error, expires_at - now() < interval '1 day' FROM artist_info ORDER BY 1")
    assert len(errors) == 2 and all(e[1] and e[2] for e in errors), errors  # retried after ttl/10
    info = api.ok("getArtistInfo2", id=aurora)["artistInfo2"]
    assert info["biography"] == "Aurora Vale make slow, bright songs."
    assert info["musicBrainzId"]
    assert [a["name"] for a in info["similarArtist"]] == ["Brass Hollow"]  # the local fallback
    assert "biography" not in api.ok("getArtistInfo2", id=brass)["artistInfo2"]
    assert "notes" not in api.ok("getAlbumInfo", id=w.album("Tin"))["albumInfo"]
    assert api.ok("getTopSongs", artist="Brass Hollow")["topSongs"].get("song", []) == []


def test_an_outage_keeps_what_was_cached_and_the_sweep_refreshes(providers: Providers) -> None:
    w, api = providers.world, providers.world.api
    brass = w.artist("Brass Hollow")
    api.ok("getArtistInfo2", id=brass)
    w.run_jobs()
    w.q("UPDATE artist_info SET expires_at = now() - interval '1 second' RETURNING 1")
    providers.lastfm.mode = "down"
    stale = api.ok("getArtistInfo2", id=brass)["artistInfo2"]
    assert stale["biography"] == BRASS_BIO  # served stale while the refresh waits
    w.run_jobs()
    [(bio, error, similar)] = w.q("SELECT biography, error, similar_artists FROM artist_info")
    assert bio.startswith("Brass Hollow are") and "503" in error and len(similar) == 3
    assert api.ok("getArtistInfo2", id=brass)["artistInfo2"]["biography"] == BRASS_BIO
    # the periodic sweep queues the rows that expired (here: by hand, then up again)
    w.q("UPDATE artist_info SET expires_at = now() - interval '1 second' RETURNING 1")
    providers.lastfm.mode = "up"
    providers.lastfm.routes["artist.getSimilar"] = {"similarartists": {"artist": [{"name": "Cinder Road"}]}}

    async def sweep() -> None:
        app = jobs.make_app(w.url)
        async with app.open_async():
            await jobs.defer(app, "metadata.refresh")

    asyncio.run(sweep())
    w.run_jobs()
    info = api.ok("getArtistInfo2", id=brass)["artistInfo2"]
    assert [a["name"] for a in info["similarArtist"]][0] == "Cinder Road"
    assert w.q("SELECT error FROM artist_info") == [(None,)]
