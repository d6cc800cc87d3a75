"""Scan progress as log lines: a few per scan, never one per file (issue 12, Observability)."""

from __future__ import annotations

import logging
import time

log = logging.getLogger("orbsonic.scanner")


class ProgressLog:
    """A scan progress callback (phase, done, total) that logs at INFO a line when the reading
    of a folder's new or changed files starts, then one per tenth of them (at most one each
    `every_s` seconds, and always the last one) — instead of a line per file or a bar."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self.step, self.at = -1, 0.0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if total <= 0:
            return
        now, step = time.monotonic(), done * 10 // total
        if done == 0:
            self.step, self.at = 0, now
            log.info("scan: reading the tags of %d new or changed files", total)
        elif step > self.step and (now - self.at >= self.every_s or done >= total):
            self.step, self.at = step, now
            log.info("scan: %d of %d files read (%d%%)", done, total, done * 100 // total)
