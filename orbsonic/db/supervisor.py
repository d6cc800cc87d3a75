"""Keep the embedded PostgreSQL running while `orbsonic serve` runs.

A postmaster can die under a running server: killed by the OOM killer, a crash, `pg_ctl stop`
by hand. Without this, every request would fail until someone restarts it. The supervisor is
a thread in the `serve` process (which owns the EmbeddedPostgres; the HTTP workers only hold
its URL): every `interval_s` it looks at postmaster.pid and, when the server is gone, starts
it again on the same port (EmbeddedPostgres.ensure_running). Meanwhile the pool answers
requests fast with "database unavailable" (orbsonic/db/pool.py) and reconnects once it is back.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType
from typing import Self

from orbsonic.db.embedded import EmbeddedPostgres
from orbsonic.errors import EmbeddedPostgresError

log = logging.getLogger("orbsonic.db")

INTERVAL_S = 1.0
# A failed restart (e.g. the dead server's backends still hold its shared memory) is retried
# with growing pauses up to this long.
MAX_RETRY_S = 10.0


class Supervisor:
    """Restart `pg` whenever its server is gone, until `stop()` (or the end of a `with` block).

    `interval_s`: seconds between checks (a check reads one small file).
    """

    def __init__(self, pg: EmbeddedPostgres, *, interval_s: float = INTERVAL_S) -> None:
        self.pg, self.interval_s = pg, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pg-supervisor", daemon=True)
        self.restarts = 0

    def start(self) -> None:
        """Start watching in a daemon thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop watching; waits for a restart in progress to finish."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        pause = self.interval_s
        while not self._stop.wait(pause):
            try:
                if self.pg.running:
                    pause = self.interval_s
                    continue
                log.warning("the embedded PostgreSQL in %s is gone: restarting it", self.pg.data_dir)
                if self.pg.ensure_running():
                    self.restarts += 1
                    log.warning("restarted the embedded PostgreSQL on port %s", self.pg.port)
                pause = self.interval_s
            except (EmbeddedPostgresError, OSError) as exc:
                pause = min(max(pause * 2, 1.0), MAX_RETRY_S)
                log.warning("cannot restart the embedded PostgreSQL (retrying in %.0f s): %s", pause, exc)
            except Exception:  # a bug must not end supervision silently
                log.exception("PostgreSQL supervisor error")
                pause = MAX_RETRY_S
