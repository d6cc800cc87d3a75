"""Benchmark libraries, generated once and cached in the bench work dir.

    root = ensure_library(work, 100_000, seed=1)     # work/libraries/tracks-100000-seed-1/music

A library is written by bench.libgen.generate_library and marked complete with a
`complete.json` next to the music root (the GenStats of the generation), so an
interrupted generation is redone and a finished one is reused. Templates are shared
by all libraries of a work dir (work/templates).

`big_stream_file(work)` is one large WAV (sparse: its samples are zeros) in a folder of
its own, added as a second music folder for the single-stream throughput and the range
stream tests; the benchmark tracks themselves are ~1 s long.
"""

from __future__ import annotations

import json
import shutil
import struct
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

BIG_FILE_MB = 256


def library_dir(work: Path, n_tracks: int, seed: int) -> Path:
    return work / "libraries" / f"tracks-{n_tracks}-seed-{seed}"


def ensure_library(
    work: Path, n_tracks: int, seed: int = 1, *, workers: int = 2, log: Any = None
) -> tuple[Path, dict[str, Any]]:
    """(music root, generation stats) of the cached library of `n_tracks`; generated when missing."""
    from bench.libgen import generate_library

    base = library_dir(work, n_tracks, seed)
    marker = base / "complete.json"
    root = base / "music"
    if marker.is_file():
        return root, json.loads(marker.read_text())
    if base.exists():
        shutil.rmtree(base)
    root.mkdir(parents=True)
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    say(f"generating a library of {n_tracks} tracks (seed {seed}) in {root} ...")
    t0 = time.perf_counter()
    stats = generate_library(
        root,
        n_tracks,
        seed=seed,
        workers=workers,
        template_dir=work / "templates",
        progress=n_tracks >= 20_000,
    )
    info = asdict(stats) | {"generated_s": round(time.perf_counter() - t0, 2), "seed": seed}
    marker.write_text(json.dumps(info, indent=1))
    say(f"  {stats.summary()}")
    return root, info


def big_stream_file(work: Path, mb: int = BIG_FILE_MB) -> Path:
    """A folder holding one `mb` MB 16-bit stereo 44.1 kHz WAV (sparse). Returns the folder."""
    folder = work / "streams"
    path = folder / "Stream Test.wav"
    size = mb * 1024 * 1024
    if path.is_file() and path.stat().st_size == size + 44:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rate, channels, bits = 44100, 2, 16
    block = channels * bits // 8
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
    header += b"data" + struct.pack("<I", size)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(44 + size)
    return folder
