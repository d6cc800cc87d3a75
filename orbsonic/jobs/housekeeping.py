"""Housekeeping of the job queue itself: finished jobs are forgotten after `KEEP_DAYS`.

Successful jobs are deleted by the worker as soon as they succeed (orbsonic/jobs/worker.py);
failed, cancelled and aborted ones stay for inspection (`procrastinate_jobs`) until this daily
task removes those older than `KEEP_DAYS`.
"""

from __future__ import annotations

from typing import Any

from orbsonic import jobs

KEEP_DAYS = 14


@jobs.task("housekeeping.remove_old_jobs", queue="housekeeping", pass_context=True, cron="17 3 * * *")
async def remove_old_jobs(context: Any, timestamp: int | None = None, *, days: int = KEEP_DAYS) -> None:
    """Delete finished jobs older than `days` days (a periodic task: `timestamp` is the
    scheduled time procrastinate passes to periodic tasks)."""
    await context.app.job_manager.delete_old_jobs(
        nb_hours=days * 24, include_failed=True, include_cancelled=True, include_aborted=True)
