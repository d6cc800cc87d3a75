"""The on-disk transcode cache: finished entries served with Range, unfinished ones followed.

Layout under `<data dir>/cache/transcodes/<kk>/`: `<key>.<suffix>` is a finished entry
(complete by construction: it appears only by rename after ffmpeg exited 0);
`.<key>.part` is the entry being written; `.<key>.lock` is the lock file. The key hashes
the track id, the source's size and mtime, the format and the bitrate, so a changed file
gets a new entry.

One producer per key across workers and replicas sharing the directory: the producer
holds an exclusive flock on the lock file while it writes `.part`. Another request for
the same key finds the lock taken and follows the `.part` file as it grows (`Follower`),
until the lock is released. Prune (orbsonic.cache.disk, LRU by use) takes the lock before
it deletes, and a locker re-checks that the lock file it holds is still the one on disk,
so a prune racing a new producer can never let two producers write one key.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
from pathlib import Path

from orbsonic.cache import disk


def entry_key(track_id: int | str, size: int, mtime_ns: int, fmt: str, kbps: int) -> str:
    """The cache key of a transcode (hex). `track_id`: a track id, or `pe<id>` for a podcast
    episode (never equal to a track id's text)."""
    # v2: entries written by ffmpeg into a seekable file (cover, gapless header)
    raw = f"v2:{track_id}:{size}:{mtime_ns}:{fmt}:{kbps}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def _lock(path: Path, *, blocking: bool = False, shared: bool = False) -> int | None:
    """An fd holding a flock on `path` (created if needed), or None when it is held by
    another process (non-blocking). Retries when the file was replaced meanwhile."""
    for _ in range(5):
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            flags = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
            fcntl.flock(fd, flags)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)  # pruned between our open and our lock: lock the new file
    return None


class Producer:
    """Writes one entry: `write` chunks (or let ffmpeg write into `fileno()`), then
    `commit` (rename into place) or `abort`."""

    def __init__(self, final: Path, part: Path, lock_fd: int) -> None:
        self.final, self.part, self._lock_fd = final, part, lock_fd
        self._fd: int | None = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        self.size = 0

    def fileno(self) -> int:
        """The descriptor of the `.part` file (for ffmpeg's `pass_fds`: it reopens the
        same file through /proc/self/fd/N, seekable, and writes the entry itself)."""
        assert self._fd is not None
        return self._fd

    def write(self, data: bytes) -> None:
        """Append `data` (page-cache write of ≤ 64 KB: fast enough for the event loop)."""
        if self._fd is not None:
            os.write(self._fd, data)
            self.size += len(data)

    def commit(self) -> None:
        """The entry is complete: make it visible under its final name."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        os.replace(self.part, self.final)
        self._unlock()

    def abort(self) -> None:
        """Discard the partial entry (ffmpeg failed or the client left)."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        self.part.unlink(missing_ok=True)
        self._unlock()

    def _unlock(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


class Follower:
    """Reads an entry another request is still producing. `read` returns new bytes, b""
    when there are none yet; `producer_done` tells whether the producer has finished
    (then `complete` tells whether it committed the entry or gave up)."""

    def __init__(self, part_fd: int, lock: Path, final: Path) -> None:
        self._fd, self._lock, self._final = part_fd, lock, final
        self.complete = False

    def read(self, n: int = 256 * 1024) -> bytes:
        return os.read(self._fd, n)

    def producer_done(self) -> bool:
        fd = _lock(self._lock, shared=True)
        if fd is None:
            return False
        os.close(fd)
        try:
            self.complete = os.stat(self._final).st_ino == os.fstat(self._fd).st_ino
        except OSError:
            self.complete = False
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class TranscodeCache:
    """The transcode cache at `root`, bounded to `max_bytes` (0 disables it)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    def _paths(self, key: str, suffix: str) -> tuple[Path, Path, Path]:
        folder = self.root / key[:2]
        return folder / f"{key}.{suffix}", folder / f".{key}.part", folder / f".{key}.lock"

    def lookup(self, key: str, suffix: str) -> Path | None:
        """The finished entry, or None. A hit counts as a use for prune."""
        final, _, _ = self._paths(key, suffix)
        try:
            st = final.stat()
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None
        disk.mark_used(final, st)
        return final

    def produce(self, key: str, suffix: str) -> Producer | None:
        """Become the producer of `key`, or None when another request already is (or the
        entry got finished meanwhile: check `lookup` again)."""
        final, part, lock = self._paths(key, suffix)
        final.parent.mkdir(parents=True, exist_ok=True)
        fd = _lock(lock)
        if fd is None:
            return None
        if final.exists():
            os.close(fd)
            return None
        return Producer(final, part, fd)

    def follow(self, key: str, suffix: str) -> Follower | None:
        """Follow the entry being produced, or None when there is no partial entry."""
        _, part, lock = self._paths(key, suffix)
        try:
            fd = os.open(part, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        return Follower(fd, lock, self._paths(key, suffix)[0])

    def prune(self) -> int:
        """Delete least recently used finished entries until the cache fits `max_bytes`;
        entries being written are never counted or removed."""

        def remove(path: Path) -> bool:
            key = path.name.split(".", 1)[0]
            lock = path.parent / f".{key}.lock"
            fd = _lock(lock)
            if fd is None:
                return False
            try:
                path.unlink(missing_ok=True)
                lock.unlink(missing_ok=True)
            finally:
                os.close(fd)
            return True

        def stale(path: Path) -> bool:
            """A `.part` nobody writes any more (its producer's process died: the flock is
            free) or an old temporary file."""
            if path.name.endswith(".part") and disk.is_stale(path, 60):
                fd = _lock(path.with_name(path.name[:-5] + ".lock"))
                if fd is not None:
                    os.close(fd)
                    return True
            return path.name.startswith(".tmp-") and disk.is_stale(path)

        if not self.root.exists():
            return 0
        return disk.prune(self.root, self.max_bytes, remove=remove, stale=stale)
