"""The piped-MP3 head fixer (orbsonic/transcode/mp3head.py) on real ffmpeg output: the
Info frame's delay/padding equal what ffmpeg writes into a seekable file, the ID3v2 size is
corrected, anything it does not recognise passes unchanged."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from orbsonic.transcode import mp3head

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


def _mp3(tmp: Path, rate: int, seconds: float, *, pipe: bool, picture: bool = False) -> bytes:
    src = tmp / f"src-{rate}-{seconds}.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"sine=frequency=440:sample_rate={rate}:duration={seconds}", "-ac", "2",
                    "-metadata", "title=T", "-c:a", "flac", str(src)], check=True)
    inputs = ["-i", str(src)]
    maps = ["-map", "0:a"]
    if picture:
        png = tmp / "c.png"
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=32x32",
                        "-frames:v", "1", str(png)], check=True)
        inputs += ["-i", str(png)]
        maps += ["-map", "1:v", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
    args = ["ffmpeg", "-v", "error", "-y", *inputs, *maps, "-c:a", "libmp3lame", "-b:a", "128k",
            "-id3v2_version", "3", "-f", "mp3"]
    if pipe:
        return subprocess.run([*args, "pipe:1"], check=True, capture_output=True).stdout
    out = tmp / "seekable.mp3"
    subprocess.run([*args, str(out)], check=True)
    return out.read_bytes()


def _fix(data: bytes, samples: int | None, step: int = 7) -> bytes:
    fixer = mp3head.HeadFixer(samples)
    out = b"".join(fixer.feed(data[i:i + step]) for i in range(0, len(data), step))
    return out + fixer.finish()


def _delay_padding(data: bytes) -> tuple[int, int, bytes]:
    """(delay, padding, encoder string) of the Info frame after the ID3v2 tag."""
    audio = 10 + ((data[6] << 21) | (data[7] << 14) | (data[8] << 7) | data[9])
    x = audio + 4 + 32
    assert data[x:x + 4] == b"Info"
    flags = int.from_bytes(data[x + 4:x + 8], "big")
    lame = x + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    v = int.from_bytes(data[lame + 21:lame + 24], "big")
    return v >> 12, v & 0xFFF, data[lame:lame + 9]


@pytest.mark.parametrize(("rate", "seconds"), [(44100, 3.3333), (48000, 2.0), (32000, 1.25)])
def test_the_info_frame_matches_ffmpegs(tmp_path: Path, rate: int, seconds: float) -> None:
    samples = round(rate * seconds)
    seekable = _mp3(tmp_path, rate, seconds, pipe=False)
    fixed = _fix(_mp3(tmp_path, rate, seconds, pipe=True), samples)
    assert _delay_padding(fixed)[:2] == _delay_padding(seekable)[:2]
    assert mp3head.padding_for(samples) == _delay_padding(seekable)[1]
    # relabelled, the seekable file's tag reads as LAME's; delay and padding unchanged
    path = tmp_path / "relabel.mp3"
    path.write_bytes(seekable)
    assert mp3head.relabel(path)
    assert _delay_padding(path.read_bytes()) == (*_delay_padding(seekable)[:2], b"LAME3.100")
    assert not mp3head.relabel(path)  # already done


def test_the_picture_tag_size_is_corrected(tmp_path: Path) -> None:
    piped = _mp3(tmp_path, 44100, 1.0, pipe=True, picture=True)
    fixed = _fix(piped, 44100, step=1)
    size = (fixed[6] << 21) | (fixed[7] << 14) | (fixed[8] << 7) | fixed[9]
    assert fixed[10 + size] == 0xFF  # the first frame right after the tag: the Info frame
    assert fixed[10 + size + 36:10 + size + 40] == b"Info"
    assert b"APIC" in fixed[:10 + size]
    # an unknown sample count: the frame without a frame count and with padding 0
    frame = mp3head.info_frame(fixed[10 + size:10 + size + 4], None)
    assert frame is not None and frame[40:44] == b"\0\0\0\0"


def test_what_it_does_not_know_passes_unchanged(tmp_path: Path) -> None:
    mpeg2 = _mp3(tmp_path, 22050, 1.0, pipe=True)  # MPEG-2: no Info frame is made for it
    assert _fix(mpeg2, 22050) == mpeg2
    garbage = b"\x00\x01" * 5000
    assert _fix(garbage, 100) == garbage
    short = b"ID3"
    assert _fix(short, 100) == short
    assert mp3head.frames_for(0) == 1 and mp3head.padding_for(0) == 1152 - 576


def test_the_placeholder_of_a_growing_file_is_filled(tmp_path: Path) -> None:
    """What a follower reads of a cache entry ffmpeg still writes: the ID3v2 tag, then a
    zero-filled frame reserved for the Info frame. Filled in, at the same length; in a pipe,
    a zero frame is audio and an Info frame is inserted before it."""
    done = _mp3(tmp_path, 44100, 2.0, pipe=False)
    audio = 10 + ((done[6] << 21) | (done[7] << 14) | (done[8] << 7) | done[9])
    size = mp3head.frame_size(done[audio:audio + 4])
    # ffmpeg's placeholder: the Info tag and flags, zero counts, no delay/padding yet
    lame = audio + 36 + 8 + 4 + 4 + 100 + 4
    growing = (done[:audio + 44] + bytes(lame + 21 - audio - 44) + bytes(3) + done[lame + 24:audio + size]
               + done[audio + size:])
    assert len(growing) == len(done) and not mp3head._finished(growing[audio:audio + size])
    fixer = mp3head.HeadFixer(88200).for_file()
    filled = b"".join(fixer.feed(growing[i:i + 100]) for i in range(0, len(growing), 100)) + fixer.finish()
    assert len(filled) == len(done) and filled[audio + 36:audio + 40] == b"Info"
    assert _delay_padding(filled)[:2] == _delay_padding(done)[:2]
    # a finished file's own frame is kept as it is
    fixer = mp3head.HeadFixer(88200).for_file()
    assert fixer.feed(done) + fixer.finish() == done
    # the pipe fixer never takes a zero frame for a placeholder
    piped = mp3head.HeadFixer(88200)
    assert len(piped.feed(growing) + piped.finish()) == len(growing) + size
