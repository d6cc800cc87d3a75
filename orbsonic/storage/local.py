"""Local folders as a Storage: keys are paths relative to the folder.

Security rule (issue 6 §2): only files whose *real* path is inside the folder (or inside
one of the configured `allowed_outside_roots`) are served. A track or `cover.jpg` that a
user replaced by a symlink to `/etc/passwd` names nothing. The check is made on the file
descriptor actually opened (its `/proc/self/fd` link), not on the path before opening,
so a link swapped in between the check and the open cannot slip through. Files are
opened with O_NONBLOCK so that a FIFO put where a track was never hangs the request.
`open_cached` makes the same open without any chance of waiting for the disk (openat2
RESOLVE_CACHED), so that streams can open on the event loop (`open_soon`).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import io
import logging
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import anyio

from orbsonic.errors import NotFound
from orbsonic.storage.base import ObjectInfo

log = logging.getLogger("orbsonic.storage")
_PROC_FD = "/proc/self/fd"
_HAVE_PROC = os.path.isdir(_PROC_FD)
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


class _OpenHow(ctypes.Structure):
    """struct open_how of openat2(2): flags, mode, resolve (each __u64)."""

    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_SYS_OPENAT2 = 437  # the same number on every Linux architecture (5.6+)
_AT_FDCWD = -100
_RESOLVE_CACHED = 0x20  # Linux 5.12+: fail with EAGAIN unless the whole lookup is in the dcache


def _openat2_syscall() -> object | None:
    if not sys.platform.startswith("linux") or not _HAVE_PROC:
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_long
    fn.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.POINTER(_OpenHow), ctypes.c_size_t]
    return fn


# openat2(RESOLVE_CACHED) or None (not Linux, no /proc, or the kernel refused the flag once).
# Tests set it to None to force the thread path.
CACHED_OPEN = _openat2_syscall()


def is_inside(real: str, roots: Iterable[str]) -> bool:
    """True when the real (resolved) path `real` is one of `roots` or below one of them.
    `roots` must be real paths too."""
    return any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots)


def real_roots(root: str | os.PathLike[str],
               outside: Iterable[str | os.PathLike[str]] = ()) -> tuple[str, ...]:
    """The real paths of a folder and of the extra roots it may link into."""
    return tuple(dict.fromkeys(os.path.realpath(p) for p in (root, *outside)))


class LocalFile(io.FileIO):
    """An opened local file (`io.FileIO`) with the `ObjectInfo` of the opened descriptor."""

    info: ObjectInfo

    @property
    def local_path(self) -> str:
        """A path that opens this very file again, in this process or in a child that
        inherits the descriptor (subprocess `pass_fds`): `/proc/self/fd/N` on Linux."""
        return f"{_PROC_FD}/{self.fileno()}" if _HAVE_PROC else self.name_real

    name_real: str = ""
    dev: int = -1  # st_dev of the opened file: which file system it is on (-1: unknown)


class LocalStorage:
    """A music folder (or a cache directory) on the local file system.

    `root` is the folder; `allowed_outside_roots` are other directories that symlinks inside
    it may point into (setting `allowed_outside_roots`). Thread-safe (no mutable state)."""

    def __init__(self, root: str | os.PathLike[str],
                 allowed_outside_roots: Iterable[str | os.PathLike[str]] = ()) -> None:
        self.root = os.fspath(root)
        self.roots = real_roots(self.root, allowed_outside_roots)

    def __repr__(self) -> str:
        return f"LocalStorage({self.root!r})"

    # ------------------------------------------------------------ paths

    def path_of(self, key: str) -> str:
        """The file-system path of `key` (lexically checked: relative, no "..", no NUL).
        Raises NotFound. The real-path check happens when the file is opened."""
        if not key or "\x00" in key or key.startswith("/") or ".." in key.split("/") or os.path.isabs(key):
            raise NotFound("file", key)
        return os.path.join(self.root, key)

    def allows(self, real: str) -> bool:
        """True when the real path `real` may be served from this storage."""
        return is_inside(real, self.roots)

    # ------------------------------------------------------------ reading

    def open(self, key: str) -> LocalFile:
        """Open `key`: a regular file whose real path is inside the allowed roots.
        Raises NotFound for anything else (missing, directory, FIFO, link leaving the folder)."""
        return self._open_path(self.path_of(key), key)

    def open_cached(self, key: str) -> LocalFile | None:
        """`open(key)` when it cannot block: every path component in the kernel's lookup
        cache (openat2 with RESOLVE_CACHED; fstat and the /proc link of an open descriptor
        need no I/O either), so it may run on the event loop and save a worker-thread hop.
        None when the kernel would have to look something up (or cannot say): call `open`
        in a thread, which gives the authoritative answer (NotFound included). Raises
        NotFound, like `open`, for a file it did open that must not be served."""
        global CACHED_OPEN
        fn = CACHED_OPEN
        if fn is None:
            return None
        path = self.path_of(key)
        how = _OpenHow(_OPEN_FLAGS, 0, _RESOLVE_CACHED)
        fd = fn(_SYS_OPENAT2, _AT_FDCWD, os.fsencode(path), ctypes.byref(how), ctypes.sizeof(how))
        if fd < 0:
            if ctypes.get_errno() in (errno.ENOSYS, errno.EINVAL, errno.EPERM, errno.E2BIG):
                CACHED_OPEN = None  # an older kernel (or a seccomp filter): threads from now on
            return None  # EAGAIN (not cached), or an error `open` will report exactly
        return self._checked(fd, path, key)

    def _open_path(self, path: str, key: str) -> LocalFile:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError:
            raise NotFound("file", key) from None
        return self._checked(fd, path, key)

    def _checked(self, fd: int, path: str, key: str) -> LocalFile:
        """The LocalFile of descriptor `fd` (opened from `path`) when it is a regular file
        inside the allowed roots; else `fd` is closed and NotFound raised."""
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):  # a folder or FIFO where the file was
                raise NotFound("file", key)
            real = _real_path_of_fd(fd) or os.path.realpath(path)
            if not self.allows(real):
                log.warning("refused %s: its real path %s is outside %s", path, real, self.root)
                raise NotFound("file", key)
            os.set_blocking(fd, True)  # O_NONBLOCK only guarded the open against FIFOs
            fh = LocalFile(fd, "rb", closefd=True)
        except BaseException:
            os.close(fd)
            raise
        fh.info = ObjectInfo(key, st.st_size, st.st_mtime_ns)
        fh.name_real = real
        fh.dev = st.st_dev
        return fh

    def stat(self, key: str) -> ObjectInfo:
        """ObjectInfo of `key` (opens it, so the same rules apply). Raises NotFound."""
        with self.open(key) as fh:
            return fh.info

    def open_range(self, key: str, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        """Bytes [start, end) of `key`, in chunks of at most `chunk` bytes. Raises NotFound
        (when the generator is first advanced)."""
        with self.open(key) as fh:
            fh.seek(start)
            left = end - start
            while left > 0:
                data = fh.read(min(chunk, left))
                if not data:
                    return
                left -= len(data)
                yield data

    def walk(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every regular file below `prefix` ('/'-separated keys). Directory links are not
        followed; file links are listed only when their target is allowed."""
        base = self.path_of(prefix) if prefix else self.root
        for dirpath, _dirs, files in os.walk(base):
            for name in files:
                path = os.path.join(dirpath, name)
                try:
                    if os.path.islink(path) and not self.allows(os.path.realpath(path)):
                        continue
                    st = os.stat(path)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    key = os.path.relpath(path, self.root).replace(os.sep, "/")
                    yield ObjectInfo(key, st.st_size, st.st_mtime_ns)

    def names(self, prefix: str = "") -> list[str]:
        """Names of the entries directly in the directory `prefix` (the root for ""): what
        `open` may then be asked for (it applies the rules). Raises NotFound."""
        try:
            return [e.name for e in os.scandir(self.path_of(prefix) if prefix else self.root)]
        except OSError:
            raise NotFound("directory", prefix) from None

    # ------------------------------------------------------------ writing

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        """Write `key` atomically (a temporary file in the same directory, then rename)."""
        path = Path(self.path_of(key))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(data, (bytes, bytearray, memoryview)):
                    out.write(data)
                else:
                    while block := data.read(1024 * 1024):
                        out.write(block)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        st = path.stat()
        return ObjectInfo(key, st.st_size, st.st_mtime_ns)

    def delete(self, key: str) -> None:
        """Remove `key`; missing is fine."""
        Path(self.path_of(key)).unlink(missing_ok=True)


def _real_path_of_fd(fd: int) -> str | None:
    """The real path of an open descriptor (Linux `/proc/self/fd`), or None elsewhere."""
    if not _HAVE_PROC:
        return None
    try:
        return os.readlink(f"{_PROC_FD}/{fd}")
    except OSError:
        return None


@functools.lru_cache(maxsize=256)
def folder_storage(root: str, allowed_outside_roots: tuple[str, ...] = ()) -> LocalStorage:
    """The (shared, immutable) LocalStorage of a music folder. Cached per process: it holds
    only the resolved roots."""
    return LocalStorage(root, allowed_outside_roots)


async def open_soon(storage: Any, key: str) -> Any:
    """`storage.open(key)` (a StoredFile): on the event loop when a local open cannot block
    (LocalStorage.open_cached: the whole lookup in the kernel's cache), else in a worker
    thread (a lookup that needs the disk, S3). Raises NotFound. Saves the thread hop (~50-100
    µs at c=1, more under load: a queue for anyio's 40 threads) on nearly every stream."""
    quick = getattr(storage, "open_cached", None)
    fh = quick(key) if quick is not None else None
    return fh if fh is not None else await anyio.to_thread.run_sync(storage.open, key)


def open_local(path: str | os.PathLike[str]) -> LocalFile:
    """Open a file the server itself wrote (a cache entry) with the same checks (regular
    file, its own real path). Raises NotFound."""
    path = os.fspath(path)
    return LocalStorage(os.path.dirname(path))._open_path(path, os.path.basename(path))
