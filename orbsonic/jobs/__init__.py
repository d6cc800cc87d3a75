"""Background work through one PostgreSQL job queue (procrastinate).

Why a queue: analysis, thumbnails, waveforms, podcast downloads and scrobble forwarding must run
exactly once whichever worker, replica or machine picks them up, survive a restart, and never run
on the request path. procrastinate keeps jobs in PostgreSQL tables (`procrastinate_jobs` …), hands
each one to exactly one worker (`SELECT … FOR UPDATE SKIP LOCKED`), wakes workers with
LISTEN/NOTIFY, and retries with back-off.

* Tasks are declared with `@jobs.task("analysis.loudness", queue="analysis", retry=3)` in their
  own modules (e.g. orbsonic/analysis/loudness.py), and those modules are listed in
  `TASK_MODULES` so that a worker imports them. Each `make_app` builds a fresh procrastinate App
  from these declarations: procrastinate's tasks link back to one App and its builtin blueprint
  is renamed in place by every App made, so Apps must not share Task objects.
* API processes only enqueue: `await jobs.defer(state.jobs, "analysis.loudness", track_id=…)`
  through an App opened on the server's own pool (`open_app`).
* `orbsonic worker` runs jobs (orbsonic/jobs/worker.py); `orbsonic serve` starts one as a child
  process unless told not to, so a laptop needs nothing else.
* The queue's tables are applied with the schema migrations (orbsonic/jobs/schema.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import procrastinate
from procrastinate import PsycopgConnector
from psycopg_pool import AsyncConnectionPool

F = TypeVar("F", bound=Callable[..., Any])

# Modules that declare tasks with `task`; a worker imports them all (procrastinate import_paths).
TASK_MODULES: list[str] = ["orbsonic.jobs.housekeeping", "orbsonic.analysis.waveform",
                           "orbsonic.analysis.loudness", "orbsonic.covers", "orbsonic.library.changes",
                           "orbsonic.podcasts.tasks",
                           "orbsonic.integrations.refresh", "orbsonic.integrations.forwarding",
                           "orbsonic.analysis.sonic_jobs", "orbsonic.jobs.scan"]


@dataclass(frozen=True)
class TaskSpec:
    """A declared task: the function and procrastinate's task options (queue, retry, lock …);
    `cron` makes it periodic (procrastinate periodic tasks, deferred by the workers)."""

    name: str
    func: Callable[..., Any]
    options: dict[str, Any] = field(default_factory=dict)
    cron: str | None = None


TASKS: dict[str, TaskSpec] = {}


def task(name: str, *, cron: str | None = None, **options: Any) -> Callable[[F], F]:
    """Declare a job task `name` (options as procrastinate's `App.task`: queue, retry,
    pass_context, lock, queueing_lock …). Returns the function unchanged. Raises ValueError when
    `name` is declared twice."""

    def register(func: F) -> F:
        if name in TASKS and TASKS[name].func is not func:
            raise ValueError(f"job task {name} declared twice")
        TASKS[name] = TaskSpec(name, func, options, cron)
        return func

    return register


def register_task_module(dotted: str) -> None:
    """Add a module that declares tasks (idempotent); call it at import time of that module's
    package so workers import it (or list it in TASK_MODULES directly)."""
    if dotted not in TASK_MODULES:
        TASK_MODULES.append(dotted)


class _App(procrastinate.App):
    """procrastinate's App without its builtin tasks: every App renames the one shared builtin
    blueprint's tasks in place ("builtin:builtin:…" by the second App), so jobs deferred by a later
    App carry a name no worker knows. Orbsonic declares its own housekeeping task instead."""

    def _register_builtin_tasks(self) -> None:
        return None


def make_app(conninfo: str | None = None, **pool_kwargs: Any) -> procrastinate.App:
    """A procrastinate App carrying every task. With `conninfo` the App opens its own small pool;
    without, open it on an existing pool with `app.open_async(pool)` (see `open_app`)."""
    kwargs: dict[str, Any] = {}
    if conninfo is not None:
        kwargs = {"conninfo": conninfo, "min_size": 1, "max_size": 4, **pool_kwargs}
    import_modules()
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
        # procrastinate logs every job start, end and deferral at INFO: with one job per album
        # after a scan that is a line per album, the flood `serve` must not print (issue 6 §3).
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = _App(connector=PsycopgConnector(**kwargs), import_paths=list(TASK_MODULES))
    for spec in TASKS.values():
        t = app.task(name=spec.name, **spec.options)(spec.func)
        if spec.cron is not None:
            app.periodic(cron=spec.cron, periodic_id=spec.name)(t)
    return app


def import_modules() -> None:
    """Import every task module, so that TASKS holds every declaration."""
    import importlib

    for dotted in TASK_MODULES:
        importlib.import_module(dotted)


async def open_app(pool: AsyncConnectionPool) -> procrastinate.App:
    """An App opened on the server's pool, for enqueueing from request handlers. Close it with
    `await app.close_async()` (it does not close the pool)."""
    app = make_app()
    await app.open_async(pool)
    return app


async def defer(app: procrastinate.App, task_name: str, *, lock: str | None = None,
                queueing_lock: str | None = None, priority: int = 0, **kwargs: Any) -> int | None:
    """Enqueue task `task_name` with JSON-serialisable `kwargs`; returns the job id, or None when
    `queueing_lock` says an identical job is already waiting (procrastinate AlreadyEnqueued)."""
    task = app.tasks[task_name]
    try:
        return await task.configure(lock=lock, queueing_lock=queueing_lock,
                                    priority=priority).defer_async(**kwargs)
    except procrastinate.exceptions.AlreadyEnqueued:
        return None


async def defer_per_album(app: procrastinate.App, task_name: str, album_ids: list[int], *,
                          lock_prefix: str, priority: int = 0) -> int:
    """Enqueue `task_name(album_id=…)` once per album, each with the queueing lock
    `<lock_prefix>:<album_id>` (an album already waiting is not queued twice); returns how many
    were queued. The fan-out of the per-album analysis jobs (loudness, sonic features)."""
    queued = 0
    for album_id in album_ids:
        if await defer(app, task_name, queueing_lock=f"{lock_prefix}:{album_id}", priority=priority,
                       album_id=album_id) is not None:
            queued += 1
    return queued
