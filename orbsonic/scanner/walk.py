"""Walk a music folder: audio files with size and mtime, and the folders that hold them.

One `os.scandir` per directory and one stat per file: a no-change rescan costs little
more than this walk. Lyrics sidecars (.lrc, .txt) are noted per directory with their size
and mtime, so a changed sidecar is noticed without opening it. Hidden entries (".*") are
skipped. Symlinks are followed only when their real path stays inside the music folder (or
inside one of the configured `allowed_outside_roots`): a link to /etc/passwd named like a
track or a cover is never indexed (issue 6 §2; the storage layer refuses to serve such files
too). Directory symlinks are followed with a (device, inode) guard against loops.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from orbsonic.scanner.images import AUDIO_SUFFIXES, IMAGE_SUFFIXES, cover_names, find_folder_image
from orbsonic.scanner.lyrics import SIDECAR_SUFFIXES

log = logging.getLogger("orbsonic.scanner")
PLAYLIST_SUFFIXES = frozenset(("m3u", "m3u8", "nsp"))  # orbsonic.scanner.m3u, orbsonic.scanner.nsp


@dataclass(slots=True)
class WalkedFile:
    """An audio file: path relative to the music folder ('/'-separated), bytes, mtime in ns."""

    path: str
    dir_path: str
    size: int
    mtime_ns: int


@dataclass(slots=True)
class WalkedDir:
    """A directory seen by the walk; `image` is the chosen folder image name, if any."""

    path: str
    mtime_ns: int
    image: str | None = None
    image_mtime: int | None = None  # seconds
    has_audio: bool = False
    # Lyrics sidecars (.lrc, .txt): (name, bytes, mtime_ns), matched to tracks by the scanner.
    sidecars: list[tuple[str, int, int]] = field(default_factory=list)
    # Playlist files (.m3u, .m3u8, .nsp) by name, so the playlist imports need no walk of their own.
    playlists: list[str] = field(default_factory=list)


@dataclass(slots=True)
class WalkStats:
    files: int = 0
    skipped: int = 0
    dirs: int = 0
    errors: list[str] = field(default_factory=list)
    # Relative paths of the directories and files that could not be read: what the library
    # holds at or below them must not be taken for deleted.
    unreadable: list[str] = field(default_factory=list)


def suffix_of(name: str) -> str:
    dot = name.rfind(".")
    return name[dot + 1:].lower() if dot > 0 else ""


def _outside_roots() -> tuple[str, ...]:
    """The `allowed_outside_roots` setting of this process (the scan child inherits the
    server's environment and config file)."""
    from orbsonic.config import load_settings
    from orbsonic.errors import ConfigError

    try:
        return load_settings().outside_roots
    except ConfigError:
        return ()


def walk(root: str, dirs_out: dict[str, WalkedDir], stats: WalkStats,
         allowed_outside: Sequence[str] | None = None) -> Iterator[WalkedFile]:
    """Yield every audio file below `root` (see `walk_dirs`, which this flattens)."""
    for rel, files in walk_dirs(root, dirs_out, stats, allowed_outside):
        prefix = f"{rel}/" if rel else ""
        for name, size, mtime_ns in files:
            yield WalkedFile(prefix + name, rel, size, mtime_ns)


def walk_dirs(root: str, dirs_out: dict[str, WalkedDir], stats: WalkStats,
              allowed_outside: Sequence[str] | None = None) -> Iterator[tuple[str, list[tuple[str, int, int]]]]:
    """Yield (relative directory path, [(file name, bytes, mtime ns), ...]) for every directory
    below `root` that holds audio files directly; fill `dirs_out` with every directory walked
    (has_audio set on those holding audio directly). A directory is listed completely before
    it is yielded, so its entry in `dirs_out` (image, sidecars) is final. Unreadable
    directories are logged and counted in stats.errors, never raised. Links whose target
    leaves `root` and `allowed_outside` (default: the setting) are skipped.

    Plain tuples per directory, not an object per file: at 1M files the no-change rescan is
    this loop (issue 12), so it does one stat per audio file and as little else as it can."""
    from orbsonic.storage.local import is_inside, real_roots

    roots = real_roots(root, _outside_roots() if allowed_outside is None else allowed_outside)
    names = cover_names()
    seen_inodes: set[tuple[int, int]] = set()
    audio_suffixes, image_suffixes, sidecar_suffixes = AUDIO_SUFFIXES, IMAGE_SUFFIXES, SIDECAR_SUFFIXES
    stack = [""]
    while stack:
        rel = stack.pop()
        full = os.path.join(root, rel) if rel else root
        try:
            st = os.stat(full)
            key = (st.st_dev, st.st_ino)
            if key in seen_inodes:
                continue
            seen_inodes.add(key)
            entries = list(os.scandir(full))
        except OSError as exc:
            stats.errors.append(f"{full}: {exc.strerror or exc}")
            stats.unreadable.append(rel)
            log.warning("cannot read directory %s: %s", full, exc)
            continue
        stats.dirs += 1
        node = WalkedDir(rel, st.st_mtime_ns)
        dirs_out[rel] = node
        images: dict[str, os.DirEntry[str]] = {}
        subdirs: list[str] = []
        files: list[tuple[str, int, int]] = []
        for entry in entries:
            name = entry.name
            if name[0] == ".":
                continue
            try:
                if entry.is_symlink() and not is_inside(os.path.realpath(entry.path), roots):
                    stats.skipped += 1
                    log.warning("skipped %s: a link to a file outside the music folder", entry.path)
                    continue
                if entry.is_dir():
                    subdirs.append(f"{rel}/{name}" if rel else name)
                    continue
                if not entry.is_file():
                    continue
                dot = name.rfind(".")
                suffix = name[dot + 1:].lower() if dot > 0 else ""
                if suffix in audio_suffixes:
                    fst = entry.stat()
                    files.append((name, fst.st_size, fst.st_mtime_ns))
                elif suffix in image_suffixes:
                    images[name] = entry
                elif suffix in sidecar_suffixes:
                    sst = entry.stat()
                    node.sidecars.append((name, sst.st_size, sst.st_mtime_ns))
                else:
                    if suffix in PLAYLIST_SUFFIXES:
                        node.playlists.append(name)
                    stats.skipped += 1
                    log.debug("skipped %s: not an audio file extension", os.path.join(full, name))
            except OSError as exc:
                stats.errors.append(f"{os.path.join(full, name)}: {exc.strerror or exc}")
                stats.unreadable.append(f"{rel}/{name}" if rel else name)
                log.warning("cannot stat %s: %s", os.path.join(full, name), exc)
        if images:
            best = find_folder_image(images, os.path.basename(full), names)
            if best is not None:
                try:
                    node.image, node.image_mtime = best, int(images[best].stat().st_mtime)
                except OSError:
                    pass
        stack.extend(sorted(subdirs, reverse=True))
        if files:
            node.has_audio = True
            stats.files += len(files)
            yield rel, files


def playlist_paths(root: str, dirs: dict[str, WalkedDir]) -> list[str]:
    """Absolute paths of the playlist files the walk noted, in walk order (a directory's
    files by name before its subdirectories), like m3u._playlist_files finds them."""
    return [os.path.join(root, rel, name) if rel else os.path.join(root, name)
            for rel, node in dirs.items() for name in sorted(node.playlists)]


def music_dirs(dirs: dict[str, WalkedDir]) -> dict[str, WalkedDir]:
    """The walked directories that have audio somewhere below them (plus the root, '')."""
    keep: dict[str, WalkedDir] = {}
    for path, node in dirs.items():
        if not node.has_audio:
            continue
        p = path
        while p not in keep:
            if p in dirs:
                keep[p] = dirs[p]
            if not p:
                break
            p = p.rpartition("/")[0]
    if "" in dirs:
        keep.setdefault("", dirs[""])
    return keep
