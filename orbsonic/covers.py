"""Cover art: find the source of a cover, extract or resize it, cache the result on disk.

Cache layout: `<cache>/<size or "orig">/<cover id>.<ext>`; a resized cover is always a JPEG
(PNG when the image has transparency), or a WebP for clients whose Accept allows it, whatever
the source format (a GIF or BMP asked at size=300 comes back converted). One producer per
(cover, size, format) across threads and worker processes: an flock on
`<cache>/<size>/.<id>.<ext>.lock`, and the entry is re-checked once the lock is held, so 100
concurrent requests of a cold cover resize it once. The `covers.thumbnails` job makes the
`cover_thumbnail_sizes` ahead of time after every scan. Cover ids carry the source's
mtime (orbsonic.ids.cover_id), so a changed cover gets a new id and a new cache entry;
stale entries age out through `prune` (oldest access first, orbsonic.cache.disk). A
cached file is served without touching the database. Source files are read through the
music folder's Storage, so a cover that links out of the folder is never served.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError
from psycopg import AsyncConnection

from orbsonic import jobs
from orbsonic.cache import disk
from orbsonic.errors import NotFound
from orbsonic.ids import cover_id
from orbsonic.metrics import defs as metrics
from orbsonic.storage import Storage, StoredFile, storage_for
from orbsonic.storage.base import ObjectInfo
from orbsonic.storage.local import LocalFile, open_local

log = logging.getLogger("orbsonic.covers")

_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
        "image/bmp": "bmp"}
_MIME = {v: k for k, v in _EXT.items()} | {"jpeg": "image/jpeg"}
MAX_SIZE = 3000  # px; larger requests get the original
THUMBNAILS_TASK = "covers.thumbnails"
# Served as they are when already small enough; anything else is converted when resized.
_KEEP_FORMATS = {"JPEG", "PNG"}

_resizes_lock = threading.Lock()
_resized = 0


def resize_count() -> int:
    """How many resized covers this process has written (tests count producers with it)."""
    return _resized


def _count_resize() -> None:
    global _resized
    with _resizes_lock:
        _resized += 1


@contextlib.contextmanager
def _producer_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created if needed), blocking: one producer of a cache
    entry at a time across threads and processes. The lock file is hidden (never pruned)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


@dataclass(frozen=True, slots=True)
class CoverSource:
    """Where a cover comes from: an image file, or the embedded picture of an audio file.
    `key` is the cover id with the source's current version: the cache key, so a changed
    cover never serves an old cached file and made-up versions create no cache entries.
    `storage`/`rel` name the file in its music folder: it is read only through the
    storage, so a cover that is a link leaving the folder is never read (issue 6 §2)."""

    path: Path
    embedded: bool
    key: str
    storage: Storage | None = None
    rel: str = ""

    def open(self) -> StoredFile:
        """The source file, opened through its folder's storage (NotFound when it is gone,
        not a regular file, or outside the folder). Blocking."""
        if self.storage is None:
            return open_local(self.path)
        return self.storage.open(self.rel)


async def find_source(conn: AsyncConnection, kind: str, item_id: int,
                      outside_roots: tuple[str, ...] = ()) -> CoverSource | None:
    """The cover source of an album ("al"), folder ("dr"), artist ("ar") or track ("tr").

    Tracks use their own embedded picture, else their album's cover. Artists use their own
    picture when they have one, else the cover of the album chosen by the scanner
    (artists.cover_album_id). `outside_roots`:
    the `allowed_outside_roots` setting (links into them may be read).
    """
    if kind == "tr":
        cur = await conn.execute(
            """SELECT f.path, t.path, t.has_picture, t.album_id, t.mtime_ns FROM tracks t
                 JOIN music_folders f ON f.id = t.folder_id WHERE t.id = %s""", (item_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        if row[2]:
            return CoverSource(Path(row[0]) / row[1], True, cover_id("tr", item_id, row[4] // 1_000_000_000),
                               storage_for(row[0], outside_roots), row[1])
        kind, item_id = "al", row[3]
    if kind == "ar":
        # The artist's own picture first (artist.*/folder.* in its folder, else the provider's
        # downloaded image: orbsonic/library/artistinfo.py), then its cover album's.
        from orbsonic.library.artistinfo import artist_image

        own = await artist_image(conn, item_id, outside_roots)
        if own is not None:
            root, rel, version = own
            if rel is None:
                return CoverSource(Path(root), False, cover_id("ar", item_id, version))
            return CoverSource(Path(root) / rel, False, cover_id("ar", item_id, version),
                               storage_for(root, outside_roots), rel)
        cur = await conn.execute("SELECT cover_album_id FROM artists WHERE id = %s", (item_id,))
        row = await cur.fetchone()
        if row is None or row[0] is None:
            return None
        kind, item_id = "al", row[0]
    table = {"al": "albums", "dr": "directories"}[kind]
    folder_col = "cover_folder_id" if kind == "al" else "folder_id"
    cur = await conn.execute(
        f"""SELECT f.path, x.cover_path, x.cover_kind, x.cover_mtime FROM {table} x
              JOIN music_folders f ON f.id = x.{folder_col} WHERE x.id = %s""", (item_id,))
    row = await cur.fetchone()
    if row is None or not row[2] or not row[1]:
        return None
    return CoverSource(Path(row[0]) / row[1], row[2] == 2, cover_id(kind, item_id, row[3]),
                       storage_for(row[0], outside_roots), row[1])


_atomic_write = disk.atomic_write
INLINE_MAX = 512 * 1024  # bytes: a cached cover up to this size is read whole on the fast path
_OPEN_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | getattr(os, "O_NOATIME", 0)


@dataclass(frozen=True, slots=True)
class CachedCover:
    """A cache entry read whole: `data` (None when the client's copy is current: a 304),
    its `media_type` and the `info` (size, mtime, etag) of exactly those bytes."""

    data: bytes | None
    media_type: str
    info: ObjectInfo


class CoverCache:
    """Disk cache of original (extracted) and resized covers. Thread-safe: writes are atomic."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def lookup(self, canonical_id: str, size: int | None, webp: bool = False) -> Path | None:
        """The cached file for (cover id, size[, WebP]), or None. No database access. A hit is
        marked as used for `prune` (orbsonic.cache.disk.mark_used). Resized entries are JPEG
        or PNG, or WebP with `webp`; an original may be any image type. A hit counts as a
        cover-cache hit in the metrics; a miss is counted by `produce` (a request may look up
        two keys before it produces one)."""
        path = self._find(canonical_id, size, webp)
        if path is not None:
            metrics.cache_lookup("cover", True)
        return path

    def _find(self, canonical_id: str, size: int | None, webp: bool = False) -> Path | None:
        folder = self.root / (str(size) if size else "orig")
        exts = (("webp",) if webp else ("jpg", "png")) if size else ("jpg", "png", "gif", "webp", "bmp")
        for ext in exts:
            path = folder / f"{canonical_id}.{ext}"
            try:
                st = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            disk.mark_used(path, st)
            return path
        return None

    def read_cached(self, canonical_id: str, size: int | None, webp: bool = False,
                    current: Callable[[str], bool] | None = None) -> CachedCover | None:
        """The cached entry for (cover id, size[, WebP]) as bytes, or None when there is none
        or it is larger than INLINE_MAX (the caller streams it instead). No database, no
        worker thread: one open, one fstat and one read of a small file the server wrote
        (page-cached when hot), cheaper here than the hops to a thread. `current(etag)`
        True means the client has these bytes: nothing is read (`data` None → 304). A hit
        is marked as used for `prune`. `canonical_id` must be a parsed cover id."""
        folder = f"{self.root}/{size or 'orig'}/{canonical_id}."
        exts = (("webp",) if webp else ("jpg", "png")) if size else ("jpg", "png", "gif", "webp", "bmp")
        for ext in exts:
            try:
                fd = os.open(folder + ext, _OPEN_FLAGS)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if not stat.S_ISREG(st.st_mode) or st.st_size > INLINE_MAX:
                    return None
                info = ObjectInfo(f"{size or 'orig'}/{canonical_id}.{ext}", st.st_size, st.st_mtime_ns)
                if st.st_atime < time.time() - disk.TOUCH_AFTER_S:
                    disk.mark_used(Path(folder + ext), st)
                if current is not None and current(info.etag):
                    metrics.cache_lookup("cover", True)
                    return CachedCover(None, _MIME[ext], info)
                data = os.read(fd, st.st_size + 1)
                if len(data) != st.st_size:  # rewritten under us (never in place: renames)
                    return None
                metrics.cache_lookup("cover", True)  # the fast path's hits count as the full path's
                return CachedCover(data, _MIME[ext], info)
            finally:
                os.close(fd)
        return None

    def produce(self, source: CoverSource, canonical_id: str, size: int | None,
                webp: bool = False) -> Path | None:
        """Extract and/or resize the cover into the cache; returns the file (`source.path`
        for an original image file served as it is), or None when the source is gone, is
        not a readable image, or is a link leaving its music folder. With `size`, the result
        is a JPEG or PNG (WebP with `webp`): never upscaled, and an original already small
        enough is served as it is only when it is a JPEG or PNG (and WebP is not asked).
        One producer per entry across processes (flock); the others wait and use its file.
        Blocking: run it in a worker thread. Counts as a cover-cache miss in the metrics."""
        metrics.cache_lookup("cover", False)
        return self._produce(source, canonical_id, size, webp)

    def _produce(self, source: CoverSource, canonical_id: str, size: int | None,
                 webp: bool = False) -> Path | None:
        if not size:
            with _producer_lock(self.root / "orig" / f".{canonical_id}.lock"):
                return self._original(source, canonical_id)
        with _producer_lock(self.root / str(size) / f".{canonical_id}.{'webp' if webp else 'img'}.lock"):
            done = self._find(canonical_id, size, webp)
            if done is not None:
                return done
            with _producer_lock(self.root / "orig" / f".{canonical_id}.lock"):
                original = self._original(source, canonical_id)
            if original is None:
                return None
            return self._resize(source, original, canonical_id, size, webp)

    def _resize(self, source: CoverSource, original: Path, canonical_id: str, size: int,
                webp: bool) -> Path | None:
        try:
            with contextlib.ExitStack() as stack:
                fh = stack.enter_context(source.open()) if original == source.path else original
                img = stack.enter_context(Image.open(fh))
                if max(img.size) <= size and img.format in _KEEP_FORMATS and not webp:
                    # Already small enough: the original bytes, but as an entry of this
                    # size, so that the next request finds it by name (the fast path).
                    return self._keep_as_sized(fh, original, canonical_id, size,
                                               "jpg" if img.format == "JPEG" else "png")
                img.load()
                if max(img.size) > size:
                    img.thumbnail((size, size), Image.Resampling.LANCZOS)
                alpha = img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info)
                buf = io.BytesIO()
                if webp:
                    img = img.convert("RGBA" if alpha else "RGB")
                    img.save(buf, "WEBP", quality=85, method=4)
                    ext = "webp"
                elif alpha:
                    img.convert("RGBA").save(buf, "PNG", optimize=True)
                    ext = "png"
                else:
                    if img.mode not in ("RGB", "L"):
                        img = img.convert("RGB")
                    img.save(buf, "JPEG", quality=88, optimize=True)
                    ext = "jpg"
        except (OSError, UnidentifiedImageError, ValueError, NotFound, Image.DecompressionBombError) as exc:
            log.warning("cannot resize cover %s: %s", canonical_id, exc)
            return None
        path = self.root / str(size) / f"{canonical_id}.{ext}"
        disk.atomic_write(path, buf.getvalue())
        _count_resize()
        return path

    def _keep_as_sized(self, fh: Any, original: Path, canonical_id: str, size: int, ext: str) -> Path:
        """The original as the entry `<size>/<id>.<ext>`: a hard link when the original is
        itself a cache file (an extracted picture), else a copy of its bytes (a folder
        image: never a link into a music folder, whose file may be rewritten in place)."""
        path = self.root / str(size) / f"{canonical_id}.{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(fh, Path):
            tmp = path.with_name(f".tmp-link-{canonical_id}.{ext}")
            try:
                tmp.unlink(missing_ok=True)
                os.link(fh, tmp)
                os.replace(tmp, path)
                return path
            except OSError:
                tmp.unlink(missing_ok=True)
            data = fh.read_bytes()
        else:
            fh.seek(0)
            data = fh.read()
        disk.atomic_write(path, data)
        return path

    def _original(self, source: CoverSource, canonical_id: str) -> Path | None:
        if not source.embedded:
            try:
                source.open().close()  # a regular file inside the folder
            except NotFound:
                return None
            return source.path
        cached = self._find(canonical_id, None)
        if cached:
            return cached
        from orbsonic.scanner.tags import read_picture
        try:
            with source.open() as fh:
                # the descriptor's own path: mutagen reads exactly the file checked above
                picture = read_picture(_readable(fh))
        except NotFound:
            return None
        except Exception as exc:  # noqa: BLE001  (a broken file must not break the request)
            log.warning("cannot read embedded cover of %s: %s", source.path, exc)
            return None
        if picture is None:
            return None
        data, mime = picture
        path = self.root / "orig" / f"{canonical_id}.{_EXT.get(mime, 'jpg')}"
        disk.atomic_write(path, data)
        return path

    def prune(self) -> int:
        """Delete the least recently used files until the cache fits `max_bytes`. Returns
        the number of files removed."""
        return disk.prune(self.root, self.max_bytes)


def media_type(path: Path) -> str:
    """MIME type of a cached or source image from its extension."""
    return _MIME.get(path.suffix.lower().lstrip("."), "image/jpeg")


def image_hash(data: bytes | Path) -> int | None:
    """A 64-bit difference hash (dHash) of an image: nearly equal images (the same art saved
    at another size or quality) differ in a few bits. None when it is not a readable image."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
            small = img.convert("L").resize((9, 8), Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    px = small.tobytes()  # mode L: one byte per pixel, row by row
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col] > px[row * 9 + col + 1])
    return bits


SAME_IMAGE_BITS = 8  # dHash distance up to which two covers count as the same picture


async def mark_own_covers(conn: AsyncConnection, cache: CoverCache,
                          outside_roots: tuple[str, ...] = ()) -> int:
    """Compare the embedded picture of every track not yet checked at its current version with
    its album's cover, and set tracks.own_cover when they differ (or the album shows no cover),
    so the track keeps its own coverArt id. Returns how many tracks were checked."""
    cur = await conn.execute(
        """SELECT t.id, t.album_id, t.size::text || ':' || t.mtime_ns::text, f.path, t.path,
                  a.cover_kind = 2 AND a.cover_path = t.path AND a.cover_folder_id = t.folder_id
             FROM tracks t JOIN music_folders f ON f.id = t.folder_id JOIN albums a ON a.id = t.album_id
            WHERE t.has_picture AND t.cover_checked IS DISTINCT FROM t.size::text || ':' || t.mtime_ns::text
            ORDER BY t.album_id, t.id""")
    rows = await cur.fetchall()
    album_hashes: dict[int, int | None] = {}
    for track_id, album_id, version, root, rel, is_album_cover in rows:
        own = False
        if not is_album_cover:
            if album_id not in album_hashes:
                source = await find_source(conn, "al", album_id, outside_roots)
                path = await asyncio.to_thread(cache.produce, source, source.key, None) if source else None
                album_hashes[album_id] = await asyncio.to_thread(_hash_file, source, path) if path else None
            album_hash = album_hashes[album_id]
            mine = await asyncio.to_thread(_embedded_hash, storage_for(root, outside_roots), rel)
            own = mine is not None and (album_hash is None
                                        or (mine ^ album_hash).bit_count() > SAME_IMAGE_BITS)
        await conn.execute("""UPDATE tracks SET own_cover = %s, cover_checked = %s
                               WHERE id = %s AND size::text || ':' || mtime_ns::text = %s""",
                           (own, version, track_id, version))
    await conn.commit()
    return len(rows)


def _hash_file(source: CoverSource | None, path: Path) -> int | None:
    if source is not None and path == source.path:
        try:
            with source.open() as fh:
                return image_hash(fh.read())
        except NotFound:
            return None
    return image_hash(path)


def _readable(fh: StoredFile) -> Any:
    """What mutagen should open: a local file's descriptor path, else the file object itself
    (an S3 object read by ranged GETs)."""
    return fh.local_path if isinstance(fh, LocalFile) else fh


def _embedded_hash(storage: Storage, rel: str) -> int | None:
    from orbsonic.scanner.tags import read_picture

    try:
        with storage.open(rel) as fh:
            picture = read_picture(_readable(fh))
    except NotFound:
        return None
    return image_hash(picture[0]) if picture else None


async def make_thumbnails(conn: AsyncConnection, cache: CoverCache, sizes: tuple[int, ...],
                          outside_roots: tuple[str, ...] = (), webp: bool = True) -> int:
    """Produce every album and directory cover at `sizes` (JPEG/PNG, and WebP with `webp`)
    that the cache does not hold yet. Returns how many files were made. Resumable: finished
    entries are found and skipped."""
    made = 0
    cur = await conn.execute(
        """SELECT 'al', id, cover_mtime FROM albums WHERE cover_kind > 0 AND cover_path IS NOT NULL
           UNION ALL
           SELECT 'dr', id, cover_mtime FROM directories WHERE cover_kind > 0 AND cover_path IS NOT NULL
           UNION ALL
           SELECT 'tr', id, mtime_ns / 1000000000 FROM tracks WHERE own_cover
           ORDER BY 1, 2""")
    items = await cur.fetchall()
    formats = (False, True) if webp else (False,)
    for kind, item_id, mtime in items:
        key = cover_id(kind, item_id, mtime)
        # made ahead, not asked for: not a cache hit or miss of a request
        todo = [(n, w) for n in sizes for w in formats if cache._find(key, n, w) is None]
        if not todo:
            continue
        source = await find_source(conn, kind, item_id, outside_roots)
        if source is None:
            continue
        for n, w in todo:
            if await asyncio.to_thread(cache._produce, source, source.key, n, w) is not None:
                made += 1
    return made


@jobs.task(THUMBNAILS_TASK, queue="covers", pass_context=True, retry=2)
async def thumbnails(context: Any) -> int:
    """The `covers.thumbnails` job, queued after every scan: `mark_own_covers`, then
    `make_thumbnails` with the settings' cache, `cover_thumbnail_sizes` and `allowed_outside_roots`."""
    from orbsonic.config import load_settings

    settings = load_settings()
    cache = CoverCache(settings.cover_cache_dir, settings.cover_cache_size_mb * 1024 * 1024)
    async with context.app.connector.pool.connection() as conn:
        await mark_own_covers(conn, cache, settings.outside_roots)
        made = await make_thumbnails(conn, cache, settings.cover_thumbnail_sizes, settings.outside_roots)
    log.info("cover thumbnails: %d made", made)
    return made
