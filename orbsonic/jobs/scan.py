"""The library scan as a job (`scan.library`): what `startScan`, the schedule and the watcher
enqueue when a job worker is alive, so that a scan asked for on several replicas at once runs
once, on whichever worker takes it, and a scan whose worker died is run again by another.

The job runs the scanner as a child process (`python -m orbsonic scan --log-progress`): tag
reading is CPU-bound and a child gives its memory back when it exits (as the server's own
launcher does, orbsonic/scanner/launcher.py). The child is killed with its worker (Linux
PR_SET_PDEATHSIG), so a SIGKILLed worker leaves no scan behind holding the scan lock: the job
is re-queued as stalled (orbsonic/jobs/worker.py) and the next worker scans again (incremental
scans are idempotent).

Enqueueing (`enqueue`) is serialised by a transaction-level advisory lock (PgBouncer-safe) and
skipped while a scan job waits or runs, so concurrent requests queue one job.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import procrastinate
from psycopg import AsyncConnection

from orbsonic import jobs

log = logging.getLogger("orbsonic.scanner")
TASK = "scan.library"
QUEUE = "scan"
# pg_advisory_xact_lock key serialising `enqueue`: b"orbscnq" as an integer.
ENQUEUE_LOCK = int.from_bytes(b"orbscnq", "big")
# A worker whose heartbeat is older than this is not counted as alive (procrastinate beats
# every few seconds, orbsonic/jobs/worker.py).
ALIVE_S = 30


def _die_with_parent() -> None:
    """preexec_fn of the scan child: SIGKILL it when the worker process dies (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


@jobs.task(TASK, queue=QUEUE, lock=TASK, retry=1)
async def scan_library(folders: list[str], full: bool = False) -> int:
    """Scan `folders` (absolute paths) into the worker's database; returns the scanner's exit
    status. Raises RuntimeError when the scanner fails (the job is retried once)."""
    from orbsonic.config import load_settings

    s = load_settings()
    url = s.database_direct_url or s.database_url
    env = dict(os.environ, DATABASE_URL=url, ORBSONIC_MUSIC_FOLDERS=os.pathsep.join(folders))
    args = [sys.executable, "-m", "orbsonic", "scan", "--log-progress"] + (["--full"] if full else [])
    proc = await asyncio.create_subprocess_exec(*args, env=env, stdin=asyncio.subprocess.DEVNULL,
                                                preexec_fn=_die_with_parent)
    log.info("scan job: scanner started (pid %d%s)", proc.pid, ", full" if full else "")
    try:
        code = await proc.wait()
    except asyncio.CancelledError:  # the worker stops: the scan commits per batch, stop it
        proc.terminate()
        await proc.wait()
        raise
    if code != 0:
        raise RuntimeError(f"the scanner exited with status {code}")
    return code


async def workers_alive(conn: AsyncConnection[Any]) -> bool:
    """True when a job worker sent a heartbeat within ALIVE_S."""
    cur = await conn.execute(
        """SELECT EXISTS (SELECT 1 FROM procrastinate_workers
                           WHERE last_heartbeat > now() - make_interval(secs => %s))""", (ALIVE_S,))
    row = await cur.fetchone()
    return bool(row and row[0])


async def pending(conn: AsyncConnection[Any]) -> str | None:
    """'doing' or 'todo' when a scan job runs or waits (a waiting one only while a worker is
    alive to take it), else None."""
    cur = await conn.execute(
        """SELECT status::text FROM procrastinate_jobs
            WHERE task_name = %s AND status IN ('todo', 'doing')
            ORDER BY status = 'doing' DESC LIMIT 1""", (TASK,))
    row = await cur.fetchone()
    if row is None:
        return None
    if row[0] == "todo" and not await workers_alive(conn):
        return None
    return str(row[0])


async def enqueue(conn: AsyncConnection[Any], app: procrastinate.App, folders: Sequence[Path],
                  full: bool = False) -> bool:
    """Queue one scan of `folders` unless a scan job waits or runs; True when queued. Takes a
    transaction-level lock on `conn` (held until its transaction ends): the caller commits."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (ENQUEUE_LOCK,))
    if await pending(conn) is not None:
        return False
    job = await jobs.defer(app, TASK, queueing_lock=TASK, folders=[str(f) for f in folders], full=full)
    return job is not None
