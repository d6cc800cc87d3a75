"""The sidecars of an S3 music folder, against a real moto[server] on loopback: lyrics (`.lrc`
with language variants, `.txt`), `.m3u`/`.m3u8` and `.nsp` playlist files, the artist image and
the artist/album notes are indexed and served as from a local folder, follow changes and removals
between scans, and neither a sidecar vanishing between listing and read nor the store going down
fails a scan or removes anything."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from PIL import Image

from orbsonic.ids import public_id
from orbsonic.scanner.scanner import scan
from orbsonic.storage import s3
from orbsonic.storage.ingest import ingest
from tests.conftest import Subsonic, add_users, clone_db
from tests.integration.s3_server import MotoServer
from tests.integration.test_discovery import write_library
from tests.integration.test_s3 import client_for, config_of

pytestmark = pytest.mark.usefixtures("s3_config_reset")

FIRST = "Aurora Vale/2001 - First Light"
DREAMY = {"name": "Dreamy", "all": [{"is": {"genre": "Dream Pop"}}], "sort": "title"}
_prefixes = itertools.count()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local library with every kind of sidecar (ingested into a bucket by `side`)."""
    root = tmp_path_factory.mktemp("s3side") / "music"
    write_library(root)  # artist.jpg, artist.txt, an album notes.txt, folder.jpg
    lrc = "[00:01.00]First light\n[00:02.00]breaks\n"
    (root / FIRST / "01 Dawn.en.lrc").write_text(lrc, encoding="utf-8")
    (root / FIRST / "01 Dawn.txt").write_text("Plain dawn\n", encoding="utf-8")
    (root / FIRST / "02 Halo.lrc").write_text("[00:03.00]Halo line\n", encoding="utf-8")
    (root / "Mix.m3u").write_text(f"#EXTM3U\n{FIRST}/01 Dawn.flac\nBrass Hollow/1999 - Tin/01 Rust.flac\n",
                                  encoding="utf-8")
    (root / "lists").mkdir()
    (root / "lists" / "Back.m3u8").write_text("../Cinder Road/2010 - Ash/01 Smoke.flac\n", encoding="utf-8")
    (root / "lists" / "Dream Pop.nsp").write_text(json.dumps(DREAMY), encoding="utf-8")
    return root


class Side:
    """One S3 copy of `source` scanned into a database of its own, with its API."""

    def __init__(self, url: str, folder: str, config: s3.S3Config, api: Subsonic, source: Path) -> None:
        self.url, self.folder, self.config, self.api, self.source = url, folder, config, api, source
        self.storage = s3.S3Storage(config, "side", folder.removeprefix("s3://side/"))

    def rescan(self, **kw: Any) -> Any:
        s3.configure(self.config)
        return scan(self.url, [self.folder], workers=1, **kw)

    def q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, args).fetchall()

    def lyrics(self, title: str) -> dict[tuple[str, bool], list[dict[str, Any]]]:
        [(ident,)] = self.q("SELECT id FROM tracks WHERE title = %s", title)
        body = self.api.ok("getLyricsBySongId", id=public_id("tr", ident))
        sets = body["lyricsList"].get("structuredLyrics", [])
        return {(s["lang"], s["synced"]): s["line"] for s in sets}

    def playlists(self) -> dict[str, list[str]]:
        out = {}
        for p in self.api.ok("getPlaylists")["playlists"].get("playlist", []):
            entries = self.api.ok("getPlaylist", id=p["id"])["playlist"].get("entry", [])
            out[p["name"]] = [e["title"] for e in entries]
        return out

    def artist_info(self) -> dict[str, Any]:
        [(ident,)] = self.q("SELECT id FROM artists WHERE name = 'Aurora Vale'")
        return self.api.ok("getArtistInfo2", id=public_id("ar", ident))["artistInfo2"]

    def album_notes(self) -> str | None:
        [(ident,)] = self.q("SELECT id FROM albums WHERE name = 'First Light'")
        return self.api.ok("getAlbumInfo2", id=public_id("al", ident))["albumInfo"].get("notes")


@pytest.fixture
def side(pg: Any, template_url: str, moto: MotoServer, source: Path, tmp_path: Path) -> Iterator[Side]:
    config = config_of(moto)
    folder = f"s3://side/lib{next(_prefixes)}"
    ingest(source, folder, config=config)
    url = clone_db(pg, template_url)
    add_users(url, tmp_path)  # playlist files are imported once an admin exists
    s3.configure(config)
    report = scan(url, [folder], workers=1)
    assert report.added == 12 and not report.errors and report.skipped == 0, report
    with client_for(url, tmp_path, moto, folder) as http:
        yield Side(url, folder, config, Subsonic(http), source)


def _red(api: Subsonic, url: str) -> bool:
    r = api.http.get(url)
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), r.text[:200]
    px = Image.open(io.BytesIO(r.content)).convert("RGB").getpixel((10, 10))
    return all(abs(a - b) <= 8 for a, b in zip(px, (255, 0, 0)))


def test_every_sidecar_kind_is_indexed_from_s3_and_served(side: Side) -> None:
    assert side.lyrics("Dawn") == {
        ("en", True): [{"start": 1000, "value": "First light"}, {"start": 2000, "value": "breaks"}],
        ("xxx", False): [{"value": "Plain dawn"}],
    }
    assert side.lyrics("Halo") == {("xxx", True): [{"start": 3000, "value": "Halo line"}]}
    assert side.lyrics("Glass") == {}
    lists = side.playlists()
    assert lists["Mix"] == ["Dawn", "Rust"]
    assert lists["Back"] == ["Smoke"]  # a relative "../" entry, resolved inside the prefix
    assert lists["Dreamy"] == sorted(["Dawn", "Halo", "Glass", "Dusk", "Ember", "Rust", "Copper", "Zinc"])
    info = side.artist_info()
    assert info["biography"] == "Aurora Vale make slow, bright songs."
    assert _red(side.api, info["largeImageUrl"])  # artist.jpg, read from the bucket
    assert side.album_notes() == "Recorded in one night."
    again = side.rescan()  # nothing changed: nothing read again
    assert (again.read, again.added, again.updated, again.removed) == (0, 0, 0, 0)
    assert side.playlists() == lists


def test_changed_and_removed_sidecars_between_scans(side: Side) -> None:
    st = side.storage
    st.put(f"{FIRST}/01 Dawn.en.lrc", b"[00:05.00]Changed\n")
    st.delete(f"{FIRST}/01 Dawn.txt")
    st.delete(f"{FIRST}/02 Halo.lrc")
    st.put(f"{FIRST}/03 Glass.de.lrc", "[00:04.00]Glas\n".encode())
    st.put("Mix.m3u", f"{FIRST}/02 Halo.flac\n".encode())
    st.put("lists/Dream Pop.nsp", json.dumps({**DREAMY, "all": [{"is": {"genre": "Metal"}}]}).encode())
    st.delete("Aurora Vale/artist.txt")
    st.delete(f"{FIRST}/notes.txt")
    report = side.rescan()
    assert report.read == 3 and report.updated == 3 and report.removed == 0 and not report.errors, report
    assert side.lyrics("Dawn") == {("en", True): [{"start": 5000, "value": "Changed"}]}
    assert side.lyrics("Halo") == {}
    assert side.lyrics("Glass") == {("de", True): [{"start": 4000, "value": "Glas"}]}
    lists = side.playlists()
    assert lists["Mix"] == ["Halo"]
    assert lists["Dreamy"] == ["Coal", "Dune", "Smoke", "Wind"]
    info = side.artist_info()
    assert "biography" not in info and _red(side.api, info["largeImageUrl"])
    assert side.album_notes() is None
    st.delete("Aurora Vale/artist.jpg")  # the artist image falls back to the album cover
    assert not _red(side.api, side.artist_info()["largeImageUrl"])


def test_a_sidecar_gone_between_listing_and_read_is_skipped(side: Side) -> None:
    st = side.storage
    st.put(f"{FIRST}/01 Dawn.en.lrc", b"[00:06.00]Soon gone\n")
    st.put(f"{FIRST}/01 Dawn.txt", b"Still here\n")

    def vanish(phase: str, done: int, total: int) -> None:
        if phase == "reading" and done == 0:  # listed, not read yet
            st.delete(f"{FIRST}/01 Dawn.en.lrc")

    report = side.rescan(progress=vanish)
    assert report.skipped == 0 and report.updated == 1 and not report.errors, report
    assert side.lyrics("Dawn") == {("xxx", False): [{"value": "Still here"}]}
    report = side.rescan()  # the listing no longer names it: read once more, same lyrics
    assert report.updated == 1 and side.lyrics("Dawn") == {("xxx", False): [{"value": "Still here"}]}


def test_the_store_going_down_during_a_sidecar_read_removes_nothing(side: Side, moto: MotoServer) -> None:
    before = (side.lyrics("Dawn"), side.playlists())
    tracks = side.q("SELECT count(*) FROM tracks")
    side.storage.put(f"{FIRST}/01 Dawn.txt", b"New words\n")
    side.storage.put("Mix.m3u", b"nothing resolves\n")

    def down(phase: str, done: int, total: int) -> None:
        if phase == "reading" and done == 0:
            moto.stop()

    try:
        report = side.rescan(progress=down)
        assert report.removed == 0 and report.added == 0 and report.updated == 0, report
        assert report.skipped == 1  # the changed track could not be read: kept as it was
        assert side.q("SELECT count(*) FROM tracks") == tracks
        assert (side.lyrics("Dawn"), side.playlists()) == before
        info = side.artist_info()  # no local files while the store is down, a clean answer
        assert "biography" not in info
    finally:
        moto.start()
    # back (empty, as moto restarts): once the objects are there again the change is read
    ingest(side.source, side.folder, config=side.config)
    side.storage.put(f"{FIRST}/01 Dawn.txt", b"New words\n")
    report = side.rescan()
    assert report.removed == 0 and report.skipped == 0 and not report.errors, report
    assert side.lyrics("Dawn")[("xxx", False)] == [{"value": "New words"}]
    assert side.q("SELECT count(*) FROM unreadable_files") == [(0,)]
