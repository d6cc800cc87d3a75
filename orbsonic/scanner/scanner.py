"""The library scan: walk → diff → read tags of new/changed files → write → refresh.

    report = scan(conninfo, [Path("/music")], full=False, progress=callback)

* Only one scan runs at a time, across every replica: a PostgreSQL advisory lock.
* Incremental: a file whose size and mtime match the library is not opened again, unless
  its lyrics sidecars (.lrc/.txt, orbsonic.scanner.lyrics) appeared, changed or vanished.
* Moved files keep their track id (matched by an audio checksum, orbsonic.scanner.audiohash);
  directory and album stars follow renames (orbsonic.scanner.moves).
* Tags are read in worker processes (one per core) while the main process writes the
  previous batch with COPY; memory stays bounded by the batch size whatever the library
  size (the files to read stream from a server-side cursor).
* A file that cannot be read is logged with its reason and skipped; the scan goes on.
* A music folder that is missing, unreadable or empty is skipped without removing
  anything (an unmounted disk must not wipe stars, plays and playlists).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing.pool import AsyncResult, Pool
from pathlib import Path
from typing import Any

import psycopg

from orbsonic.ids import key_id
from orbsonic.library.indexing import sort_key
from orbsonic.scanner import lyrics, m3u, moves, nsp, refresh, writer
from orbsonic.scanner.model import ScanOptions, TrackInfo, UnreadableFile
from orbsonic.scanner.progress import ProgressLog
from orbsonic.scanner.rows import Batch, add_track
from orbsonic.scanner.walk import WalkedDir, WalkStats, music_dirs, playlist_paths, walk_dirs
from orbsonic.storage.s3 import StorageUnavailable, is_s3

log = logging.getLogger("orbsonic.scanner")
file_log = logging.getLogger("orbsonic.scanner.files")  # one line per file: `serve` mutes it

SCAN_LOCK_KEY = 7261002
BATCH = 1000
Progress = Callable[[str, int, int], None]  # (phase, done, total)


@dataclass
class ScanReport:
    """What a scan did. Times in seconds."""

    already_running: bool = False
    folders: int = 0
    files_seen: int = 0
    unchanged: int = 0
    read: int = 0
    added: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0
    warned: int = 0  # files read with tag warnings (each logged at DEBUG)
    seconds: float = 0.0
    skipped_files: list[tuple[str, str]] = field(default_factory=list)  # (path, reason), first 10,000
    errors: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)


def dir_id(folder_id: int, path: str) -> int:
    """Stable id of a directory (orbsonic.ids.key_id of folder and relative path)."""
    return key_id("dir", str(folder_id), path)


def _read_item(item: tuple[str, str | None], options: ScanOptions | None = None) -> TrackInfo | str:
    """Worker: one (path, lyrics sidecar signature) → TrackInfo with the sidecars' lyrics
    added after the embedded ones, or the reason the file cannot be indexed."""
    path, sig = item
    if is_s3(path):
        return _read_s3(path, options, sig)
    return _with_sidecars(_read_one(path, options), path, sig)


def _with_sidecars(info: TrackInfo | str, path: str, sig: str | None,
                   open_sidecar: Callable[[str, str], Any] | None = None) -> TrackInfo | str:
    """`info` with the lyrics of the sidecars named in `sig` added after the embedded ones
    (orbsonic.scanner.lyrics.from_sidecars; `open_sidecar` opens one, default locally)."""
    if isinstance(info, TrackInfo) and sig:
        names = [line.split("\t", 1)[0] for line in sig.split("\n")]
        entries, warnings = (lyrics.from_sidecars(path, names, open_sidecar) if open_sidecar
                             else lyrics.from_sidecars(path, names))
        info.lyrics_entries = (*info.lyrics_entries, *entries)
        info.lyrics_sig = sig
        info.warnings += warnings
    return info


def _read_one(path: str, options: ScanOptions | None = None) -> TrackInfo | str:
    """Worker: TrackInfo, or the reason the file cannot be indexed."""
    from orbsonic.scanner.tags import read_track
    try:
        return read_track(path, options)
    except UnreadableFile as exc:
        return exc.reason or "unreadable"
    except Exception as exc:  # noqa: BLE001  (one bad file never aborts a scan)
        return f"{type(exc).__name__}: {exc}"


def _read_s3(url: str, options: ScanOptions | None, sig: str | None = None) -> TrackInfo | str:
    """Worker: TrackInfo of an S3 object read through ranged GETs (orbsonic.storage.s3.S3File:
    only what mutagen asks for, with a small read-ahead) with its lyrics sidecars read through
    the same storage, or why it cannot be indexed. The store failing during a sidecar read
    fails the file (the library keeps what it had), as it does during the audio read."""
    from orbsonic.errors import NotFound
    from orbsonic.scanner.tags import read_track
    from orbsonic.storage.s3 import open_url

    def open_sidecar(audio_url: str, name: str) -> Any:
        return open_url(f"{audio_url.rpartition('/')[0]}/{name}")

    try:
        with open_url(url) as fh:
            info = read_track(url, options, fh=fh)
        return _with_sidecars(info, url, sig, open_sidecar)
    except UnreadableFile as exc:
        return exc.reason or "unreadable"
    except NotFound:
        return "object is gone"
    except StorageUnavailable as exc:
        return f"object store unavailable ({exc.reason})"
    except Exception as exc:  # noqa: BLE001  (one bad file never aborts a scan)
        return f"{type(exc).__name__}: {exc}"


def _full(root: Path | str, rel: str) -> str:
    """The path (or s3:// URL) of `rel` in the music folder `root`."""
    return f"{root}/{rel}" if is_s3(root) else str(Path(root) / rel)


def _root_name(root: Path | str) -> str:
    """The display name of a music folder: its last path segment (an S3 prefix's, or the bucket)."""
    return str(root).rstrip("/").rpartition("/")[2] if is_s3(root) else Path(root).name


class _Reader:
    """Reads tags in a process pool (or inline on one core), one batch ahead of the writer."""

    def __init__(self, workers: int, options: ScanOptions) -> None:
        self.workers = workers
        self._read = functools.partial(_read_item, options=options)
        self._pool: Pool | None = None

    def submit(self, items: list[tuple[str, str | None]]
               ) -> AsyncResult[list[TrackInfo | str]] | list[TrackInfo | str]:
        """Read (path, lyrics sidecar signature) items, inline or in the pool."""
        if self.workers <= 1:
            return [self._read(p) for p in items]
        if self._pool is None:
            ctx = multiprocessing.get_context("fork" if os.name == "posix" else "spawn")
            self._pool = ctx.Pool(self.workers)
        return self._pool.map_async(self._read, items, chunksize=max(1, len(items) // (self.workers * 4)))

    @staticmethod
    def result(job: Any) -> list[TrackInfo | str]:
        return job if isinstance(job, list) else job.get()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


def _status(conn: psycopg.Connection, **values: Any) -> None:
    sets = ", ".join(f"{k} = %({k})s" for k in values)
    conn.execute(f"UPDATE scan_status SET {sets} WHERE id = 1", values)


def options_from_settings(settings: Any) -> ScanOptions:
    """ScanOptions of orbsonic.config.Settings (tag_legacy_encoding, artist_separators,
    artist_separator_exceptions)."""
    return ScanOptions(legacy_encoding=settings.tag_legacy_encoding,
                       artist_separators=tuple(settings.artist_separators),
                       artist_exceptions=tuple(settings.artist_separator_exceptions))


def sync_folders(conn: psycopg.Connection, folders: Sequence[Path | str],
                 report: ScanReport | None = None) -> list[tuple[int, Path | str]]:
    """Make music_folders match the configured folders (when any are configured) and
    return (id, path) of the folders to scan. Folders no longer configured are removed
    with their tracks (counted in report.removed); with no configured folders, the known
    ones are scanned. S3 folders are `s3://bucket/prefix` strings (not Paths)."""
    if folders:
        wanted = [f if is_s3(f) else str(Path(f).resolve()) for f in folders]
        for path in wanted:
            name = _root_name(path) if is_s3(path) else os.path.basename(path)
            conn.execute("""INSERT INTO music_folders (name, path) VALUES (%s, %s)
                            ON CONFLICT (path) DO NOTHING""", (name or path, path))
        conn.execute("""INSERT INTO scan_touched SELECT DISTINCT t.album_id FROM tracks t
                         JOIN music_folders f ON f.id = t.folder_id WHERE NOT f.path = ANY(%s)
                        ON CONFLICT DO NOTHING""", (wanted,))
        cur = conn.execute("""DELETE FROM tracks t USING music_folders f
                               WHERE f.id = t.folder_id AND NOT f.path = ANY(%s)""", (wanted,))
        if report is not None:
            report.removed += cur.rowcount
        conn.execute("DELETE FROM music_folders WHERE NOT path = ANY(%s)", (wanted,))
    cur = conn.execute("SELECT id, path FROM music_folders ORDER BY id")
    return [(r[0], r[1] if is_s3(r[1]) else Path(r[1])) for r in cur.fetchall()]


def scan(conninfo: str, folders: Sequence[Path | str] = (), *, full: bool = False, workers: int | None = None,
         progress: Progress | None = None, options: ScanOptions | None = None) -> ScanReport:
    """Scan the music folders into the database at `conninfo`. Returns a ScanReport; when
    another scan holds the lock, returns at once with already_running=True. `options`:
    how tags are interpreted (ScanOptions.from_settings; default ScanOptions()). `progress`:
    called with (phase, done, total) as files are read; default a few INFO lines
    (scanner.progress.ProgressLog). Per file, only skipped files are logged at WARNING
    (`orbsonic.scanner.files`), tag oddities at DEBUG; the summary line counts both."""
    if progress is None:
        progress = ProgressLog()
    started = time.monotonic()
    report = ScanReport()
    with psycopg.connect(conninfo) as conn:
        cur = conn.execute("SELECT pg_try_advisory_lock(%s)", (SCAN_LOCK_KEY,))
        row = cur.fetchone()
        if not row or not row[0]:
            report.already_running = True
            return report
        conn.commit()
        reader = _Reader(workers if workers is not None else (os.cpu_count() or 1), options or ScanOptions())
        try:
            writer.setup(conn)
            _status(conn, started_at=_now(), finished_at=None, phase="walking", full_scan=full,
                    files_seen=0, files_done=0, added=0, updated=0, removed=0, skipped=0, error=None)
            targets = sync_folders(conn, folders, report)
            conn.commit()
            playlists: dict[int, list[str]] = {}  # folder id → playlist files its walk noted
            for folder_id, root in targets:
                _scan_folder(conn, reader, folder_id, root, full, report, progress, playlists)
            _status(conn, phase="finishing")
            report.removed += refresh.remove_missing(conn)
            moves.carry_directory_stars(conn)
            refresh.refresh_albums(conn)
            moves.carry_album_stars(conn)
            refresh.refresh_directories(conn)
            if report.changed:
                refresh.refresh_artists_and_genres(conn)
                refresh.mark_changed(conn)
            conn.execute("TRUNCATE scan_touched")
            # Local folders' playlist files come from their walk; S3 folders are listed there.
            m3u.import_playlists(conn, targets, library_changed=report.changed, found=playlists)
            nsp.import_smart_playlists(conn, targets, found=playlists)
            report.folders = len(targets)
            _status(conn, phase="idle", finished_at=_now(), removed=report.removed,
                    error="; ".join(report.errors)[:2000] or None)
            conn.commit()
            if report.added + report.updated + report.removed > 0:
                _analyze(conn, report)
        except BaseException as exc:
            conn.rollback()
            _status(conn, phase="idle", finished_at=_now(), error=f"{type(exc).__name__}: {exc}"[:2000])
            conn.commit()
            raise
        finally:
            reader.close()
            conn.execute("SELECT pg_advisory_unlock(%s)", (SCAN_LOCK_KEY,))
            conn.commit()
    # Loudness analysis and cover thumbnails follow every scan in the job queue (issue 8).
    from orbsonic.jobs.postscan import defer_after_scan

    defer_after_scan(conninfo)
    report.seconds = time.monotonic() - started
    log.info("scan done in %.1f s: %d files, %d read, %d added, %d updated, %d removed, %d skipped, "
             "%d with tag warnings", report.seconds, report.files_seen, report.read, report.added,
             report.updated, report.removed, report.skipped, report.warned)
    return report


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _analyze(conn: psycopg.Connection, report: ScanReport) -> None:
    """Fresh planner statistics after bulk changes (navidrome cc315dcc8: stale stats made
    paging 90× slower), and a VACUUM after large ones so index-only scans stay index-only."""
    big = report.added + report.updated + report.removed > max(1000, report.files_seen // 10)
    conn.autocommit = True
    try:
        tables = "tracks, albums, artists, track_artists, album_artists, track_genres, album_genres, directories"
        conn.execute(f"VACUUM (ANALYZE) {tables}" if big else f"ANALYZE {tables}")
    finally:
        conn.autocommit = False


def _skip_folder(root: Path | str, reason: str, report: ScanReport) -> None:
    msg = f"music folder {root} {reason}: skipped, nothing removed"
    log.warning(msg)
    report.errors.append(msg)


def _folder_usable(root: Path, report: ScanReport) -> bool:
    try:
        if root.is_dir() and any(True for _ in os.scandir(root)):
            return True
        reason = "is empty" if root.is_dir() else "does not exist"
    except OSError as exc:
        reason = f"cannot be read ({exc.strerror or exc})"
    msg = f"music folder {root} {reason}: skipped, nothing removed"
    log.warning(msg)
    report.errors.append(msg)
    return False


def _scan_folder(conn: psycopg.Connection, reader: _Reader, folder_id: int, root: Path | str, full: bool,
                 report: ScanReport, progress: Progress | None, playlists: dict[int, list[str]]) -> None:
    dirs: dict[str, WalkedDir] = {}
    stats = WalkStats()
    sidecars: list[tuple[str, str]] = []
    if is_s3(root):
        from orbsonic.scanner.s3walk import walk_s3

        walked = walk_s3(str(root), dirs, stats)
        load = functools.partial(writer.load_walk, conn, ((f.path, f.dir_path, f.size, f.mtime_ns)
                                                          for f in walked))
    elif not _folder_usable(Path(root), report):
        return
    else:
        batches = dir_sidecars(walk_dirs(str(root), dirs, stats), dirs, sidecars)
        load = functools.partial(writer.load_walk_text, conn, writer.walk_copy_text(batches))
    try:
        load()
    except StorageUnavailable as exc:
        # The listing failed (store down, missing bucket, refused keys), perhaps part-way:
        # what was not listed is not gone. Nothing of this folder is touched.
        conn.rollback()
        _skip_folder(root, f"cannot be listed ({exc.reason})", report)
        return
    if is_s3(root) and stats.files == 0:  # an empty prefix, like an unmounted disk
        _skip_folder(root, "is empty", report)
        return
    writer.load_sidecars(conn, _s3_sidecars(conn, dirs) if is_s3(root) else sidecars)
    if not is_s3(root):
        playlists[folder_id] = playlist_paths(os.path.normpath(str(root)), dirs)
    report.errors += stats.errors[:100]
    # Parts of the tree could not be read: add and update, but remove no track at or below
    # them (writer.diff) and no directory this time.
    prune = not stats.errors
    kept = music_dirs(dirs)
    writer.write_dirs(conn, folder_id, prune, (
        (dir_id(folder_id, p), dir_id(folder_id, p.rpartition("/")[0]) if p else None, p,
         p.rpartition("/")[2] if p else _root_name(root), sort_key(p.rpartition("/")[2] if p else _root_name(root)),
         d.mtime_ns, f"{p}/{d.image}" if p and d.image else d.image, d.image_mtime)
        for p, d in kept.items()))
    to_read, seen = writer.diff(conn, folder_id, full, stats.unreadable)
    report.files_seen += seen
    done = seen - to_read
    report.unchanged += done
    _status(conn, phase="reading", files_seen=report.files_seen, files_done=report.unchanged)
    conn.commit()
    if progress:
        progress("reading", 0, to_read)
    if not to_read:
        return
    cursor = writer.open_to_read(conn)
    try:
        rows = cursor.fetchmany(BATCH)
        job = reader.submit([(_full(root, r[1]), r[5]) for r in rows]) if rows else None
        read = 0
        while rows:
            nxt = cursor.fetchmany(BATCH)
            next_job = reader.submit([(_full(root, r[1]), r[5]) for r in nxt]) if nxt else None
            results = reader.result(job)
            _write(conn, folder_id, root, rows, results, report)
            read += len(rows)
            _status(conn, files_done=report.unchanged + report.read, added=report.added,
                    updated=report.updated, skipped=report.skipped)
            conn.commit()
            if progress:
                progress("reading", read, to_read)
            rows, job = nxt, next_job
    finally:
        cursor.close()


def dir_sidecars(batches: Iterator[tuple[str, list[tuple[str, int, int]]]], dirs: dict[str, WalkedDir],
                 out: list[tuple[str, str]]) -> Iterator[tuple[str, list[tuple[str, int, int]]]]:
    """`walk.walk_dirs` batches ((directory, [(name, bytes, mtime_ns)])) passed through;
    appends (audio path, signature) to `out` for each file with lyrics sidecars
    (`sidecar_sigs`). S3 listings match theirs after loading (`_s3_sidecars`)."""
    for rel, files in batches:
        node = dirs.get(rel)
        if node is not None and node.sidecars:
            out.extend(sidecar_sigs(rel, [f[0] for f in files], node.sidecars))
        yield rel, files


def sidecar_sigs(dir_path: str, audio_names: Sequence[str],
                 sidecars: Sequence[tuple[str, int, int]]) -> Iterator[tuple[str, str]]:
    """(audio path, signature) of the audio files `audio_names` of directory `dir_path` that
    have lyrics sidecars among `sidecars` ((name, bytes, mtime_ns)). The signature lists each
    matched sidecar's name, size and mtime: a changed, added or removed sidecar changes it."""
    if not sidecars:
        return
    stats = {name: (size, mtime) for name, size, mtime in sidecars}
    for audio in audio_names:
        matched = lyrics.matching_sidecars(audio, list(stats))
        if matched:
            sig = "\n".join(f"{n}\t{stats[n][0]}\t{stats[n][1]}" for n, _lang in matched)
            yield (f"{dir_path}/{audio}" if dir_path else audio, sig)


def _s3_sidecars(conn: psycopg.Connection, dirs: dict[str, WalkedDir]) -> list[tuple[str, str]]:
    """(audio path, signature) of an S3 folder's tracks with lyrics sidecars. An S3 listing is
    in key order, so a directory's objects are not listed together (a sub-prefix can sort
    between them): the audio files of the few directories holding sidecars are read back from
    the walk loaded in scan_files instead of being held in memory during the listing."""
    with_sidecars = [p for p, d in dirs.items() if d.sidecars]
    if not with_sidecars:
        return []
    by_dir: dict[str, list[str]] = {}
    for path, dir_path in conn.execute("SELECT path, dir_path FROM scan_files WHERE dir_path = ANY(%s)"
                                       " ORDER BY path", (with_sidecars,)):
        by_dir.setdefault(dir_path, []).append(path.rpartition("/")[2])
    return [row for d, names in by_dir.items() for row in sidecar_sigs(d, names, dirs[d].sidecars)]


def _write(conn: psycopg.Connection, folder_id: int, root: Path | str, rows: list[tuple[Any, ...]],
           results: list[TrackInfo | str], report: ScanReport) -> None:
    batch = Batch.empty()
    failures = []
    for (track_id, path, dir_path, size, mtime_ns, _sig), info in zip(rows, results):
        report.read += 1
        if isinstance(info, str):
            report.skipped += 1
            full_path = _full(root, path)
            file_log.warning("skipped %s: %s", full_path, info)
            if len(report.skipped_files) < 10_000:
                report.skipped_files.append((full_path, info))
            failures.append((path, size, mtime_ns, info))
            continue
        if info.warnings:
            report.warned += 1
        for warning in info.warnings:
            file_log.debug("%s: %s", _full(root, path), warning)
        add_track(batch, track_id=track_id, folder_id=folder_id, path=path,
                  directory_id=dir_id(folder_id, dir_path), size=size, mtime_ns=mtime_ns, info=info,
                  dir_name=dir_path.rpartition("/")[2] if dir_path else _root_name(root))
    if batch.tracks:
        added, updated = writer.write_batch(conn, batch)
        report.added += added
        report.updated += updated
    if failures:
        writer.record_unreadable(conn, folder_id, failures)
