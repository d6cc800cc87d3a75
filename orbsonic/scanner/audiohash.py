"""A checksum of a file's audio stream that ignores its tags: how moved files are matched.

A file that is moved *and* retagged between two scans has a new path and new tags, so a
fingerprint built from either loses it (and its stars, ratings and plays). Its audio bytes
are the same, though: taggers rewrite only the tag regions. `audio_hash` finds the audio
payload of the common containers and hashes its length plus two fixed 16 KB slices (the
start and the middle), or, for FLAC, takes the STREAMINFO MD5 of the decoded audio:

* FLAC: STREAMINFO MD5 when the encoder set it, else the frames after the metadata blocks;
* MP4/M4A/M4B: the largest top-level `mdat` box (mutagen moves `moov`, never `mdat` bytes);
* WAV (RIFF `data`), AIFF (`SSND`), ASF/WMA (everything after the header object);
* Ogg: page *bodies* from the first audio page (a longer comment packet renumbers the
  pages after it, changing their headers and CRCs), plus the last granule position;
* anything else (MP3, APE, WavPack, Musepack …): the bytes between leading ID3v2 tags and
  trailing ID3v1 / APEv2 / Lyrics3 tags.

Hashes are hex strings with a kind prefix ("flac-md5:…", "mdat:…"). Reading costs a few
seeks and about 32 KB. Returns None (never raises) when the file cannot be read.
"""

from __future__ import annotations

import hashlib
import os
import struct
from typing import BinaryIO

from orbsonic.scanner.flacinfo import FlacError, parse_streaminfo

SLICE = 16 * 1024
_MAX_BOXES = 10_000
_MAX_OGG_PAGES = 4096


def _skip_id3v2(fh: BinaryIO, pos: int = 0) -> int:
    """Offset after the ID3v2 tags (possibly several, possibly with a footer) at `pos`."""
    for _ in range(16):
        fh.seek(pos)
        head = fh.read(10)
        if len(head) < 10 or head[:3] != b"ID3":
            return pos
        size = 0
        for byte in head[6:10]:
            size = (size << 7) | (byte & 0x7F)
        pos += 10 + size + (10 if head[5] & 0x10 else 0)
    return pos


def _trailing_tags_start(fh: BinaryIO, end: int) -> int:
    """`end` moved back over ID3v1, APEv2 and Lyrics3v2 tags at the end of the file."""
    for _ in range(8):
        moved = False
        if end >= 128:
            fh.seek(end - 128)
            if fh.read(3) == b"TAG":
                end -= 128
                moved = True
        if end >= 32:
            fh.seek(end - 32)
            footer = fh.read(32)
            if footer[:8] == b"APETAGEX":
                size, _items, flags = struct.unpack_from("<III", footer, 12)
                end -= size + (32 if flags & 0x80000000 else 0)
                moved = True
        if end >= 15:
            fh.seek(end - 15)
            lyr = fh.read(15)
            if lyr[6:] == b"LYRICS200" and lyr[:6].isdigit():
                end -= 15 + int(lyr[:6])
                moved = True
        if not moved or end <= 0:
            break
    return max(end, 0)


def _mdat(fh: BinaryIO, file_size: int) -> tuple[int, int] | None:
    best: tuple[int, int] | None = None
    pos = 0
    for _ in range(_MAX_BOXES):
        if pos + 8 > file_size:
            break
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            break
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1 and len(head) >= 16:
            size, header = struct.unpack_from(">Q", head, 8)[0], 16
        elif size == 0:
            size = file_size - pos
        if size < header:
            break
        if kind == b"mdat":
            region = (pos + header, min(pos + size, file_size))
            if best is None or region[1] - region[0] > best[1] - best[0]:
                best = region
        pos += size
    return best


def _chunk(fh: BinaryIO, file_size: int, want: bytes, big_endian: bool) -> tuple[int, int] | None:
    """The data region of the first chunk `want` of a RIFF (little-endian) or IFF/AIFF file."""
    fmt = ">4sI" if big_endian else "<4sI"
    pos = 12
    for _ in range(_MAX_BOXES):
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return None
        kind, size = struct.unpack(fmt, head)
        if kind == want:
            return pos + 8, min(pos + 8 + size, file_size)
        pos += 8 + size + (size & 1)
    return None


def _ogg(fh: BinaryIO, file_size: int) -> bytes | None:
    """Page bodies of the first audio pages plus the last granule position."""
    digest = hashlib.sha1()
    pos, taken = 0, 0
    audio = False
    for _ in range(_MAX_OGG_PAGES):
        fh.seek(pos)
        head = fh.read(27)
        if len(head) < 27 or head[:4] != b"OggS":
            break
        granule = struct.unpack_from("<q", head, 6)[0]
        segments = fh.read(head[26])
        body = sum(segments)
        if granule > 0:
            audio = True
        if audio:
            digest.update(fh.read(min(body, SLICE - taken)))
            taken += body
            if taken >= SLICE:
                break
        pos += 27 + head[26] + body
    if not audio:
        return None
    tail_at = max(0, file_size - SLICE)
    fh.seek(tail_at)
    tail = fh.read(SLICE)
    last = tail.rfind(b"OggS")
    if last >= 0 and last + 14 <= len(tail):
        digest.update(tail[last + 6:last + 14])
    return digest.digest()


def _region_hash(fh: BinaryIO, start: int, end: int) -> bytes | None:
    length = end - start
    if length <= 0:
        return None
    digest = hashlib.sha1(struct.pack(">Q", length))
    fh.seek(start)
    digest.update(fh.read(min(SLICE, length)))
    if length > 2 * SLICE:
        fh.seek(start + length // 2)
        digest.update(fh.read(SLICE))
    return digest.digest()


def audio_hash(fh: BinaryIO, flac_md5: bytes | None = None,
               flac_audio_offset: int | None = None) -> str | None:
    """A checksum of the audio stream of the open binary file `fh` (see the module doc),
    independent of its tags; None when no audio region is found or the file cannot be
    read. `flac_md5`/`flac_audio_offset`: STREAMINFO facts the caller already has."""
    try:
        fh.seek(0, os.SEEK_END)
        file_size = fh.tell()
        fh.seek(_skip_id3v2(fh))
        if flac_md5 is None and fh.read(4) == b"fLaC":
            try:
                info = parse_streaminfo(fh)
                flac_md5, flac_audio_offset = info.md5, info.audio_offset
            except FlacError:
                pass
        if flac_md5 and any(flac_md5):
            return "flac-md5:" + flac_md5.hex()
        fh.seek(0)
        magic = fh.read(12)
        kind, region, raw = "audio", None, None
        if flac_audio_offset:
            kind, region = "flac", (flac_audio_offset, _trailing_tags_start(fh, file_size))
        elif magic[4:8] == b"ftyp":
            kind, region = "mdat", _mdat(fh, file_size)
        elif magic[:4] == b"RIFF" and magic[8:12] == b"WAVE":
            kind, region = "wav", _chunk(fh, file_size, b"data", big_endian=False)
        elif magic[:4] == b"FORM" and magic[8:12] in (b"AIFF", b"AIFC"):
            kind, region = "aiff", _chunk(fh, file_size, b"SSND", big_endian=True)
        elif magic[:4] == b"OggS":
            kind, raw = "ogg", _ogg(fh, file_size)
        elif magic[:4] == b"\x30\x26\xb2\x75":
            fh.seek(16)
            header_size = struct.unpack("<Q", fh.read(8))[0]
            kind, region = "asf", (header_size, file_size)
        else:
            start = _skip_id3v2(fh)
            region = (start, _trailing_tags_start(fh, file_size))
        if region is not None:
            raw = _region_hash(fh, *region)
        return f"{kind}:{raw.hex()[:32]}" if raw else None
    except (OSError, struct.error, ValueError, OverflowError):
        return None
