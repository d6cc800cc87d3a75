"""Whether `stream` sends a file as it is or transcodes it, and to what.

The rule Subsonic servers follow (issue 8): a source already within the bitrate limit
and in an acceptable format is sent as is (with Range); otherwise it is transcoded.
Inputs: the request's `format` (mp3, opus, aac, ogg/vorbis, flac, `raw`), `maxBitRate`
(kbps, 0 = no limit), `timeOffset` (seconds, OpenSubsonic `transcodeOffset`), the user's
max bitrate (users.max_bitrate) and the client's profile (orbsonic/clients.py). Pure
functions: no I/O, no HTTP.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

# The client-profile table is one for the whole server (orbsonic/clients.py); its transcoding
# defaults are read here. Re-exported: this is where issue 8 put it.
from orbsonic.clients import CLIENT_PROFILES, DEFAULT_PROFILE, ClientProfile, client_profile  # noqa: F401

log = logging.getLogger("orbsonic.transcode")


@dataclass(frozen=True, slots=True)
class Format:
    """A target format: ffmpeg encoder `codec` and muxer `container`, the HTTP
    `content_type`, a file `suffix`, and bitrates in kbps (0 for lossless: no bitrate)."""

    name: str
    codec: str
    container: str
    content_type: str
    suffix: str
    default_kbps: int
    min_kbps: int
    max_kbps: int
    max_rate_hz: int  # highest sample rate the encoder takes; ffmpeg resamples above it

    @property
    def lossless(self) -> bool:
        return self.default_kbps == 0

    def clamp(self, kbps: int | None) -> int:
        """A bitrate this encoder accepts: `kbps` (None: the default) within [min, max]."""
        if self.lossless:
            return 0
        return max(self.min_kbps, min(self.max_kbps, kbps or self.default_kbps))


FORMATS: dict[str, Format] = {
    "mp3": Format("mp3", "libmp3lame", "mp3", "audio/mpeg", "mp3", 192, 32, 320, 48000),
    "opus": Format("opus", "libopus", "ogg", "audio/ogg", "opus", 128, 16, 256, 48000),
    "aac": Format("aac", "aac", "adts", "audio/aac", "aac", 256, 32, 320, 96000),
    # AAC in MP4 (the `ipod` muxer: iTunes tags and cover, an edit list for the encoder delay).
    "m4a": Format("m4a", "aac", "ipod", "audio/mp4", "m4a", 256, 32, 320, 96000),
    "ogg": Format("ogg", "libvorbis", "ogg", "audio/ogg", "ogg", 192, 64, 320, 192000),
    "flac": Format("flac", "flac", "flac", "audio/flac", "flac", 0, 0, 0, 655350),
}
# Names clients send for the same thing (Subsonic's own transcoding names).
ALIASES = {"vorbis": "ogg", "oga": "ogg", "mpeg": "mp3"}
RAW = "raw"


@dataclass(frozen=True, slots=True)
class Source:
    """The file as scanned: `suffix`, `codec` (tracks.codec), bitrate in kbps (0: unknown),
    duration in ms, sample rate in Hz (0: unknown), whether it embeds a cover picture
    (tracks.has_picture: a transcode then carries it where the target format can)."""

    suffix: str
    codec: str
    bitrate_kbps: int
    duration_ms: int
    sample_rate: int = 0
    has_picture: bool = False

    @property
    def family(self) -> str | None:
        """The target-format name this file already is (None for ALAC, WAV, WMA …)."""
        suffix, codec = self.suffix.lower(), self.codec.lower()
        if codec == "opus" or suffix == "opus":
            return "opus"
        if codec == "mp3" or suffix == "mp3":
            return "mp3"
        if codec == "flac" or suffix == "flac":
            return "flac"
        if codec == "vorbis" or suffix in ("ogg", "oga"):
            return "ogg"
        if codec == "aac" and suffix in ("m4a", "mp4", "aac", "m4b"):
            return "aac"
        return None


@dataclass(frozen=True, slots=True)
class Decision:
    """Direct (`target` None: send the file with Range) or a transcode to `target` at
    `kbps` (0 for lossless) starting `offset_s` seconds in, downmixed to `channels` (0: as
    the source). `reason` is for logs."""

    target: Format | None
    kbps: int = 0
    offset_s: int = 0
    reason: str = ""
    channels: int = 0
    duration_s: int = 0  # 0: to the end (HLS segments set it)

    @property
    def transcode(self) -> bool:
        return self.target is not None


def parse_format(text: str | None) -> str | None:
    """A known format name, RAW, or None (absent, or a name we do not know: Subsonic servers
    then stream the original rather than fail — DSub sends `format=mp4` for video)."""
    if not text:
        return None
    name = text.strip().lower()
    name = ALIASES.get(name, name)
    if name == RAW or name in FORMATS:
        return name
    log.info("stream: unknown format %r, treated as none", text)
    return None


def decide(source: Source, *, fmt: str | None, max_kbps: int = 0, user_max_kbps: int = 0,
           client: str | None = None, offset_s: int = 0, profile: ClientProfile | None = None) -> Decision:
    """Decide how to answer `stream` for `source`.

    `fmt` is the parsed request format (parse_format); `max_kbps` the request's maxBitRate,
    `user_max_kbps` the user's limit, both 0 for none; `offset_s` the timeOffset in seconds
    (callers reject one past the end). `format=raw` always means the original (spec §3:
    "raw disables transcoding"). `profile`: the request's client profile (the server's table,
    orbsonic.clients.match); without it, the built-in profile of client name `client`.
    """
    if fmt == RAW:
        return Decision(None, reason="format=raw")
    profile = profile or client_profile(client)
    limits = [k for k in (max_kbps, user_max_kbps, profile.max_kbps) if k and k > 0]
    limit = min(limits) if limits else 0
    family = source.family
    if fmt is None:
        acceptable = profile.direct is None or family in profile.direct
    else:
        # AAC is AAC to a player, in ADTS or in MP4: an .m4a is sent as it is for either.
        acceptable = family == fmt or (family == "aac" and fmt == "m4a")
    within = not limit or (0 < source.bitrate_kbps <= limit)
    if acceptable and within and offset_s <= 0:
        return Decision(None, reason="source acceptable")
    if fmt is not None:
        target = FORMATS[fmt]
        if target.lossless and family == fmt and offset_s <= 0:
            return Decision(None, reason="lossless asked, lossless source")  # no bitrate to meet
    elif offset_s > 0 and acceptable and within and family is not None:
        target = FORMATS[family]  # seek only: keep the codec the client already plays
    else:
        target = FORMATS[profile.default_format]
    kbps = target.clamp(limit or None)
    if not target.lossless and not limit and family is not None and not FORMATS[family].lossless \
            and 0 < source.bitrate_kbps < kbps:
        kbps = target.clamp(source.bitrate_kbps)  # never inflate a lossy source
    why = "offset" if acceptable and within else ("bitrate" if acceptable else "format")
    return Decision(target, kbps, max(offset_s, 0), why)
