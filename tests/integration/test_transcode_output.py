"""What a transcode contains: codec, bitrate, duration, tags, the cover, gapless metadata.

A cacheable transcode (from the start) is one ffmpeg encode with two outputs: the pipe the
first client reads, and the cache entry, a seekable file — so the entry gets what only a
seekable file can carry (the MP3 Xing/LAME frame with encoder delay and padding, ID3v2
with the picture, an MP4 with its index first). Checked with ffprobe, by decoding, and by
reading the LAME frame's bytes.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orbsonic.scanner.scanner import scan
from tests.conftest import LiveServer, Subsonic, add_users, clone_db, make_app

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                                reason="needs ffmpeg and ffprobe")
SECONDS = 10
RATE = 44100
SAMPLES = SECONDS * RATE
TAGS = {"title": "Covered", "artist": "Test Tone", "album": "Output Tests"}


def _run(*args: str) -> bytes:
    return subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", *args],
                          check=True, capture_output=True).stdout


def _make_source(dest: Path, tmp: Path) -> None:
    """A 10 s stereo FLAC with tags and an embedded 64×64 PNG cover."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    audio, png = tmp / "audio.flac", tmp / "cover.png"
    meta = [x for k, v in TAGS.items() for x in ("-metadata", f"{k}={v}")]
    _run("-f", "lavfi", "-i", f"sine=frequency=440:sample_rate={RATE}:duration={SECONDS}", "-ac", "2",
         *meta, "-c:a", "flac", str(audio))
    _run("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(png))
    _run("-i", str(audio), "-i", str(png), "-map", "0", "-map", "1", "-c", "copy",
         "-disposition:v", "attached_pic", str(dest))


def probe(path: Path) -> dict[str, Any]:
    """ffprobe's streams (codec, bit rate, disposition) and format (duration, tags)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
                         check=True, capture_output=True).stdout
    info = json.loads(out)
    tags = {k.lower(): v for s in (info["format"], *info["streams"]) for k, v in s.get("tags", {}).items()}
    return {"streams": info["streams"], "format": info["format"], "tags": tags,
            "audio": next(s for s in info["streams"] if s["codec_type"] == "audio"),
            "pictures": [s for s in info["streams"] if s.get("disposition", {}).get("attached_pic")]}


def decoded_samples(path: Path) -> int:
    """Samples per channel ffmpeg decodes from `path` (encoder delay and padding trimmed
    where the file says how much)."""
    return len(_run("-i", str(path), "-map", "0:a", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-")) // 2


def lame_frame(data: bytes) -> dict[str, Any]:
    """The Xing/Info frame of an MP3 (the first frame after the ID3v2 tag): its tag, frame
    count, and the LAME extension's encoder string, encoder delay and padding (samples).
    Layout: the Xing header after the MPEG-1 side info (32 bytes stereo), then the LAME
    extension; delay and padding are two 12-bit fields at its offset 21."""
    off = 0
    if data[:3] == b"ID3":
        s = data[6:10]
        off = 10 + (s[0] << 21 | s[1] << 14 | s[2] << 7 | s[3])
    assert data[off] == 0xFF and data[off + 1] & 0xE0 == 0xE0, "no MPEG frame after the ID3 tag"
    x = off + 4 + 32
    tag = data[x:x + 4]
    assert tag in (b"Xing", b"Info"), f"first frame has no Xing/Info header ({tag!r})"
    flags = int.from_bytes(data[x + 4:x + 8], "big")
    pos, frames = x + 8, None
    if flags & 1:
        frames = int.from_bytes(data[pos:pos + 4], "big")
        pos += 4
    pos += (4 if flags & 2 else 0) + (100 if flags & 4 else 0) + (4 if flags & 8 else 0)
    d = data[pos + 21:pos + 24]
    return {"tag": tag, "frames": frames, "encoder": data[pos:pos + 9],
            "delay": d[0] << 4 | d[1] >> 4, "padding": (d[1] & 0x0F) << 8 | d[2]}


@dataclass
class Lib:
    api: Subsonic
    song: str
    cache: Path
    tmp: Path

    def stream(self, **params: Any) -> httpx.Response:
        r = self.api.raw("stream", id=self.song, **params)
        assert r.status_code == 200, r.text[:300]
        return r

    def entries(self) -> set[Path]:
        return {p for p in self.cache.rglob("*") if p.is_file() and not p.name.startswith(".")}

    def transcode(self, **params: Any) -> tuple[Path, Path]:
        """(what the first client received, the cache entry it produced), both as files."""
        before = self.entries()
        r = self.stream(**params)
        new = self.entries() - before
        assert len(new) == 1, new
        live = self.tmp / f"live-{params['format']}-{params.get('maxBitRate', 0)}"
        live.write_bytes(r.content)
        return live, new.pop()


@pytest.fixture(scope="module")
def lib(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    base = tmp_path_factory.mktemp("transcode-output")
    root = base / "music"
    _make_source(root / "Output/01 Covered.flac", base)
    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert report.added == 1 and not report.errors, report
    add_users(url, base)
    app = make_app(url, base / "data", (root,))
    with LiveServer(app) as live, httpx.Client(base_url=live.url, timeout=60) as http:
        api = Subsonic(http)
        song = api.ok("search3", query="", songCount=5, albumCount=0, artistCount=0)["searchResult3"]["song"][0]
        assert song["coverArt"]
        yield Lib(api, song["id"], base / "data/cache/transcodes", base)


def _has_tags(info: dict[str, Any]) -> bool:
    return all(info["tags"].get(k) == v for k, v in TAGS.items())


def test_mp3_cache_entry_is_complete_and_gapless(lib: Lib) -> None:
    live, entry = lib.transcode(format="mp3", maxBitRate=320)
    info = probe(entry)
    assert info["audio"]["codec_name"] == "mp3" and abs(int(info["audio"]["bit_rate"]) - 320_000) < 3_000
    assert _has_tags(info), info["tags"]
    assert len(info["pictures"]) == 1 and info["pictures"][0]["codec_name"] == "png"  # ID3v2 APIC
    assert entry.read_bytes()[3] == 3  # ID3v2.3
    lame = lame_frame(entry.read_bytes())
    assert lame["encoder"] == b"LAME3.100" and lame["delay"] > 0 and lame["padding"] > 0, lame
    # frame count, delay and padding account for exactly the source's samples ...
    assert lame["frames"] * 1152 - lame["delay"] - lame["padding"] == SAMPLES, lame
    # ... so a gapless decoder outputs the source's length, not a sample more
    assert decoded_samples(entry) == SAMPLES
    # the pipe carries the same: tags, the picture (its ID3v2 size corrected as it passes) and a
    # LAME/Info frame written up front with the delay and padding of the source's sample count
    # (orbsonic/transcode/mp3head.py), so it too decodes to exactly the source's length
    pinfo = probe(live)
    assert pinfo["audio"]["codec_name"] == "mp3" and _has_tags(pinfo)
    assert len(pinfo["pictures"]) == 1 and pinfo["pictures"][0]["codec_name"] == "png"
    plame = lame_frame(live.read_bytes())
    assert plame["tag"] == b"Info" and plame["encoder"] == b"LAME3.100"
    assert [plame[k] for k in ("frames", "delay", "padding")] == [lame[k] for k in ("frames", "delay", "padding")]
    assert decoded_samples(live) == SAMPLES
    # ffprobe: the decoder skips delay + 529 samples in both (start_time 1105 / 44100 s)
    assert pinfo["audio"]["start_time"] == info["audio"]["start_time"] == "0.025057"
    assert pinfo["audio"]["duration"] == info["audio"]["duration"]
    # mutagen (a LAME-only reader: ffmpeg's `Lavc` tag in the entry is relabelled `LAME3.100`)
    from mutagen.mp3 import MP3

    for path in (live, entry):
        got = MP3(path)
        assert got.info.encoder_info.startswith("LAME 3.100") and got.info.length == SECONDS, path
        assert "APIC:" in (got.tags or {}), path
    half = entry.stat().st_size // 2
    assert live.read_bytes()[-half:] == entry.read_bytes()[-half:]  # the same audio


def test_a_cached_entry_is_what_the_next_client_gets(lib: Lib) -> None:
    _, entry = lib.transcode(format="mp3", maxBitRate=128)
    again = lib.stream(format="mp3", maxBitRate=128)
    assert again.content == entry.read_bytes() and int(again.headers["content-length"]) == entry.stat().st_size
    part = lib.api.raw("stream", id=lib.song, format="mp3", maxBitRate=128, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and part.content == entry.read_bytes()[:100]


def test_m4a_cached_and_piped(lib: Lib) -> None:
    live, entry = lib.transcode(format="m4a", maxBitRate=192)
    info = probe(entry)
    assert info["audio"]["codec_name"] == "aac" and info["format"]["format_name"].startswith("mov")
    assert abs(int(info["audio"]["bit_rate"]) - 192_000) < 20_000, info["audio"]["bit_rate"]
    assert _has_tags(info) and len(info["pictures"]) == 1  # iTunes tags and covr
    data = entry.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # index first: playable from the start
    # the encoder delay is in an edit list: decoders trim it (within one AAC frame)
    assert abs(decoded_samples(entry) - SAMPLES) <= 1024
    # and in iTunSMPB (Apple's players): priming 1024, the padding, exactly the source's samples
    from mutagen.mp4 import MP4

    smpb = MP4(entry).tags["----:com.apple.iTunes:iTunSMPB"][0].decode().split()
    assert len(smpb) == 12 and int(smpb[1], 16) == 1024 and int(smpb[3], 16) == SAMPLES, smpb
    frames = int(subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-count_packets",
                                 "-show_entries", "stream=nb_read_packets", "-of", "csv=p=0", str(entry)],
                                check=True, capture_output=True, text=True).stdout.strip())
    assert frames * 1024 == int(smpb[1], 16) + int(smpb[2], 16) + SAMPLES
    assert MP4(live).tags is not None and "----:com.apple.iTunes:iTunSMPB" not in MP4(live).tags  # see below
    # the pipe: fragmented MP4 (an empty moov first), with the tags, Content-Type audio/mp4
    r = lib.stream(format="m4a", maxBitRate=192)
    assert r.headers["content-type"] == "audio/mp4"
    pinfo = probe(live)
    assert pinfo["audio"]["codec_name"] == "aac" and _has_tags(pinfo)
    assert b"moof" in live.read_bytes()
    # a fragmented MP4 carries no edit list for the priming samples (nor iTunSMPB: its moov
    # goes out before the end is known): within two frames
    assert 0 <= decoded_samples(live) - SAMPLES <= 2 * 1024


def test_opus_and_vorbis_keep_tags(lib: Lib) -> None:
    for fmt, codec in (("opus", "opus"), ("ogg", "vorbis")):
        live, entry = lib.transcode(format=fmt, maxBitRate=128)
        for path in (live, entry):
            info = probe(path)
            assert info["audio"]["codec_name"] == codec and _has_tags(info), (fmt, info["tags"])
            # Opus pre-skip is in its header: decoders trim it
            assert abs(decoded_samples(path) - SAMPLES) <= 960, fmt


def test_flac_from_flac_keeps_the_picture(lib: Lib) -> None:
    """A transcode to FLAC (maxBitRate with format=flac is no reason: it needs a reason —
    here a downmix asked through getTranscodeStream's params)."""
    before = lib.entries()
    r = lib.api.raw("getTranscodeStream", mediaId=lib.song, mediaType="song", transcodeParams="flac.0.1")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/flac", r.text[:200]
    (entry,) = lib.entries() - before
    info = probe(entry)
    assert info["audio"]["codec_name"] == "flac" and info["audio"]["channels"] == 1
    assert _has_tags(info) and len(info["pictures"]) == 1
    assert decoded_samples(entry) == SAMPLES
