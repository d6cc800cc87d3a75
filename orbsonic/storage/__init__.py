"""Where media bytes live: the `Storage` protocol, local folders and S3 prefixes.

Every byte path (stream, download, covers, cached transcodes) opens files through a
Storage, so that the rules — stay inside the music folder, a regular file only — hold in
one place (docs/architecture.md, "file access").
"""

from __future__ import annotations

from orbsonic.storage.base import ObjectInfo, Storage, StoredFile
from orbsonic.storage.local import LocalStorage, folder_storage
from orbsonic.storage.s3 import S3Storage, StorageUnavailable, is_s3


def storage_for(root: str, outside_roots: tuple[str, ...] = ()) -> LocalStorage | S3Storage:
    """The Storage of a music folder as music_folders.path spells it: `s3://bucket/prefix`
    (orbsonic.storage.s3, this process's S3 settings) or a local directory (with the
    `allowed_outside_roots` it may link into)."""
    if is_s3(root):
        from orbsonic.storage import s3

        return s3.folder_storage(root)
    return folder_storage(root, outside_roots)


def pass_fds(fh: StoredFile) -> tuple[int, ...]:
    """The descriptors a child process (ffmpeg) needs to open `fh.local_path`: the local
    file's own (`/proc/self/fd/N`), none for an S3 object (its local_path is a presigned URL)."""
    return () if is_remote(fh.local_path) else (fh.fileno(),)


def is_remote(path: str | None) -> bool:
    """True when a local_path is a URL (an S3 object's presigned URL), not a file path."""
    return (path or "").startswith(("http://", "https://"))


__all__ = ["LocalStorage", "ObjectInfo", "S3Storage", "Storage", "StorageUnavailable", "StoredFile",
           "folder_storage", "is_remote", "is_s3", "pass_fds",
           "storage_for"]
