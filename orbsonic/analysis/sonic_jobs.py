"""Sonic analysis jobs: the feature vector of every track, in the background, resumable.

* `analysis.sonic_scan` (deferred at the end of every scan, one waiting at a time) finds the
  albums with pending tracks and defers one `analysis.sonic` per album (queueing lock per album).
* `analysis.sonic` decodes each pending track of its album with ffmpeg, extracts the features
  (orbsonic/analysis/features.py) and stores them in `track_sonic` (commit per track), then
  bumps `sonic_state.version` once so every process's index picks the album up.
* A track is pending when it has no `track_sonic` row at its current version
  (`<ALGO_VERSION>:<size>:<mtime_ns>`): a restart or a re-run skips finished tracks, a changed
  file or a new algorithm is analysed again. A file ffmpeg cannot read is recorded (`error`)
  and not retried until it changes.
* Progress: `status()` counts analysed / pending / failed (`orbsonic analysis status`).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from orbsonic import jobs
from orbsonic.analysis.features import ALGO_VERSION, FeatureError, decode, extract
from orbsonic.errors import NotFound
from orbsonic.storage import StorageUnavailable, pass_fds, storage_for

__all__ = ["SCAN_TASK", "Status", "analyse_album", "pending_albums", "status"]

log = logging.getLogger("orbsonic.analysis.sonic")

SCAN_TASK = "analysis.sonic_scan"
_VERSION = f"'{ALGO_VERSION}:' || t.size::text || ':' || t.mtime_ns::text"
_PENDING = f"""NOT EXISTS (SELECT 1 FROM track_sonic s WHERE s.track_id = t.id AND s.version = {_VERSION})"""


async def pending_albums(conn: AsyncConnection) -> list[int]:
    """Albums with at least one track to analyse, in id order."""
    cur = await conn.execute(f"SELECT DISTINCT t.album_id FROM tracks t WHERE {_PENDING} ORDER BY 1")
    return [r[0] for r in await cur.fetchall()]


async def analyse_album(conn: AsyncConnection, album_id: int, exe: str,
                        outside_roots: tuple[str, ...] = ()) -> int:
    """Analyse the album's pending tracks; returns how many were analysed (or failed). Files
    are opened through their folder's storage (a link leaving the folder is never read)."""
    cur = await conn.execute(
        f"""SELECT t.id, f.path, t.path, t.duration_ms, {_VERSION} FROM tracks t
              JOIN music_folders f ON f.id = t.folder_id
             WHERE t.album_id = %s AND {_PENDING} ORDER BY t.id""", (album_id,))
    pending = await cur.fetchall()
    for track_id, root, rel, duration_ms, version in pending:
        vec: bytes | None = None
        error = None
        try:
            fh = await asyncio.to_thread(storage_for(root, outside_roots).open, rel)
        except NotFound:
            error = "file is gone or outside its music folder"
        except StorageUnavailable:
            continue  # the object store is down: the track stays pending, tried again later
        else:
            try:
                samples = await decode(exe, fh.local_path or "", (duration_ms or 0) / 1000, pass_fds(fh))
                vec = (await asyncio.to_thread(extract, samples)).astype("<f4").tobytes()
            except FeatureError as exc:
                error = str(exc)
            finally:
                fh.close()
        if error:
            log.warning("sonic features of track %d (%s) not computed: %s", track_id, rel, error)
        # Only while the file is still the one analysed (a rescan in between wins).
        await conn.execute(
            f"""INSERT INTO track_sonic AS s (track_id, version, vec, error)
                SELECT t.id, %s, %s, %s FROM tracks t WHERE t.id = %s AND {_VERSION} = %s
                ON CONFLICT (track_id) DO UPDATE
                   SET version = excluded.version, vec = excluded.vec, error = excluded.error,
                       analysed_at = now()""",
            (version, vec, error, track_id, version))
        await conn.commit()
    if pending:
        await conn.execute("UPDATE sonic_state SET version = version + 1 WHERE id = 1")
        await conn.commit()
    return len(pending)


@dataclass(frozen=True, slots=True)
class Status:
    """Sonic analysis progress: tracks analysed at their current version, pending, failed."""

    analysed: int
    pending: int
    failed: int

    def line(self) -> str:
        """One line for `orbsonic analysis status`."""
        return f"sonic features: {self.analysed} analysed, {self.pending} pending, {self.failed} failed"


async def status(conn: AsyncConnection) -> Status:
    """Progress counts of the sonic analysis (one query)."""
    cur = await conn.execute(
        f"""SELECT count(*) FILTER (WHERE s.error IS NULL AND s.version = {_VERSION}),
                   count(*) FILTER (WHERE s.version IS DISTINCT FROM {_VERSION}),
                   count(*) FILTER (WHERE s.error IS NOT NULL AND s.version = {_VERSION})
              FROM tracks t LEFT JOIN track_sonic s ON s.track_id = t.id""")
    row = await cur.fetchone()
    assert row is not None
    return Status(*row)


def _pool(context: Any) -> Any:
    return context.app.connector.pool


def _ffmpeg() -> str:
    from orbsonic.config import load_settings
    from orbsonic.transcode.ffmpeg import find_ffmpeg

    exe = find_ffmpeg(load_settings().ffmpeg)
    if exe is None:
        raise FeatureError("no ffmpeg installed")
    return exe


def _outside_roots() -> tuple[str, ...]:
    from orbsonic.config import load_settings

    return tuple(load_settings().outside_roots)


@jobs.task(SCAN_TASK, queue="analysis", pass_context=True, retry=2)
async def sonic_scan(context: Any) -> int:
    """Defer one `analysis.sonic` job per album with pending tracks; returns how many."""
    async with _pool(context).connection() as conn:
        albums = await pending_albums(conn)
    deferred = await jobs.defer_per_album(context.app, "analysis.sonic", albums, lock_prefix="sonic",
                                          priority=-1)
    log.info("sonic features: %d album(s) queued for analysis", deferred)
    return deferred


@jobs.task("analysis.sonic", queue="analysis", pass_context=True, retry=2)
async def sonic(context: Any, album_id: int) -> int:
    """Analyse the pending tracks of album `album_id` (idempotent: done tracks are skipped)."""
    exe = _ffmpeg()
    async with _pool(context).connection() as conn:
        return await analyse_album(conn, album_id, exe, _outside_roots())
