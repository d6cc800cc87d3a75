"""Jobs queued at the end of every scan: loudness analysis, cover thumbnails, sonic features.

Each is queued with a queueing lock named after its task, so scans in a row leave at most one
waiting job of each; the jobs themselves find what is left to do (resumable by design).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from orbsonic import jobs

log = logging.getLogger("orbsonic.jobs")

AFTER_SCAN = ("analysis.loudness_scan", "covers.thumbnails", "analysis.sonic_scan")


async def defer_after_scan_async(app: object) -> list[int | None]:
    """Queue every AFTER_SCAN task on an opened App; job ids (None: one was already waiting)."""
    return [await jobs.defer(app, name, queueing_lock=name) for name in AFTER_SCAN]  # type: ignore[arg-type]


def defer_after_scan(conninfo: str) -> None:
    """Queue the AFTER_SCAN tasks from the scanner process (blocking). Failures are logged,
    never raised: a scan must not fail because the queue is unavailable."""
    async def go() -> None:
        app = jobs.make_app(conninfo)
        async with app.open_async():
            await defer_after_scan_async(app)

    def run() -> None:
        try:
            asyncio.run(go())
        except Exception as exc:  # noqa: BLE001
            log.warning("cannot queue the post-scan jobs: %s", exc)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        run()  # the usual case: the scanner process, or a thread without a loop
        return
    # called from inside an event loop (an embedding program): a loop of its own in a thread
    thread = threading.Thread(target=run, name="orbsonic-postscan")
    thread.start()
    thread.join()
