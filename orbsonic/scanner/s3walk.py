"""Walk an S3 music folder (`s3://bucket/prefix`): the listing as the local walk's files and dirs.

One LIST request per 1,000 objects and no other request: an object's size and its
`mtime_ns` (LastModified in whole seconds, with the ETag folded into the nanoseconds:
orbsonic.storage.s3) are what the scanner's diff compares, as it compares a local file's
stat. Directories are the '/'-separated prefixes of the keys; a directory's mtime is that
of its newest object. Hidden names (".*") are skipped as on disk; lyrics sidecars (.lrc,
.txt) are noted per directory with their size and mtime, as the local walk does.

The listing is all or nothing for the caller: `StorageUnavailable` escapes (store down,
missing bucket, refused keys), even part-way through, and the scanner then removes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from orbsonic.scanner.images import AUDIO_SUFFIXES, IMAGE_SUFFIXES, cover_names, find_folder_image
from orbsonic.scanner.lyrics import SIDECAR_SUFFIXES
from orbsonic.scanner.walk import WalkedDir, WalkedFile, WalkStats, suffix_of
from orbsonic.storage import s3

log = logging.getLogger("orbsonic.scanner")


def _dir(dirs: dict[str, WalkedDir], path: str, stats: WalkStats) -> WalkedDir:
    """The node of `path`, created with its parents."""
    node = dirs.get(path)
    if node is None:
        if path:
            _dir(dirs, path.rpartition("/")[0], stats)
        node = dirs[path] = WalkedDir(path, 0)
        stats.dirs += 1
    return node


def walk_s3(url: str, dirs_out: dict[str, WalkedDir], stats: WalkStats) -> Iterator[WalkedFile]:
    """Yield every audio object below the S3 folder `url` as a WalkedFile (key relative to the
    folder); fill `dirs_out` like orbsonic.scanner.walk.walk (images chosen once the listing
    is complete). Raises StorageUnavailable."""
    storage = s3.folder_storage(url)
    storage.check()  # a missing bucket is an error, never an empty folder
    _dir(dirs_out, "", stats)
    images: dict[str, list[tuple[str, int]]] = {}
    for obj in storage.walk():
        parts = obj.key.split("/")
        if any(p.startswith(".") or not p for p in parts):
            continue
        rel_dir, name = obj.key.rpartition("/")[0], parts[-1]
        suffix = suffix_of(name)
        if suffix in AUDIO_SUFFIXES:
            node = _dir(dirs_out, rel_dir, stats)
            node.has_audio = True
            node.mtime_ns = max(node.mtime_ns, obj.mtime_ns)
            stats.files += 1
            yield WalkedFile(obj.key, rel_dir, obj.size, obj.mtime_ns)
        elif suffix in IMAGE_SUFFIXES:
            images.setdefault(rel_dir, []).append((name, obj.mtime_ns // 1_000_000_000))
        elif suffix in SIDECAR_SUFFIXES:  # matched to the audio files by the scanner
            _dir(dirs_out, rel_dir, stats).sidecars.append((name, obj.size, obj.mtime_ns))
        else:
            stats.skipped += 1
    names = cover_names()
    for rel_dir, found in images.items():
        node = dirs_out.get(rel_dir)
        if node is None:
            continue
        mtimes = dict(found)
        best = find_folder_image(mtimes, rel_dir.rpartition("/")[2], names)
        if best is not None:
            node.image, node.image_mtime = best, mtimes[best]
