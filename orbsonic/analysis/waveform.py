"""Waveform peaks of a track for the web client's seek bar (issue 9 "Waveform",
docs/native-api.md "Streaming": `GET /tracks/{id}/waveform`).

Computed once per file version in the background job `analysis.waveform` (queue "analysis"):
ffmpeg decodes the first audio stream to mono signed 16-bit PCM at `RATE` Hz into a pipe, and
the samples are folded, as they arrive, into `BUCKETS` (min, max) pairs — the file is never
held in memory. The peaks are stored in `track_waveforms` (schema/0013) with the size and
mtime of the file they came from, so a changed file is recomputed; every worker and replica
reads the same row. Library code: no HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import struct
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from orbsonic import jobs
from orbsonic.errors import NotFound
from orbsonic.storage import StorageUnavailable, is_remote, pass_fds, storage_for
from orbsonic.transcode.ffmpeg import find_ffmpeg

log = logging.getLogger("orbsonic.analysis")
TASK = "analysis.waveform"
BUCKETS = 1000          # (min, max) pairs per track
RATE = 4000             # Hz of the decoded mono PCM: enough for peaks at 1,000 buckets
READ_CHUNK = 64 * 1024
DECODE_TIMEOUT_S = 600.0


@dataclass(frozen=True, slots=True)
class Waveform:
    """Peaks of one file version: `peaks` = [min0, max0, min1, max1, …] floats in −1..1,
    `count` pairs, `duration_ms` of the decoded audio."""

    peaks: list[float]
    count: int
    duration_ms: int


class Folder:
    """Folds s16 mono samples into at most `buckets` (min, max) pairs of `per` samples each."""

    def __init__(self, expected_samples: int, buckets: int = BUCKETS) -> None:
        self.per = max(1, math.ceil(max(1, expected_samples) / buckets))
        self.buckets = buckets
        self.mins: list[int] = []
        self.maxs: list[int] = []
        self.samples = 0
        self._fill = 0  # samples in the current (last) bucket

    def add(self, pcm: array) -> None:
        """Fold the samples of `pcm` (array('h')) in order."""
        pos, n = 0, len(pcm)
        while pos < n:
            if self._fill == 0 or (self._fill >= self.per and len(self.mins) < self.buckets):
                self.mins.append(32767)
                self.maxs.append(-32768)
                self._fill = 0
            take = n - pos if len(self.mins) >= self.buckets else min(n - pos, self.per - self._fill)
            part = pcm[pos:pos + take]
            self.mins[-1] = min(self.mins[-1], min(part))
            self.maxs[-1] = max(self.maxs[-1], max(part))
            self._fill += take
            pos += take
        self.samples += n

    def peaks(self) -> list[float]:
        """[min0, max0, …] as floats in −1..1 (s16 / 32768)."""
        out: list[float] = []
        for lo, hi in zip(self.mins, self.maxs):
            out += [lo / 32768.0, hi / 32768.0]
        return out


async def compute(input_path: str, pass_fds: Sequence[int], expected_ms: int, *, ffmpeg: str | None = None,
                  buckets: int = BUCKETS) -> Waveform:
    """Decode `input_path` (a path ffmpeg may open, e.g. /proc/self/fd/N of `pass_fds`) and fold
    it into peaks. `expected_ms` (the scanned duration, 0 unknown) sizes the buckets.
    Raises RuntimeError when ffmpeg is missing, fails or yields no audio."""
    exe = ffmpeg or find_ffmpeg("")
    if exe is None:
        raise RuntimeError("no ffmpeg: waveforms cannot be computed")
    args = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-i", input_path if is_remote(input_path) else f"file:{input_path}",
            "-map", "0:a:0", "-vn", "-ac", "1", "-ar", str(RATE), "-f", "s16le", "-acodec", "pcm_s16le",
            "pipe:1"]
    proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, pass_fds=tuple(pass_fds))
    folder = Folder(max(1, expected_ms) * RATE // 1000 if expected_ms else RATE * 300, buckets)
    assert proc.stdout is not None and proc.stderr is not None
    stderr = asyncio.create_task(proc.stderr.read())
    try:
        rest = b""
        async with asyncio.timeout(DECODE_TIMEOUT_S):
            while chunk := await proc.stdout.read(READ_CHUNK):
                chunk = rest + chunk
                cut = len(chunk) - len(chunk) % 2
                rest = chunk[cut:]
                pcm = array("h")
                pcm.frombytes(chunk[:cut])
                if struct.pack("=h", 1) != struct.pack("<h", 1):
                    pcm.byteswap()
                folder.add(pcm)
            rc = await proc.wait()
        err = (await stderr).decode("utf-8", "replace").strip()
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        stderr.cancel()
    if rc != 0 or folder.samples == 0:
        raise RuntimeError(f"ffmpeg could not decode the track (exit {rc}): {err[-200:]}")
    return Waveform(folder.peaks(), len(folder.mins), folder.samples * 1000 // RATE)


def _pack(peaks: Sequence[float]) -> bytes:
    return struct.pack(f"<{len(peaks)}f", *peaks)


def _unpack(data: bytes) -> list[float]:
    return [round(v, 5) for v in struct.unpack(f"<{len(data) // 4}f", data)]


async def stored(conn: AsyncConnection, track_id: int, size: int, mtime_ns: int) -> Waveform | None:
    """The peaks of this file version (size in bytes, mtime_ns), or None when not computed yet."""
    cur = await conn.execute(
        "SELECT peaks, duration_ms FROM track_waveforms WHERE track_id = %s AND size = %s AND mtime_ns = %s",
        (track_id, size, mtime_ns))
    row = await cur.fetchone()
    if row is None:
        return None
    peaks = _unpack(bytes(row[0]))
    return Waveform(peaks, len(peaks) // 2, row[1])


async def save(conn: AsyncConnection, track_id: int, size: int, mtime_ns: int, wave: Waveform) -> None:
    """Store (or replace) the peaks of a track's file version. A track deleted meanwhile is
    skipped (no row to attach them to)."""
    await conn.execute(
        """INSERT INTO track_waveforms (track_id, size, mtime_ns, duration_ms, peaks)
           SELECT id, %(size)s, %(mtime)s, %(ms)s, %(peaks)s FROM tracks WHERE id = %(id)s
           ON CONFLICT (track_id) DO UPDATE SET size = EXCLUDED.size, mtime_ns = EXCLUDED.mtime_ns,
                 duration_ms = EXCLUDED.duration_ms, peaks = EXCLUDED.peaks, computed_at = now()""",
        {"id": track_id, "size": size, "mtime": mtime_ns, "ms": wave.duration_ms, "peaks": _pack(wave.peaks)})


def _settings() -> Any:
    """The worker's settings (allowed_outside_roots, ffmpeg), or None when they do not load."""
    from orbsonic.config import load_settings

    try:
        return load_settings()
    except Exception:  # noqa: BLE001  (a worker without a config file still computes waveforms)
        return None


async def compute_for_track(conn: AsyncConnection, track_id: int, *, outside_roots: tuple[str, ...] = (),
                            ffmpeg: str | None = None) -> Waveform | None:
    """Compute and store the waveform of `track_id` unless the current file version has one.
    None when the track or its file is gone. Raises RuntimeError when ffmpeg fails."""
    cur = await conn.execute(
        """SELECT f.path, t.path, t.duration_ms FROM tracks t JOIN music_folders f ON f.id = t.folder_id
            WHERE t.id = %s""", (track_id,))
    row = await cur.fetchone()
    await conn.commit()
    if row is None:
        return None
    root, path, duration_ms = row
    storage = storage_for(root, outside_roots)
    try:
        fh = await asyncio.to_thread(storage.open, path)
    except NotFound:
        log.info("waveform of track %s: its file is gone", track_id)
        return None
    except StorageUnavailable:
        log.info("waveform of track %s: the object store is unavailable", track_id)
        return None
    with fh:
        size, mtime_ns = fh.info.size, fh.info.mtime_ns
        have = await stored(conn, track_id, size, mtime_ns)
        if have is not None:
            return have
        wave = await compute(fh.local_path, pass_fds(fh), duration_ms or 0, ffmpeg=ffmpeg)
    async with conn.transaction():
        await save(conn, track_id, size, mtime_ns, wave)
    await conn.commit()  # a pool without autocommit would roll the outer transaction back
    return wave


@jobs.task(TASK, queue="analysis", retry=2, pass_context=True)
async def waveform_job(context: Any, track_id: int) -> None:
    """The job: compute and store the waveform of `track_id` (idempotent: a current one is kept)."""
    settings = _settings()
    roots = settings.outside_roots if settings is not None else ()
    exe = find_ffmpeg(settings.ffmpeg) if settings is not None else find_ffmpeg("")
    async with context.app.connector.pool.connection() as conn:
        await compute_for_track(conn, track_id, outside_roots=roots, ffmpeg=exe)
