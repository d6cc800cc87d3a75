"""The job queue (orbsonic/jobs): schema with the migrations, exactly-once delivery across two
workers, jobs that outlive their worker, stalled jobs re-queued, and `orbsonic worker`."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from typing import Any

import psycopg
import pytest

from orbsonic import jobs
from orbsonic.jobs import worker
from orbsonic.jobs.schema import installed_version
from tests.conftest import ROOT, clone_db


@jobs.task("tests.record", queue="tests")
async def record(tag: str, n: int) -> None:
    """Note one run of job (tag, n) — a test task; the unique key catches a second run."""
    async with await psycopg.AsyncConnection.connect(os.environ["ORBSONIC_TEST_JOBS_DB"]) as conn:
        await conn.execute("INSERT INTO job_runs (tag, n) VALUES (%s, %s)", (tag, n))
        await conn.commit()


@pytest.fixture
def jobs_db(pg: Any, template_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    url = clone_db(pg, template_url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE job_runs (tag text, n int, runs int DEFAULT 1, PRIMARY KEY (tag, n))")
    monkeypatch.setenv("ORBSONIC_TEST_JOBS_DB", url)
    return url


def _runs(url: str, tag: str) -> list[int]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT n FROM job_runs WHERE tag = %s ORDER BY n", (tag,))]


async def _defer(url: str, tag: str, count: int) -> None:
    app = jobs.make_app(url)
    async with app.open_async():
        for n in range(count):
            await jobs.defer(app, "tests.record", tag=tag, n=n)


def test_migrations_create_the_job_tables(template_url: str) -> None:
    with psycopg.connect(template_url) as conn:
        assert conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()[0]
        row = conn.execute("SELECT value FROM server_state WHERE key = 'procrastinate_version'").fetchone()
    assert row and row[0] == ".".join(map(str, installed_version()))


def test_two_workers_run_each_job_exactly_once(jobs_db: str) -> None:
    asyncio.run(_defer(jobs_db, "once", 40))

    async def two() -> None:
        await asyncio.gather(*(worker.run(jobs_db, concurrency=3, wait=False, name=f"w{i}",
                                          install_signal_handlers=False) for i in range(2)))

    asyncio.run(two())
    assert _runs(jobs_db, "once") == list(range(40))  # a second run would violate the primary key


def test_jobs_wait_for_a_worker(jobs_db: str) -> None:
    """Deferred while no worker runs (a restart): the next worker runs them."""
    asyncio.run(_defer(jobs_db, "later", 3))
    assert _runs(jobs_db, "later") == []
    asyncio.run(worker.run(jobs_db, wait=False, install_signal_handlers=False))
    assert _runs(jobs_db, "later") == [0, 1, 2]


def test_a_stalled_job_is_requeued(jobs_db: str) -> None:
    """A job taken by a worker that then died (no heartbeat) runs again on the next worker."""
    async def go() -> None:
        await _defer(jobs_db, "stalled", 1)
        app = jobs.make_app(jobs_db)
        async with app.open_async():
            worker_id = await app.job_manager.register_worker()
            job = await app.job_manager.fetch_job(queues=None, worker_id=worker_id)
            assert job is not None
            # the worker is gone: its heartbeat stops
            await app.connector.execute_query_async(
                "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'")
            assert await worker.requeue_stalled(app) == 1

    asyncio.run(go())
    asyncio.run(worker.run(jobs_db, wait=False, install_signal_handlers=False))
    assert _runs(jobs_db, "stalled") == [0]


def test_orbsonic_worker_command_runs_jobs(jobs_db: str, tmp_path: Any) -> None:
    """`orbsonic worker` against DATABASE_URL runs a queued job (the queue's own housekeeping,
    which every worker knows) and stops cleanly on SIGTERM."""
    async def defer_builtin() -> int:
        app = jobs.make_app(jobs_db)
        async with app.open_async():
            job_id = await jobs.defer(app, "housekeeping.remove_old_jobs", days=1)
            assert job_id is not None
            return job_id

    # an old failed job (a second run of the same (tag, n) breaks the primary key), for the
    # housekeeping task to remove
    asyncio.run(_defer(jobs_db, "dup", 1))
    asyncio.run(_defer(jobs_db, "dup", 1))
    asyncio.run(worker.run(jobs_db, wait=False, install_signal_handlers=False))
    with psycopg.connect(jobs_db) as conn:
        failed = conn.execute("SELECT id FROM procrastinate_jobs WHERE status = 'failed'").fetchall()
        assert len(failed) == 1
        conn.execute("UPDATE procrastinate_events SET at = now() - interval '30 days'")
    job_id = asyncio.run(defer_builtin())
    env = {**os.environ, "DATABASE_URL": jobs_db, "ORBSONIC_DATA_DIR": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "orbsonic", "worker"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120  # a loaded 2-core CI machine starts Python slowly
        while time.monotonic() < deadline:
            with psycopg.connect(jobs_db) as conn:
                row = conn.execute("SELECT status FROM procrastinate_jobs WHERE id = %s",
                                   (job_id,)).fetchone()
            if row is None or row[0] == "succeeded":  # successful jobs are deleted
                break
            time.sleep(0.2)
        else:
            proc.terminate()
            out, _ = proc.communicate(timeout=20)
            pytest.fail("the worker did not run the job: " + out.decode(errors="replace")[-3000:])
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]
    assert b"Traceback" not in out
    with psycopg.connect(jobs_db) as conn:
        assert conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE id = %s",
                            (failed[0][0],)).fetchone()[0] == 0


def test_a_task_name_is_declared_once() -> None:
    with pytest.raises(ValueError):
        jobs.task("tests.record")(lambda: None)


def test_serves_worker_child_stops_when_the_server_is_killed(jobs_db: str, tmp_path: Any) -> None:
    """A SIGKILLed `serve` leaves no job worker behind (it would hold the output pipe open and
    keep using a database the next server may stop)."""
    parent = subprocess.Popen(
        [sys.executable, "-c", "import os, sys, time\n"
         "from orbsonic.jobs.worker import WorkerProcess\n"
         "w = WorkerProcess(dict(os.environ), 1); w.start(); print(w.proc.pid, flush=True); time.sleep(600)"],
        env={**os.environ, "DATABASE_URL": jobs_db, "ORBSONIC_DATA_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(3)  # the worker is up
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        with open(f"/proc/{child}/stat") as fh:
            if fh.read().split()[2] == "Z":  # exited, waiting for init to reap it
                return
        time.sleep(0.2)
    os.kill(child, signal.SIGKILL)
    pytest.fail("the worker outlived the server")
