"""Encode one short, untagged template file per audio format with ffmpeg.

The test library and the benchmark library are built by copying these templates and
retagging the copies with mutagen (../shared/docs/infra-notes.md §6: ~4,000 files/s,
against ~25 files/s when every file is encoded).

`FORMATS` maps a format name to (file suffix, ffmpeg output arguments, sample rate Hz,
bits per sample or None). `encode_template(name, dest)` writes one file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

# name: (suffix, ffmpeg codec args, sample rate, bit depth or None for lossy)
FORMATS: dict[str, tuple[str, tuple[str, ...], int, int | None]] = {
    "flac16": ("flac", ("-c:a", "flac", "-sample_fmt", "s16"), 44100, 16),
    "flac24_96": ("flac", ("-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24"), 96000, 24),
    "flac24_192": ("flac", ("-c:a", "flac", "-sample_fmt", "s32", "-bits_per_raw_sample", "24"), 192000, 24),
    "mp3_v23": ("mp3", ("-c:a", "libmp3lame", "-b:a", "128k", "-id3v2_version", "3"), 44100, None),
    "mp3_v24": ("mp3", ("-c:a", "libmp3lame", "-b:a", "192k", "-id3v2_version", "4"), 44100, None),
    "ogg": ("ogg", ("-c:a", "libvorbis", "-q:a", "3"), 44100, None),
    "opus": ("opus", ("-c:a", "libopus", "-b:a", "96k"), 48000, None),
    "m4a_aac": ("m4a", ("-c:a", "aac", "-b:a", "128k"), 44100, None),
    "m4a_alac": ("m4a", ("-c:a", "alac", "-sample_fmt", "s16p"), 44100, 16),
    "wav": ("wav", ("-c:a", "pcm_s16le",), 44100, 16),
}


def ffmpeg_exe() -> str:
    """Path of an ffmpeg binary: $ORBSONIC_FFMPEG, the system one, or imageio-ffmpeg's."""
    exe = os.environ.get("ORBSONIC_FFMPEG") or shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]
    except ImportError as exc:
        raise RuntimeError("ffmpeg not found: apt-get install ffmpeg (or pip install imageio-ffmpeg)") from exc
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def encode_template(name: str, dest: str | os.PathLike[str], seconds: float = 1.0,
                    frequency: int = 440, channels: int = 2) -> Path:
    """Encode `seconds` of a sine tone (plus quiet seeded noise, so lossless files are not
    trivially compressible, yet identical run to run) in format `name` to `dest`. Returns the path written.

    Raises KeyError for an unknown format and subprocess.CalledProcessError when ffmpeg fails.
    """
    _suffix, codec_args, rate, _bits = FORMATS[name]
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = f"sine=frequency={frequency}:sample_rate={rate}:duration={seconds}"
    noise = f"anoisesrc=color=pink:sample_rate={rate}:duration={seconds}:amplitude=0.02:seed=1"
    layout = "stereo" if channels == 2 else "mono"
    cmd = [
        ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "lavfi", "-i", source, "-f", "lavfi", "-i", noise,
        "-filter_complex", f"[0][1]amix=inputs=2:normalize=0,aformat=channel_layouts={layout}",
        "-ar", str(rate), *codec_args, "-map_metadata", "-1", str(dest),
    ]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return dest


def template_suffix(name: str) -> str:
    """File suffix (without the dot) of format `name`."""
    return FORMATS[name][0]
