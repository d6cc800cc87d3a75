"""stream and download: raw files with HTTP Range, over the in-process app and real uvicorn.

ExoPlayer-based clients (Symfonium, Tempo, Resonus) seek with Range requests and need
206 with a correct Content-Length and Content-Range (client-compat §4.5 #15). Streaming
is not a play (OpenSubsonic, subsonic-spec §2.8). Every error is a Subsonic envelope
(code 70 for anything that names no file), validated by the test client.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import random
import shutil
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ALICE, Subsonic, add_users, clone_db, make_app, users_sql

# One file of each format of the test library (bench.templates.FORMATS).
FORMATS = ("flac24_192", "flac24_96", "flac16", "mp3_v23", "mp3_v24", "m4a_aac", "m4a_alac", "opus", "ogg", "wav")


# ---------------------------------------------------------------------------- fixtures and helpers

@pytest.fixture(scope="module")
def songs(app_http: Any) -> dict[str, dict[str, Any]]:
    """Every song of the shared library by its relative path."""
    found = Subsonic(app_http).ok("search3", query="", songCount=500, albumCount=0,
                                  artistCount=0)["searchResult3"]["song"]
    return {s["path"]: s for s in found}


@pytest.fixture(scope="module")
def inproc(app_http: Any) -> Subsonic:
    """The in-process client, module-scoped so hypothesis may use it."""
    return Subsonic(app_http)


@pytest.fixture(scope="module", params=["asgi", "uvicorn"])
def client(request: pytest.FixtureRequest, app_http: Any) -> Iterator[Subsonic]:
    """The same Subsonic client over the in-process app and over a real uvicorn socket."""
    if request.param == "asgi":
        yield Subsonic(app_http)
        return
    live = request.getfixturevalue("live_server")
    with httpx.Client(base_url=live.url, timeout=30) as http:
        yield Subsonic(http)


@dataclass(repr=False)
class Track:
    path: Path
    song: dict[str, Any]

    def __repr__(self) -> str:
        return f"Track({self.path.name!r}, {self.song['id']!r})"

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def track_of(fmt: str, test_library: tuple[Path, Any], songs: dict[str, dict[str, Any]]) -> Track:
    """The first intact file of format `fmt` and its song."""
    root, manifest = test_library
    entry = next(e for e in manifest.files if e.format == fmt and e.readable and not e.is_corrupt)
    return Track(root / entry.path, songs[entry.path])


def check_partial(r: httpx.Response, data: bytes, first: int, last: int) -> None:
    """A 206 carrying bytes first..last (inclusive) of `data`."""
    assert r.status_code == 206, (r.status_code, r.text[:200])
    assert r.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    assert int(r.headers["content-length"]) == last - first + 1
    assert r.content == data[first:last + 1]


def check_full(r: httpx.Response, data: bytes) -> None:
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert "content-range" not in r.headers
    assert int(r.headers["content-length"]) == len(data)
    assert r.content == data


def stream(client: Subsonic, track: Track, method: str = "stream", http_method: str = "GET",
           **headers: str) -> httpx.Response:
    return client.raw(method, http_method=http_method, id=track.song["id"],
                      headers={k.replace("_", "-"): v for k, v in headers.items()} or None)


# ---------------------------------------------------------------------------- full file, headers

@pytest.mark.parametrize("fmt", FORMATS)
def test_full_get_is_the_file(client: Subsonic, fmt: str, test_library: Any, songs: Any) -> None:
    track = track_of(fmt, test_library, songs)
    data = track.data
    r = stream(client, track)
    check_full(r, data)
    assert len(data) == track.song["size"]
    assert r.headers["content-type"] == track.song["contentType"]
    assert r.headers["content-type"].startswith("audio/")
    assert r.headers["accept-ranges"] == "bytes"
    etag = r.headers["etag"]
    assert len(etag) > 2 and etag.startswith('"') and etag.endswith('"')
    modified = email.utils.parsedate_to_datetime(r.headers["last-modified"]).timestamp()
    assert abs(modified - track.path.stat().st_mtime) < 1
    assert "attachment" not in r.headers.get("content-disposition", "")
    # the same request again: same validators (clients cache by them)
    again = stream(client, track)
    assert again.headers["etag"] == etag and again.headers["last-modified"] == r.headers["last-modified"]


def test_content_types_by_format(test_library: Any, songs: Any) -> None:
    """The contentType the API reports (and stream sends) is the right one per container."""
    expected = {"flac24_192": "audio/flac", "flac16": "audio/flac", "mp3_v23": "audio/mpeg",
                "mp3_v24": "audio/mpeg", "m4a_aac": "audio/mp4", "m4a_alac": "audio/mp4",
                "opus": "audio/ogg", "ogg": "audio/ogg"}
    for fmt, ctype in expected.items():
        assert track_of(fmt, test_library, songs).song["contentType"] == ctype, fmt
    assert track_of("wav", test_library, songs).song["contentType"] in ("audio/wav", "audio/x-wav", "audio/wave")


@pytest.mark.parametrize("fmt", ["flac24_192", "mp3_v24", "m4a_aac", "opus"])
def test_head_has_headers_but_no_body(client: Subsonic, fmt: str, test_library: Any, songs: Any) -> None:
    track = track_of(fmt, test_library, songs)
    size = len(track.data)
    get = stream(client, track)
    head = stream(client, track, http_method="HEAD")
    assert head.status_code == 200 and head.content == b""
    for name in ("content-length", "content-type", "accept-ranges", "etag", "last-modified"):
        assert head.headers[name] == get.headers[name], name
    assert int(head.headers["content-length"]) == size
    ranged = stream(client, track, http_method="HEAD", range="bytes=10-19")
    assert ranged.status_code == 206 and ranged.content == b""
    assert ranged.headers["content-range"] == f"bytes 10-19/{size}"
    assert ranged.headers["content-length"] == "10"


# ---------------------------------------------------------------------------- ranges

@pytest.mark.parametrize("fmt", FORMATS)
def test_range_forms(client: Subsonic, fmt: str, test_library: Any, songs: Any) -> None:
    track = track_of(fmt, test_library, songs)
    data = track.data
    size = len(data)
    assert size > 5000
    check_partial(stream(client, track, range="bytes=0-99"), data, 0, 99)               # first bytes
    check_partial(stream(client, track, range="bytes=1000-4999"), data, 1000, 4999)     # middle
    check_partial(stream(client, track, range="bytes=-500"), data, size - 500, size - 1)  # suffix
    check_partial(stream(client, track, range="bytes=1234-"), data, 1234, size - 1)      # open-ended
    check_partial(stream(client, track, range=f"bytes={size - 1}-"), data, size - 1, size - 1)  # last byte
    check_partial(stream(client, track, range="bytes=0-"), data, 0, size - 1)            # ExoPlayer's first ask
    check_partial(stream(client, track, range=f"bytes=100-{size + 1000}"), data, 100, size - 1)  # end clipped
    check_partial(stream(client, track, range=f"bytes=-{size + 1000}"), data, 0, size - 1)  # suffix > size


def test_unsatisfiable_ranges(client: Subsonic, test_library: Any, songs: Any) -> None:
    track = track_of("flac24_192", test_library, songs)
    size = len(track.data)
    for spec in (f"bytes={size}-", f"bytes={size}-{size + 10}", f"bytes={size + 100}-", "bytes=-0"):
        r = stream(client, track, range=spec)
        assert r.status_code == 416, (spec, r.status_code)
        assert r.headers["content-range"] == f"bytes */{size}", spec


def test_if_range(client: Subsonic, test_library: Any, songs: Any) -> None:
    track = track_of("mp3_v24", test_library, songs)
    data = track.data
    full = stream(client, track)
    etag, modified = full.headers["etag"], full.headers["last-modified"]
    check_partial(stream(client, track, range="bytes=100-199", if_range=etag), data, 100, 199)
    check_partial(stream(client, track, range="bytes=100-199", if_range=modified), data, 100, 199)
    # the file changed since the client cached its part: the whole file, 200
    check_full(stream(client, track, range="bytes=100-199", if_range='"0123456789abcdef"'), data)
    check_full(stream(client, track, range="bytes=100-199", if_range="Thu, 01 Jan 1970 00:00:00 GMT"), data)
    check_full(stream(client, track, range="bytes=100-199", if_range="W/" + etag), data)  # weak never matches


def test_multiple_ranges(client: Subsonic, test_library: Any, songs: Any) -> None:
    track = track_of("ogg", test_library, songs)
    data = track.data
    r = stream(client, track, range="bytes=0-9,100-199")
    assert r.status_code == 206
    ctype = r.headers["content-type"]
    assert ctype.startswith("multipart/byteranges; boundary=")
    assert int(r.headers["content-length"]) == len(r.content)
    boundary = ctype.split("boundary=", 1)[1].encode()
    parts = [p for p in r.content.split(b"--" + boundary) if p.strip(b"\r\n-")]
    assert len(parts) == 2
    for part, (first, last) in zip(parts, [(0, 9), (100, 199)]):
        head, body = part.split(b"\r\n\r\n", 1)
        assert f"Content-Range: bytes {first}-{last}/{len(data)}".encode() in head
        assert f"Content-Type: {track.song['contentType']}".encode() in head
        assert body[:-2] == data[first:last + 1] and body.endswith(b"\r\n")


@pytest.mark.parametrize("spec", ["items=0-5", "bytes=abc", "bytes=", "bytes=5-1", "bytes=0-x"])
def test_range_header_that_cannot_be_used_is_ignored(client: Subsonic, spec: str, test_library: Any,
                                                     songs: Any) -> None:
    """RFC 9110 §14.2: an unknown range unit MUST be ignored, an invalid range set MAY be. A
    player that sends either still gets the whole file, never a text/plain 400."""
    track = track_of("mp3_v23", test_library, songs)
    check_full(stream(client, track, range=spec), track.data)


_RANGE_SPECS = st.one_of(
    st.tuples(st.just("closed"), st.integers(0, 20_000), st.integers(0, 20_000)),
    st.tuples(st.just("open"), st.integers(0, 20_000), st.none()),
    st.tuples(st.just("suffix"), st.none(), st.integers(0, 20_000)),
)


@pytest.fixture(scope="module")
def small_track(test_library: Any, songs: Any) -> Track:
    return track_of("mp3_v23", test_library, songs)  # ~19 KB: the generated numbers straddle its end


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=_RANGE_SPECS)
def test_range_property(inproc: Subsonic, small_track: Track, spec: tuple[str, int | None, int | None]) -> None:
    """For any byte range: 206 with exactly the bytes asked for (clipped to the file) when it
    is satisfiable, 416 + `bytes */size` exactly when it is not (RFC 9110 §14.1.2, §15.5.17).
    An invalid range (last < first) gets the whole file or a 416, never a partial body."""
    track = small_track
    data = track.data
    size = len(data)
    form, a, b = spec
    if form == "closed":
        header = f"bytes={a}-{b}"
    elif form == "open":
        header = f"bytes={a}-"
    else:
        header = f"bytes=-{b}"
    r = stream(inproc, track, range=header)
    if form == "suffix":
        assert b is not None
        satisfiable, first, last = b > 0, max(size - b, 0), size - 1
    else:
        assert a is not None
        satisfiable, first, last = a < size, a, size - 1 if b is None else min(b, size - 1)
    if form == "closed" and a is not None and b is not None and b < a:
        assert r.status_code in (200, 416), (header, r.status_code)
        if r.status_code == 200:
            check_full(r, data)
        else:
            assert r.headers["content-range"] == f"bytes */{size}"
        return
    if satisfiable:
        check_partial(r, data, first, last)
    else:
        assert r.status_code == 416, (header, r.status_code)
        assert r.headers["content-range"] == f"bytes */{size}"


def test_concurrent_random_ranges_on_uvicorn(live_server: Any, test_library: Any, songs: Any) -> None:
    """20 range requests at once over real sockets, mixed files and forms, byte for byte."""
    rng = random.Random(1525)
    tracks = [track_of(f, test_library, songs) for f in ("flac24_192", "flac24_96", "mp3_v24", "m4a_aac", "opus")]
    blobs = {t.song["id"]: t.data for t in tracks}
    auth = Subsonic(None).auth()
    jobs = []
    for n in range(20):
        t = tracks[n % len(tracks)]
        size = len(blobs[t.song["id"]])
        form = n % 4
        if form == 0:
            first = rng.randrange(size)
            last = rng.randrange(first, size)
            jobs.append((t, f"bytes={first}-{last}", first, last))
        elif form == 1:
            first = rng.randrange(size)
            jobs.append((t, f"bytes={first}-", first, size - 1))
        elif form == 2:
            n_last = rng.randrange(1, size)
            jobs.append((t, f"bytes=-{n_last}", size - n_last, size - 1))
        else:
            first = rng.randrange(size - 300_000) if size > 300_000 else 0
            jobs.append((t, f"bytes={first}-{first + 299_999}", first, min(first + 299_999, size - 1)))

    async def run() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=live_server.url, timeout=30) as http:
            return await asyncio.gather(*(
                http.get("/rest/stream", params={**auth, "id": t.song["id"]}, headers={"Range": spec})
                for t, spec, _, _ in jobs))

    for (t, spec, first, last), r in zip(jobs, asyncio.run(run())):
        check_partial(r, blobs[t.song["id"]], first, last)


# ---------------------------------------------------------------------------- errors

@pytest.mark.parametrize("method", ["stream", "download"])
def test_ids_that_name_no_song_are_code_70(client: Subsonic, method: str, songs: Any) -> None:
    song = next(iter(songs.values()))
    for bad in ("tr-zzzzzzzzzz", "tr-0", song["albumId"], song["parent"], song.get("artistId"),
                song.get("coverArt"), "garbage", "tr-", "tr-1;tr-2", "../../etc/passwd", "tr-" + "z" * 14):
        if bad is None:
            continue
        for fmt in ("xml", "json"):
            r = client.raw(method, fmt=fmt, id=bad)  # envelope validated by the client
            assert r.status_code == 200, (bad, r.status_code)
            assert r.headers["content-type"].startswith(("text/xml", "application/json")), bad
        client.fail(method, 70, id=bad)
    client.fail(method, 10)  # no id at all


# ---------------------------------------------------------------------------- download

def _disposition_filename(value: str) -> str:
    kind, _, params = value.partition(";")
    assert kind.strip() == "attachment", value
    fields = dict(p.strip().split("=", 1) for p in params.split(";") if "=" in p)
    if "filename*" in fields:
        charset, _, quoted = fields["filename*"].partition("''")
        assert charset.lower() == "utf-8"
        return urllib.parse.unquote(quoted, encoding="utf-8")
    return fields["filename"].strip('"')


@pytest.mark.parametrize("fmt", ["mp3_v23", "opus", "flac24_192"])
def test_download_is_an_attachment(client: Subsonic, fmt: str, test_library: Any, songs: Any) -> None:
    track = track_of(fmt, test_library, songs)
    r = stream(client, track, "download")
    check_full(r, track.data)
    assert r.headers["content-type"] == track.song["contentType"]
    assert _disposition_filename(r.headers["content-disposition"]) == track.path.name
    check_partial(stream(client, track, "download", range="bytes=10-29"), track.data, 10, 29)


def test_download_unicode_file_name(client: Subsonic, test_library: Any, songs: Any) -> None:
    path = "Various Artists/2005 - Orbsonic Sampler/03 Smile 😀.m4a"
    track = Track(test_library[0] / path, songs[path])
    r = stream(client, track, "download")
    check_full(r, track.data)
    assert _disposition_filename(r.headers["content-disposition"]) == "03 Smile 😀.m4a"


# ---------------------------------------------------------------------------- a library of our own

@dataclass
class Private:
    root: Path
    outside: Path
    url: str
    api: Subsonic
    songs: dict[str, dict[str, Any]]


@pytest.fixture(scope="module")
def private(pg: Any, template_url: str, test_library: Any, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Private]:
    """A small library of copies (the shared one is read-only) in its own database:
    Keep/ (left alone), Doomed/ (deleted by a test), and a file in ../outside (not in the
    library; symlinks are tested in test_symlinks.py)."""
    from starlette.testclient import TestClient

    from orbsonic.scanner.scanner import scan

    src = test_library[0]
    base = tmp_path_factory.mktemp("stream_private")
    root, outside = base / "music", base / "outside"
    copies = {"Keep/01 Ace of Spades.mp3": "Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3",
              "Keep/02 Love Me Like a Reptile.mp3": "Motörhead/1980 - Ace of Spades/02 Love Me Like a Reptile.mp3",
              "Doomed/01 Svefn-g-englar.ogg": "Sigur Rós/1999 - Ágætis byrjun/01 Svefn-g-englar.ogg"}
    for dest, source in copies.items():
        (root / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / source, root / dest)
    (outside / "Solo").mkdir(parents=True)
    shutil.copy2(src / "Nils Frahm/2015 - Solo/01 Ballet Mecanique.flac", outside / "Solo/01 Ballet Mecanique.flac")

    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert report.added == 3 and not report.errors, report
    add_users(url, base)
    with TestClient(make_app(url, base / "data", (root,))) as http:
        api = Subsonic(http)
        found = api.ok("search3", query="", songCount=50, albumCount=0, artistCount=0)["searchResult3"]["song"]
        yield Private(root, outside, url, api, {s["path"]: s for s in found})


def test_file_deleted_after_scan_is_code_70(private: Private) -> None:
    song = private.songs["Doomed/01 Svefn-g-englar.ogg"]
    assert private.api.raw("stream", id=song["id"]).status_code == 200
    path = private.root / "Doomed/01 Svefn-g-englar.ogg"
    path.unlink()
    for method in ("stream", "download"):
        private.api.fail(method, 70, id=song["id"])
        r = private.api.raw(method, id=song["id"], headers={"Range": "bytes=0-99"})
        assert r.status_code == 200 and r.json()["subsonic-response"]["error"]["code"] == 70
    path.mkdir()  # a folder where the file was: still 70, not a 500 mid-response
    try:
        private.api.fail("stream", 70, id=song["id"])
        assert private.api.raw("stream", id=song["id"], http_method="HEAD").status_code == 200
    finally:
        path.rmdir()


def test_path_leaving_the_folder_is_refused(private: Private) -> None:
    """Defence in depth: a track path from the database that climbs out of its music folder
    ("..") is never served, even though the file exists."""
    song = private.songs["Keep/01 Ace of Spades.mp3"]
    with psycopg.connect(private.url, autocommit=True) as conn:
        conn.execute("UPDATE tracks SET path = %s WHERE path = %s",
                     ("../outside/Solo/01 Ballet Mecanique.flac", "Keep/01 Ace of Spades.mp3"))
        try:
            assert (private.root / "../outside/Solo/01 Ballet Mecanique.flac").is_file()
            private.api.fail("stream", 70, id=song["id"])
            private.api.fail("download", 70, id=song["id"])
        finally:
            conn.execute("UPDATE tracks SET path = %s WHERE path = %s",
                         ("Keep/01 Ace of Spades.mp3", "../outside/Solo/01 Ballet Mecanique.flac"))
    assert private.api.raw("stream", id=song["id"]).status_code == 200


def test_download_needs_the_download_role(private: Private) -> None:
    song = private.songs["Keep/01 Ace of Spades.mp3"]
    data = (private.root / "Keep/01 Ace of Spades.mp3").read_bytes()
    alice = private.api.as_user(*ALICE)
    check_full(alice.raw("download", id=song["id"]), data)
    users_sql(private.url, "UPDATE users SET can_download = false WHERE username = %s", (ALICE[0],))
    try:
        assert alice.ok("getUser", username=ALICE[0])["user"]["downloadRole"] is False
        alice.fail("download", 50, id=song["id"])
        check_full(alice.raw("stream", id=song["id"]), data)  # streaming stays allowed
        check_full(private.api.raw("download", id=song["id"]), data)  # others unaffected
    finally:
        users_sql(private.url, "UPDATE users SET can_download = true WHERE username = %s", (ALICE[0],))


def test_stream_is_not_a_play(private: Private) -> None:
    """OpenSubsonic: stream must not count a play; scrobble does (so the counter is live)."""
    song = private.songs["Keep/02 Love Me Like a Reptile.mp3"]
    api = private.api

    def plays() -> int:
        return api.ok("getSong", id=song["id"])["song"].get("playCount", 0)

    assert plays() == 0
    api.raw("stream", id=song["id"])
    api.raw("stream", id=song["id"], headers={"Range": "bytes=0-"})
    api.raw("stream", id=song["id"], http_method="HEAD")
    api.raw("download", id=song["id"])
    assert plays() == 0
    with psycopg.connect(private.url) as conn:
        assert conn.execute("SELECT count(*) FROM annotations WHERE play_count > 0").fetchone() == (0,)
    assert api.raw("scrobble", id=song["id"], submission=True).json()["subsonic-response"]["status"] == "ok"
    assert plays() == 1


def test_stream_sends_acceptable_sources_as_they_are(private: Private) -> None:
    """An MP3 already within maxBitRate, asked for as mp3 (or raw), is the original bytes with
    Range support (client-compat §4.5 #15); transcodes are tested in test_transcode.py."""
    song = private.songs["Keep/01 Ace of Spades.mp3"]
    data = (private.root / "Keep/01 Ace of Spades.mp3").read_bytes()
    r = private.api.raw("stream", id=song["id"], format="mp3", maxBitRate=128, estimateContentLength=True,
                        headers={"Range": "bytes=50-"})
    check_partial(r, data, 50, len(data) - 1)
    check_full(private.api.raw("stream", id=song["id"], format="raw", maxBitRate=0), data)


def test_stat_reflects_file_now(private: Private) -> None:
    """Content-Length and ETag come from the file as it is now, not from the scan."""
    song = private.songs["Keep/02 Love Me Like a Reptile.mp3"]
    path = private.root / "Keep/02 Love Me Like a Reptile.mp3"
    before = private.api.raw("stream", id=song["id"])
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\0" * 1000)
        st = path.stat()
        os.utime(path, (st.st_atime, st.st_mtime + 10))
        after = private.api.raw("stream", id=song["id"])
        check_full(after, original + b"\0" * 1000)
        assert after.headers["etag"] != before.headers["etag"]
        # If-Range with the old validator: the whole (new) file
        check_full(private.api.raw("stream", id=song["id"],
                                   headers={"Range": "bytes=0-9", "If-Range": before.headers["etag"]}),
                   original + b"\0" * 1000)
    finally:
        path.write_bytes(original)
