"""iTunSMPB gapless info for AAC in MP4: what Apple's players (and foobar2000, Rockbox …)
read, next to the edit list ffmpeg writes (which ExoPlayer and ffmpeg-based players use).

ffmpeg's MP4 muxer writes the encoder delay only as an edit list (`elst` media time 1024,
the AAC encoder's priming) and cannot write iTunes freeform atoms (`-metadata iTunSMPB=…`
is dropped in ipod mode). So once ffmpeg has finished a cache entry, `add` reads the numbers
from the file itself — priming from `elst`, the real sample count from `mdhd` (the track's
duration minus the priming: ffmpeg shortens the last packet to the input's end), the frame
count from `stsz` — and writes `----:com.apple.iTunes:iTunSMPB` with mutagen, which moves the
chunk offsets along when the `moov` grows.

The first, piped response is a fragmented MP4 written as ffmpeg produces it: it has the tags
but no iTunSMPB (it would have to be in the `moov` sent first) and no edit list.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path
from typing import Any

log = logging.getLogger("orbsonic.transcode")
KEY = "----:com.apple.iTunes:iTunSMPB"
AAC_FRAME = 1024


def _box(f: Any, atoms: Any, *path: bytes) -> bytes:
    atom = atoms.path(*path)[-1]
    f.seek(atom.offset + 8)
    return bytes(f.read(atom.length - 8))


def numbers(path: Path) -> tuple[int, int, int] | None:
    """(priming, padding, samples) of the first track of the MP4 at `path`, from its boxes;
    None when they cannot be read (no edit list, a fragmented file …)."""
    from mutagen.mp4 import Atoms

    try:
        with open(path, "rb") as f:
            atoms = Atoms(f)
            mdhd = _box(f, atoms, b"moov", b"trak", b"mdia", b"mdhd")
            duration = (struct.unpack(">I", mdhd[16:20])[0] if mdhd[0] == 0
                        else struct.unpack(">Q", mdhd[24:32])[0])
            stsz = _box(f, atoms, b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsz")
            frames = struct.unpack(">I", stsz[8:12])[0]
            edts = _box(f, atoms, b"moov", b"trak", b"edts")
    except (KeyError, OSError, struct.error, ValueError, IndexError) as exc:
        log.debug("no gapless numbers in %s: %s", path, exc)
        return None
    # edts holds one elst box: size, 'elst', version/flags, entry count, then the entries
    if len(edts) < 28 or edts[4:8] != b"elst" or edts[8] != 0:
        return None
    priming = struct.unpack(">i", edts[20:24])[0]
    samples = duration - priming
    padding = frames * AAC_FRAME - priming - samples
    if priming < 0 or samples <= 0 or not 0 <= padding < 4 * AAC_FRAME:
        return None
    return priming, padding, samples


def value(priming: int, padding: int, samples: int) -> str:
    """The iTunSMPB text: 12 hex fields, as iTunes writes it."""
    return f" 00000000 {priming:08X} {padding:08X} {samples:016X}" + " 00000000" * 8


def add(path: Path) -> bool:
    """Write iTunSMPB into the finished MP4 at `path` (blocking); True when written."""
    from mutagen.mp4 import MP4, MP4FreeForm

    found = numbers(path)
    if found is None:
        return False
    try:
        mp4 = MP4(path)
        if mp4.tags is None:
            mp4.add_tags()
        assert mp4.tags is not None
        mp4.tags[KEY] = [MP4FreeForm(value(*found).encode("ascii"))]
        mp4.save()
    except Exception as exc:  # noqa: BLE001  (mutagen raises its own errors; the entry stays usable)
        log.warning("cannot write iTunSMPB into %s: %s", path, exc)
        return False
    return True
