"""The storage seam: objects addressed by (storage, key), read by byte range.

A key is a '/'-separated path relative to the storage root (a music folder today, an S3
prefix later). Implementations raise `orbsonic.errors.NotFound` for a key that names no
readable regular object — missing, a directory or FIFO, or (locally) a file whose real
path leaves the storage root — so that callers answer "not found" (Subsonic 70) and
never 500.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a storage knows of one object: `key`, `size` in bytes, `mtime_ns` (ns since the
    epoch). `etag` is a strong validator (quoted, RFC 9110 §8.8.3) that changes when the
    size or mtime does."""

    key: str
    size: int
    mtime_ns: int

    @property
    def etag(self) -> str:
        digest = hashlib.md5(f"{self.mtime_ns}-{self.size}".encode(), usedforsecurity=False).hexdigest()
        return f'"{digest}"'

    @property
    def mtime(self) -> float:
        """mtime in seconds (float)."""
        return self.mtime_ns / 1e9


@runtime_checkable
class StoredFile(Protocol):
    """An opened object: a seekable binary file whose `info` describes exactly the bytes
    it reads (stat and reads come from the same handle: no check-then-use race).

    `local_path` is a path another reader (ffmpeg, mutagen) may open to get these same
    bytes — `/proc/self/fd/N` for local files — or None when the object is remote."""

    info: ObjectInfo

    @property
    def local_path(self) -> str | None: ...

    def read(self, n: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = 0, /) -> int: ...

    def fileno(self) -> int: ...

    def close(self) -> None: ...


class Storage(Protocol):
    """A place that holds media objects (docs/architecture.md: `local.py`, later `s3.py`)."""

    def stat(self, key: str) -> ObjectInfo:
        """Size and mtime of `key`. Raises NotFound."""
        ...

    def open(self, key: str) -> StoredFile:
        """Open `key` for reading (seekable, binary). Raises NotFound. The caller closes it."""
        ...

    def open_range(self, key: str, start: int, end: int, chunk: int = 256 * 1024) -> Iterator[bytes]:
        """Bytes [start, end) of `key` in chunks of at most `chunk` bytes. Raises NotFound."""
        ...

    def walk(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object below `prefix`, in no particular order (links that leave the root
        are not followed)."""
        ...

    def names(self, prefix: str = "") -> list[str]:
        """Names of the objects directly below `prefix` (not recursive). Raises NotFound
        (local: no such directory) or StorageUnavailable (S3)."""
        ...

    def put(self, key: str, data: bytes | BinaryIO) -> ObjectInfo:
        """Store `data` under `key` atomically (readers see the old object or the whole new
        one, never a part)."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; a missing key is not an error."""
        ...
