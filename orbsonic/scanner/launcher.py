"""Start scans from the server and report their status.

Scans run in a child process (`python -m orbsonic scan`): tag reading is CPU-bound
Python, and in the server process it would starve request handling (the GIL); a child
also gives its memory back when it exits (Navidrome's external scanner, client-compat
§3.2). Whether a scan is running is read from PostgreSQL's lock table (the scanner's
advisory lock), so every replica answers getScanStatus the same way and a crashed
scanner never stays "running".
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from pathlib import Path

from psycopg import AsyncConnection

from orbsonic.scanner.scanner import SCAN_LOCK_KEY

log = logging.getLogger("orbsonic.scanner")
# Set by `orbsonic serve` when it printed a generated admin password: the first scan it
# starts repeats, when done, how to sign in and how to reset that password.
FIRST_RUN_ENV = "ORBSONIC_FIRST_RUN_ADMIN"


@dataclass(frozen=True, slots=True)
class ScanState:
    """scanning: a scan holds the lock; count: files done in the running scan, else the
    number of tracks in the library; phase: walking/reading/finishing/idle."""

    scanning: bool
    count: int
    phase: str
    error: str | None


async def read_state(conn: AsyncConnection) -> ScanState:
    """Current scan state from the database (any replica)."""
    cur = await conn.execute(
        """SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
                            AND classid = %s AND objid = %s AND objsubid = 1
                            AND database = (SELECT oid FROM pg_database WHERE datname = current_database())),
                  s.files_done, s.phase, s.error,
                  (SELECT value::bigint FROM server_state WHERE key = 'track_count')
             FROM scan_status s WHERE s.id = 1""",
        (SCAN_LOCK_KEY >> 32, SCAN_LOCK_KEY & 0xFFFFFFFF))
    row = await cur.fetchone()
    if row is None:
        return ScanState(False, 0, "idle", None)
    scanning, done, phase, error, tracks = row
    return ScanState(bool(scanning), int(done if scanning else tracks or 0), phase if scanning else "idle", error)


async def known_folders(conn: AsyncConnection) -> list[str]:
    """Paths of the music folders in the library, in id order."""
    cur = await conn.execute("SELECT path FROM music_folders ORDER BY id")
    return [r[0] for r in await cur.fetchall()]


async def register_folders(conn: AsyncConnection, folders: Sequence[Path]) -> None:
    """Add `folders` to the library without scanning (`serve --no-scan DIR`), so clients
    list them at once. Removing folders no longer configured is left to the next scan,
    which also removes their tracks and refreshes albums (scanner.sync_folders)."""
    for path in (f if isinstance(f, str) else str(Path(f).resolve()) for f in folders):  # str: s3://
        await conn.execute("""INSERT INTO music_folders (name, path) VALUES (%s, %s)
                              ON CONFLICT (path) DO NOTHING""", (os.path.basename(path) or path, path))


class ScanLauncher:
    """Starts scans for this server: as a `scan.library` job when a job worker is alive and
    the launcher has the job queue (`jobs`, a procrastinate App, and `pool`: set by the app
    lifespan), so that concurrent requests on any replica queue one scan (orbsonic/jobs/scan.py);
    else as a scanner process of its own. `database_url` (a URL with a session: the scanner
    holds a session-level lock) and the music folders are passed to the child through its
    environment."""

    def __init__(self, database_url: str, music_folders: Sequence[Path], env: dict[str, str] | None = None):
        self.database_url = database_url
        self.music_folders = list(music_folders)
        self.env = dict(os.environ if env is None else env)
        self._proc: asyncio.subprocess.Process | None = None
        self.jobs: Any = None
        self.pool: Any = None

    @property
    def child_running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self, full: bool = False, conn: AsyncConnection | None = None) -> bool:
        """Start a scan unless one is queued or running (a job), or this server's previous
        child still runs. Returns True when a job was queued or a process started (a process
        exits at once if another replica is scanning). `conn`: the request's connection, whose
        transaction then holds the enqueue lock until it commits; default a pooled one."""
        if self.jobs is not None and self.pool is not None and not self.child_running:
            if conn is None:
                async with self.pool.connection() as own:
                    return await self._start(own, full)
            return await self._start(conn, full)
        return await self._spawn(full)

    async def _start(self, conn: AsyncConnection, full: bool) -> bool:
        from orbsonic.jobs import scan as scan_job

        if await scan_job.workers_alive(conn):
            queued = await scan_job.enqueue(conn, self.jobs, self.music_folders, full)
            if queued:
                log.info("scan queued%s", " (full)" if full else "")
            return queued
        return await self._spawn(full)

    async def _spawn(self, full: bool) -> bool:
        if self.child_running:
            return False
        env = dict(self.env, DATABASE_URL=self.database_url,
                   ORBSONIC_MUSIC_FOLDERS=os.pathsep.join(str(p) for p in self.music_folders))
        # A progress bar on the server's terminal, else a few progress lines; a summary.
        args = [sys.executable, "-m", "orbsonic", "scan", "--log-progress"] + (["--full"] if full else [])
        self._proc = await asyncio.create_subprocess_exec(*args, env=env, stdin=asyncio.subprocess.DEVNULL)
        self.env.pop(FIRST_RUN_ENV, None)  # only the first scan says how to sign in
        log.info("scan started (pid %d%s)", self._proc.pid, ", full" if full else "")
        return True

    async def status(self, conn: AsyncConnection) -> ScanState:
        from orbsonic.jobs import scan as scan_job

        state = await read_state(conn)
        if not state.scanning and self.child_running:
            # Started but not yet holding the lock: report it as running, clients poll.
            return ScanState(True, 0, "starting", None)
        if not state.scanning and (job := await scan_job.pending(conn)) is not None:
            # Queued, or taken by a worker whose scanner does not hold the lock yet.
            return ScanState(True, 0, "queued" if job == "todo" else "starting", None)
        return state

    async def wait(self) -> int | None:
        """Wait for this server's scan process; its exit code, or None if none ran."""
        if self._proc is None:
            return None
        return await self._proc.wait()

    async def aclose(self) -> None:
        """Stop a running child scan (server shutdown). The scan commits per batch, so
        the next scan continues from what was written."""
        if self.child_running and self._proc is not None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except asyncio.TimeoutError:
                self._proc.kill()
                await self._proc.wait()
