"""HLS for `hls` / `hls.m3u8` (Subsonic 1.8.0; audio only): playlists, and segments made
on demand.

A media playlist lists SEGMENT_S-second segments of the song; each segment is its own
small transcode (AAC in MPEG-TS, the one segment format every HLS player takes), started
at its offset and cut to its length, with timestamps shifted to its place in the song.
Segment URLs are `hls.ts` (the same method) with `segment=N`, carrying the client's
own credentials, as Subsonic's do. Several `bitRate` values give a master playlist of one
variant each. Pure text functions; the endpoint lives in subsonic_api/endpoints/transcoding.py.
"""

from __future__ import annotations

import math
from urllib.parse import urlencode

from orbsonic.errors import BadParam
from orbsonic.transcode.decide import Format

SEGMENT_S = 10
DEFAULT_KBPS = 192
SEGMENT_FORMAT = Format("hls", "aac", "mpegts", "video/MP2T", "ts", DEFAULT_KBPS, 32, 320, 96000)
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


def parse_bitrates(values: list[str]) -> list[int]:
    """`bitRate` values in kbps (the `1000@480x360` video form keeps the number), each clamped
    to what the AAC encoder takes; [DEFAULT_KBPS] when none is given. Raises BadParam."""
    out: list[int] = []
    for text in values:
        head = text.split("@", 1)[0].strip()
        if not head.isascii() or not head.isdigit() or len(head) > 7:
            raise BadParam("bitRate", f"{text[:20]!r} is not a bitrate in kbps")
        out.append(SEGMENT_FORMAT.clamp(int(head) or None))
    return list(dict.fromkeys(out)) or [DEFAULT_KBPS]


def segment_count(duration_ms: int) -> int:
    """How many segments a song of `duration_ms` has (at least one)."""
    return max(1, math.ceil(duration_ms / (SEGMENT_S * 1000)))


def segment_span(duration_ms: int, n: int) -> tuple[int, int]:
    """(start, length) in whole seconds of segment `n`; the last one runs to the end."""
    start = n * SEGMENT_S
    if n == segment_count(duration_ms) - 1:
        return start, 0
    return start, SEGMENT_S


def master_playlist(query: list[tuple[str, str]], bitrates: list[int]) -> str:
    """A variant playlist: one `hls.m3u8?…&bitRate=N` per bitrate (BANDWIDTH in bit/s)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3"]
    for kbps in bitrates:
        lines.append(f'#EXT-X-STREAM-INF:BANDWIDTH={kbps * 1000},CODECS="mp4a.40.2"')
        lines.append("hls.m3u8?" + urlencode([*query, ("bitRate", str(kbps))]))
    return "\n".join(lines) + "\n"


def media_playlist(query: list[tuple[str, str]], duration_ms: int, kbps: int) -> str:
    """A VOD playlist of the song's segments at `kbps`."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{SEGMENT_S + 1}",
             "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-PLAYLIST-TYPE:VOD"]
    total = duration_ms / 1000
    for n in range(segment_count(duration_ms)):
        start = n * SEGMENT_S
        length = min(SEGMENT_S, max(total - start, 0.001))
        lines.append(f"#EXTINF:{length:.3f},")
        # `.ts`: players (ffmpeg's HLS demuxer among them) check the segment's extension
        lines.append("hls.ts?" + urlencode([*query, ("bitRate", str(kbps)), ("segment", str(n))]))
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"
