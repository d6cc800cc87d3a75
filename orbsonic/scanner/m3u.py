"""Import `.m3u`/`.m3u8` playlist files found in the music folders, at the end of a scan.

    m3u.import_playlists(conn, [(folder_id, root), ...], library_changed=report.changed)

* Each file becomes a playlist owned by the first admin, public, named after the file
  (playlists.source_folder_id/source_path remember where it came from). Name, comment and
  public may then be edited through the API; the entries follow the file.
* Lines: `#EXTM3U`, `#EXTINF:` and other `#` directives are skipped (the title comes from
  the track); every other line is a location: relative to the file's folder or absolute
  (inside any music folder), `file://` URLs, Windows `\\` separators. UTF-8 (with or without
  BOM) is tried first, Latin-1 (any byte decodes) otherwise — also for `.m3u8`.
* A file is read again when its size or mtime changed, and every file is re-resolved when
  the scan changed the library (a track that appeared, moved or left). A location that no
  longer resolves keeps the track its entry had (`playlist_entries.source`): the scanner
  keeps a moved file's track id, so a playlist written before a move still plays.
* A location that names no track is skipped and logged; a file that cannot be read is
  logged. Nothing here fails a scan: each file is imported under its own savepoint.
* Files that vanish leave their playlist in place (an unmounted disk must not delete them).
* An `s3://` folder's playlist files are listed and read through its storage (size and
  ETag-derived mtime as for audio); the store being down changes nothing.
"""

from __future__ import annotations

import functools
import logging
import os
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

import psycopg

from orbsonic.library import tracks
from orbsonic.library.playlists import GAP
from orbsonic.storage.s3 import StorageUnavailable, is_s3

log = logging.getLogger("orbsonic.scanner")

SUFFIXES = (".m3u", ".m3u8")
MAX_BYTES = 16 * 1024 * 1024  # a playlist file larger than this is not a playlist


@dataclass
class ImportReport:
    """What an import did: playlists created or whose entries changed, entries skipped."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    missing_entries: int = 0
    failed: list[str] = field(default_factory=list)


def decode(data: bytes) -> str:
    """Text of a playlist file: UTF-8 (BOM dropped), else Latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def locations(text: str) -> list[str]:
    """The entry locations of an m3u text, in order (directives and blank lines skipped)."""
    out = []
    for raw in text.splitlines():
        line = raw.strip().replace("\x00", "")
        if line and not line.startswith("#"):
            out.append(line)
    return out


def _local_path(location: str, base: str) -> str | None:
    """Absolute, normalised local path of a location, or None for a remote URL."""
    if "://" in location:
        url = urlparse(location)
        if url.scheme != "file":
            return None
        location = unquote(url.path)
    elif "\\" in location and "/" not in location:  # written on Windows: ..\Artist\01.mp3
        location = location.replace("\\", "/")
    if len(location) > 2 and location[1] == ":" and location[0].isalpha():  # C:/… names nothing here
        return None
    return os.path.normpath(location if os.path.isabs(location) else os.path.join(base, location))


def _in_folder(path: str, roots: Sequence[tuple[int, str]]) -> tuple[int, str] | None:
    """(folder id, path relative to it) of an absolute path inside a music folder."""
    for folder_id, root in roots:
        if path.startswith(root.rstrip("/") + "/"):
            return folder_id, path[len(root.rstrip("/")) + 1 :]
    return None


@dataclass(frozen=True)
class PlaylistFile:
    """A playlist file found in a music folder: `path` (absolute, or `s3:/bucket/prefix/key`
    for an S3 folder: the form `import_playlists` resolves relative entries against), `rel`
    (relative to the folder), `size` in bytes, `mtime_ns` (an S3 object's LastModified with its
    ETag folded in, orbsonic.storage.s3), and `opener` that opens its bytes."""

    path: str
    rel: str
    size: int
    mtime_ns: int
    opener: Callable[[], BinaryIO]

    def read(self, limit: int) -> bytes:
        """The file's bytes. Raises ValueError above `limit`, NotFound / OSError when it is gone."""
        if self.size > limit:
            raise ValueError(f"larger than {limit} bytes")
        with self.opener() as fh:
            return fh.read(limit + 1)[:limit]


def found_or_walk(found: Mapping[int, Sequence[str]] | None, folder_id: int, root: str,
                  suffixes: tuple[str, ...]) -> Iterable[PlaylistFile]:
    """The playlist files of one folder: from `found` (absolute local paths the scan's walk
    noted: a second walk of 1M files costs seconds) when it lists the folder, else from
    `_playlist_files` (which also lists S3 folders). A noted file gone since is skipped."""
    if found is None or folder_id not in found:
        yield from _playlist_files(root, suffixes)
        return
    for path in sorted(p for p in found[folder_id] if p.lower().endswith(suffixes)):
        try:
            st = os.stat(path)
        except OSError:
            continue
        rel = os.path.relpath(path, root).replace(os.sep, "/")
        yield PlaylistFile(path, rel, st.st_size, st.st_mtime_ns, functools.partial(open, path, "rb"))


def _playlist_files(root: str, suffixes: tuple[str, ...] = SUFFIXES) -> Iterator[PlaylistFile]:
    """Playlist files (`suffixes`; orbsonic/scanner/nsp.py asks for .nsp) below a music folder
    (a directory or `s3://bucket/prefix`), hidden entries skipped, in a stable order. Locally,
    directory symlinks are followed as the scanner's walk does, with a (device, inode) guard
    against loops; unreadable directories are skipped. An S3 folder is listed through its
    storage; StorageUnavailable escapes (the caller skips the folder, nothing removed)."""
    if is_s3(root):
        yield from _s3_playlist_files(root, suffixes)
        return
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        path = stack.pop()
        try:
            st = os.stat(path)
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError as exc:
            log.debug("playlist search: cannot read %s: %s", path, exc)
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    subdirs.append(entry.path)
                elif entry.name.lower().endswith(suffixes) and entry.is_file():
                    fst = entry.stat()
                    rel = os.path.relpath(entry.path, root).replace(os.sep, "/")
                    yield PlaylistFile(entry.path, rel, fst.st_size, fst.st_mtime_ns,
                                       functools.partial(open, entry.path, "rb"))
            except OSError:
                continue
        stack.extend(reversed(subdirs))


def _s3_playlist_files(url: str, suffixes: tuple[str, ...]) -> Iterator[PlaylistFile]:
    from orbsonic.storage import s3

    storage = s3.folder_storage(url)
    found = [obj for obj in storage.walk()
             if obj.key.lower().endswith(suffixes)
             and not any(p.startswith(".") or not p for p in obj.key.split("/"))]
    base = os.path.normpath(url)
    for obj in sorted(found, key=lambda o: o.key):
        yield PlaylistFile(f"{base}/{obj.key}", obj.key, obj.size, obj.mtime_ns,
                           functools.partial(storage.open, obj.key))


def source_of(root: str, folders: Sequence[tuple[int, Path | str]], folder_id: int) -> str:
    """The music folder to list for `folder_id`: the s3:// URL as configured (`root` is its
    normalised form), else the local `root`."""
    original = str(dict(folders)[folder_id])
    return original if is_s3(original) else root


def _resolve(conn: psycopg.Connection, wanted: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
    """Track ids of (folder id, relative path) pairs, trying NFC and NFD spellings too (a
    playlist written on macOS spells accents decomposed)."""
    keys: dict[tuple[int, str], tuple[int, str]] = {}
    for folder_id, rel in wanted:
        for form in (rel, unicodedata.normalize("NFC", rel), unicodedata.normalize("NFD", rel)):
            keys.setdefault((folder_id, form), (folder_id, rel))
    if not keys:
        return {}
    cur = conn.execute(
        """SELECT t.folder_id, t.path, t.id FROM tracks t
             JOIN unnest(%s::integer[], %s::text[]) AS w(folder_id, path)
               ON t.folder_id = w.folder_id AND t.path = w.path""",
        ([k[0] for k in keys], [k[1] for k in keys]),
    )
    found: dict[tuple[int, str], int] = {}
    for folder_id, path, track_id in cur.fetchall():
        found.setdefault(keys[(folder_id, path)], track_id)
    return found


def _import_file(
    conn: psycopg.Connection,
    owner_id: int,
    folder_id: int,
    pf: PlaylistFile,
    roots: Sequence[tuple[int, str]],
    existing: dict[str, tuple[int, int, int]],
    library_changed: bool,
    report: ImportReport,
) -> None:
    rel, path, st = pf.rel, pf.path, pf
    known = existing.get(rel)
    file_changed = known is None or known[1:] != (st.size, st.mtime_ns)
    if not file_changed and not library_changed:
        report.unchanged += 1
        return
    text = decode(pf.read(MAX_BYTES))
    base = os.path.dirname(path)
    entries: list[tuple[str, tuple[int, str] | None]] = []
    for location in locations(text):
        local = _local_path(location, base)
        where = _in_folder(local, roots) if local else None
        if where is None and local and os.path.isabs(location):  # e.g. /music → /srv/music symlink
            where = _in_folder(os.path.realpath(local), roots)
        entries.append((location, where))
    found = _resolve(conn, [e for _, e in entries if e is not None])
    previous: dict[str, int] = {}
    if known is not None:  # locations that resolved before keep their track (a moved file)
        cur = conn.execute(
            f"""SELECT e.source, e.track_id FROM playlist_entries e {tracks.probe("e.track_id")}
                WHERE e.playlist_id = %s AND e.source IS NOT NULL""",
            (known[0],),
        )
        previous = dict(cur.fetchall())
    rows: list[tuple[int, str]] = []
    for location, where in entries:
        track_id = found.get(where) if where else None
        if track_id is None:
            track_id = previous.get(location)
        if track_id is None:
            report.missing_entries += 1
            log.warning("playlist %s: entry %r is not in the library, skipped", path, location)
            continue
        rows.append((track_id, location))
    with conn.transaction():
        if known is None:
            cur = conn.execute(
                """INSERT INTO playlists (owner_id, name, public, source_folder_id, source_path, source_size,
                                          source_mtime_ns, comment)
                   VALUES (%s, %s, true, %s, %s, %s, %s, '') RETURNING id""",
                (owner_id, Path(rel).stem, folder_id, rel, st.size, st.mtime_ns),
            )
            row = cur.fetchone()
            assert row is not None
            playlist_id = row[0]
            report.imported += 1
        else:
            playlist_id = known[0]
            conn.execute(
                "UPDATE playlists SET source_size = %s, source_mtime_ns = %s WHERE id = %s",
                (st.size, st.mtime_ns, playlist_id),
            )
            # Compared with what the file gave last time (the entries with a source), so that a
            # rescan does not undo entries appended through the API while the file is unchanged.
            cur = conn.execute(
                "SELECT track_id, source FROM playlist_entries WHERE playlist_id = %s AND source IS NOT NULL"
                " ORDER BY position",
                (playlist_id,),
            )
            if [tuple(r) for r in cur.fetchall()] == rows and not file_changed:
                report.unchanged += 1
                return
            report.updated += 1
            conn.execute("DELETE FROM playlist_entries WHERE playlist_id = %s", (playlist_id,))
            conn.execute("UPDATE playlists SET changed_at = now() WHERE id = %s", (playlist_id,))
        with (
            conn.cursor() as cur,
            cur.copy("COPY playlist_entries (playlist_id, position, track_id, source) FROM STDIN") as copy,
        ):
            for n, (track_id, location) in enumerate(rows, 1):
                copy.write_row((playlist_id, n * GAP, track_id, location))


def import_playlists(
    conn: psycopg.Connection, folders: Sequence[tuple[int, Path | str]], *, library_changed: bool,
    found: Mapping[int, Sequence[str]] | None = None,
) -> ImportReport:
    """Import or refresh the playlist files of these music folders (see the module doc).
    `found`: folder id → absolute paths of its playlist files, as the scan's walk noted them
    (walk.playlist_paths; other suffixes are ignored); folders not in it are listed here.
    Runs inside the scan's transaction, each file under a savepoint; never raises for a
    bad file. Without an admin user yet (a first scan before the first start), it waits for
    the next scan."""
    report = ImportReport()
    cur = conn.execute("SELECT id FROM users WHERE is_admin ORDER BY id LIMIT 1")
    row = cur.fetchone()
    if row is None:
        log.info("playlist files are imported once an admin user exists")
        return report
    owner_id = row[0]
    roots = [(fid, os.path.normpath(str(root))) for fid, root in folders]
    for folder_id, root in roots:
        cur = conn.execute(
            """SELECT source_path, id, source_size, source_mtime_ns FROM playlists
                               WHERE source_folder_id = %s""",
            (folder_id,),
        )
        existing = {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
        try:
            for pf in found_or_walk(found, folder_id, source_of(root, folders, folder_id), SUFFIXES):
                try:
                    with conn.transaction():
                        _import_file(conn, owner_id, folder_id, pf, roots, existing, library_changed, report)
                except Exception as exc:  # noqa: BLE001  (one bad playlist file never fails a scan)
                    report.failed.append(f"{pf.path}: {exc}")
                    log.warning("cannot import playlist %s: %s", pf.path, exc)
        except StorageUnavailable as exc:  # the listing failed: nothing changes this time
            report.failed.append(f"{root}: {exc.reason}")
            log.warning("playlist files of %s: cannot be listed (%s)", root, exc.reason)
    if report.imported or report.updated or report.failed:
        log.info(
            "playlists: %d imported, %d updated, %d unchanged, %d missing entries skipped, %d failed",
            report.imported,
            report.updated,
            report.unchanged,
            report.missing_entries,
            len(report.failed),
        )
    return report
