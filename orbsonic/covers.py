"""Cover art: find the source of a cover, extract or resize it, cache the result on disk.

Cache layout: `<cache>/<size or "orig">/<cover id>.<ext>`. Cover ids carry the source's
mtime (orbsonic.ids.cover_id), so a changed cover gets a new id and a new cache entry;
stale entries age out through `prune` (oldest access first, orbsonic.cache.disk). A
cached file is served without touching the database. Source files are read through the
music folder's Storage, so a cover that links out of the folder is never served.
"""

from __future__ import annotations

import contextlib
import io
import logging
import stat
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from psycopg import AsyncConnection

from orbsonic.cache import disk
from orbsonic.errors import NotFound
from orbsonic.ids import cover_id
from orbsonic.storage.local import LocalFile, LocalStorage, folder_storage, open_local

log = logging.getLogger("orbsonic.covers")

_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
        "image/bmp": "bmp"}
_MIME = {v: k for k, v in _EXT.items()} | {"jpeg": "image/jpeg"}
MAX_SIZE = 3000  # px; larger requests get the original


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
    storage: LocalStorage | None = None
    rel: str = ""

    def open(self) -> LocalFile:
        """The source file, opened through its folder's storage (NotFound when it is gone,
        not a regular file, or outside the folder). Blocking."""
        if self.storage is None:
            return open_local(self.path)
        return self.storage.open(self.rel)


async def find_source(conn: AsyncConnection, kind: str, item_id: int,
                      outside_roots: tuple[str, ...] = ()) -> CoverSource | None:
    """The cover source of an album ("al"), folder ("dr"), artist ("ar") or track ("tr").

    Tracks use their own embedded picture, else their album's cover. Artists use the
    cover of the album chosen by the scanner (artists.cover_album_id). `outside_roots`:
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
                               folder_storage(row[0], outside_roots), row[1])
        kind, item_id = "al", row[3]
    if kind == "ar":
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
                       folder_storage(row[0], outside_roots), row[1])


_atomic_write = disk.atomic_write


class CoverCache:
    """Disk cache of original (extracted) and resized covers. Thread-safe: writes are atomic."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def lookup(self, canonical_id: str, size: int | None) -> Path | None:
        """The cached file for (cover id, size), or None. No database access. A hit is
        marked as used for `prune` (orbsonic.cache.disk.mark_used)."""
        folder = self.root / (str(size) if size else "orig")
        for ext in ("jpg", "png", "gif", "webp", "bmp"):
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

    def produce(self, source: CoverSource, canonical_id: str, size: int | None) -> Path | None:
        """Extract and/or resize the cover into the cache; returns the file (`source.path`
        for an original image file served as it is), or None when the source is gone, is
        not a readable image, or is a link leaving its music folder. Blocking: run it in a
        worker thread."""
        original = self._original(source, canonical_id)
        if original is None or not size:
            return original
        try:
            with contextlib.ExitStack() as stack:
                fh = stack.enter_context(source.open()) if original == source.path else original
                img = stack.enter_context(Image.open(fh))
                if max(img.size) <= size:
                    return original
                img.thumbnail((size, size), Image.Resampling.LANCZOS)
                if img.mode not in ("RGB", "L"):
                    img = img.convert("RGB")
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=88, optimize=True)
        except (OSError, UnidentifiedImageError, ValueError, NotFound) as exc:
            log.warning("cannot resize cover %s: %s", canonical_id, exc)
            return None
        path = self.root / str(size) / f"{canonical_id}.jpg"
        disk.atomic_write(path, buf.getvalue())
        return path

    def _original(self, source: CoverSource, canonical_id: str) -> Path | None:
        if not source.embedded:
            try:
                source.open().close()  # a regular file inside the folder
            except NotFound:
                return None
            return source.path
        cached = self.lookup(canonical_id, None)
        if cached:
            return cached
        from orbsonic.scanner.tags import read_picture
        try:
            with source.open() as fh:
                # the descriptor's own path: mutagen reads exactly the file checked above
                picture = read_picture(fh.local_path)
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
