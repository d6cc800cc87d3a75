"""Running jobs: `orbsonic worker` (any machine that reaches the database) and the worker child
that `orbsonic serve` starts so that one machine needs nothing else.

A worker listens on every queue (or the ones named), runs up to `concurrency` jobs at once, and
on start and then every half `stalled_after_s` re-queues the jobs of workers that died mid-job
(procrastinate's heartbeats mark them stalled after `stalled_after_s`, the setting
`job_stalled_after`, default `STALLED_AFTER_S`), so killing a worker loses nothing: its jobs run
again on a worker still alive. Tasks must therefore be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime, UTC

import procrastinate

from orbsonic import jobs

log = logging.getLogger("orbsonic.jobs")
STALLED_AFTER_S = 60.0
ORPHAN_GRACE_S = 10.0  # a running job may finish within this after the server died


async def requeue_stalled(app: procrastinate.App, seconds: float = STALLED_AFTER_S) -> int:
    """Put the jobs of workers silent for `seconds` back in their queue; returns how many."""
    stalled = await app.job_manager.get_stalled_jobs(seconds_since_heartbeat=seconds)
    for job in stalled:
        assert job.id is not None
        await app.job_manager.retry_job_by_id_async(job.id, retry_at=datetime.now(UTC),
                                                    priority=job.priority,
                                                    queue=job.queue, lock=job.lock)
    if stalled:
        log.info("re-queued %d job(s) of stopped workers", len(stalled))
    return len(stalled)


async def _requeue_every(app: procrastinate.App, stalled_after_s: float) -> None:
    """Re-queue the jobs of dead workers while this worker runs, not only when it starts: a
    SIGKILLed worker's job must not wait for the next worker start (the replica test)."""
    while True:
        await asyncio.sleep(max(stalled_after_s / 2, 1.0))
        try:
            await requeue_stalled(app, stalled_after_s)
        except Exception as exc:  # noqa: BLE001  (a chore: the database may be away for a while)
            log.warning("could not look for stalled jobs: %s", exc)


async def run(conninfo: str, *, concurrency: int = 2, queues: Iterable[str] | None = None,
              wait: bool = True, name: str | None = None, install_signal_handlers: bool = True,
              stalled_after_s: float = STALLED_AFTER_S) -> None:
    """Run jobs until stopped (SIGINT/SIGTERM), or with wait=False until the queues are empty.
    `conninfo` needs a session (LISTEN: not a transaction-pooling PgBouncer). A job whose
    worker sent no heartbeat for `stalled_after_s` (s) runs again here."""
    app = jobs.make_app(conninfo)
    async with app.open_async():
        await requeue_stalled(app, stalled_after_s)
        chore = asyncio.create_task(_requeue_every(app, stalled_after_s)) if wait else None
        try:
            await app.run_worker_async(
                queues=list(queues) if queues else None, concurrency=concurrency, wait=wait,
                name=name or f"orbsonic-{os.getpid()}", install_signal_handlers=install_signal_handlers,
                delete_jobs="successful", listen_notify=True, fetch_job_polling_interval=5.0,
                # often enough for `stalled_after_s`, and for orbsonic.jobs.scan.ALIVE_S (30 s)
                update_heartbeat_interval=min(max(stalled_after_s / 6, 0.5), 10.0),
                stalled_worker_timeout=stalled_after_s)
        finally:
            if chore is not None:
                chore.cancel()


class WorkerProcess:
    """The job worker child of `orbsonic serve`: `python -m orbsonic worker`, same environment."""

    def __init__(self, env: dict[str, str], concurrency: int) -> None:
        self.env, self.concurrency = env, concurrency
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the child (its output goes to ours). It stops by itself when this process dies
        (SIGKILL included): an orphaned worker would hold our output pipe open and keep using a
        database the next server may stop."""
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "orbsonic", "worker", "--concurrency", str(self.concurrency),
             "--parent-pid", str(os.getpid())], env=self.env, stdin=subprocess.DEVNULL)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful: running jobs finish or are re-queued), then SIGKILL after `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


async def _until_orphaned(parent_pid: int, every_s: float = 1.0) -> None:
    """Return once `parent_pid` is no longer our parent (it died and we were re-parented)."""
    while os.getppid() == parent_pid:
        await asyncio.sleep(every_s)


async def _run_child(conninfo: str, concurrency: int, parent_pid: int, stalled_after_s: float) -> None:
    work = asyncio.create_task(run(conninfo, concurrency=concurrency, stalled_after_s=stalled_after_s))
    watch = asyncio.create_task(_until_orphaned(parent_pid))
    done, _ = await asyncio.wait({work, watch}, return_when=asyncio.FIRST_COMPLETED)
    if watch not in done:
        watch.cancel()
        await work
        return
    log.warning("the server process %d is gone: stopping the job worker", parent_pid)
    work.cancel()  # procrastinate stops gracefully; what it cannot finish is re-queued as stalled
    with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError, Exception):
        await asyncio.wait_for(work, ORPHAN_GRACE_S)
    # Leave at once: the loop's own shutdown can wait forever on the pool's background tasks.
    logging.shutdown()
    os._exit(0)


def main(conninfo: str, concurrency: int, parent_pid: int | None = None,
         stalled_after_s: float = STALLED_AFTER_S) -> int:
    """`orbsonic worker`: run jobs until SIGINT/SIGTERM (or, as serve's child, until the server
    process `parent_pid` is gone); exit status 0. `stalled_after_s`: see `run`."""
    if parent_pid is None:
        asyncio.run(run(conninfo, concurrency=concurrency, stalled_after_s=stalled_after_s))
    else:
        asyncio.run(_run_child(conninfo, concurrency, parent_pid, stalled_after_s))
    return 0
