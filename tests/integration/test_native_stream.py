"""Native streaming (docs/native-api.md "Streaming"): GET|HEAD /stream/{id} with Range over the
in-process app and a real uvicorn socket, `?as=flac`, the FLAC seek index checked against
ffprobe's own frame positions, waveform peaks computed by the job worker, and native scrobbles
seen through the Subsonic API.

A library of copies of its own (two music folders) in its own database, so that users, roles
and files may be changed: `admin` (everything), `alice` (folder A, plain listener), `nostream`
(no stream role) and `bonly` (folder B only).
"""

from __future__ import annotations

import asyncio
import itertools
from array import array
import json
import os
import shutil
import statistics
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from native_api.openapi import document
from orbsonic.ids import public_id
from orbsonic.jobs import worker
from orbsonic.library import seekindex
from tests.conftest import ADMIN, ALICE, SECRET, LiveServer, Subsonic, add_users, clone_db, make_app
from tests.integration.native_client import Native, api_key_for

FORMATS = ("flac16", "flac24_96", "flac24_192", "m4a_alac", "wav", "mp3_v23")
EXPECTED = {"flac16": (16, 44100), "flac24_96": (24, 96000), "flac24_192": (24, 192000)}
ORB = ("X-Orb-Codec", "X-Orb-Bit-Depth", "X-Orb-Sample-Rate", "X-Orb-Channels", "X-Orb-Total-Samples",
       "X-Orb-Duration-Ms")


def _run(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def _make_flac(path: Path, seconds: int, rate: int, bits: int, *, seektable: bool) -> None:
    """A stereo FLAC of a tone with pink noise (frames of varying size) by the flac CLI (which
    writes a SEEKTABLE), the SEEKTABLE then removed with metaflac unless `seektable`."""
    wav = path.with_suffix(".wav.tmp")
    _run("ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency=330:sample_rate={rate}:duration={seconds}", "-f", "lavfi", "-i",
         f"anoisesrc=color=pink:sample_rate={rate}:duration={seconds}:amplitude=0.2:seed=3",
         "-filter_complex", "amix=inputs=2,aformat=channel_layouts=stereo", "-c:a",
         "pcm_s16le" if bits == 16 else "pcm_s24le", "-f", "wav", str(wav))
    _run("flac", "-s", "-f", "-o", str(path), str(wav))
    wav.unlink()
    if not seektable:
        _run("metaflac", "--remove", "--block-type=SEEKTABLE", str(path))
    listing = _run("metaflac", "--list", str(path))
    assert ("SEEKTABLE" in listing) == seektable


def ffprobe_packets(path: Path) -> list[tuple[int, int, int]]:
    """(first sample, byte offset, samples) of every audio packet (= FLAC frame)."""
    out = _run("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
               "packet=pts,pos,duration", "-of", "json", str(path))
    return [(int(p["pts"]), int(p["pos"]), int(p["duration"])) for p in json.loads(out)["packets"]]


def ffprobe_stream(path: Path) -> dict[str, Any]:
    out = _run("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
               "stream=codec_name,sample_rate,bits_per_raw_sample,bits_per_sample,channels", "-of", "json",
               str(path))
    return json.loads(out)["streams"][0]


@dataclass
class Lib:
    root: Path
    other: Path
    url: str
    http: Any
    live: LiveServer
    ids: dict[str, str]      # name → public track id
    files: dict[str, Path]
    keys: dict[str, str]     # user → API key

    def native(self, user: str = "admin", http: Any = None) -> Native:
        return Native(http or self.http, self.keys[user])


@pytest.fixture(scope="module")
def lib(pg: Any, template_url: str, test_library: Any, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[Lib]:
    from starlette.testclient import TestClient

    from orbsonic.auth import users
    from orbsonic.auth.passwords import SecretKey
    from orbsonic.scanner.scanner import scan

    src, manifest = test_library
    base = tmp_path_factory.mktemp("native_stream")
    root, other = base / "a", base / "b"
    names: dict[str, str] = {}
    for fmt in FORMATS:
        entry = next(e for e in manifest.files if e.format == fmt and e.readable and not e.is_corrupt)
        dest = root / "lib" / f"{fmt}{Path(entry.path).suffix}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / entry.path, dest)
        names[fmt] = str(dest.relative_to(root))
    gen = root / "gen"
    gen.mkdir()
    _make_flac(gen / "seektable.flac", 30, 44100, 16, seektable=True)
    _make_flac(gen / "noseek16.flac", 30, 44100, 16, seektable=False)
    _make_flac(gen / "noseek24.flac", 12, 96000, 24, seektable=False)
    names |= {n: f"gen/{n}.flac" for n in ("seektable", "noseek16", "noseek24")}
    other.mkdir()
    shutil.copy2(src / next(e.path for e in manifest.files if e.format == "mp3_v23" and e.readable
                            and not e.is_corrupt), other / "b.mp3")

    url = clone_db(pg, template_url)
    report = scan(url, [root, other], workers=1)
    assert not report.errors, report
    add_users(url, base)

    async def setup() -> tuple[dict[str, int], int]:
        key = SecretKey.from_text(SECRET)
        async with await psycopg.AsyncConnection.connect(url) as conn:
            cur = await conn.execute("SELECT t.id, t.path, f.path FROM tracks t JOIN music_folders f "
                                     "ON f.id = t.folder_id")
            rows = await cur.fetchall()
            fid = (await (await conn.execute("SELECT id FROM music_folders WHERE path = %s",
                                             (str(other),))).fetchone())[0]
            await users.create_user(conn, key, "nostream", "pw-nostream", roles={"stream": False})
            await users.create_user(conn, key, "bonly", "pw-bonly", folder_ids=[fid])
            await conn.commit()
        return {("b.mp3" if f == str(other) else p): i for i, p, f in rows}, fid

    by_path, _ = asyncio.run(setup())
    ids = {n: public_id("tr", by_path[p]) for n, p in names.items()}
    ids["b"] = public_id("tr", by_path["b.mp3"])
    files = {n: root / p for n, p in names.items()} | {"b": other / "b.mp3"}
    keys = {u: api_key_for(url, u) for u in (ADMIN[0], ALICE[0], "nostream", "bonly")}
    with TestClient(make_app(url, base / "data", (root, other))) as http, \
            LiveServer(make_app(url, base / "livedata", (root, other))) as live:
        yield Lib(root, other, url, http, live, ids, files, keys)


@pytest.fixture(scope="module", params=["asgi", "uvicorn"])
def transport(request: pytest.FixtureRequest, lib: Lib) -> Iterator[Any]:
    """The in-process app and a real uvicorn socket."""
    if request.param == "asgi":
        yield lib.http
        return
    with httpx.Client(base_url=lib.live.url, timeout=60) as http:
        yield http


def schema_of(path: str, method: str = "get", status: str = "200") -> Draft202012Validator:
    doc = document()
    response = doc["paths"]["/api/v1" + path][method]["responses"][status]
    schema = response["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": doc["components"]})


def get(lib: Lib, http: Any, name: str, headers: dict[str, str] | None = None, method: str = "GET",
        **params: str) -> httpx.Response:
    return lib.native(http=http).call(method, f"/stream/{lib.ids[name]}", headers=headers, params=params)


# ---------------------------------------------------------------------------- the original bytes

@pytest.mark.parametrize("name", ["flac16", "flac24_96", "flac24_192", "m4a_alac", "mp3_v23"])
def test_whole_file_and_headers(lib: Lib, transport: Any, name: str) -> None:
    data = lib.files[name].read_bytes()
    r = get(lib, transport, name)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["accept-ranges"] == "bytes" and r.headers["cache-control"] == "private"
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert {h.lower() for h in ORB} <= exposed and {"content-range", "etag"} <= exposed
    assert r.headers["etag"].startswith('"')
    if name in EXPECTED:
        bits, rate = EXPECTED[name]
        assert r.headers["x-orb-codec"] == "flac"
        assert (int(r.headers["x-orb-bit-depth"]), int(r.headers["x-orb-sample-rate"])) == (bits, rate)
        assert r.headers["x-orb-channels"] == str(ffprobe_stream(lib.files[name])["channels"])
        total = int(_run("metaflac", "--show-total-samples", str(lib.files[name])))
        assert int(r.headers["x-orb-total-samples"]) == total
        assert abs(int(r.headers["x-orb-duration-ms"]) - total * 1000 // rate) <= 1


@pytest.mark.parametrize("spec,start,end", [("bytes=0-0", 0, 0), ("bytes=100-4195", 100, 4195),
                                            ("bytes=-500", None, None), ("bytes=1000-", 1000, None)])
def test_ranges_are_byte_exact(lib: Lib, transport: Any, spec: str, start: int | None,
                               end: int | None) -> None:
    data = lib.files["flac24_96"].read_bytes()
    size = len(data)
    if start is None:
        start, end = size - 500, size - 1
    end = size - 1 if end is None else end
    r = get(lib, transport, "flac24_96", {"Range": spec})
    assert r.status_code == 206, r.text[:200]
    assert r.content == data[start:end + 1]
    assert r.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert r.headers["content-length"] == str(end - start + 1)
    assert r.headers["x-orb-sample-rate"] == "96000"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**20), st.integers(0, 2**20))
def test_any_range_is_byte_exact(lib: Lib, a: int, b: int) -> None:
    data = lib.files["flac16"].read_bytes()
    size = len(data)
    start, end = min(a, b), max(a, b)
    r = get(lib, lib.http, "flac16", {"Range": f"bytes={start}-{end}"})
    if start >= size:
        assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
        return
    assert r.status_code == 206 and r.content == data[start:min(end, size - 1) + 1]


def test_head_if_range_and_416(lib: Lib, transport: Any) -> None:
    data = lib.files["flac24_192"].read_bytes()
    head = get(lib, transport, "flac24_192", method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data)) and head.headers["x-orb-bit-depth"] == "24"
    etag = head.headers["etag"]
    r = get(lib, transport, "flac24_192", {"Range": "bytes=10-19", "If-Range": etag})
    assert r.status_code == 206 and r.content == data[10:20]
    r = get(lib, transport, "flac24_192", {"Range": "bytes=10-19", "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == data  # the file changed: all of it
    r = get(lib, transport, "flac24_192", {"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    r = get(lib, transport, "flac24_192", {"Range": "bytes=5-9"}, method="HEAD")
    assert r.status_code == 206 and r.content == b"" and r.headers["content-length"] == "5"


def test_query_token_works_for_media_elements(lib: Lib, transport: Any) -> None:
    data = lib.files["mp3_v23"].read_bytes()
    url = f"/api/v1/stream/{lib.ids['mp3_v23']}"
    r = transport.get(url, params={"token": lib.keys["alice"]})
    assert r.status_code == 200 and r.content == data
    assert transport.get(url, params={"token": "wrong"}).status_code == 401
    assert transport.get(url).status_code == 401


def test_access_rules(lib: Lib) -> None:
    alice, bonly, nostream = lib.native("alice"), lib.native("bonly"), lib.native("nostream")
    assert alice.call("GET", f"/stream/{lib.ids['flac16']}").status_code == 200
    # a folder-restricted user: a track outside their folders does not exist for them
    for path in (f"/stream/{lib.ids['flac16']}", f"/tracks/{lib.ids['flac16']}/seek-index",
                 f"/tracks/{lib.ids['flac16']}/waveform"):
        assert bonly.problem("GET", path, 404)["code"] == "not-found"
    r = bonly.call("GET", f"/stream/{lib.ids['b']}")
    assert r.status_code == 200 and r.content == lib.files["b"].read_bytes()
    assert nostream.problem("GET", f"/stream/{lib.ids['flac16']}", 403)["code"] == "forbidden"
    admin = lib.native()
    for bad in ("tr-zzzzzz", "tr-0", "al-1", "nonsense", "tr-" + "9" * 40):
        admin.problem("GET", f"/stream/{bad}", 404)
        admin.problem("GET", f"/tracks/{bad}/seek-index", 404)
    admin.problem("GET", f"/stream/{lib.ids['flac16']}", 422, params={"as": "mp3"})


def test_a_file_gone_is_404(lib: Lib) -> None:
    path = lib.files["noseek24"]
    moved = path.with_suffix(".away")
    path.rename(moved)
    try:
        lib.native().problem("GET", f"/stream/{lib.ids['noseek24']}", 404)
    finally:
        moved.rename(path)


# ---------------------------------------------------------------------------- as=flac

@pytest.mark.parametrize("name", ["m4a_alac", "wav"])
def test_as_flac_converts_losslessly(lib: Lib, transport: Any, name: str, tmp_path: Path) -> None:
    src = lib.files[name]
    src_info = ffprobe_stream(src)
    head = get(lib, transport, name, method="HEAD", **{"as": "flac"})
    assert head.status_code == 200 and head.content == b"" and head.headers["content-type"] == "audio/flac"
    assert "content-length" not in head.headers  # unknown before the first conversion
    assert head.headers["x-orb-codec"] == "flac"
    r = get(lib, transport, name, **{"as": "flac"})
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac"
    assert r.headers["x-orb-codec"] == "flac" and r.headers["cache-control"] == "private"
    out = tmp_path / "out.flac"
    out.write_bytes(r.content)
    info = ffprobe_stream(out)
    bits = int(src_info.get("bits_per_raw_sample") or 0) or int(src_info["bits_per_sample"])
    assert info["codec_name"] == "flac" and int(info["bits_per_raw_sample"]) == bits
    assert info["sample_rate"] == src_info["sample_rate"] and info["channels"] == src_info["channels"]
    assert r.headers["x-orb-bit-depth"] == str(bits) and r.headers["x-orb-sample-rate"] == info["sample_rate"]
    packets = ffprobe_packets(out)
    samples = packets[-1][0] + packets[-1][2]
    decoded = _run("ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                   "stream=duration_ts,duration", "-of", "json", str(src))
    src_samples = round(float(json.loads(decoded)["streams"][0]["duration"]) * int(info["sample_rate"]))
    assert abs(samples - src_samples) <= 1
    # the finished conversion is cached: served again with Range and an exact length (the
    # entry is ffmpeg's seekable file, its STREAMINFO complete: not the pipe's bytes)
    cached = get(lib, transport, name, **{"as": "flac"})
    assert int(cached.headers["content-length"]) == len(cached.content)
    (tmp_path / "cached.flac").write_bytes(cached.content)
    assert [(p[0], p[2]) for p in ffprobe_packets(tmp_path / "cached.flac")] == [(p[0], p[2]) for p in packets]
    again = get(lib, transport, name, {"Range": "bytes=4-103"}, **{"as": "flac"})
    assert again.status_code == 206 and again.content == cached.content[4:104]
    assert again.headers["content-range"] == f"bytes 4-103/{len(cached.content)}"
    assert again.headers["x-orb-codec"] == "flac"


@pytest.mark.parametrize("name", ["flac16", "mp3_v23"])
def test_as_flac_sends_browser_formats_as_they_are(lib: Lib, name: str) -> None:
    r = get(lib, lib.http, name, **{"as": "flac"})
    assert r.status_code == 200 and r.content == lib.files[name].read_bytes()
    assert r.headers["accept-ranges"] == "bytes"


# ---------------------------------------------------------------------------- seek index

def fetch_index(lib: Lib, name: str) -> tuple[int, int, int, list[tuple[int, int]]]:
    r = lib.native().call("GET", f"/tracks/{lib.ids[name]}/seek-index")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream", r.text[:300]
    assert r.content[:8] == b"ORBSEEK1" and int.from_bytes(r.content[8:12], "little") == 1
    return seekindex.decode(r.content)


@pytest.mark.parametrize("name", ["seektable", "noseek16", "noseek24", "flac16", "flac24_96", "flac24_192"])
def test_seek_index_points_are_ffprobe_frame_starts(lib: Lib, name: str) -> None:
    path = lib.files[name]
    rate, total, offset, points = fetch_index(lib, name)
    packets = ffprobe_packets(path)
    frames = {(pts, pos) for pts, pos, _ in packets}
    assert rate == int(ffprobe_stream(path)["sample_rate"])
    assert total == packets[-1][0] + packets[-1][2]
    assert offset == packets[0][1] and points[0] == (0, offset)
    missing = [p for p in points if p not in frames]
    assert not missing, missing[:5]
    assert [p[0] for p in points] == sorted({p[0] for p in points})  # strictly increasing
    assert [p[1] for p in points] == sorted({p[1] for p in points})
    gaps = [(b[0] - a[0]) / rate for a, b in itertools.pairwise(points)]
    duration = total / rate
    if duration >= 3:
        assert len(points) >= duration / 1.0 - 1
        assert max(gaps) <= 1.25 and min(gaps) >= 0.2, (min(gaps), max(gaps))
        assert 0.5 <= statistics.median(gaps) <= 1.0
        assert (total - points[-1][0]) / rate <= 1.25  # the end is covered too


def test_seek_index_is_cached_and_404_for_other_formats(lib: Lib) -> None:
    first = lib.native().call("GET", f"/tracks/{lib.ids['noseek16']}/seek-index").content
    with psycopg.connect(lib.url) as conn:
        n = conn.execute("SELECT count(*) FROM track_seek_points").fetchone()[0]
    assert n >= 1
    assert lib.native("alice").call("GET", f"/tracks/{lib.ids['noseek16']}/seek-index").content == first
    for name in ("m4a_alac", "mp3_v23", "wav"):
        lib.native().problem("GET", f"/tracks/{lib.ids[name]}/seek-index", 404)


# ---------------------------------------------------------------------------- waveform

def _work(url: str) -> None:
    asyncio.run(worker.run(url, queues=["analysis"], wait=False, install_signal_handlers=False))


def test_waveform_is_computed_by_the_job_and_recomputed_when_the_file_changes(lib: Lib) -> None:
    admin = lib.native()
    path = f"/tracks/{lib.ids['seektable']}/waveform"
    pending = admin.ok("GET", path, 202)
    assert pending == {"status": "pending"}
    schema_of("/tracks/{track_id}/waveform", status="202").validate(pending)  # documented too
    assert admin.ok("GET", path, 202) == {"status": "pending"}  # enqueued once (queueing lock)
    with psycopg.connect(lib.url) as conn:
        queued = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'analysis.waveform' "
                              "AND status = 'todo'").fetchone()[0]
    assert queued == 1
    _work(lib.url)
    body = admin.ok("GET", path)
    schema_of("/tracks/{track_id}/waveform").validate(body)
    assert body["count"] == 1000 and len(body["peaks"]) == 2000
    assert all(-1.0 <= v <= 1.0 for v in body["peaks"])
    mins, maxs = body["peaks"][0::2], body["peaks"][1::2]
    assert all(lo <= hi for lo, hi in zip(mins, maxs))
    # against ffmpeg's own full-rate mono decode: the same loudness (the 4 kHz decode only
    # loses the highest partials of the noise), never more
    decoded = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(lib.files["seektable"]), "-ac", "1",
                              "-f", "s16le", "-"], check=True, capture_output=True).stdout
    pcm = array("h", decoded)
    peak = max(max(pcm), -min(pcm)) / 32768
    assert peak > 0.02 and 0.6 * peak <= max(max(maxs), -min(mins)) <= peak * 1.05
    assert abs(body["durationMs"] - 30_000) <= 100
    # the file changes (a new mtime): the stored peaks no longer apply
    file = lib.files["seektable"]
    st = file.stat()
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    assert admin.ok("GET", path, 202) == {"status": "pending"}
    _work(lib.url)
    assert admin.ok("GET", path)["count"] == 1000
    with psycopg.connect(lib.url) as conn:
        row = conn.execute("SELECT w.mtime_ns FROM track_waveforms w JOIN tracks t ON t.id = w.track_id "
                           "WHERE t.path = 'gen/seektable.flac'").fetchone()
    assert row[0] == file.stat().st_mtime_ns


def test_waveform_of_a_short_track(lib: Lib) -> None:
    admin = lib.native()
    path = f"/tracks/{lib.ids['m4a_alac']}/waveform"
    admin.ok("GET", path, 202)
    _work(lib.url)
    body = admin.ok("GET", path)
    schema_of("/tracks/{track_id}/waveform").validate(body)
    assert 1 <= body["count"] <= 1000 and len(body["peaks"]) == 2 * body["count"]


# ---------------------------------------------------------------------------- scrobbles

def test_native_scrobble_is_a_subsonic_play(lib: Lib) -> None:
    alice = lib.native("alice")
    sub = Subsonic(lib.http, *ALICE)
    before = sub.ok("getAlbumList2", type="frequent", size=50)["albumList2"].get("album", [])
    played = alice.ok("POST", "/scrobbles", 204, json={"trackId": lib.ids["flac24_96"], "submission": True})
    assert played is None
    alice.ok("POST", "/scrobbles", 204, json={"trackId": lib.ids["flac24_96"], "at": "2026-01-02T03:04:05Z"})
    albums = sub.ok("getAlbumList2", type="frequent", size=50)["albumList2"]["album"]
    song = sub.ok("getSong", id=lib.ids["flac24_96"])["song"]
    hit = next(a for a in albums if a["id"] == song["albumId"])
    old = next((a for a in before if a["id"] == song["albumId"]), {"playCount": 0})
    assert hit["playCount"] == old.get("playCount", 0) + 2
    assert sub.ok("getSong", id=lib.ids["flac24_96"])["song"]["playCount"] >= 2
    # submission=false: now playing, not a play
    alice.ok("POST", "/scrobbles", 204, json={"trackId": lib.ids["mp3_v23"], "submission": False},
             headers={"X-Orb-Client": "orb-web"})
    playing = sub.ok("getNowPlaying")["nowPlaying"]["entry"]
    assert any(e["id"] == lib.ids["mp3_v23"] and e["username"] == "alice" for e in playing)
    assert sub.ok("getSong", id=lib.ids["mp3_v23"])["song"].get("playCount", 0) == 0


def test_scrobble_bad_input(lib: Lib) -> None:
    alice, bonly = lib.native("alice"), lib.native("bonly")
    alice.problem("POST", "/scrobbles", 404, json={"trackId": "tr-zzzzzz"})
    alice.problem("POST", "/scrobbles", 404, json={"trackId": "nonsense"})
    bonly.problem("POST", "/scrobbles", 404, json={"trackId": lib.ids["flac16"]})
    bonly.problem("POST", "/scrobbles", 404, json={"trackId": lib.ids["flac16"], "submission": False})
    body = alice.problem("POST", "/scrobbles", 422, json={})
    assert body["errors"][0]["field"] == "trackId"
    body = alice.problem("POST", "/scrobbles", 422,
                         json={"trackId": lib.ids["flac16"], "submission": "maybe"})
    assert body["errors"][0]["field"] == "submission"
    body = alice.problem("POST", "/scrobbles", 422, json={"trackId": lib.ids["flac16"], "at": "yesterday"})
    assert body["errors"][0]["field"] == "at"
    alice.problem("POST", "/scrobbles", 422, json={"trackId": lib.ids["flac16"], "extra": 1})


def test_routes_are_in_the_openapi_document() -> None:
    paths = document()["paths"]
    assert "get" in paths["/api/v1/stream/{track_id}"]
    assert "audio/*" in paths["/api/v1/stream/{track_id}"]["get"]["responses"]["200"]["content"]
    assert "post" in paths["/api/v1/scrobbles"]
    seek = paths["/api/v1/tracks/{track_id}/seek-index"]["get"]["responses"]["200"]
    assert "application/octet-stream" in seek["content"]
    # the waveform's 202 while its job runs is a documented answer, with its body and Retry-After
    wave = paths["/api/v1/tracks/{track_id}/waveform"]["get"]["responses"]
    assert {"200", "202"} <= set(wave)
    pending = wave["202"]["content"]["application/json"]["schema"]
    assert pending["title"] == "WaveformPending" and pending["properties"]["status"]["const"] == "pending"
    assert "Retry-After" in wave["202"]["headers"]


# ---------------------------------------------------------------------------- pure parts

@given(st.integers(1, 655350), st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1),
       st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=50))
def test_seek_index_format_round_trips(rate: int, total: int, offset: int,
                                       points: list[tuple[int, int]]) -> None:
    data = seekindex.encode(rate, total, offset, points)
    assert len(data) == 36 + 16 * len(points) and data[:8] == b"ORBSEEK1"
    assert int.from_bytes(data[16:24], "little") == total
    assert int.from_bytes(data[32:36], "little") == len(points)
    assert seekindex.decode(data) == (rate, total, offset, points)
    with pytest.raises(ValueError):
        seekindex.decode(data[:-1] if points else data[:20])


@given(st.lists(st.lists(st.integers(-32768, 32767), max_size=300), max_size=8), st.integers(1, 50),
       st.integers(1, 5000))
def test_waveform_folding_matches_a_direct_fold(chunks: list[list[int]], buckets: int, expected: int) -> None:
    from orbsonic.analysis.waveform import Folder

    folder = Folder(expected, buckets)
    for chunk in chunks:
        folder.add(array("h", chunk))
    samples = [v for c in chunks for v in c]
    per = folder.per
    want = [samples[i:i + per] for i in range(0, min(len(samples), per * (buckets - 1)), per)]
    if len(samples) > per * (buckets - 1):
        want.append(samples[per * (buckets - 1):])
    assert list(zip(folder.mins, folder.maxs)) == [(min(b), max(b)) for b in want if b]
    assert len(folder.mins) <= buckets and folder.samples == len(samples)


def test_a_path_leaving_the_folder_is_404(lib: Lib) -> None:
    """Defence in depth, as Subsonic stream: a database path climbing out of its music folder
    ("..", or a symlink to a file outside) is never served, though the file exists."""
    target = lib.files["b"]
    link = lib.root / "gen" / "link.mp3"
    link.symlink_to(target)
    with psycopg.connect(lib.url, autocommit=True) as conn:
        for path in ("../b/b.mp3", "gen/link.mp3"):
            conn.execute("UPDATE tracks SET path = %s WHERE path = %s", (path, "lib/mp3_v23.mp3"))
            try:
                lib.native().problem("GET", f"/stream/{lib.ids['mp3_v23']}", 404)
            finally:
                conn.execute("UPDATE tracks SET path = %s WHERE path = %s", ("lib/mp3_v23.mp3", path))
    link.unlink()
    assert lib.native().call("GET", f"/stream/{lib.ids['mp3_v23']}").status_code == 200


def test_seek_index_of_a_file_changed_since_the_scan(lib: Lib) -> None:
    """A new mtime (not rescanned): the cached points no longer apply; the index is found again
    from the file's own frame headers (the scanner's SEEKTABLE points are not trusted) and is
    still made of exact frame starts."""
    file = lib.files["seektable"]
    st = file.stat()
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns + 7_000_000_000))
    rate, _, _, points = fetch_index(lib, "seektable")
    frames = {(pts, pos) for pts, pos, _ in ffprobe_packets(file)}
    assert all(p in frames for p in points) and len(points) >= 30
    assert max((b[0] - a[0]) / rate for a, b in itertools.pairwise(points)) <= 1.25
    with psycopg.connect(lib.url) as conn:
        row = conn.execute("SELECT s.mtime_ns FROM track_seek_points s JOIN tracks t ON t.id = s.track_id "
                           "WHERE t.path = 'gen/seektable.flac'").fetchone()
    assert row[0] == file.stat().st_mtime_ns
