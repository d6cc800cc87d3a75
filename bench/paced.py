"""Paced, player-like listeners: what 200 people playing music experience (issue 12).

The closed-loop range test of bench/streams.py asks ranges back to back with no pause, so its
time to first byte is the queueing of a saturated server (Little's law: TTFB ~ clients / req/s).
Here each of `listeners` plays tracks of the real library the way a Subsonic/native player
with a byte buffer does:

- a track's byte rate is its own (size / duration, from getSong), so FLAC and lossy files
  are played at their real bitrates;
- the player asks `Range: bytes=a-b` windows of `chunk` bytes (512 KiB by default) on one
  keep-alive connection whenever less than `low_s` seconds of audio are buffered, and sleeps
  otherwise; playback starts when the first window arrives (after a seek too);
- when a track's last byte is fetched, the listener waits until it has played out and starts
  another random track; with probability `seek_p` before each window (the first of a track
  too) it seeks instead: the buffer is dropped and the window starts at a random offset;
- an underrun (stall) is a window whose first byte arrives after the playback position passed
  the end of the buffered audio; the stall time is counted and playback resumes from there;
- listeners start staggered evenly over the first `stagger_s` seconds (not all in the same
  millisecond) and stop asking at `seconds`.

Every answer must be 206 with exactly the asked length; anything else is an error.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bench.load import Connection, percentile

KiB = 1024


@dataclass(frozen=True, slots=True)
class Track:
    """One playable file: stream path, size in bytes, duration in seconds, suffix."""

    path: str
    size: int
    duration: float
    suffix: str

    @property
    def byte_rate(self) -> float:
        """Bytes per second of audio (the file's own average bitrate / 8)."""
        return self.size / self.duration


async def library_tracks(api: Any, song_ids: list[str], limit: int = 400) -> list[Track]:
    """`Track`s of up to `limit` songs (getSong: size, duration, suffix); songs without a
    duration or size are left out."""
    out = []
    for sid in song_ids[:limit]:
        song = (await api.call("getSong", id=sid))["song"]
        size, dur = int(song.get("size") or 0), float(song.get("duration") or 0)
        if size > 0 and dur > 0:
            out.append(Track(api.path("stream", id=sid), size, dur, str(song.get("suffix", ""))))
    return out


async def paced_listeners(
    host: str,
    port: int,
    tracks: list[Track],
    *,
    listeners: int = 200,
    seconds: float = 30.0,
    chunk: int = 512 * KiB,
    low_s: float = 10.0,
    seek_p: float = 0.05,
    stagger_s: float = 5.0,
    cpu_probe: Callable[[], dict[str, float]] | None = None,
    seed: int = 1,
) -> dict[str, Any]:
    """Run `listeners` paced players for `seconds`; TTFB percentiles (ms) of every request,
    errors, bytes, underruns, and the CPU % of one core of each `cpu_probe` key (CPU seconds
    sampled before and after) plus the load generator's own."""
    if not tracks:
        raise ValueError("no tracks with a size and duration to play")
    rng = random.Random(f"orbsonic-bench-paced:{seed}")
    ttfbs: list[float] = []
    errors: dict[str, int] = {}
    counts = {"requests": 0, "bytes": 0, "underruns": 0, "tracks_started": 0, "seeks": 0,
              "tracks_finished": 0}
    stall_s = [0.0]
    stalled_listeners: set[int] = set()
    t_start = time.perf_counter()
    stop_at = t_start + seconds  # the stagger is part of the run

    def error(kind: str) -> None:
        errors[kind] = errors.get(kind, 0) + 1

    async def listener(n: int) -> None:
        await asyncio.sleep(stagger_s * n / max(1, listeners))
        conn = Connection(host, port, timeout=60)
        try:
            while time.perf_counter() < stop_at:
                track = rng.choice(tracks)
                counts["tracks_started"] += 1
                await play(n, conn, track)
        finally:
            await conn.close()

    async def play(n: int, conn: Connection, track: Track) -> None:
        rate = track.byte_rate
        offset = 0  # byte of the track where the buffer starts
        got = 0  # bytes buffered from `offset`
        play_t0: float | None = None  # when playback of byte `offset` started (stalls shift it)
        while time.perf_counter() < stop_at:
            now = time.perf_counter()
            buffered = got / rate - (now - play_t0) if play_t0 is not None else 0.0
            if offset + got >= track.size:  # all fetched: play it out, then the next track
                if buffered > 0:
                    await asyncio.sleep(min(buffered, max(0.0, stop_at - now)))
                counts["tracks_finished"] += time.perf_counter() < stop_at
                return
            if buffered > low_s:
                await asyncio.sleep(min(buffered - low_s, max(0.0, stop_at - now)))
                continue
            if rng.random() < seek_p:  # the user seeks (into a new track too): buffer dropped
                counts["seeks"] += 1
                offset, got, play_t0 = rng.randrange(0, track.size), 0, None
            start = offset + got
            end = min(track.size, start + chunk) - 1
            counts["requests"] += 1
            try:
                reply = await conn.get(track.path, {"Range": f"bytes={start}-{end}"}, keep_body=False)
            except Exception as exc:  # noqa: BLE001 - every failure is counted by kind
                error(type(exc).__name__)
                await conn.close()
                return
            if reply.status != 206 or reply.length != end - start + 1:
                error(f"HTTP {reply.status}" if reply.status != 206 else "short body")
                return
            ttfbs.append(reply.ttfb)
            counts["bytes"] += reply.length
            first_byte_at = time.perf_counter() - (reply.seconds - reply.ttfb)
            if play_t0 is None:
                play_t0 = first_byte_at  # playback starts with the first window
            else:
                late = (first_byte_at - play_t0) - got / rate  # played past the buffer by this much
                if late > 0:
                    counts["underruns"] += 1
                    stall_s[0] += late
                    stalled_listeners.add(n)
                    play_t0 += late  # the player paused while it waited
            got += reply.length

    before = cpu_probe() if cpu_probe else {}
    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(listener(n) for n in range(listeners)))
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu0
    after = cpu_probe() if cpu_probe else {}
    tt = sorted(ttfbs)
    suffixes: dict[str, int] = {}
    for t in tracks:
        suffixes[t.suffix] = suffixes.get(t.suffix, 0) + 1
    rates = sorted(t.byte_rate * 8 / 1000 for t in tracks)
    out: dict[str, Any] = {
        "listeners": listeners,
        "seconds": round(wall, 2),
        "stagger_s": stagger_s,
        "chunk_bytes": chunk,
        "buffer_low_s": low_s,
        "seek_p": seek_p,
        **counts,
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "rps": round(counts["requests"] / wall, 1) if wall else 0.0,
        "mb_s": round(counts["bytes"] / 1e6 / wall, 2) if wall else 0.0,
        "ttfb_p50_ms": round(percentile(tt, 50) * 1000, 2),
        "ttfb_p95_ms": round(percentile(tt, 95) * 1000, 2),
        "ttfb_p99_ms": round(percentile(tt, 99) * 1000, 2),
        "ttfb_max_ms": round((tt[-1] if tt else 0.0) * 1000, 2),
        "underrun_listeners": len(stalled_listeners),
        "stall_s": round(stall_s[0], 2),
        "client_cpu_pct": round(100 * client_cpu / wall, 1) if wall else 0.0,
        "tracks_pool": len(tracks),
        "tracks_pool_suffixes": suffixes,
        "kbps_min_median_max": [round(rates[0]), round(rates[len(rates) // 2]), round(rates[-1])],
    }
    for k in before:
        out[f"{k}_cpu_pct"] = round(100 * (after[k] - before[k]) / wall, 1) if wall else 0.0
    return out
