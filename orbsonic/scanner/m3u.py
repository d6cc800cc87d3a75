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
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import psycopg

from orbsonic.library.playlists import GAP

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


def found_or_walk(found: Mapping[int, Sequence[str]] | None, folder_id: int, root: str,
                  suffixes: tuple[str, ...]) -> Iterable[str]:
    """The playlist files of one folder: from `found` when the scan's walk listed them (a
    second walk of 1M files costs seconds), else from `_playlist_files`."""
    if found is not None and folder_id in found:
        return [p for p in found[folder_id] if p.lower().endswith(suffixes)]
    return _playlist_files(root, suffixes)


def _playlist_files(root: str, suffixes: tuple[str, ...] = SUFFIXES) -> Iterator[str]:
    """Playlist files (`suffixes`; orbsonic/scanner/nsp.py asks for .nsp) below a music folder, hidden entries skipped, in a stable order.
    Directory symlinks are followed as the scanner's walk does, with a (device, inode) guard
    against loops; unreadable directories are skipped."""
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
                    yield entry.path
            except OSError:
                continue
        stack.extend(reversed(subdirs))


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
    root: str,
    path: str,
    roots: Sequence[tuple[int, str]],
    existing: dict[str, tuple[int, int, int]],
    library_changed: bool,
    report: ImportReport,
) -> None:
    rel = os.path.relpath(path, root).replace(os.sep, "/")
    st = os.stat(path)
    known = existing.get(rel)
    file_changed = known is None or known[1:] != (st.st_size, st.st_mtime_ns)
    if not file_changed and not library_changed:
        report.unchanged += 1
        return
    if st.st_size > MAX_BYTES:
        raise ValueError(f"larger than {MAX_BYTES} bytes")
    with open(path, "rb") as fh:
        text = decode(fh.read())
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
            """SELECT e.source, e.track_id FROM playlist_entries e JOIN tracks t ON t.id = e.track_id
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
                (owner_id, Path(rel).stem, folder_id, rel, st.st_size, st.st_mtime_ns),
            )
            row = cur.fetchone()
            assert row is not None
            playlist_id = row[0]
            report.imported += 1
        else:
            playlist_id = known[0]
            conn.execute(
                "UPDATE playlists SET source_size = %s, source_mtime_ns = %s WHERE id = %s",
                (st.st_size, st.st_mtime_ns, playlist_id),
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
    conn: psycopg.Connection, folders: Sequence[tuple[int, Path]], *, library_changed: bool,
    found: Mapping[int, Sequence[str]] | None = None,
) -> ImportReport:
    """Import or refresh the playlist files of these music folders (see the module doc).
    `found`: folder id → absolute paths of its playlist files, as the scan's walk noted them
    (walk.playlist_paths; other suffixes are ignored); folders not in it are searched here.
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
        for path in found_or_walk(found, folder_id, root, SUFFIXES):
            try:
                with conn.transaction():
                    _import_file(
                        conn, owner_id, folder_id, root, path, roots, existing, library_changed, report
                    )
            except Exception as exc:  # noqa: BLE001  (one bad playlist file never fails a scan)
                report.failed.append(f"{path}: {exc}")
                log.warning("cannot import playlist %s: %s", path, exc)
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
