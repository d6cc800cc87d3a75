"""FLAC stream facts and a compact seek index (sample number → byte offset).

`parse_streaminfo(fh)` reads the metadata blocks at the start of a FLAC file (after an
optional prepended ID3v2 tag): STREAMINFO, the SEEKTABLE if any, and where the first audio
frame starts. `build_seek_index(...)` turns that into a small index the web client uses to
seek without downloading the whole file: from the SEEKTABLE when it is usable, otherwise by
sampling frame headers at evenly spaced byte positions. The whole file is never read.

Index format (`AudioProps.seek_index`): big-endian u64 pairs (first sample of a frame,
absolute byte offset of that frame's header), sorted by both, starting with
(0, audio_offset).

Errors: `FlacError` (a ValueError) for anything that is not a readable FLAC stream.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

SPARSE_STEP = 512 * 1024        # bytes of audio per sampled index point
MAX_POINTS = 256                # index entries, not counting the first one
WINDOW = 16 * 1024              # first read when looking for a frame header
MAX_WINDOW = 128 * 1024         # give up on a position after this many bytes
_PLACEHOLDER = 0xFFFFFFFFFFFFFFFF
_PAIR = struct.Struct(">QQ")

_BLOCK_STREAMINFO = 0
_BLOCK_SEEKTABLE = 3
_BLOCK_PICTURE = 6

_SAMPLE_RATES = (0, 88200, 176400, 192000, 8000, 16000, 22050, 24000, 32000, 44100, 48000, 96000)
_SAMPLE_SIZES = (0, 8, 12, None, 16, 20, 24, 32)


def _crc8_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8 = _crc8_table()


class FlacError(ValueError):
    """Not a FLAC stream, or one too damaged to read the requested facts from."""


@dataclass(frozen=True, slots=True)
class StreamInfo:
    """STREAMINFO plus where the audio starts. Units: samples per channel, bytes, Hz, bits.

    `total_samples` is 0 when the encoder did not know it; `seekpoints` holds the raw
    SEEKTABLE points (sample, offset relative to `audio_offset`), placeholders removed,
    or None when the file has no SEEKTABLE.
    """

    min_blocksize: int
    max_blocksize: int
    min_framesize: int
    max_framesize: int
    sample_rate: int
    channels: int
    bits_per_sample: int
    total_samples: int
    md5: bytes
    audio_offset: int
    seekpoints: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """One parsed FLAC frame header: its first sample, block size and header length."""

    first_sample: int
    blocksize: int
    length: int
    variable: bool


def _read_exact(fh: BinaryIO, size: int, what: str) -> bytes:
    data = fh.read(size)
    if len(data) != size:
        raise FlacError(f"file ends inside the {what}")
    return data


def _skip_id3(fh: BinaryIO) -> int:
    """Offset of the "fLaC" marker: 0, or past one or more prepended ID3v2 tags."""
    offset = 0
    while True:
        fh.seek(offset)
        head = fh.read(10)
        if len(head) < 10 or head[:3] != b"ID3":
            return offset
        size_bytes = head[6:10]
        if any(b & 0x80 for b in size_bytes):
            raise FlacError("prepended ID3v2 tag has an invalid size")
        size = (size_bytes[0] << 21) | (size_bytes[1] << 14) | (size_bytes[2] << 7) | size_bytes[3]
        offset += 10 + size + (10 if head[5] & 0x10 else 0)


def _picture_length(fh: BinaryIO, start: int, file_size: int) -> int:
    """The real length of a PICTURE block whose header declares too few bytes (some old
    taggers wrote a wrong size; mutagen issue 106), computed from its own fields."""
    fh.seek(start + 4)
    pos = start + 4
    for _ in range(2):  # MIME type, description
        (size,) = struct.unpack(">I", _read_exact(fh, 4, "PICTURE block"))
        pos += 4 + size
        fh.seek(pos)
    pos += 16  # width, height, depth, colours
    fh.seek(pos)
    (size,) = struct.unpack(">I", _read_exact(fh, 4, "PICTURE block"))
    length = pos + 4 + size - start
    if start + length > file_size:
        raise FlacError("PICTURE block runs past the end of the file")
    return length


def parse_streaminfo(fh: BinaryIO) -> StreamInfo:
    """Read the FLAC metadata blocks from the binary file object `fh` (any position; it is
    left somewhere inside the file). Returns the STREAMINFO facts, the absolute byte offset
    of the first audio frame and the SEEKTABLE points.

    Raises FlacError when there is no "fLaC" marker, STREAMINFO is missing or malformed,
    or the metadata runs past the end of the file.
    """
    start = _skip_id3(fh)
    fh.seek(start)
    if fh.read(4) != b"fLaC":
        raise FlacError("no fLaC stream marker")
    offset = start + 4
    info: tuple[int, ...] | None = None
    md5 = b""
    seekpoints: tuple[tuple[int, int], ...] | None = None
    fh.seek(0, os.SEEK_END)
    file_size = fh.tell()
    for _ in range(10_000):  # a sane cap on the number of metadata blocks
        fh.seek(offset)
        header = _read_exact(fh, 4, "metadata block header")
        last = bool(header[0] & 0x80)
        block_type = header[0] & 0x7F
        length = int.from_bytes(header[1:4], "big")
        if offset + 4 + length > file_size:
            raise FlacError(f"metadata block {block_type} runs past the end of the file")
        if block_type == 127:
            raise FlacError("invalid metadata block type 127")
        if block_type == _BLOCK_PICTURE and length < 32:
            length = _picture_length(fh, offset + 4, file_size)
        if block_type == _BLOCK_STREAMINFO:
            if info is not None or offset != start + 4:
                raise FlacError("STREAMINFO is not the first metadata block")
            if length < 34:
                raise FlacError(f"STREAMINFO block is {length} bytes, expected 34")
            data = _read_exact(fh, 34, "STREAMINFO block")
            min_bs, max_bs = struct.unpack(">HH", data[:4])
            min_fs = int.from_bytes(data[4:7], "big")
            max_fs = int.from_bytes(data[7:10], "big")
            packed = int.from_bytes(data[10:18], "big")
            rate = packed >> 44
            channels = ((packed >> 41) & 0x7) + 1
            bits = ((packed >> 36) & 0x1F) + 1
            total = packed & 0xFFFFFFFFF
            md5 = data[18:34]
            if rate == 0 or min_bs < 16 or max_bs < min_bs:
                raise FlacError("STREAMINFO has an invalid sample rate or block size")
            info = (min_bs, max_bs, min_fs, max_fs, rate, channels, bits, total)
        elif info is None:
            raise FlacError("STREAMINFO is not the first metadata block")
        elif block_type == _BLOCK_SEEKTABLE and seekpoints is None:
            data = _read_exact(fh, length - length % 18, "SEEKTABLE block")
            points = []
            for pos in range(0, len(data), 18):
                sample, rel = _PAIR.unpack_from(data, pos)
                if sample != _PLACEHOLDER:
                    points.append((sample, rel))
            seekpoints = tuple(points)
        offset += 4 + length
        if last:
            break
    else:
        raise FlacError("too many metadata blocks")
    assert info is not None
    return StreamInfo(*info, md5=md5, audio_offset=offset, seekpoints=seekpoints)


def _read_utf8_number(data: bytes | memoryview, pos: int, max_bytes: int) -> tuple[int, int] | None:
    """FLAC's UTF-8-like coded number at data[pos:]: (value, bytes used) or None."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first < 0x80:
        return first, 1
    if first & 0xE0 == 0xC0:
        extra, value = 1, first & 0x1F
    elif first & 0xF0 == 0xE0:
        extra, value = 2, first & 0x0F
    elif first & 0xF8 == 0xF0:
        extra, value = 3, first & 0x07
    elif first & 0xFC == 0xF8:
        extra, value = 4, first & 0x03
    elif first & 0xFE == 0xFC:
        extra, value = 5, first & 0x01
    elif first == 0xFE:
        extra, value = 6, 0
    else:
        return None
    if extra + 1 > max_bytes or pos + extra >= len(data):
        return None
    for i in range(1, extra + 1):
        byte = data[pos + i]
        if byte & 0xC0 != 0x80:
            return None
        value = (value << 6) | (byte & 0x3F)
    return value, extra + 1


def parse_frame_header(data: bytes | memoryview, pos: int, info: StreamInfo) -> FrameHeader | None:
    """Parse and validate a frame header at data[pos:] against the stream's STREAMINFO:
    sync code, reserved bits, block size / sample rate / channel / sample size codes, the
    coded frame or sample number and the header CRC-8. None when any check fails.

    For fixed-blocksize streams the first sample is frame number × STREAMINFO block size;
    for variable-blocksize streams it is the coded sample number.
    """
    end = len(data)
    if pos + 6 > end or data[pos] != 0xFF or data[pos + 1] & 0xFE != 0xF8:
        return None
    variable = bool(data[pos + 1] & 0x01)
    bs_code = data[pos + 2] >> 4
    sr_code = data[pos + 2] & 0x0F
    channel_code = data[pos + 3] >> 4
    size_code = (data[pos + 3] >> 1) & 0x07
    if bs_code == 0 or sr_code == 15 or channel_code > 10 or data[pos + 3] & 0x01:
        return None
    bits = _SAMPLE_SIZES[size_code]
    if bits is None or (bits and bits != info.bits_per_sample):
        return None
    channels = channel_code + 1 if channel_code < 8 else 2
    if channels != info.channels:
        return None
    if sr_code and sr_code < 12 and _SAMPLE_RATES[sr_code] != info.sample_rate:
        return None
    number = _read_utf8_number(data, pos + 4, 7 if variable else 6)
    if number is None:
        return None
    coded, used = number
    cursor = pos + 4 + used
    if bs_code == 1:
        blocksize = 192
    elif bs_code <= 5:
        blocksize = 576 << (bs_code - 2)
    elif bs_code == 6:
        if cursor + 1 > end:
            return None
        blocksize = data[cursor] + 1
        cursor += 1
    elif bs_code == 7:
        if cursor + 2 > end:
            return None
        blocksize = ((data[cursor] << 8) | data[cursor + 1]) + 1
        cursor += 2
    else:
        blocksize = 256 << (bs_code - 8)
    if sr_code in (12, 13, 14):
        width = 1 if sr_code == 12 else 2
        if cursor + width > end:
            return None
        raw = data[cursor] if width == 1 else (data[cursor] << 8) | data[cursor + 1]
        rate = raw * 1000 if sr_code == 12 else raw if sr_code == 13 else raw * 10
        if rate != info.sample_rate:
            return None
        cursor += width
    if cursor >= end:
        return None
    crc = 0
    for i in range(pos, cursor):
        crc = _CRC8[crc ^ data[i]]
    if crc != data[cursor]:
        return None
    if blocksize > info.max_blocksize:
        return None
    first = coded if variable else coded * info.max_blocksize
    if info.total_samples and first >= info.total_samples:
        return None
    return FrameHeader(first_sample=first, blocksize=blocksize, length=cursor + 1 - pos, variable=variable)


def _find_frame(fh: BinaryIO, position: int, limit: int, info: StreamInfo) -> tuple[int, FrameHeader] | None:
    """The first valid frame header at or after byte `position` (and before `limit`)."""
    window = WINDOW
    while True:
        fh.seek(position)
        data = fh.read(min(window, limit - position))
        if len(data) < 6:
            return None
        search = 0
        while True:
            hit = data.find(b"\xff", search, len(data) - 5)
            if hit < 0:
                break
            if data[hit + 1] & 0xFE == 0xF8:
                header = parse_frame_header(data, hit, info)
                if header is not None:
                    return position + hit, header
            search = hit + 1
        if window >= MAX_WINDOW or position + len(data) >= limit:
            return None
        window *= 2


def _open(source: str | os.PathLike[str] | BinaryIO) -> tuple[BinaryIO, bool]:
    if hasattr(source, "read"):
        return source, False  # type: ignore[return-value]
    try:
        return open(source, "rb"), True  # type: ignore[arg-type]
    except OSError as exc:
        raise FlacError(f"cannot open: {exc.strerror or exc}") from None


def _from_seektable(fh: BinaryIO, info: StreamInfo, file_size: int) -> list[tuple[int, int]] | None:
    """Absolute (sample, offset) pairs from the SEEKTABLE, or None when it is unusable:
    unsorted, out of the file, or its first, middle or last point is not a frame header
    starting at the sample it claims."""
    points: list[tuple[int, int]] = []
    for sample, rel in info.seekpoints or ():
        offset = info.audio_offset + rel
        if offset >= file_size or (info.total_samples and sample >= info.total_samples):
            return None
        if points and (sample <= points[-1][0] or offset <= points[-1][1]):
            if sample == points[-1][0] and offset == points[-1][1]:
                continue  # duplicate point
            return None
        points.append((sample, offset))
    if not points:
        return None
    for sample, offset in {points[0], points[len(points) // 2], points[-1]}:
        fh.seek(offset)
        header = parse_frame_header(fh.read(32), 0, info)
        if header is None or header.first_sample != sample:
            return None
    if len(points) > MAX_POINTS + 1:
        step = len(points) / MAX_POINTS
        points = [points[0]] + [points[int(i * step)] for i in range(1, MAX_POINTS)]
    return points


def _by_sampling(fh: BinaryIO, info: StreamInfo, file_size: int) -> list[tuple[int, int]]:
    """Index points found by reading small windows at evenly spaced byte positions."""
    audio_bytes = file_size - info.audio_offset
    count = min(MAX_POINTS, audio_bytes // SPARSE_STEP)
    points: list[tuple[int, int]] = []
    last_offset = info.audio_offset
    last_sample = 0
    for i in range(1, count + 1):
        position = info.audio_offset + audio_bytes * i // (count + 1)
        if position <= last_offset:
            continue
        found = _find_frame(fh, position, file_size, info)
        if found is None:
            continue
        offset, header = found
        if offset <= last_offset or header.first_sample <= last_sample:
            continue  # a header repeated by a wide window, or a false sync out of order
        points.append((header.first_sample, offset))
        last_offset, last_sample = offset, header.first_sample
    return points


def build_seek_index(source: str | os.PathLike[str] | BinaryIO, streaminfo: StreamInfo,
                     audio_offset: int | None = None, file_size: int | None = None) -> bytes:
    """The seek index of a FLAC file as bytes: big-endian u64 (sample, byte offset) pairs,
    sorted, first entry (0, audio_offset), at most MAX_POINTS + 1 entries.

    `source` is a path or an open binary file object (not closed here). `audio_offset`
    and `file_size` default to `streaminfo.audio_offset` and the file's size. A usable
    SEEKTABLE is converted (offsets made absolute); otherwise about one point per 512 KiB
    of audio is found by sparse sampling. Files with less than 512 KiB of audio yield
    only the first entry.

    Raises FlacError when the first audio frame is missing or is not a valid frame header.
    """
    if audio_offset is not None and audio_offset != streaminfo.audio_offset:
        from dataclasses import replace
        streaminfo = replace(streaminfo, audio_offset=audio_offset)
    fh, owned = _open(source)
    try:
        if file_size is None:
            fh.seek(0, os.SEEK_END)
            file_size = fh.tell()
        start = streaminfo.audio_offset
        if start >= file_size:
            raise FlacError("no audio frames after the metadata")
        fh.seek(start)
        first = parse_frame_header(fh.read(32), 0, streaminfo)
        if first is None or first.first_sample != 0:
            raise FlacError(f"no valid frame header at the audio offset {start}")
        points = None
        if streaminfo.seekpoints:
            points = _from_seektable(fh, streaminfo, file_size)
            if points is not None and len(points) < 2 and file_size - start >= SPARSE_STEP:
                points = None  # a lone (0, 0) point says nothing about a long file
        if points is None:
            points = _by_sampling(fh, streaminfo, file_size)
    finally:
        if owned:
            fh.close()
    entries = [(0, start)] + [p for p in points if p[0] > 0]
    return b"".join(_PAIR.pack(sample, offset) for sample, offset in entries)


def decode_seek_index(data: bytes) -> list[tuple[int, int]]:
    """The (sample, byte offset) pairs of an index made by build_seek_index / encode_seek_index.

    Raises FlacError when the length is not a multiple of 16 bytes."""
    if len(data) % _PAIR.size:
        raise FlacError(f"seek index length {len(data)} is not a multiple of {_PAIR.size}")
    return [_PAIR.unpack_from(data, pos) for pos in range(0, len(data), _PAIR.size)]


def encode_seek_index(entries: list[tuple[int, int]]) -> bytes:
    """Pack (sample, byte offset) pairs (each 0 ≤ n < 2**64) into the index format."""
    return b"".join(_PAIR.pack(sample, offset) for sample, offset in entries)
