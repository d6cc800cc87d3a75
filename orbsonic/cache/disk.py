"""A size-bounded directory of cache files: atomic writes, use marks, LRU prune.

Shared by the cover cache (orbsonic.covers) and the transcode cache
(orbsonic.transcode.cache). Entries are plain files; "recently used" is
max(atime, mtime), and a hit refreshes the atime itself (`mark_used`) because noatime
mounts never update it and relatime only once a day. Files whose name starts with "."
(temporary and in-progress files, lock files) are never counted or pruned here.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TOUCH_AFTER_S = 60  # a hit refreshes the file's atime at most this often
STALE_AFTER_S = 3600  # a temporary file this old was left by a crashed writer


def is_stale(path: Path, age_s: float = STALE_AFTER_S) -> bool:
    """True when `path` was last written more than `age_s` seconds ago."""
    return path.stat().st_mtime < time.time() - age_s


def _stale_tmp(path: Path) -> bool:
    return path.name.startswith(".tmp-") and is_stale(path)


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one
    (a temporary file in the same directory, then rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def mark_used(path: Path, st: os.stat_result | None = None) -> None:
    """Record a cache hit on `path` (its atime) for `prune`, at most once a minute."""
    try:
        st = st or path.stat()
    except OSError:
        return
    now = time.time()
    if st.st_atime < now - TOUCH_AFTER_S:
        with contextlib.suppress(OSError):
            os.utime(path, ns=(int(now * 1e9), st.st_mtime_ns))


def prune(root: Path, max_bytes: int, *, remove: Callable[[Path], bool] | None = None,
          stale: Callable[[Path], bool] | None = None) -> int:
    """Delete the least recently used entries below `root` until they fit `max_bytes`.

    `remove(path)` deletes one entry and returns whether it did (the transcode cache takes
    the entry's lock first); the default unlinks. Hidden files ("." prefix: temporary,
    in-progress and lock files) are not counted; those left behind by a crash are deleted
    when `stale(path)` says so (default: temporary files untouched for STALE_AFTER_S).
    Returns the number of entries removed."""
    stale = stale or _stale_tmp
    files = []
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = Path(dirpath) / name
            if name.startswith("."):
                with contextlib.suppress(OSError):
                    if stale(path):
                        path.unlink(missing_ok=True)
                continue
            try:
                st = path.lstat()
            except OSError:
                continue
            files.append((max(st.st_atime, st.st_mtime), st.st_size, path))
            total += st.st_size
    removed = 0
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        if remove is None:
            path.unlink(missing_ok=True)
            done = True
        else:
            done = remove(path)
        if done:
            total -= size
            removed += 1
    return removed
