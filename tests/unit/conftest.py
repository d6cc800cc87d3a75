"""Fixtures for the scanner unit tests: audio templates encoded once per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without the repository on sys.path
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One untagged 1 s file per bench template format: {format name: path}. Read-only:
    tests copy them before tagging."""
    from bench.templates import FORMATS, encode_template, template_suffix

    folder = tmp_path_factory.mktemp("templates")
    return {name: encode_template(name, folder / f"{name}.{template_suffix(name)}") for name in FORMATS}


@pytest.fixture
def copy_template(templates: dict[str, Path], tmp_path: Path):
    """copy_template(name) → a fresh writable copy of template `name` in tmp_path."""
    from bench.templates import template_suffix

    def copy(name: str, stem: str = "track") -> Path:
        dest = tmp_path / f"{stem}.{template_suffix(name)}"
        shutil.copyfile(templates[name], dest)
        return dest
    return copy


@pytest.fixture(scope="session")
def long_flac(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s of 24-bit/96 kHz stereo FLAC (about 5.7 MB) without a SEEKTABLE."""
    from mutagen.flac import FLAC, SeekTable

    from bench.templates import encode_template

    path = encode_template("flac24_96", tmp_path_factory.mktemp("long") / "long.flac", seconds=30.0)
    audio = FLAC(path)
    if any(isinstance(block, SeekTable) for block in audio.metadata_blocks):
        audio.metadata_blocks = [b for b in audio.metadata_blocks if not isinstance(b, SeekTable)]
        audio.seektable = None
        audio.save()
    return path


def ffprobe_frames(path: Path) -> list[tuple[int, int]] | None:
    """(first sample, byte offset) of every FLAC frame according to ffprobe, or None when
    ffprobe is not installed. An oracle independent of orbsonic.scanner.flacinfo."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    out = subprocess.run(
        [exe, "-v", "error", "-select_streams", "a:0", "-show_entries", "packet=pts,pos", "-of", "csv=p=0",
         str(path)], check=True, capture_output=True, text=True).stdout
    frames = []
    for line in out.splitlines():
        pts, pos = line.split(",")[:2]
        frames.append((int(pts), int(pos)))
    return frames


@pytest.fixture(scope="session", name="ffprobe_frames")
def ffprobe_frames_fixture():
    """The ffprobe_frames function, for test modules (conftest is not importable by name)."""
    return ffprobe_frames
