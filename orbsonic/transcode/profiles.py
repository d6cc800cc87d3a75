"""The OpenSubsonic `transcoding` extension's decision: a client's capabilities in, the
server's answer out (docs/subsonic-spec.md §5.6). Pure functions, no I/O.

`ClientInfo` (JSON body of getTranscodeDecision) lists direct-play profiles, transcoding
profiles in priority order, and codec limitations; bitrates there are in bit/s. We can
direct-play over HTTP, and transcode over HTTP to the formats of decide.FORMATS (no HLS
yet). `transcodeParams` is a short, URL-safe, stateless string — `<format>.<kbps>.<channels>`
or `direct` — so it stays valid as long as the track does; getTranscodeStream re-applies
the user's limit, so a hand-made one gains nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from orbsonic.errors import BadParam
from orbsonic.transcode.decide import FORMATS, Format

# ClientInfo's (container, audioCodec) names → our target format.
_CODEC_TARGET = {"mp3": "mp3", "opus": "opus", "aac": "aac", "vorbis": "ogg", "flac": "flac"}
_TARGET_CONTAINERS = {"mp3": {"mp3"}, "opus": {"ogg", "opus"}, "aac": {"aac", "adts"},
                      "ogg": {"ogg", "oga"}, "flac": {"flac"}, "m4a": {"mp4", "m4a"}}
_TARGET_CODEC = {"mp3": "mp3", "opus": "opus", "aac": "aac", "ogg": "vorbis", "flac": "flac", "m4a": "aac"}
_CONTAINER_NAME = {"adts": "aac", "ipod": "mp4"}  # our muxer → ClientInfo's container name
_SUFFIX_CONTAINER = {"m4a": "mp4", "m4b": "mp4", "mp4": "mp4", "oga": "ogg", "opus": "ogg"}
_PARAMS = re.compile(r"^(direct|(mp3|opus|aac|m4a|ogg|flac)\.(\d{1,4})\.(\d{1,2}))$")


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """The track as the decision sees it: container/codec names as ClientInfo uses them,
    bitrate in bit/s, sample rate in Hz, bit depth (0 unknown), channels (0 unknown)."""

    container: str
    codec: str
    bitrate_bps: int
    sample_rate: int
    bit_depth: int
    channels: int

    @classmethod
    def of_track(cls, row: dict[str, Any]) -> SourceInfo:
        """From a hydrated track row (orbsonic.library.tracks)."""
        suffix = (row.get("suffix") or "").lower()
        return cls(_SUFFIX_CONTAINER.get(suffix, suffix), (row.get("codec") or "").lower(),
                   (row.get("bitrate") or 0) * 1000, row.get("sample_rate") or 0,
                   row.get("bit_depth") or 0, row.get("channels") or 0)

    def details(self) -> dict[str, Any]:
        """StreamDetails of the source (protocol http)."""
        out: dict[str, Any] = {"protocol": "http", "container": self.container, "codec": self.codec}
        for key, value in (("audioChannels", self.channels), ("audioBitrate", self.bitrate_bps),
                           ("audioSamplerate", self.sample_rate), ("audioBitdepth", self.bit_depth)):
            if value:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class ProfileDecision:
    """`direct`: play the file as it is; else `target` at `kbps` with at most `channels`
    (0: as the source). `reasons`: why each direct-play profile did not fit."""

    direct: bool
    target: Format | None = None
    kbps: int = 0
    channels: int = 0
    reasons: tuple[str, ...] = ()
    error: str = ""

    @property
    def params(self) -> str:
        """The opaque transcodeParams string."""
        if self.direct:
            return "direct"
        assert self.target is not None
        return f"{self.target.name}.{self.kbps}.{self.channels}"


def parse_params(text: str) -> tuple[Format | None, int, int]:
    """(target or None for direct, kbps, channels) of a transcodeParams string. Raises BadParam."""
    m = _PARAMS.match(text or "")
    if m is None:
        raise BadParam("transcodeParams", "not a value this server handed out")
    if m.group(1) == "direct":
        return None, 0, 0
    return FORMATS[m.group(2)], int(m.group(3)), int(m.group(4))


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


def _names(value: Any) -> set[str]:
    return {str(v).strip().lower() for v in value} if isinstance(value, list) else set()


def _limit_ok(lim: dict[str, Any], src: SourceInfo) -> bool:
    """Whether `src` meets one Limitation (values compared as integers where they are)."""
    field = {"audioChannels": src.channels, "audioBitrate": src.bitrate_bps,
             "audioSamplerate": src.sample_rate, "audioBitdepth": src.bit_depth}.get(str(lim.get("name")))
    values = [str(v) for v in lim.get("values") or []]
    if field is None or not values or not field:  # audioProfile, or unknown: not checkable
        return not lim.get("required")
    nums = [_int(v) for v in values]
    comparison = lim.get("comparison")
    if comparison == "Equals":
        return field in nums
    if comparison == "NotEquals":
        return field not in nums
    if comparison == "LessThanEqual":
        return field <= min(nums)
    if comparison == "GreaterThanEqual":
        return field >= max(nums)
    return True


def _codec_limit(codec_profiles: list[Any], codec: str, name: str) -> int:
    """The LessThanEqual bound a client sets on `name` (e.g. audioBitrate) for `codec`; 0 none."""
    bound = 0
    for cp in codec_profiles:
        if not isinstance(cp, dict) or str(cp.get("name", "")).lower() != codec:
            continue
        for lim in cp.get("limitations") or []:
            if isinstance(lim, dict) and lim.get("name") == name and lim.get("comparison") == "LessThanEqual":
                nums = [_int(v) for v in lim.get("values") or [] if _int(v)]
                if nums:
                    bound = min([bound, *nums]) if bound else min(nums)
    return bound


def decide_for_client(info: dict[str, Any], src: SourceInfo, *, user_max_kbps: int = 0) -> ProfileDecision:
    """The decision for ClientInfo `info` (parsed JSON) and the source track.

    Raises BadParam when `info` is not a ClientInfo object (name and platform required)."""
    if not isinstance(info, dict) or not isinstance(info.get("name"), str) or \
            not isinstance(info.get("platform"), str):
        raise BadParam("body", "a ClientInfo JSON object with name and platform is required")
    max_bps = _int(info.get("maxAudioBitrate"))
    user_bps = user_max_kbps * 1000
    codec_profiles = info.get("codecProfiles") if isinstance(info.get("codecProfiles"), list) else []
    reasons: list[str] = []
    for dp in info.get("directPlayProfiles") or []:
        if not isinstance(dp, dict):
            continue
        containers, codecs, protocols = _names(dp.get("containers")), _names(dp.get("audioCodecs")), \
            _names(dp.get("protocols"))
        max_ch = _int(dp.get("maxAudioChannels"))
        if containers and src.container not in containers:
            reasons.append("ContainerNotSupported")
        elif codecs and src.codec not in codecs:
            reasons.append("AudioCodecNotSupported")
        elif protocols and "http" not in protocols:
            reasons.append("ProtocolNotSupported")
        elif max_ch and src.channels > max_ch:
            reasons.append("AudioChannelsNotSupported")
        elif (max_bps and src.bitrate_bps > max_bps) or (user_bps and src.bitrate_bps > user_bps):
            reasons.append("AudioBitrateNotSupported")
        elif not all(_limit_ok(lim, src) for cp in codec_profiles if isinstance(cp, dict)
                     and str(cp.get("name", "")).lower() == src.codec
                     for lim in cp.get("limitations") or [] if isinstance(lim, dict)):
            reasons.append("CodecLimitationNotMet")
        else:
            return ProfileDecision(True)
    budget = min([b for b in (_int(info.get("maxTranscodingAudioBitrate")), max_bps, user_bps) if b] or [0])
    for tp in info.get("transcodingProfiles") or []:
        if not isinstance(tp, dict) or str(tp.get("protocol", "http")).lower() != "http":
            continue
        name = _CODEC_TARGET.get(str(tp.get("audioCodec", "")).lower())
        container = str(tp.get("container", "")).lower()
        if name == "aac" and container in _TARGET_CONTAINERS["m4a"]:
            name = "m4a"  # AAC in MP4
        if name is None or container not in _TARGET_CONTAINERS[name]:
            continue
        target = FORMATS[name]
        bound = _codec_limit(codec_profiles, _TARGET_CODEC[name], "audioBitrate")
        bps = min([b for b in (budget, bound) if b] or [0])
        kbps = target.clamp(bps // 1000 if bps else None)
        channels = _int(tp.get("maxAudioChannels"))
        downmix = channels if channels and channels < (src.channels or 99) else 0
        return ProfileDecision(False, target, kbps, downmix, tuple(reasons))
    return ProfileDecision(False, reasons=tuple(reasons),
                           error="no transcoding profile this server can produce")


def transcode_details(d: ProfileDecision, src: SourceInfo) -> dict[str, Any]:
    """StreamDetails of what getTranscodeStream will send for decision `d`."""
    if d.direct or d.target is None:
        return src.details()
    t = d.target
    out: dict[str, Any] = {"protocol": "http", "container": _CONTAINER_NAME.get(t.container, t.container),
                           "codec": _TARGET_CODEC[t.name]}
    channels = d.channels or src.channels
    if channels:
        out["audioChannels"] = channels
    if d.kbps:
        out["audioBitrate"] = d.kbps * 1000
    rate = src.sample_rate
    if t.name == "opus":
        rate = 48000  # Opus always decodes at 48 kHz
    elif rate > t.max_rate_hz:
        rate = 48000
    if rate:
        out["audioSamplerate"] = rate
    if t.lossless and src.bit_depth:
        out["audioBitdepth"] = src.bit_depth
    return out
