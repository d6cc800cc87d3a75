"""Prometheus metrics of the server (issue 12, Observability): `orbsonic.metrics.defs` declares
them, `orbsonic/http/metrics.py` serves `/metrics`.

`orbsonic serve --workers N` runs N HTTP worker processes, plus the job worker and scan processes.
prometheus_client's multi-process mode gives each process its own memory-mapped files in one
directory (`PROMETHEUS_MULTIPROC_DIR`) and sums them at scrape time, whichever worker answers.
`prepare_dir` sets that directory up; it must run before `prometheus_client` is first imported in a
process (the library chooses its value store at import), which is why this module imports nothing
of it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def pid_alive(pid: int) -> bool:
    """Whether a process `pid` exists and has not exited (a zombie, a killed worker its parent
    has not reaped yet, counts as dead; a process of another user as alive)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def prepare_dir(data_dir: Path) -> Path:
    """Create `DATA_DIR/metrics/<pid of this serve>` empty, remove the directories of `serve`
    processes that are gone, and export it as PROMETHEUS_MULTIPROC_DIR for this process and the
    ones it starts. Per serve process, because two `orbsonic serve` may share a data dir (each
    reports its own workers) and a restarted server must not sum its predecessor's counters."""
    base = data_dir / "metrics"
    base.mkdir(parents=True, exist_ok=True)
    for entry in base.iterdir():
        if entry.is_dir() and (not entry.name.isdigit() or not pid_alive(int(entry.name))):
            shutil.rmtree(entry, ignore_errors=True)
    mine = base / str(os.getpid())
    shutil.rmtree(mine, ignore_errors=True)
    mine.mkdir()
    os.environ[ENV] = str(mine)
    return mine
