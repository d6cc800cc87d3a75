"""Plausibility of the stream length a header claims, checked against the file's size.

Headers lie: a truncated download keeps the Xing/VBRI frame count or the MP4 `mvhd`
duration of the whole file (the realworld corpus: a 2 KB m4a claiming 123,252 s, an 80 KB
m4b claiming 169,023 s, a 1 KB mp3 claiming 264 s). Clients then show a 34-hour track and
seek into nothing. A length is kept when the bytes can hold it:

* with a declared bitrate (CBR frame, Xing bytes/frames, esds avgBitrate), the file holds
  at most size × 8 / bitrate seconds; a claim over 4× that (and 10 s more) is replaced by
  that estimate — the audio that is really there;
* without one, a claim that leaves under MIN_KBPS per second of audio is not a real stream
  (the most compressible one, FLAC digital silence, needs about 1 kbps): the length is
  marked unknown (0) and the bitrate dropped.
"""

from __future__ import annotations

from orbsonic.scanner.model import AudioProps

MIN_KBPS = 0.5
MIN_DECLARED_KBPS = 4        # below this a "declared" bitrate is itself noise
_RATIO = 4.0
_SLACK_S = 10.0
_TIMED = frozenset({"midi"})  # lengths from events, not from stored audio


def check_duration(props: AudioProps, declared_kbps: float | None, file_size: int,
                   warnings: list[str]) -> None:
    """Correct `props.duration_ms` (and `props.bitrate`) in place when the header's length
    cannot fit in `file_size` bytes; append a warning saying what was done. Units: kbps,
    bytes, ms. Never raises."""
    if props.duration_ms <= 0 or file_size <= 0 or props.codec in _TIMED:
        return
    claimed_s = props.duration_ms / 1000
    if declared_kbps and declared_kbps >= MIN_DECLARED_KBPS:
        estimate_s = file_size * 8 / (declared_kbps * 1000)
        if claimed_s > _RATIO * estimate_s and claimed_s - estimate_s > _SLACK_S:
            warnings.append(f"header claims {claimed_s:.0f} s but {file_size} bytes at "
                            f"{declared_kbps:.0f} kbps hold {estimate_s:.1f} s: length estimated")
            props.duration_ms = max(1, round(estimate_s * 1000))
            props.bitrate = round(declared_kbps)
            return
    implied_kbps = file_size * 8 / claimed_s / 1000
    if implied_kbps < MIN_KBPS:
        warnings.append(f"header claims {claimed_s:.0f} s for {file_size} bytes ({implied_kbps:.3f} kbps): "
                        "length unknown")
        props.duration_ms = 0
        props.bitrate = None
