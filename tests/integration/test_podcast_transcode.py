"""Downloaded podcast episodes transcoded like songs: `stream` (format, maxBitRate, timeOffset),
the OpenSubsonic `transcoding` extension (getTranscodeDecision / getTranscodeStream with
mediaType=podcast) and `hls`, through the real app and job worker with the feed host of
test_podcasts on loopback; every output checked with ffprobe."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_podcasts import Pod, audio_files, downloaded_episode, pod  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg"),
              pytest.mark.skipif(shutil.which("ffprobe") is None, reason="needs ffprobe")]


def _probe(data: bytes, tmp: Path) -> dict[str, Any]:
    path = tmp / f"probe-{len(data)}-{hash(data) & 0xFFFF}"
    path.write_bytes(data)
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                          "stream=codec_name,bit_rate:format=duration", "-of", "json", str(path)],
                         check=True, capture_output=True).stdout
    info = json.loads(out)
    stream = info["streams"][0]
    return {"codec": stream["codec_name"], "bit_rate": int(stream.get("bit_rate") or 0),
            "duration": float(info["format"].get("duration") or 0)}


def test_episodes_are_transcoded_like_songs(pod: Pod, tmp_path: Path) -> None:
    """stream of a downloaded episode honours format, maxBitRate and timeOffset (the 6 s
    episode is a 64 kbit/s mono MP3); download always sends the original."""
    ep = downloaded_episode(pod)
    original = pod.audio["one"]
    # within the limit and already MP3: the original, with Range
    for params in ({}, {"format": "mp3", "maxBitRate": "128"}, {"format": "raw", "maxBitRate": "32"}):
        r = pod.api.raw("stream", id=ep["streamId"], **params)
        assert r.status_code == 200 and r.content == original, params
    # another codec
    r = pod.api.raw("stream", id=ep["streamId"], format="opus")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/ogg" and r.content != original
    got = _probe(r.content, tmp_path)
    assert got["codec"] == "opus" and abs(got["duration"] - 6.0) < 0.2, got
    # a lower bitrate: MP3 at 32 kbit/s
    r = pod.api.raw("stream", id=ep["streamId"], maxBitRate="32")
    got = _probe(r.content, tmp_path)
    assert r.headers["x-transcode"].startswith("mp3")
    assert got["codec"] == "mp3" and got["bit_rate"] == 32000, got
    # the second request is served from the cache, with a length and Range
    again = pod.api.raw("stream", id=ep["streamId"], maxBitRate="32")
    assert again.headers.get("accept-ranges") == "bytes" and int(again.headers["content-length"]) > 0
    part = pod.api.raw("stream", id=ep["streamId"], maxBitRate="32", headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100
    # timeOffset (transcodeOffset): the rest of the episode; past its end: an error envelope
    r = pod.api.raw("stream", id=ep["streamId"], format="mp3", maxBitRate="32", timeOffset="4")
    assert abs(_probe(r.content, tmp_path)["duration"] - 2.0) < 0.3
    assert "past the end" in pod.api.fail("stream", 0, id=ep["streamId"], timeOffset="60")["message"]
    # download: the original whatever is asked
    assert pod.api.raw("download", id=ep["streamId"], format="opus").content == original


def _decision(pod: Pod, media_id: str, body: dict[str, Any], fmt: str = "json") -> Any:
    """POST getTranscodeDecision for a podcast episode (the ClientInfo as the JSON body),
    the answer validated against the XSD / OpenAPI."""
    from conformance import validate_response

    r = pod.api.http.post("/rest/getTranscodeDecision", content=json.dumps(body).encode(),
                          params={**pod.api.auth(), "f": fmt, "mediaId": media_id, "mediaType": "podcast"},
                          headers={"Content-Type": "application/json"})
    validate_response("getTranscodeDecision", r.content, r.headers["content-type"])
    return r


_MP3_PLAYER = {"name": "p", "platform": "t", "directPlayProfiles": [
    {"containers": ["mp3"], "audioCodecs": ["mp3"], "protocols": ["http"]}], "transcodingProfiles": []}
_OPUS_ONLY = {"name": "p", "platform": "t", "maxTranscodingAudioBitrate": 48000, "directPlayProfiles": [
    {"containers": ["ogg"], "audioCodecs": ["opus"], "protocols": ["http"]}], "transcodingProfiles": [
    {"container": "ogg", "audioCodec": "opus", "protocol": "http", "maxAudioChannels": 2}]}


def test_episodes_through_the_transcoding_extension_and_hls(pod: Pod, tmp_path: Path) -> None:
    """getTranscodeDecision / getTranscodeStream with mediaType=podcast and hls take a
    downloaded episode's id as stream does (the episode is a 6 s 64 kbit/s mono MP3)."""
    ep = downloaded_episode(pod)
    original = pod.audio["one"]
    # an MP3 player plays it as it is
    d = _decision(pod, ep["id"], _MP3_PLAYER).json()["subsonic-response"]["transcodeDecision"]
    assert d["canDirectPlay"] is True and d["transcodeParams"] == "direct", d
    assert d["sourceStream"]["container"] == "mp3" and d["sourceStream"]["codec"] == "mp3"
    assert d["sourceStream"]["audioBitrate"] == 64000
    stream = {**pod.api.auth(), "mediaId": ep["id"], "mediaType": "podcast"}
    s = pod.api.http.get("/rest/getTranscodeStream", params={**stream, "transcodeParams": "direct"},
                         headers={"Range": "bytes=10-19"})
    assert s.status_code == 206 and s.content == original[10:20]
    # an Opus-only player gets Opus at its transcoding limit
    r = _decision(pod, ep["id"], _OPUS_ONLY, fmt="xml")
    assert b"<transcodeReason>" in r.content and b'codec="opus"' in r.content
    d = _decision(pod, ep["id"], _OPUS_ONLY).json()["subsonic-response"]["transcodeDecision"]
    assert d["canDirectPlay"] is False and d["canTranscode"] is True, d
    assert d["transcodeStream"]["codec"] == "opus" and d["transcodeStream"]["audioBitrate"] == 48000
    s = pod.api.http.get("/rest/getTranscodeStream",
                         params={**stream, "transcodeParams": d["transcodeParams"]})
    assert s.status_code == 200 and s.headers["content-type"] == "audio/ogg"
    got = _probe(s.content, tmp_path)
    assert got["codec"] == "opus" and abs(got["duration"] - 6.0) < 0.2, got
    s = pod.api.http.get("/rest/getTranscodeStream",
                         params={**stream, "transcodeParams": d["transcodeParams"], "offset": 4})
    assert abs(_probe(s.content, tmp_path)["duration"] - 2.0) < 0.3
    # errors: past the end 400; a song id, an episode not downloaded, an unknown one 404 / 70
    s = pod.api.http.get("/rest/getTranscodeStream", params={**stream, "transcodeParams": "mp3.32.1",
                                                                 "offset": 60})
    assert s.status_code == 400 and "past the end of the episode" in s.text
    other = next(e for e in pod.channels(includeEpisodes="true")[0]["episode"] if e["id"] != ep["id"])
    assert other["status"] != "completed"
    for media_id in ("tr-1", other["id"], "pe-zzzzzz"):
        s = pod.api.http.get("/rest/getTranscodeStream",
                             params={**stream, "mediaId": media_id, "transcodeParams": "direct"})
        assert s.status_code == 404 and s.headers["content-type"].startswith("text/plain"), media_id
        r = _decision(pod, media_id, _MP3_PLAYER)
        assert r.json()["subsonic-response"]["error"]["code"] == 70, media_id

    # hls: a media playlist of one 10 s segment (the episode is 6 s), the segment AAC
    r = pod.api.raw("hls", fmt=None, suffix=".m3u8", id=ep["streamId"], bitRate="64")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    segments = [x for x in r.text.splitlines() if x and not x.startswith("#")]
    assert len(segments) == 1 and "segment=0" in segments[0] and ep["streamId"] in segments[0]
    seg = pod.api.http.get("/rest/" + segments[0])
    assert seg.status_code == 200 and seg.headers["content-type"] == "video/MP2T"
    got = _probe(seg.content, tmp_path)
    assert got["codec"] == "aac" and abs(got["duration"] - 6.0) < 0.3, got
    r = pod.api.raw("hls", fmt="xml", suffix=".m3u8", id=other["id"])
    assert b'code="70"' in r.content
