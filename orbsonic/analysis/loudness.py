"""EBU R128 loudness of tracks without ReplayGain tags: measured in background jobs, served as
ReplayGain 2.0 values (issue 8, "Loudness and ReplayGain").

* Measurement: ffmpeg's `ebur128=peak=true` filter over the decoded file (ITU-R BS.1770-4:
  K-weighting, 400 ms blocks, absolute gate at −70 LUFS and relative gate at −10 LU); the
  summary gives the integrated loudness `I` (LUFS) and the true peak (dBTP, 4× oversampled).
* ReplayGain 2.0 reference: −18 LUFS, so gain = −18 − I (dB); peak = 10^(dBTP/20), linear.
* Album loudness: the energy-weighted mean of the tracks' integrated loudness, weighted by
  duration: L = 10·log10(Σ dᵢ·10^(Lᵢ/10) / Σ dᵢ). Each track is gated on its own (relative
  gate per track), which differs from one pass over the concatenated album only when some
  quiet passages would pass one gate and not the other — a few tenths of a dB at most, without
  decoding the album a second time. Album peak: the highest track true peak.
* Stored apart from the tags (tracks.r128_*, schema/0016_loudness.sql); the served
  `replayGain` takes each tag value when present, else the analysed one (library hydration).
* Jobs: `analysis.loudness_scan` (deferred at the end of a scan, one waiting at a time) finds
  the albums with pending tracks and defers one `analysis.loudness` per album (queueing lock
  per album). A track is pending when it has no ReplayGain track tag and its analysed version
  (`<size>:<mtime_ns>`) is not its current one, so a restart or a re-run skips finished
  tracks and jobs lost with a worker are re-queued by the next scan (or the worker's stalled
  job re-queue). A file ffmpeg cannot read is recorded (r128_error) and not retried until it
  changes.
* Progress: `status()` counts analysed / pending / failed (`orbsonic analysis status`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from orbsonic import jobs
from orbsonic.errors import NotFound
from orbsonic.storage import StorageUnavailable, pass_fds, storage_for

log = logging.getLogger("orbsonic.analysis.loudness")

REFERENCE_LUFS = -18.0  # ReplayGain 2.0
TIMEOUT_S = 600.0  # one track; a hung ffmpeg is killed
SCAN_LOCK = "analysis.loudness_scan"
_VERSION = "t.size::text || ':' || t.mtime_ns::text"
PENDING = f"t.rg_track_gain IS NULL AND t.r128_version IS DISTINCT FROM {_VERSION}"

_I = re.compile(r"Integrated loudness:\s*\n\s*I:\s*(-?[\d.]+|-inf|nan)\s*LUFS", re.I)
_PEAK = re.compile(r"True peak:\s*\n\s*Peak:\s*(-?[\d.]+|-inf|nan)\s*dBFS", re.I)


class AnalysisError(Exception):
    """ffmpeg could not measure the file (unreadable, no audio, timed out)."""


@dataclass(frozen=True, slots=True)
class Loudness:
    """One measurement: integrated loudness in LUFS (−inf for silence) and true peak in dBTP."""

    integrated_lufs: float
    true_peak_db: float

    @property
    def gain_db(self) -> float | None:
        """ReplayGain 2.0 gain in dB (None for digital silence: no meaningful gain)."""
        return REFERENCE_LUFS - self.integrated_lufs if math.isfinite(self.integrated_lufs) else None

    @property
    def peak(self) -> float:
        """True peak as a linear amplitude (0.0 for silence)."""
        return 10 ** (self.true_peak_db / 20) if math.isfinite(self.true_peak_db) else 0.0


def parse_summary(text: str) -> Loudness:
    """The Loudness in ffmpeg's ebur128 summary (stderr of `-af ebur128=peak=true`). Raises
    AnalysisError when the summary is missing (ffmpeg failed before the end)."""
    i_match, p_match = _I.findall(text), _PEAK.findall(text)
    if not i_match or not p_match:
        raise AnalysisError("no ebur128 summary in ffmpeg's output")
    return Loudness(float(i_match[-1]), float(p_match[-1]))


async def measure(exe: str, path: str, pass_fds: tuple[int, ...] = (),
                  timeout_s: float = TIMEOUT_S) -> Loudness:
    """Measure one file with ffmpeg `exe` (`path` may be /proc/self/fd/N with `pass_fds`).
    Raises AnalysisError when ffmpeg fails or exceeds `timeout_s` (it is killed)."""
    proc = await asyncio.create_subprocess_exec(
        exe, "-hide_banner", "-nostats", "-nostdin", "-i", path, "-map", "0:a:0", "-vn",
        "-af", "ebur128=peak=true", "-f", "null", "-",
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, pass_fds=pass_fds)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout_s)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise AnalysisError(f"ffmpeg took longer than {timeout_s:.0f} s") from None
    text = err.decode("utf-8", "replace")
    if proc.returncode != 0:
        last = text.strip().splitlines()[-1:] or ["no output"]
        raise AnalysisError(f"ffmpeg exit {proc.returncode}: {last[0][:200]}")
    return parse_summary(text)


def album_loudness(items: list[tuple[float, float]]) -> float | None:
    """Energy-weighted album loudness in LUFS from (integrated LUFS, duration s) pairs; silent
    or zero-length tracks add no energy. None when nothing is left."""
    energy = total = 0.0
    for lufs, duration in items:
        if duration <= 0:
            continue
        total += duration
        if math.isfinite(lufs):
            energy += duration * 10 ** (lufs / 10)
    if total <= 0 or energy <= 0:
        return None
    return 10 * math.log10(energy / total)


def _ffmpeg() -> str:
    from orbsonic.config import load_settings
    from orbsonic.transcode.ffmpeg import find_ffmpeg

    settings = load_settings()
    exe = find_ffmpeg(settings.ffmpeg)
    if exe is None:
        raise AnalysisError("no ffmpeg installed")
    return exe


def _outside_roots() -> tuple[str, ...]:
    from orbsonic.config import load_settings

    return tuple(load_settings().outside_roots)


async def analyse_album(conn: AsyncConnection, album_id: int, exe: str,
                        outside_roots: tuple[str, ...] = ()) -> int:
    """Measure the album's pending tracks, then refresh the album gain/peak of all its
    analysed tracks. Returns how many tracks were measured. Files are opened through their
    folder's storage (a link leaving the folder is never read). Commits per track, so an
    interrupted job keeps what it finished."""
    cur = await conn.execute(
        f"""SELECT t.id, f.path, t.path, {_VERSION} FROM tracks t
              JOIN music_folders f ON f.id = t.folder_id
             WHERE t.album_id = %s AND {PENDING} ORDER BY t.id""", (album_id,))
    pending = await cur.fetchall()
    for track_id, root, rel, version in pending:
        result: Loudness | None = None
        error = None
        try:
            fh = await asyncio.to_thread(storage_for(root, outside_roots).open, rel)
        except NotFound:
            error = "file is gone or outside its music folder"
        except StorageUnavailable:
            continue  # the object store is down: the track stays pending, tried again later
        else:
            try:
                result = await measure(exe, fh.local_path or "", pass_fds(fh))
            except AnalysisError as exc:
                error = str(exc)
            finally:
                fh.close()
        if error:
            log.warning("loudness of track %d (%s) not measured: %s", track_id, rel, error)
        await conn.execute(
            """UPDATE tracks SET r128_loudness = %s, r128_track_gain = %s, r128_track_peak = %s,
                      r128_version = %s, r128_error = %s
                WHERE id = %s AND size::text || ':' || mtime_ns::text = %s""",
            (result.integrated_lufs if result and math.isfinite(result.integrated_lufs) else None,
             result.gain_db if result else None, result.peak if result else None,
             version, error, track_id, version))
        await conn.commit()
    await _refresh_album(conn, album_id)
    return len(pending)


async def _refresh_album(conn: AsyncConnection, album_id: int) -> None:
    cur = await conn.execute(
        """SELECT r128_loudness, duration_ms, r128_track_peak FROM tracks
            WHERE album_id = %s AND r128_error IS NULL AND r128_track_peak IS NOT NULL""", (album_id,))
    rows = await cur.fetchall()
    lufs = album_loudness([(r[0] if r[0] is not None else -math.inf, (r[1] or 0) / 1000) for r in rows])
    peak = max((r[2] for r in rows), default=None)
    await conn.execute(
        """UPDATE tracks SET r128_album_gain = %s, r128_album_peak = %s
            WHERE album_id = %s AND r128_version IS NOT NULL""",
        (REFERENCE_LUFS - lufs if lufs is not None else None, peak if rows else None, album_id))
    await conn.commit()


@dataclass(frozen=True, slots=True)
class Status:
    """Loudness analysis progress: tracks analysed at their current version, pending, failed
    (analysed with an error), and tagged (have ReplayGain tags, never analysed)."""

    analysed: int
    pending: int
    failed: int
    tagged: int

    def line(self) -> str:
        """One line for `orbsonic analysis status`."""
        return (f"loudness: {self.analysed} analysed, {self.pending} pending, {self.failed} failed, "
                f"{self.tagged} with ReplayGain tags")


async def status(conn: AsyncConnection) -> Status:
    """Progress counts of the loudness analysis (one query)."""
    cur = await conn.execute(
        f"""SELECT count(*) FILTER (WHERE t.rg_track_gain IS NULL AND r128_version = {_VERSION}
                                     AND r128_error IS NULL),
                   count(*) FILTER (WHERE {PENDING}),
                   count(*) FILTER (WHERE t.rg_track_gain IS NULL AND r128_version = {_VERSION}
                                     AND r128_error IS NOT NULL),
                   count(*) FILTER (WHERE t.rg_track_gain IS NOT NULL)
              FROM tracks t""")
    row = await cur.fetchone()
    assert row is not None
    return Status(*row)


async def pending_albums(conn: AsyncConnection) -> list[int]:
    """Albums with at least one track to analyse, in id order."""
    cur = await conn.execute(f"SELECT DISTINCT t.album_id FROM tracks t WHERE {PENDING} ORDER BY 1")
    return [r[0] for r in await cur.fetchall()]


def _pool(context: Any) -> Any:
    return context.app.connector.pool


@jobs.task(SCAN_LOCK, queue="analysis", pass_context=True, retry=2)
async def loudness_scan(context: Any) -> int:
    """Defer one `analysis.loudness` job per album with pending tracks (an album already
    waiting is not queued twice). Returns how many were deferred."""
    async with _pool(context).connection() as conn:
        albums = await pending_albums(conn)
    deferred = await jobs.defer_per_album(context.app, "analysis.loudness", albums, lock_prefix="loudness")
    log.info("loudness: %d album(s) queued for analysis", deferred)
    return deferred


@jobs.task("analysis.loudness", queue="analysis", pass_context=True, retry=2)
async def loudness(context: Any, album_id: int) -> int:
    """Analyse the pending tracks of album `album_id` (idempotent: done tracks are skipped)."""
    exe = _ffmpeg()
    async with _pool(context).connection() as conn:
        return await analyse_album(conn, album_id, exe, _outside_roots())
