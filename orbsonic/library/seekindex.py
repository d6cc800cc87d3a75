"""The native seek index of a FLAC track (docs/native-api.md "Streaming", issue 9 "Seek index").

The scanner stores `tracks.seek_index` (orbsonic/scanner/flacinfo.py): big-endian (u64 sample,
u64 byte) frame starts, from the SEEKTABLE or about one per 512 KiB of audio — too sparse for
the web client, which wants a point about every 0.5–1 s so that a seek fetches little more
than it plays. `dense_points` fills the gaps: between two known frame starts it estimates the
byte of each wanted sample by linear interpolation and takes the first valid frame header
(sync, codes checked against STREAMINFO, CRC-8) at or after it, kept only when it lies strictly
between its neighbours in both sample and byte order (so a false sync can never go out of
order). The result is cached per file version in `track_seek_points` (schema/0013), so every
worker and replica computes it once.

`encode` writes the wire format of the contract, little-endian:
`b"ORBSEEK1"`, u32 version (1), u32 sampleRate, u64 totalSamples, u64 audioOffset, u32 count,
then count × (u64 firstSample, u64 byteOffset).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any, BinaryIO

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from orbsonic.library.filters import Folders, folder_list, in_folders
from orbsonic.scanner.flacinfo import (
    FlacError,
    _find_frame,
    decode_seek_index,
    encode_seek_index,
    parse_streaminfo,
)

MAGIC = b"ORBSEEK1"
VERSION = 1
STEP_S = 0.75  # wanted spacing of index points, seconds (contract: about every 0.5–1 s)
_HEADER = struct.Struct("<8sIIQQI")
_PAIR = struct.Struct("<QQ")


def encode(sample_rate: int, total_samples: int, audio_offset: int,
           points: Sequence[tuple[int, int]]) -> bytes:
    """The `application/octet-stream` body of GET /tracks/{id}/seek-index (module docstring)."""
    head = _HEADER.pack(MAGIC, VERSION, sample_rate, total_samples, audio_offset, len(points))
    return head + b"".join(_PAIR.pack(s, o) for s, o in points)


def decode(data: bytes) -> tuple[int, int, int, list[tuple[int, int]]]:
    """(sampleRate, totalSamples, audioOffset, points) of an `encode`d index. Raises ValueError."""
    if len(data) < _HEADER.size:
        raise ValueError("seek index shorter than its header")
    magic, version, rate, total, offset, count = _HEADER.unpack_from(data)
    if magic != MAGIC or version != VERSION or len(data) != _HEADER.size + count * _PAIR.size:
        raise ValueError("not an ORBSEEK1 index")
    pts = [_PAIR.unpack_from(data, _HEADER.size + i * _PAIR.size) for i in range(count)]
    return rate, total, offset, pts


def dense_points(fh: BinaryIO, stored: bytes | None, file_size: int, step_s: float = STEP_S
                 ) -> list[tuple[int, int]]:
    """Frame starts (first sample, absolute byte offset) about every `step_s` seconds of the
    FLAC file `fh` (seekable, read in small windows only), starting with (0, audioOffset).

    `stored` is the scanner's index (tracks.seek_index; None or empty: the first frame only).
    Raises FlacError when the file is not a readable FLAC stream."""
    info = parse_streaminfo(fh)
    anchors = decode_seek_index(stored) if stored else []
    if not anchors or anchors[0] != (0, info.audio_offset):
        anchors = [(0, info.audio_offset)] + [a for a in anchors if a[0] > 0 and a[1] > info.audio_offset]
    step = max(1, round(info.sample_rate * step_s))
    end_sample = info.total_samples or 0
    ends = anchors[1:] + ([(end_sample, file_size)] if end_sample > anchors[-1][0] else [])
    out = [anchors[0]]
    for (s0, o0), (s1, o1) in zip(anchors, ends):
        want = out[-1][0] + step
        while want < s1 - step // 3:
            est = o0 + (want - s0) * (o1 - o0) // max(1, s1 - s0)
            found = _find_frame(fh, max(est, out[-1][1] + 1), o1, info)
            if found is None:
                break
            offset, header = found
            if not (out[-1][0] < header.first_sample < s1 and out[-1][1] < offset < o1):
                break  # out of order: a false sync, or the segment is done
            out.append((header.first_sample, offset))
            want = header.first_sample + step
        if (s1, o1) in anchors:
            out.append((s1, o1))
    return out


async def stream_info(conn: AsyncConnection, track_id: int, folders: Folders = None) -> dict[str, Any] | None:
    """What the native stream and seek-index routes need of a track, by primary key: folder id
    and root, relative path, size, mtime_ns, content_type, suffix, codec, duration_ms, bitrate
    (kbps), sample_rate (Hz), bit_depth, channels, total_samples, audio_offset (bytes),
    seek_index (tracks.seek_index). None when unknown or outside `folders`."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """SELECT t.folder_id, f.path AS root, t.path, t.size, t.mtime_ns, t.content_type, t.suffix,
                      t.codec, t.duration_ms, t.bitrate, t.sample_rate, t.bit_depth, t.channels,
                      t.total_samples, t.audio_offset, t.seek_index
                 FROM tracks t JOIN music_folders f ON f.id = t.folder_id
                WHERE t.id = %s""" + in_folders("t.folder_id", folders, "%s"),
            (track_id, *([folder_list(folders)] if folders is not None else [])))
        return await cur.fetchone()


async def cached(conn: AsyncConnection, track_id: int, size: int,
                 mtime_ns: int) -> list[tuple[int, int]] | None:
    """The dense points stored for this version (size, mtime_ns) of the track's file, or None."""
    cur = await conn.execute(
        "SELECT points FROM track_seek_points WHERE track_id = %s AND size = %s AND mtime_ns = %s",
        (track_id, size, mtime_ns))
    row = await cur.fetchone()
    return decode_seek_index(bytes(row[0])) if row else None


async def store(conn: AsyncConnection, track_id: int, size: int, mtime_ns: int,
                points: Sequence[tuple[int, int]]) -> None:
    """Keep the dense points of this file version (replacing those of an older version)."""
    await conn.execute(
        """INSERT INTO track_seek_points (track_id, size, mtime_ns, points) VALUES (%s, %s, %s, %s)
           ON CONFLICT (track_id) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,
                                                points = EXCLUDED.points""",
        (track_id, size, mtime_ns, encode_seek_index(list(points))))


__all__ = ["FlacError", "cached", "decode", "dense_points", "encode", "store", "stream_info"]
