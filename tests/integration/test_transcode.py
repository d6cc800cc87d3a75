"""stream with transcoding: real ffmpeg over real uvicorn, output checked with ffprobe.

The client requests are the real ones (client-compat §4): DSub's `maxBitRate=128&format=mp3`,
Ultrasonic's `timeOffset`, Symfonium-style `format=opus`, `format=raw`, and
`estimateContentLength`. The cache (a second request served from disk with 206), the
concurrency limit (queues, then a clear error) and client disconnects (ffmpeg killed and
reaped) are tested on the running server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orbsonic.scanner.scanner import scan
from tests.conftest import ALICE, LiveServer, Subsonic, add_users, clone_db, make_app, users_sql

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                                reason="needs ffmpeg and ffprobe")
LONG_S = 30


def _encode(dest: Path, seconds: int, title: str, codec: list[str]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
         "-ac", "2", "-metadata", f"title={title}", "-metadata", "artist=Test Tone",
         "-metadata", "album=Transcode Tests", *codec, str(dest)], check=True)


def ffprobe(data: bytes, tmp: Path) -> dict[str, Any]:
    """ffprobe's view of `data`: {'codec', 'bit_rate', 'duration', 'format', 'tags'}."""
    path = tmp / f"probe-{time.monotonic_ns()}"
    path.write_bytes(data)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries",
         "stream=codec_name,bit_rate,sample_rate:format=format_name,duration,bit_rate:format_tags:stream_tags",
         "-of", "json", str(path)], check=True, capture_output=True).stdout
    info = json.loads(out)
    stream = info["streams"][0]
    fmt = info["format"]
    tags = {k.lower(): v for k, v in {**fmt.get("tags", {}), **stream.get("tags", {})}.items()}
    return {"codec": stream["codec_name"], "duration": float(fmt.get("duration") or 0),
            "bit_rate": int(stream.get("bit_rate") or fmt.get("bit_rate") or 0),
            "format": fmt["format_name"], "tags": tags}


def decoded_duration(data: bytes, tmp: Path) -> float:
    """Seconds of audio in `data`, by its packets (ADTS and piped FLAC carry no total length
    that ffprobe could read from a header)."""
    path = tmp / f"packets-{time.monotonic_ns()}"
    path.write_bytes(data)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries",
                          "packet=duration_time", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    values = (x.strip().rstrip(",") for x in out.split())
    return sum(float(x) for x in values if x not in ("", "N/A"))


@dataclass
class Lib:
    root: Path
    url: str
    live: LiveServer
    http: httpx.Client
    api: Subsonic
    songs: dict[str, dict[str, Any]]
    tmp: Path

    @property
    def transcoder(self) -> Any:
        return self.live.server.config.app.state.orbsonic.transcoding.transcoder

    def song(self, path: str) -> str:
        return self.songs[path]["id"]


@pytest.fixture(scope="module")
def lib(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    base = tmp_path_factory.mktemp("transcode")
    root = base / "music"
    _encode(root / "Tones/01 Long.flac", LONG_S, "Long", ["-c:a", "flac"])
    _encode(root / "Tones/02 Very Long.flac", 900, "Very Long", ["-c:a", "flac", "-compression_level", "0"])
    _encode(root / "Tones/03 Small.mp3", 5, "Small", ["-c:a", "libmp3lame", "-b:a", "96k"])
    _encode(root / "Tones/04 Doomed.flac", 5, "Doomed", ["-c:a", "flac"])
    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert report.added == 4 and not report.errors, report
    add_users(url, base)
    # garbage where a scanned FLAC was: ffmpeg cannot decode it
    doomed = root / "Tones/04 Doomed.flac"
    size = doomed.stat().st_size
    doomed.write_bytes(os.urandom(size))
    app = make_app(url, base / "data", (root,), transcode_max_concurrent=2, transcode_queue_wait_s=2)
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        api = Subsonic(http)
        found = api.ok("search3", query="", songCount=50, albumCount=0,
                       artistCount=0)["searchResult3"]["song"]
        yield Lib(root, url, live, http, api, {s["path"]: s for s in found}, base)


def get(lib: Lib, path: str, client: Subsonic | None = None, headers: dict[str, str] | None = None,
        **params: Any) -> httpx.Response:
    return (client or lib.api).raw("stream", id=lib.song(path), headers=headers, **params)


# ---------------------------------------------------------------------------- real client requests

def test_dsub_mp3_128(lib: Lib) -> None:
    dsub = Subsonic(lib.http, client="DSub", version="1.2.0")
    r = get(lib, "Tones/01 Long.flac", dsub, fmt="xml", maxBitRate=128, format="mp3")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    probe = ffprobe(r.content, lib.tmp)
    assert probe["codec"] == "mp3"
    assert abs(probe["bit_rate"] - 128_000) < 2_000, probe
    # A live MP3 from a pipe carries no LAME header (ffmpeg writes it only to seekable
    # output), so players cannot trim the encoder delay (1105 samples) and the padding of
    # the last frame: at most two frames more than the source, never less. (The cache
    # entry written beside it has one: test_transcode_output.)
    assert 0 <= probe["duration"] - LONG_S <= 2 * 1152 / 44100, probe
    assert probe["tags"].get("title") == "Long" and probe["tags"].get("artist") == "Test Tone", probe


def test_opus(lib: Lib) -> None:
    r = get(lib, "Tones/01 Long.flac", format="opus", maxBitRate=96)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg"
    probe = ffprobe(r.content, lib.tmp)
    assert probe["codec"] == "opus" and probe["format"] == "ogg"
    assert abs(probe["duration"] - LONG_S) <= 0.03, probe  # Opus frames are 20 ms
    assert 80_000 <= len(r.content) * 8 / LONG_S <= 110_000
    assert probe["tags"].get("title") == "Long"


@pytest.mark.parametrize("fmt,codec,ctype", [("aac", "aac", "audio/aac"), ("ogg", "vorbis", "audio/ogg"),
                                             ("vorbis", "vorbis", "audio/ogg")])
def test_other_lossy_formats(lib: Lib, fmt: str, codec: str, ctype: str) -> None:
    r = get(lib, "Tones/01 Long.flac", format=fmt, maxBitRate=160)
    assert r.status_code == 200 and r.headers["content-type"] == ctype
    probe = ffprobe(r.content, lib.tmp)
    assert probe["codec"] == codec
    assert abs(decoded_duration(r.content, lib.tmp) - LONG_S) < 0.05, probe


def test_flac_from_mp3(lib: Lib) -> None:
    r = get(lib, "Tones/03 Small.mp3", format="flac")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac"
    assert ffprobe(r.content, lib.tmp)["codec"] == "flac"
    assert abs(decoded_duration(r.content, lib.tmp) - 5) < 0.05


def test_ultrasonic_time_offset(lib: Lib) -> None:
    r = get(lib, "Tones/01 Long.flac", format="mp3", maxBitRate=192, timeOffset=20)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    probe = ffprobe(r.content, lib.tmp)
    assert abs(probe["duration"] - (LONG_S - 20)) <= 0.05, probe
    # no format: an offset alone transcodes into the source's own codec family
    r = get(lib, "Tones/03 Small.mp3", timeOffset=2)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
    assert abs(ffprobe(r.content, lib.tmp)["duration"] - 3) <= 0.05


def test_raw_and_acceptable_sources_are_sent_as_they_are(lib: Lib) -> None:
    flac = (lib.root / "Tones/01 Long.flac").read_bytes()
    mp3 = (lib.root / "Tones/03 Small.mp3").read_bytes()
    for params in ({"format": "raw", "maxBitRate": 128}, {}, {"maxBitRate": 0}, {"maxBitRate": 1_000_000},
                   {"format": "xyz"}, {"format": "flac"}):
        r = get(lib, "Tones/01 Long.flac", **params)
        assert r.status_code == 200 and r.content == flac, params
        assert r.headers["accept-ranges"] == "bytes"
    # an MP3 at 96 kbps is within 128: the file itself, with Range
    r = get(lib, "Tones/03 Small.mp3", format="mp3", maxBitRate=128, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == mp3[100:200]


def test_bitrate_extremes_are_clamped(lib: Lib) -> None:
    high = ffprobe(get(lib, "Tones/01 Long.flac", format="mp3", maxBitRate=1_000_000).content, lib.tmp)
    assert high["codec"] == "mp3" and abs(high["bit_rate"] - 320_000) < 3_000, high
    low = ffprobe(get(lib, "Tones/01 Long.flac", format="mp3", maxBitRate=1).content, lib.tmp)
    assert low["codec"] == "mp3" and abs(low["bit_rate"] - 32_000) < 2_000, low
    # a limit with no format: the default target (mp3) at that bitrate
    r = get(lib, "Tones/01 Long.flac", maxBitRate=64)
    assert r.headers["content-type"] == "audio/mpeg"
    assert abs(ffprobe(r.content, lib.tmp)["bit_rate"] - 64_000) < 2_000


def test_user_max_bitrate(lib: Lib) -> None:
    users_sql(lib.url, "UPDATE users SET max_bitrate = 96 WHERE username = %s", (ALICE[0],))
    alice = lib.api.as_user(*ALICE)
    r = get(lib, "Tones/01 Long.flac", alice)
    assert r.headers["content-type"] == "audio/mpeg"
    assert abs(ffprobe(r.content, lib.tmp)["bit_rate"] - 96_000) < 2_000
    # the request may ask for less, never for more
    r = get(lib, "Tones/01 Long.flac", alice, format="mp3", maxBitRate=320)
    assert abs(ffprobe(r.content, lib.tmp)["bit_rate"] - 96_000) < 2_000


def test_client_profile(lib: Lib) -> None:
    """Jamstash cannot play FLAC (client-compat §4.3): it gets MP3 without asking."""
    jamstash = Subsonic(lib.http, client="Jamstash")
    r = get(lib, "Tones/01 Long.flac", jamstash)
    assert r.headers["content-type"] == "audio/mpeg"
    assert ffprobe(r.content, lib.tmp)["codec"] == "mp3"
    mp3 = get(lib, "Tones/03 Small.mp3", jamstash)
    assert mp3.content == (lib.root / "Tones/03 Small.mp3").read_bytes()


def test_estimate_content_length(lib: Lib) -> None:
    r = get(lib, "Tones/01 Long.flac", format="mp3", maxBitRate=128, timeOffset=1, estimateContentLength=True)
    expected = (LONG_S - 1) * 1000 * 128 // 8
    assert int(r.headers["content-length"]) == expected == len(r.content)
    assert ffprobe(r.content, lib.tmp)["codec"] == "mp3"


def test_head_starts_no_ffmpeg(lib: Lib) -> None:
    r = get(lib, "Tones/02 Very Long.flac", http_method="HEAD", format="mp3", maxBitRate=128, timeOffset=3)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg" and r.content == b""
    assert not lib.transcoder.running


# ---------------------------------------------------------------------------- the cache

def _entries(lib: Lib, suffix: str) -> set[Path]:
    return set((lib.tmp / "data/cache/transcodes").rglob(f"*.{suffix}"))


def test_second_request_is_served_from_the_cache_with_range(lib: Lib) -> None:
    before = _entries(lib, "opus")
    first = get(lib, "Tones/01 Long.flac", format="opus", maxBitRate=64)
    assert first.status_code == 200 and "content-length" not in first.headers  # live: chunked
    new = _entries(lib, "opus") - before
    assert len(new) == 1
    entry = new.pop()
    assert not [p for p in entry.parent.iterdir() if p.name.endswith(".part")]
    data = entry.read_bytes()
    # one encode, two outputs (the pipe and the entry): the same audio packets
    assert packet_hashes(first.content, lib.tmp) == packet_hashes(data, lib.tmp)
    part = get(lib, "Tones/01 Long.flac", format="opus", maxBitRate=64, headers={"Range": "bytes=1000-4999"})
    assert part.status_code == 206, part.headers
    assert part.headers["content-range"] == f"bytes 1000-4999/{len(data)}"
    assert part.content == data[1000:5000]
    full = get(lib, "Tones/01 Long.flac", format="opus", maxBitRate=64)
    assert int(full.headers["content-length"]) == len(data) and full.content == data
    assert full.headers["accept-ranges"] == "bytes"


def packet_hashes(data: bytes, tmp: Path) -> list[str]:
    """The MD5 of each audio packet ffprobe demuxes from `data` (container bytes aside)."""
    path = tmp / f"hashes-{time.monotonic_ns()}"
    path.write_bytes(data)
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_data_hash", "MD5",
                          "-show_entries", "packet=data_hash", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    # a packet with side data (the LAME frame's skip samples) prints extra empty fields
    return [h for x in out.split() for h in x.split(",") if h]


def test_a_follower_gets_the_whole_entry(lib: Lib) -> None:
    """Three requests for the same new transcode at once: one produces, the others follow
    the growing entry (or get the finished one); all get the same, complete audio."""
    def fetch(out: list[bytes]) -> None:
        out.append(get(lib, "Tones/01 Long.flac", format="mp3", maxBitRate=160).content)

    results: list[bytes] = []
    started = lib.transcoder.started
    threads = [threading.Thread(target=fetch, args=(results,)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 3
    hashes = [packet_hashes(r, lib.tmp) for r in results]
    assert hashes[0] == hashes[1] == hashes[2] and len(hashes[0]) > LONG_S * 38
    assert lib.transcoder.started == started + 1  # transcoded once: the others followed or hit
    assert abs(ffprobe(results[0], lib.tmp)["duration"] - LONG_S) < 0.05
    # each carries the LAME/Info frame: the producer's pipe (inserted), a follower (ffmpeg's
    # zero-filled placeholder filled in) or the finished entry; a decoder skips 576 + 529
    for n, data in enumerate(results):
        path = lib.tmp / f"follower-{n}.mp3"
        path.write_bytes(data)
        start = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=start_time", "-of", "csv=p=0",
                                str(path)], check=True, capture_output=True, text=True).stdout.strip()
        assert start == "0.025057", (n, start)


# ---------------------------------------------------------------------------- bad input

def test_undecodable_file_is_an_error_envelope(lib: Lib) -> None:
    for fmt in ("xml", "json"):
        r = get(lib, "Tones/04 Doomed.flac", fmt=fmt, format="mp3", maxBitRate=128)
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/xml" if fmt == "xml" else "application/json")
    err = lib.api.fail("stream", 0, id=lib.song("Tones/04 Doomed.flac"), format="opus")
    assert "cannot transcode" in err["message"]
    assert not lib.transcoder.running
    assert not list((lib.tmp / "data/cache/transcodes").rglob("*.part"))


def test_time_offset_past_the_end_and_garbage(lib: Lib) -> None:
    err = lib.api.fail("stream", 0, id=lib.song("Tones/01 Long.flac"), format="mp3", timeOffset=LONG_S + 5)
    assert "past the end" in err["message"]
    lib.api.fail("stream", 0, id=lib.song("Tones/01 Long.flac"), timeOffset="soon")
    lib.api.fail("stream", 0, id=lib.song("Tones/01 Long.flac"), timeOffset="-3")
    lib.api.fail("stream", 0, id=lib.song("Tones/01 Long.flac"), maxBitRate="lots")


# ---------------------------------------------------------------------------- processes

def _gone(pid: int) -> bool:
    """The process has exited *and* been reaped (no zombie left in the process table)."""
    return not os.path.exists(f"/proc/{pid}")


def _wait(cond: Any, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_client_disconnect_kills_ffmpeg(lib: Lib) -> None:
    params = {**lib.api.auth(), "f": "json", "id": lib.song("Tones/02 Very Long.flac"), "format": "mp3",
              "maxBitRate": 320}
    with lib.http.stream("GET", "/rest/stream", params=params) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg"
        chunks = r.iter_raw()
        got = next(chunks)
        assert got
        pids = list(lib.transcoder.running)
        assert len(pids) == 1
        pid = pids[0]
        # backpressure: we read nothing more, ffmpeg must block rather than race ahead
        time.sleep(0.5)
        assert os.path.exists(f"/proc/{pid}")
    assert _wait(lambda: _gone(pid)), Path(f"/proc/{pid}/status").read_text()[:200]
    assert _wait(lambda: not lib.transcoder.running)
    assert not list((lib.tmp / "data/cache/transcodes").rglob("*.part"))  # partial entry discarded


def test_concurrency_limit_queues_then_fails_clearly(lib: Lib) -> None:
    """Two slots (fixture). A third request waits for a slot (2 s): it succeeds when one
    frees up in time, and gets a clear error envelope when none does."""
    params = {**lib.api.auth(), "f": "json", "id": lib.song("Tones/02 Very Long.flac"), "format": "mp3"}
    with httpx.Client(base_url=lib.live.url, timeout=60) as h1, \
            httpx.Client(base_url=lib.live.url, timeout=60) as h2:
        # 900 s at 320/256 kbps: far more than socket buffers hold, so both stay blocked
        with h1.stream("GET", "/rest/stream", params={**params, "maxBitRate": 320}) as a, \
                h2.stream("GET", "/rest/stream", params={**params, "maxBitRate": 256}) as b:
            readers = [a.iter_raw(), b.iter_raw()]  # keep them: a dropped iterator closes its stream
            assert all(next(r) for r in readers)
            assert len(lib.transcoder.running) == 2
            t0 = time.monotonic()
            err = lib.api.fail("stream", 0, id=lib.song("Tones/01 Long.flac"), format="mp3", maxBitRate=56)
            assert "busy" in err["message"] and time.monotonic() - t0 >= 1.5
            result: list[httpx.Response] = []
            waiter = threading.Thread(target=lambda: result.append(
                get(lib, "Tones/01 Long.flac", fmt="json", format="opus", maxBitRate=48)))
            waiter.start()
            time.sleep(0.5)
            assert not result  # still queued
        waiter.join(30)
    assert result and result[0].status_code == 200 and result[0].headers["content-type"] == "audio/ogg"
    assert ffprobe(result[0].content, lib.tmp)["codec"] == "opus"
    assert _wait(lambda: not lib.transcoder.running)


# ---------------------------------------------------------------------------- transcoding extension

SONOS = {  # the ClientInfo example of the OpenSubsonic docs (getTranscodeDecision.md)
    "name": "Play:1", "platform": "Sonos", "maxAudioBitrate": 512000, "maxTranscodingAudioBitrate": 256000,
    "directPlayProfiles": [
        {"containers": ["mp3"], "audioCodecs": ["mp3"], "protocols": ["http"], "maxAudioChannels": 2},
        {"containers": ["mp4"], "audioCodecs": ["aac", "alac"], "protocols": [], "maxAudioChannels": 2}],
    "transcodingProfiles": [
        {"container": "mp4", "audioCodec": "aac", "protocol": "hls", "maxAudioChannels": 2},
        {"container": "ogg", "audioCodec": "opus", "protocol": "http", "maxAudioChannels": 2},
        {"container": "mp3", "audioCodec": "mp3", "protocol": "http", "maxAudioChannels": 2}],
    "codecProfiles": [{"type": "AudioCodec", "name": "opus", "limitations": [
        {"name": "audioBitrate", "comparison": "LessThanEqual", "values": ["96000"], "required": True}]}],
}


def decision(lib: Lib, path: str, body: Any, fmt: str = "json", **extra: str) -> httpx.Response:
    from conformance import validate_response

    params = {**lib.api.auth(), "f": fmt, "mediaId": lib.song(path), "mediaType": "song", **extra}
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    r = lib.http.post("/rest/getTranscodeDecision", params=params, content=raw,
                      headers={"Content-Type": "application/json"})
    validate_response("getTranscodeDecision", r.content, r.headers["content-type"])
    return r


def test_transcode_decision_and_stream(lib: Lib) -> None:
    r = decision(lib, "Tones/01 Long.flac", SONOS)
    d = r.json()["subsonic-response"]["transcodeDecision"]
    assert d["canDirectPlay"] is False and d["canTranscode"] is True
    assert d["transcodeReason"] == ["ContainerNotSupported", "ContainerNotSupported"]
    assert d["sourceStream"]["container"] == "flac" and d["sourceStream"]["codec"] == "flac"
    # the HLS profile is skipped (HTTP only); Opus is capped by its codec profile at 96 kbit/s
    assert d["transcodeStream"] == {"protocol": "http", "container": "ogg", "codec": "opus",
                                    "audioChannels": 2, "audioBitrate": 96000, "audioSamplerate": 48000}
    xml = decision(lib, "Tones/01 Long.flac", SONOS, fmt="xml")
    assert b"<transcodeReason>ContainerNotSupported</transcodeReason>" in xml.content
    s = lib.http.get("/rest/getTranscodeStream", params={
        **lib.api.auth(), "mediaId": lib.song("Tones/01 Long.flac"), "mediaType": "song",
        "transcodeParams": d["transcodeParams"]})
    assert s.status_code == 200 and s.headers["content-type"] == "audio/ogg"
    probe = ffprobe(s.content, lib.tmp)
    assert probe["codec"] == "opus" and abs(probe["duration"] - LONG_S) <= 0.03
    assert 80_000 <= len(s.content) * 8 / LONG_S <= 110_000
    # with an offset
    s = lib.http.get("/rest/getTranscodeStream", params={
        **lib.api.auth(), "mediaId": lib.song("Tones/01 Long.flac"), "mediaType": "song",
        "transcodeParams": d["transcodeParams"], "offset": 10})
    assert abs(ffprobe(s.content, lib.tmp)["duration"] - (LONG_S - 10)) <= 0.03


def test_transcode_decision_direct_play(lib: Lib) -> None:
    d = decision(lib, "Tones/03 Small.mp3", SONOS).json()["subsonic-response"]["transcodeDecision"]
    assert d["canDirectPlay"] is True and d["transcodeParams"] == "direct"
    s = lib.http.get("/rest/getTranscodeStream", params={
        **lib.api.auth(), "mediaId": lib.song("Tones/03 Small.mp3"), "mediaType": "song",
        "transcodeParams": "direct"}, headers={"Range": "bytes=10-19"})
    assert s.status_code == 206 and s.content == (lib.root / "Tones/03 Small.mp3").read_bytes()[10:20]
    # nothing we can produce: neither, with a reason
    none = {"name": "x", "platform": "y", "directPlayProfiles": [{"containers": ["wma"]}],
            "transcodingProfiles": [{"container": "mp4", "audioCodec": "aac", "protocol": "hls"}]}
    d = decision(lib, "Tones/01 Long.flac", none).json()["subsonic-response"]["transcodeDecision"]
    assert d["canDirectPlay"] is False and d["canTranscode"] is False and d["errorReason"]


def test_transcode_decision_bad_input(lib: Lib) -> None:
    for body in (b"not json", b"", json.dumps({"platform": "no name"}).encode(), b"[1, 2]"):
        r = decision(lib, "Tones/01 Long.flac", body)
        assert r.json()["subsonic-response"]["error"]["code"] == 0, body
    r = decision(lib, "Tones/01 Long.flac", SONOS, mediaType="podcast")
    assert r.json()["subsonic-response"]["error"]["code"] == 70
    base = {**lib.api.auth(), "mediaId": lib.song("Tones/01 Long.flac"), "mediaType": "song"}
    for params, status in (({"transcodeParams": "mp3.99999999.2"}, 400), ({"transcodeParams": "../x"}, 400),
                           ({}, 400), ({"transcodeParams": "mp3.128.2", "mediaId": "tr-zzzz"}, 404),
                           ({"transcodeParams": "mp3.128.2", "offset": LONG_S + 1}, 400)):
        s = lib.http.get("/rest/getTranscodeStream", params={**base, **params})
        assert s.status_code == status, (params, s.text)
        assert s.headers["content-type"].startswith("text/plain")
    s = lib.http.get("/rest/getTranscodeStream", params={**base, "mediaId": lib.song("Tones/04 Doomed.flac"),
                                                          "transcodeParams": "mp3.128.2"})
    assert s.status_code == 415 and "cannot transcode" in s.text
    assert not lib.transcoder.running


def test_stream_needs_the_stream_role(lib: Lib) -> None:
    alice = lib.api.as_user(*ALICE)
    song = lib.song("Tones/03 Small.mp3")
    assert alice.raw("stream", id=song).status_code == 200
    users_sql(lib.url, "UPDATE users SET can_stream = false WHERE username = %s", (ALICE[0],))
    try:
        alice.fail("stream", 50, id=song)
        alice.fail("stream", 50, id=song, format="mp3", maxBitRate=64)
        r = alice.raw("getTranscodeStream", mediaId=song, mediaType="song", transcodeParams="direct")
        assert r.json()["subsonic-response"]["error"]["code"] == 50
        assert lib.api.raw("stream", id=song).status_code == 200  # others unaffected
    finally:
        users_sql(lib.url, "UPDATE users SET can_stream = true WHERE username = %s", (ALICE[0],))


# ---------------------------------------------------------------------------- hls

def test_hls_playlists_and_segments(lib: Lib) -> None:
    auth = lib.api.auth()
    song = lib.song("Tones/01 Long.flac")
    r = lib.http.get("/rest/hls.m3u8", params={**auth, "id": song, "bitRate": 128})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    lines = r.text.splitlines()
    assert lines[0] == "#EXTM3U" and lines[-1] == "#EXT-X-ENDLIST"
    segments = [x for x in lines if x and not x.startswith("#")]
    assert len(segments) == 3 and all("segment=" in x for x in segments)
    # a real HLS client: ffprobe reads the playlist and every segment over HTTP
    url = f"{lib.live.url}/rest/hls.m3u8?" + httpx.QueryParams({**auth, "id": song, "bitRate": 96}).__str__()
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration",
                          "-of", "json", url], check=True, capture_output=True, timeout=60).stdout
    info = json.loads(out)
    assert info["streams"][0]["codec_name"] == "aac"
    assert abs(float(info["format"]["duration"]) - LONG_S) < 0.2, info
    seg = lib.http.get("/rest/" + segments[1])
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/MP2T"
    assert abs(decoded_duration(seg.content, lib.tmp) - 10) < 0.1
    # several bitrates: a master playlist with one variant each
    m = lib.http.get("/rest/hls.m3u8", params=[*auth.items(), ("id", song), ("bitRate", "64"),
                                                  ("bitRate", "1000@480x360")])
    assert m.text.count("#EXT-X-STREAM-INF") == 2 and "BANDWIDTH=64000" in m.text
    assert "BANDWIDTH=320000" in m.text  # clamped
    # bad input: XML envelopes (validated against the XSD; the OpenAPI has no hls schema)
    for params, code in (({"segment": 99}, 70), ({"bitRate": "fast"}, 0), ({"segment": "x"}, 0)):
        r = lib.api.raw("hls", fmt="xml", suffix=".m3u8", id=song, **params)
        assert r.headers["content-type"].startswith("text/xml") and f'code="{code}"'.encode() in r.content
    assert _wait(lambda: not lib.transcoder.running)
