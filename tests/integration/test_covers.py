"""getCoverArt and the cover cache.

Every coverArt id the browsing endpoints hand out must resolve (client-compat §4.5, "coverArt
ids must resolve"); a folder image beats an embedded picture; `size` resizes (longest
side, aspect kept, never upscaled) through a disk cache under <data dir>/cache/covers/<size>/
that later requests are served from; anything that names no cover is error 70
(OpenSubsonic: `id` is a coverArt id only, subsonic-spec §2.8).
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from orbsonic.covers import CoverCache
from tests.conftest import Subsonic, add_users, clone_db, make_app

_PIL_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp", "BMP": "image/bmp"}


# ---------------------------------------------------------------------------- helpers

def get_cover(api: Subsonic, cover: str, **params: Any) -> httpx.Response:
    return api.raw("getCoverArt", id=cover, **params)


def image_of(r: httpx.Response) -> Image.Image:
    """The response as a decoded image, after checking status and content type."""
    assert r.status_code == 200, (r.status_code, r.text[:300])
    ctype = r.headers["content-type"]
    assert ctype.startswith("image/"), (ctype, r.content[:300])
    img = Image.open(io.BytesIO(r.content))
    img.load()
    assert _PIL_MIME[img.format] == ctype, (img.format, ctype)
    assert int(r.headers["content-length"]) == len(r.content)
    return img


def colour(img: Image.Image) -> tuple[int, ...]:
    """The RGB colour at the centre (the generated covers are plain colours)."""
    return img.convert("RGB").getpixel((img.width // 2, img.height // 2))  # type: ignore[return-value]


def near(a: tuple[int, ...], b: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def cache_root(http: Any) -> Path:
    """<data dir>/cache/covers of the app behind a TestClient."""
    settings = http.app.state.orbsonic.settings
    root = settings.data_dir / "cache" / "covers"
    assert http.app.state.orbsonic.covers.root == root
    return root


def fail_if_called(*_a: Any, **_k: Any) -> Any:
    raise AssertionError("the request was expected to be served from the cover cache")


@pytest.fixture(scope="module")
def songs(app_http: Any) -> dict[str, dict[str, Any]]:
    found = Subsonic(app_http).ok("search3", query="", songCount=500, albumCount=0,
                                  artistCount=0)["searchResult3"]["song"]
    return {s["path"]: s for s in found}


# ---------------------------------------------------------------------------- every id resolves

def _walk_cover_ids(api: Subsonic) -> dict[str, str]:
    """coverArt id -> where it was seen, over getAlbumList2/getAlbum, getArtists/getArtist,
    getIndexes/getMusicDirectory (recursively) and getSong."""
    seen: dict[str, str] = {}

    def note(item: dict[str, Any], where: str) -> None:
        if "coverArt" in item:
            seen.setdefault(item["coverArt"], where)

    for album in api.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]:
        note(album, "getAlbumList2")
        full = api.ok("getAlbum", id=album["id"])["album"]
        note(full, "getAlbum")
        for song in full["song"]:
            note(song, "getAlbum/song")
            note(api.ok("getSong", id=song["id"])["song"], "getSong")
    for index in api.ok("getArtists")["artists"]["index"]:
        for artist in index["artist"]:
            note(artist, "getArtists")
            full = api.ok("getArtist", id=artist["id"])["artist"]
            note(full, "getArtist")
            for album in full.get("album", []):
                note(album, "getArtist/album")
    stack = [a["id"] for i in api.ok("getIndexes")["indexes"].get("index", []) for a in i["artist"]]
    while stack:
        directory = api.ok("getMusicDirectory", id=stack.pop())["directory"]
        for child in directory.get("child", []):
            note(child, "getMusicDirectory")
            if child["isDir"]:
                stack.append(child["id"])
    return seen


def test_every_cover_id_handed_out_resolves(api: Subsonic) -> None:
    seen = _walk_cover_ids(api)
    kinds = {c.split("-", 1)[0] for c in seen}
    assert {"al", "dr"} <= kinds, kinds  # album covers and folder covers are both in play
    assert len(seen) >= 12
    for cover, where in seen.items():
        r = get_cover(api, cover)
        img = image_of(r)
        assert img.width > 0 and img.height > 0, (cover, where)
        assert "cache-control" in r.headers


def test_ids_are_the_same_everywhere(api: Subsonic, songs: dict[str, dict[str, Any]]) -> None:
    """An album, its songs and its artist name the same cover (clients cache by id)."""
    song = songs["Björk/2001 - Vespertine/01 Hidden Place.flac"]
    album = api.ok("getAlbum", id=song["albumId"])["album"]
    assert album["coverArt"] == song["coverArt"] == album["song"][0]["coverArt"]
    artist = api.ok("getArtist", id=album["artistId"])["artist"]
    assert artist["coverArt"] in {a.get("coverArt") for a in artist["album"]}


# ---------------------------------------------------------------------------- which image

def _album_cover_of(entry_path: str, songs: dict[str, dict[str, Any]], api: Subsonic) -> str | None:
    song = songs[entry_path]
    return api.ok("getAlbum", id=song["albumId"])["album"].get("coverArt")


def test_folder_image_beats_embedded_picture(api: Subsonic, test_library: Any,
                                             songs: dict[str, dict[str, Any]]) -> None:
    """Albums with cover.jpg / folder.png / front.jpg serve exactly that file, also when the
    tracks carry a (different) embedded picture."""
    root, manifest = test_library
    checked = set()
    both = 0
    for e in manifest.files:
        if not e.readable or not e.folder_cover or e.folder_cover in checked or e.is_corrupt:
            continue
        if Path(e.folder_cover).parent != Path(e.path).parent:
            continue  # a disc subfolder: test_disc_subfolder_uses_the_parent_image
        checked.add(e.folder_cover)
        cover = _album_cover_of(e.path, songs, api)
        assert cover, f"{e.path}: album has no coverArt but {e.folder_cover} exists"
        r = get_cover(api, cover)
        image_of(r)
        assert r.content == (root / e.folder_cover).read_bytes(), (e.path, e.folder_cover)
        both += e.has_embedded_cover
    assert {Path(p).name for p in checked} >= {"cover.jpg", "folder.png", "front.jpg"}
    assert both >= 4  # Vespertine, Ágætis byrjun, 坂本龍一, Abbey Road, The Wall carry both


def test_disc_subfolder_uses_the_parent_image(api: Subsonic, test_library: Any,
                                             songs: dict[str, dict[str, Any]]) -> None:
    """The Fragile/CD1, CD2 (no images, no embedded pictures) take The Fragile/cover.jpg."""
    root, manifest = test_library
    entries = [e for e in manifest.files if e.readable and e.folder_cover
               and Path(e.folder_cover).parent != Path(e.path).parent]
    assert {Path(e.path).parent.name for e in entries} == {"CD1", "CD2"}
    for e in entries:
        cover = _album_cover_of(e.path, songs, api)
        assert cover, f"{e.path}: album has no coverArt but {e.folder_cover} exists"
        assert songs[e.path].get("coverArt") == cover
        r = get_cover(api, cover)
        image_of(r)
        assert r.content == (root / e.folder_cover).read_bytes(), e.path


def test_embedded_picture_when_no_folder_image(api: Subsonic, test_library: Any,
                                               songs: dict[str, dict[str, Any]]) -> None:
    from orbsonic.scanner.tags import read_picture

    root, manifest = test_library
    checked = 0
    for e in manifest.files:
        if not e.readable or e.is_corrupt or e.folder_cover or not e.has_embedded_cover:
            continue
        cover = songs[e.path].get("coverArt")
        assert cover, e.path
        r = get_cover(api, cover)
        image_of(r)
        picture = read_picture(root / e.path)
        assert picture is not None
        assert r.content == picture[0], e.path
        assert r.headers["content-type"] == picture[1]
        checked += 1
    assert checked >= 6  # FLAC 24/192, MP3 v2.3, M4A AAC, M4A ALAC, compilation, truncated MP3


def test_no_cover_no_attribute(api: Subsonic, test_library: Any, songs: dict[str, dict[str, Any]]) -> None:
    """An album with neither a folder image nor an embedded picture has no coverArt, in JSON
    and in XML; getCoverArt for its album id is error 70."""
    _, manifest = test_library
    bare = [e for e in manifest.files if e.readable and not e.is_corrupt and not e.folder_cover
            and not e.has_embedded_cover and e.album]
    album_ids = {songs[e.path]["albumId"] for e in bare}
    assert any(songs[e.path].get("album") == "Kind of Blue" for e in bare)
    for album_id in album_ids:
        if any(songs[p]["albumId"] == album_id and songs[p].get("coverArt") for p in songs):
            continue  # another file of the album brings a picture
        album = api.ok("getAlbum", id=album_id)["album"]
        assert "coverArt" not in album, album["name"]
        assert all("coverArt" not in s for s in album["song"])
        xml = api.raw("getAlbum", fmt="xml", id=album_id).text
        assert "coverArt=" not in xml, album["name"]
        api.fail("getCoverArt", 70, id=album_id)


# ---------------------------------------------------------------------------- size and the cache

def test_original_when_no_size(api: Subsonic, test_library: Any, songs: dict[str, dict[str, Any]]) -> None:
    root = test_library[0]
    cover = songs["Björk/2001 - Vespertine/01 Hidden Place.flac"]["coverArt"]
    original = (root / "Björk/2001 - Vespertine/cover.jpg").read_bytes()
    for size in (None, "", 0, -1, -64, 3000, 4096, 10**12):
        r = get_cover(api, cover, size=size)
        image_of(r)
        assert r.content == original, size


def test_size_that_is_not_a_number_is_an_envelope(api: Subsonic, songs: dict[str, dict[str, Any]]) -> None:
    cover = songs["Björk/2001 - Vespertine/01 Hidden Place.flac"]["coverArt"]
    for fmt in ("xml", "json"):
        r = api.raw("getCoverArt", fmt=fmt, id=cover, size="big")  # validated envelope
        assert r.status_code == 200 and not r.headers["content-type"].startswith("image/")


def test_resized_and_served_from_the_cache(api: Subsonic, app_http: Any, songs: dict[str, dict[str, Any]],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The shared library's covers are 48 px: size=32 shrinks them into cache/covers/32/."""
    from subsonic_api.endpoints import media

    cover = songs["Björk/2001 - Vespertine/01 Hidden Place.flac"]["coverArt"]
    first = get_cover(api, cover, size=32)
    img = image_of(first)
    assert max(img.size) == 32 and img.size == (32, 32)
    assert near(colour(img), (240, 120, 120))  # cover.jpg, not the embedded PNG (200, 40, 40)
    cached = cache_root(app_http) / "32" / f"{cover}.jpg"
    assert cached.is_file() and cached.read_bytes() == first.content
    monkeypatch.setattr(media, "find_source", fail_if_called)
    monkeypatch.setattr(app_http.app.state.orbsonic.covers, "produce", fail_if_called)
    second = get_cover(api, cover, size=32)
    assert second.status_code == 200 and second.content == first.content
    assert second.headers["content-type"] == "image/jpeg"


def test_embedded_cover_is_extracted_once(api: Subsonic, app_http: Any, songs: dict[str, dict[str, Any]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from subsonic_api.endpoints import media

    cover = songs["Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3"]["coverArt"]
    small = get_cover(api, cover, size=20)
    assert image_of(small).size == (20, 20)
    original = get_cover(api, cover)
    assert image_of(original).size == (48, 48)
    assert near(colour(image_of(original)), (90, 90, 90))
    root = cache_root(app_http)
    assert [p.read_bytes() for p in (root / "orig").glob(f"{cover}.*")] == [original.content]
    assert (root / "20" / f"{cover}.jpg").read_bytes() == small.content
    monkeypatch.setattr(media, "find_source", fail_if_called)
    assert get_cover(api, cover).content == original.content
    assert get_cover(api, cover, size=20).content == small.content


def test_no_upscaling(api: Subsonic, songs: dict[str, dict[str, Any]], test_library: Any) -> None:
    """size above the original's longest side sends the original (48 px here)."""
    cover = songs["Sigur Rós/1999 - Ágætis byrjun/01 Svefn-g-englar.ogg"]["coverArt"]
    r = get_cover(api, cover, size=64)
    assert image_of(r).size == (48, 48)
    assert r.content == (test_library[0] / "Sigur Rós/1999 - Ágætis byrjun/folder.png").read_bytes()


def test_concurrent_first_requests_on_uvicorn(live_server: Any, songs: dict[str, dict[str, Any]]) -> None:
    """30 clients asking for the same uncached size at once all get the same valid image."""
    auth = Subsonic(None).auth()
    covers = [songs[p]["coverArt"] for p in ("The Beatles/1969 - Abbey Road/01 Come Together.mp3",
                                             "Ólafur Arnalds/2020 - Some Kind of Peace/01 Loom.flac",
                                             "Daft Punk/2013 - Random Access Memories/01 Give Life Back to Music.m4a")]

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            return await asyncio.gather(*(
                http.get("/rest/getCoverArt", params={**auth, "id": covers[n % 3], "size": 24}) for n in range(30)))

    responses = asyncio.run(run())
    for n, r in enumerate(responses):
        assert image_of(r).size == (24, 24)
        assert r.content == responses[n % 3].content


# ---------------------------------------------------------------------------- ids that name nothing

def test_malformed_and_unknown_ids_are_code_70(api: Subsonic, songs: dict[str, dict[str, Any]]) -> None:
    cover = songs["Björk/2001 - Vespertine/01 Hidden Place.flac"]["coverArt"]
    base = cover.split("_", 1)[0]
    bare_dir = songs["Miles Davis/1959 - Kind of Blue/01 So What.m4a"]["parent"]
    for bad in ("al-zzzzzzzzzz", "al-zzzzzzzzzz_tou8tn", "ar-zzzzzzzzzz", "dr-zzzzzzzzzz", "tr-zzzzzzzzzz",
                "garbage", "al-", "al-_x", cover + "_", cover + ";" + cover, "pl-1", "xx-" + base[3:],
                "al-" + "z" * 14, "../../etc/passwd", "12345", "song-12", base.upper(), bare_dir, " "):
        api.fail("getCoverArt", 70, id=bad)
    api.fail("getCoverArt", 10)


def test_song_ids(api: Subsonic, songs: dict[str, dict[str, Any]]) -> None:
    """A song id (tr-…) is also of cover-id form and resolves to the song's picture (as on
    Navidrome and gonic); a song without any picture is 70. Other song-id forms are 70."""
    with_cover = songs["Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3"]
    image_of(get_cover(api, with_cover["id"]))
    api.fail("getCoverArt", 70, id=songs["Miles Davis/1959 - Kind of Blue/01 So What.m4a"]["id"])
    api.fail("getCoverArt", 70, id=with_cover["id"].replace("tr-", ""))
    api.fail("getCoverArt", 70, id=with_cover["id"] + "-" + with_cover["id"])


# ---------------------------------------------------------------------------- a library of our own

@dataclass
class Private:
    root: Path
    url: str
    http: Any
    api: Subsonic

    def album_cover(self, rel_song: str) -> str | None:
        song = next(s for s in self.api.ok("search3", query="", songCount=50, albumCount=0,
                                           artistCount=0)["searchResult3"]["song"] if s["path"] == rel_song)
        return self.api.ok("getAlbum", id=song["albumId"])["album"].get("coverArt")


def _png(size: tuple[int, int], rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, "PNG")
    return buf.getvalue()


def _jpeg(size: tuple[int, int], rgb: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, rgb).save(buf, "JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def private(pg: Any, template_url: str, test_library: Any, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Private]:
    """Copies with big covers: Big/ (300×200 cover.jpg + embedded 48 px), Embedded/ (an MP3
    whose picture is a 200×120 PNG), Changing/ (folder.png, rewritten by a test), Vanishing/
    (front.jpg, deleted by a test)."""
    from mutagen.id3 import APIC, ID3
    from starlette.testclient import TestClient

    from orbsonic.scanner.scanner import scan

    src = test_library[0]
    base = tmp_path_factory.mktemp("covers_private")
    root = base / "music"
    copies = {"Big/01 Ace of Spades.mp3": "Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3",
              "Embedded/01 Come Together.mp3": "The Beatles/1969 - Abbey Road/01 Come Together.mp3",
              "Changing/01 Svefn-g-englar.ogg": "Sigur Rós/1999 - Ágætis byrjun/01 Svefn-g-englar.ogg",
              "Vanishing/01 The Seed and the Sower.opus": "坂本龍一/1983 - 戦場のメリークリスマス/02 The Seed and the Sower.opus"}
    for dest, source in copies.items():
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / source, root / dest)
    (root / "Big/cover.jpg").write_bytes(_jpeg((300, 200), (20, 200, 60)))
    tags = ID3(root / "Embedded/01 Come Together.mp3")
    tags.delall("APIC")
    tags.add(APIC(encoding=3, mime="image/png", type=3, desc="Front cover", data=_png((200, 120), (200, 30, 30))))
    tags.save()
    (root / "Changing/folder.png").write_bytes(_png((100, 100), (10, 10, 200)))
    (root / "Vanishing/front.jpg").write_bytes(_jpeg((100, 100), (250, 250, 0)))

    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert report.added == 4 and not report.errors, report
    add_users(url, base)
    with TestClient(make_app(url, base / "data", (root,))) as http:
        yield Private(root, url, http, Subsonic(http))


def test_resize_keeps_aspect_and_caches(private: Private, monkeypatch: pytest.MonkeyPatch) -> None:
    from subsonic_api.endpoints import media

    cover = private.album_cover("Big/01 Ace of Spades.mp3")
    assert cover
    original = get_cover(private.api, cover)
    assert image_of(original).size == (300, 200)  # the folder image, not the 48 px embedded one
    assert original.content == (private.root / "Big/cover.jpg").read_bytes()
    first = get_cover(private.api, cover, size=64)
    img = image_of(first)
    assert img.size == (64, 43) and max(img.size) == 64
    assert near(colour(img), (20, 200, 60))
    cached = cache_root(private.http) / "64" / f"{cover}.jpg"
    assert cached.is_file() and cached.read_bytes() == first.content
    monkeypatch.setattr(media, "find_source", fail_if_called)
    monkeypatch.setattr(private.http.app.state.orbsonic.covers, "produce", fail_if_called)
    second = get_cover(private.api, cover, size=64)
    assert second.status_code == 200 and second.content == first.content


def test_resize_embedded_png(private: Private) -> None:
    cover = private.album_cover("Embedded/01 Come Together.mp3")
    assert cover
    original = get_cover(private.api, cover)
    assert original.headers["content-type"] == "image/png"
    assert image_of(original).size == (200, 120)
    r = get_cover(private.api, cover, size=100)
    img = image_of(r)
    assert img.size == (100, 60) and r.headers["content-type"] == "image/jpeg"
    assert near(colour(img), (200, 30, 30))
    assert (cache_root(private.http) / "100" / f"{cover}.jpg").read_bytes() == r.content


def test_changed_folder_image_gets_a_new_id(private: Private) -> None:
    from orbsonic.scanner.scanner import scan

    old = private.album_cover("Changing/01 Svefn-g-englar.ogg")
    assert old
    assert near(colour(image_of(get_cover(private.api, old, size=50))), (10, 10, 200))
    path = private.root / "Changing/folder.png"
    path.write_bytes(_png((100, 100), (230, 230, 230)))
    later = time.time() + 100
    os.utime(path, (later, later))
    report = scan(private.url, [private.root], workers=1)
    assert not report.errors, report
    new = private.album_cover("Changing/01 Svefn-g-englar.ogg")
    assert new and new != old and new.split("_")[0] == old.split("_")[0]
    assert near(colour(image_of(get_cover(private.api, new, size=50))), (230, 230, 230))
    assert near(colour(image_of(get_cover(private.api, new))), (230, 230, 230))


def test_cover_file_deleted_after_scan_is_code_70(private: Private) -> None:
    cover = private.album_cover("Vanishing/01 The Seed and the Sower.opus")
    assert cover
    image_of(get_cover(private.api, cover))
    (private.root / "Vanishing/front.jpg").unlink()
    private.api.fail("getCoverArt", 70, id=cover)
    private.api.fail("getCoverArt", 70, id=cover, size=40)


# ---------------------------------------------------------------------------- CoverCache.prune

def _put(root: Path, rel: str, size: int, used: float) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    os.utime(path, (used, used))
    return path


def test_prune_removes_least_recently_used_first(tmp_path: Path) -> None:
    now = time.time()
    files = [_put(tmp_path, f"{d}/al-{n}.jpg", 1000, now - 10_000 + n * 100)
             for n, d in enumerate(["orig", "64", "300", "orig", "64", "64"])]
    cache = CoverCache(tmp_path, max_bytes=2500)
    assert cache.prune() == 4
    assert [f.exists() for f in files] == [False, False, False, False, True, True]
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) <= 2500
    assert cache.prune() == 0


def test_prune_keeps_everything_under_the_limit(tmp_path: Path) -> None:
    files = [_put(tmp_path, f"64/al-{n}.jpg", 100, time.time() - n) for n in range(5)]
    assert CoverCache(tmp_path, max_bytes=500).prune() == 0
    assert all(f.exists() for f in files)
    assert CoverCache(tmp_path / "missing", max_bytes=0).prune() == 0


def test_prune_counts_access_not_creation(tmp_path: Path) -> None:
    """A file written long ago but read recently (atime) outlives a newer unused one."""
    now = time.time()
    old_but_used = _put(tmp_path, "64/al-1.jpg", 1000, now - 5000)
    os.utime(old_but_used, (now - 10, now - 5000))
    newer_unused = _put(tmp_path, "64/al-2.jpg", 1000, now - 1000)
    assert CoverCache(tmp_path, max_bytes=1500).prune() == 1
    assert old_but_used.exists() and not newer_unused.exists()


def test_a_cache_hit_counts_as_a_use(tmp_path: Path) -> None:
    """lookup() marks the file it returns as used, so prune keeps what is being served even
    on noatime mounts (or within relatime's 24 h window)."""
    now = time.time()
    hit = _put(tmp_path, "64/al-1.jpg", 1000, now - 5000)
    other = _put(tmp_path, "64/al-2.jpg", 1000, now - 1000)
    cache = CoverCache(tmp_path, max_bytes=1500)
    assert cache.lookup("al-1", 64) == hit
    assert cache.prune() == 1
    assert hit.exists() and not other.exists()


def test_lookup_finds_every_cached_extension(tmp_path: Path) -> None:
    cache = CoverCache(tmp_path, max_bytes=10**6)
    assert cache.lookup("al-1", None) is None
    png = _put(tmp_path, "orig/al-1.png", 10, time.time())
    assert cache.lookup("al-1", None) == png
    assert cache.lookup("al-1", 64) is None


def test_cache_is_keyed_by_the_current_version(api: Subsonic, app_http: Any,
                                               songs: dict[str, dict[str, Any]]) -> None:
    """Unversioned and made-up cover ids resolve the source's current version: they share its
    cache entry, never create their own, and are not cached by clients as immutable."""
    cover = songs["Björk/2001 - Vespertine/01 Hidden Place.flac"]["coverArt"]
    bare, _, _version = cover.partition("_")
    assert _version, "ids handed out carry a version"
    versioned = get_cover(api, cover, size=24)
    assert "immutable" in versioned.headers["cache-control"]
    for asked in (bare, f"{bare}_zz9"):
        r = get_cover(api, asked, size=24)
        assert r.content == versioned.content
        assert "immutable" not in r.headers["cache-control"]
    cached = sorted(p.name for p in (cache_root(app_http) / "24").iterdir() if p.name.startswith(bare))
    assert cached == [f"{cover}.jpg"]
