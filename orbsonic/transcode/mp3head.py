"""The head of a piped MP3 made whole: the ID3v2 tag with its picture, and a LAME/Info frame
with the encoder delay and padding (gapless playback), as the cached entry has them.

ffmpeg's MP3 muxer writes both only to seekable output: the Info frame is a placeholder
rewritten at the end, and the ID3v2 size is patched once the picture is in. On a pipe (the
first, live response of a transcode) it writes no Info frame at all, and an ID3v2 tag whose
size leaves the picture out (players then skip the tag too short and meet the picture as
garbage audio). `HeadFixer` rewrites the stream's first bytes as they pass:

* the ID3v2 tag's size is set to the frames that are really there (APIC included);
* an Info frame (the CBR form of the Xing frame) is inserted before the first audio frame:
  frame count, and a LAME extension with encoder delay 576 (LAME's; decoders add 529) and the
  end padding, both exact when the source's sample count is known — libmp3lame pads to
  `ceil((samples + 576 + 529) / 1152)` frames (checked against ffmpeg's own entry for
  44.1/48/32 kHz and for 96 kHz resampled to 48 kHz). The LAME tag CRC is set, so readers that
  check it (foobar2000, Rockbox) take it; its version string is `LAME3.100`, which mutagen
  and LAME-only readers require and ffmpeg accepts.

Only MPEG-1 Layer III (32/44.1/48 kHz: every rate our MP3 transcodes use unless the source is
below 32 kHz) gets an Info frame; anything the fixer does not recognise passes unchanged.
"""

from __future__ import annotations

import os
from typing import Any

LAME_DELAY = 576  # the encoder delay libmp3lame records in its LAME tag
DECODER_DELAY = 529  # what MP3 decoders add to it (ffmpeg: start_skip_samples = 576 + 529)
SAMPLES_PER_FRAME = 1152  # MPEG-1 Layer III
MAX_HEAD = 8 * 1024 * 1024  # a head (tags + picture) longer than this passes unchanged
LAME_VERSION = b"LAME3.100"
_BITRATES = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_RATES = (44100, 48000, 32000)


def frames_for(samples: int) -> int:
    """Audio frames libmp3lame writes for `samples` samples per channel."""
    return -(-(samples + LAME_DELAY + DECODER_DELAY) // SAMPLES_PER_FRAME)


def padding_for(samples: int) -> int:
    """Samples of padding at the end of those frames."""
    return frames_for(samples) * SAMPLES_PER_FRAME - samples - LAME_DELAY


def _crc16(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected, init 0): the LAME tag's CRC."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def info_frame(header: bytes, samples: int | None) -> bytes | None:
    """An Info frame matching the first audio frame's 4-byte `header` (MPEG-1 Layer III
    only; None otherwise), for a stream of `samples` samples per channel (None: unknown —
    the frame count is left out and the padding is 0)."""
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xFE) != 0xFA:  # MPEG-1, Layer III
        return None
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if not 0 < bitrate_index < 15 or rate_index == 3:
        return None
    kbps, rate = _BITRATES[bitrate_index], _RATES[rate_index]
    mono = (header[3] >> 6) == 3
    # No CRC; the padding slot as in `header` (the frame replaces one of that size).
    head = bytes([0xFF, 0xFB, header[2] & 0xFE, header[3]])
    size = frame_size(head)
    side = 17 if mono else 32
    frame = bytearray(size)
    frame[0:4] = head
    pos = 4 + side
    frame[pos:pos + 4] = b"Info"
    flags = 0x1 if samples is not None else 0x0
    frame[pos + 4:pos + 8] = flags.to_bytes(4, "big")
    pos += 8
    if samples is not None:
        frame[pos:pos + 4] = frames_for(samples).to_bytes(4, "big")
        pos += 4
    lame = pos
    if lame + 36 > size:
        return None
    frame[lame:lame + 9] = LAME_VERSION
    frame[lame + 9] = 0x01  # tag revision 0, VBR method 1 (CBR)
    padding = padding_for(samples) if samples is not None else 0
    frame[lame + 21:lame + 24] = ((LAME_DELAY << 12) | padding).to_bytes(3, "big")
    # music length (bytes), music CRC: unknown up front, left 0
    frame[lame + 34:lame + 36] = _crc16(bytes(frame[:lame + 34])).to_bytes(2, "little")
    return bytes(frame)


def frame_size(header: bytes) -> int:
    """Bytes of the MPEG-1 Layer III frame that starts with `header` (0 when not one)."""
    if len(header) < 4 or header[0] != 0xFF or (header[1] & 0xFE) != 0xFA:
        return 0
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if not 0 < bitrate_index < 15 or rate_index == 3:
        return 0
    return 144_000 * _BITRATES[bitrate_index] // _RATES[rate_index] + ((header[2] >> 1) & 1)


def _finished(frame: bytes) -> bool:
    """Whether `frame` is an Info/Xing frame with its LAME delay and padding filled in."""
    side = 17 if (frame[3] >> 6) == 3 else 32
    pos = 4 + side
    if frame[pos:pos + 4] not in (b"Info", b"Xing"):
        return False
    flags = int.from_bytes(frame[pos + 4:pos + 8], "big")
    lame = pos + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    return any(frame[lame + 21:lame + 24])


def _id3_end(buf: bytes | bytearray) -> int | None:
    """Where the ID3v2 tag at the start of `buf` really ends (after its last frame and any
    zero padding), -1 when it cannot tell (an unknown layout: pass unchanged), None when
    more bytes are needed."""
    if len(buf) < 10:
        return None
    major, flags = buf[3], buf[5]
    if major not in (3, 4) or flags & 0xC0:  # unsynchronised or with an extended header
        return -1
    pos = 10
    while True:
        if len(buf) < pos + 10:
            return None
        fid = bytes(buf[pos:pos + 4])
        if fid[0] == 0:  # padding up to the audio
            while pos < len(buf) and buf[pos] == 0:
                pos += 1
            return pos if pos < len(buf) else None
        if not all(48 <= c <= 57 or 65 <= c <= 90 for c in fid):
            return pos
        raw = buf[pos + 4:pos + 8]
        size = (int.from_bytes(raw, "big") if major == 3
                else (raw[0] << 21) | (raw[1] << 14) | (raw[2] << 7) | raw[3])
        pos += 10 + size
        if pos > MAX_HEAD:
            return -1


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


class HeadFixer:
    """Rewrites the head of an MP3 as it passes (`feed` each chunk, then `finish`): bytes
    are held back only until the first audio frame has arrived. A piped stream gets the Info
    frame inserted; a growing cache entry (its ID3v2 tag already right) gets ffmpeg's
    zero-filled placeholder frame filled in; a finished file's own Info frame is kept."""

    def __init__(self, samples: int | None, *, gapless: bool = True, in_file: bool = False) -> None:
        """`samples`: the stream's sample count per channel (None: unknown); `gapless`: add
        the Info frame (a whole-file transcode); `in_file`: the stream is ffmpeg's seekable
        file (a growing cache entry), whose first frame may be its zero-filled placeholder."""
        self.samples, self.gapless, self.in_file = samples, gapless, in_file
        self.buf = bytearray()
        self.done = False

    def feed(self, data: bytes) -> bytes:
        """The bytes to send now for `data` (b"" while the head is still incomplete)."""
        if self.done:
            return data
        self.buf += data
        out = self._fix()
        if out is None:
            if len(self.buf) > MAX_HEAD:
                return self._give_up()
            return b""
        self.done = True
        self.buf = bytearray()
        return out

    def for_file(self) -> HeadFixer:
        """A fresh fixer with the same numbers, for ffmpeg's growing cache file."""
        return HeadFixer(self.samples, gapless=self.gapless, in_file=True)

    def finish(self) -> bytes:
        """What is still held back at the end of the stream (sent unchanged)."""
        return b"" if self.done else self._give_up()

    def _give_up(self) -> bytes:
        self.done = True
        out, self.buf = bytes(self.buf), bytearray()
        return out

    def _fix(self) -> bytes | None:
        buf = self.buf
        if len(buf) < 3:
            return None
        audio = 0
        tag = b""
        if buf[:3] == b"ID3":
            end = _id3_end(buf)
            if end is None:
                return None
            if end < 0:
                return bytes(buf)
            tag = bytes(buf[:6]) + _syncsafe(end - 10) + bytes(buf[10:end])
            audio = end
        if len(buf) < audio + 4:
            return None
        header = bytes(buf[audio:audio + 4])
        size = frame_size(header)
        if not self.gapless or not size:
            return tag + bytes(buf[audio:])
        if len(buf) < audio + size:
            return None
        info = info_frame(header, self.samples)
        if info is None:
            return tag + bytes(buf[audio:])
        if self.in_file:
            if _finished(bytes(buf[audio:audio + size])):
                return tag + bytes(buf[audio:])  # a finished file's own frame: kept
            # the Info frame ffmpeg reserves in a seekable file (a cache entry being written,
            # followed by a second client) holds zeros until the end: filled in now
            return tag + info + bytes(buf[audio + size:])
        return tag + info + bytes(buf[audio:])


def source_samples(fh: Any, duration_ms: int, source_rate: int, out_rate: int) -> int | None:
    """Samples per channel the transcode of the open file `fh` will have at `out_rate`:
    exact from a FLAC's STREAMINFO or a WAV's length, else from `duration_ms` (a few samples
    off at most); None when unknown. Blocking (reads the file's header)."""
    if out_rate <= 0:
        return None
    exact = None
    try:
        import mutagen

        # A file description of our own (its own offset), on the descriptor already opened
        # and checked, as ffmpeg reads it.
        with open(os.open(f"/proc/self/fd/{fh.fileno()}", os.O_RDONLY), "rb") as f:
            audio = mutagen.File(f)
        info = getattr(audio, "info", None)
        total = getattr(info, "total_samples", 0) or 0
        rate = getattr(info, "sample_rate", 0) or source_rate
        if total and rate:
            exact = total if rate == out_rate else -(-total * out_rate // rate)
    except Exception:  # noqa: BLE001  (mutagen raises its own error per format: fall back)
        exact = None
    if exact:
        return exact
    if duration_ms > 0:
        return round(duration_ms * out_rate / 1000)
    return None


def relabel(path: Any) -> bool:
    """In the finished MP3 file at `path`, relabel ffmpeg's LAME tag
    (`Lavc…`/`Lavf…`, which mutagen and LAME-only readers ignore) as `LAME3.100` — the encoder
    it names is libmp3lame — with its CRC recomputed; the delay and padding ffmpeg wrote stay.
    True when relabelled. Blocking."""
    fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    try:
        return _relabel(fd)
    finally:
        os.close(fd)


def _relabel(fd: int) -> bool:
    head = os.pread(fd, 64 * 1024, 0)
    audio = 0
    if head[:3] == b"ID3":
        audio = 10 + ((head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9])
        if head[5] & 0x10:  # footer
            audio += 10
        head = os.pread(fd, 4096, audio)
    else:
        head = head[:4096]
    if len(head) < 200 or head[0] != 0xFF or (head[1] & 0xFE) != 0xFA:
        return False
    side = 17 if (head[3] >> 6) == 3 else 32
    pos = 4 + side
    if head[pos:pos + 4] not in (b"Info", b"Xing"):
        return False
    flags = int.from_bytes(head[pos + 4:pos + 8], "big")
    lame = pos + 8 + 4 * bool(flags & 1) + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    if lame + 36 > len(head) or head[lame:lame + 4] not in (b"Lavc", b"Lavf"):
        return False
    frame = bytearray(head[:lame + 36])
    frame[lame:lame + 9] = LAME_VERSION
    frame[lame + 34:lame + 36] = _crc16(bytes(frame[:lame + 34])).to_bytes(2, "little")
    os.pwrite(fd, bytes(frame[lame:lame + 36]), audio + lame)
    return True
