"""Cover art: find the source of a cover, extract or resize it, cache the result on disk.

Cache layout: `<cache>/<size or "orig">/<cover id>.<ext>`. Cover ids carry the source's
mtime (orbsonic.ids.cover_id), so a changed cover gets a new id and a new cache entry;
stale entries age out through `prune` (oldest access first). A cached file is served
without touching the database.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import stat
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from psycopg import AsyncConnection

from orbsonic.ids import cover_id

log = logging.getLogger("orbsonic.covers")

_EXT = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp",
        "image/bmp": "bmp"}
_MIME = {v: k for k, v in _EXT.items()} | {"jpeg": "image/jpeg"}
MAX_SIZE = 3000  # px; larger requests get the original
_TOUCH_AFTER_S = 60  # a cache hit refreshes the file's atime at most this often


@dataclass(frozen=True, slots=True)
class CoverSource:
    """Where a cover comes from: an image file, or the embedded picture of an audio file.
    `key` is the cover id with the source's current version: the cache key, so a changed
    cover never serves an old cached file and made-up versions create no cache entries."""

    path: Path
    embedded: bool
    key: str


async def find_source(conn: AsyncConnection, kind: str, item_id: int) -> CoverSource | None:
    """The cover source of an album ("al"), folder ("dr"), artist ("ar") or track ("tr").

    Tracks use their own embedded picture, else their album's cover. Artists use the
    cover of the album chosen by the scanner (artists.cover_album_id).
    """
    if kind == "tr":
        cur = await conn.execute(
            """SELECT f.path, t.path, t.has_picture, t.album_id, t.mtime_ns FROM tracks t
                 JOIN music_folders f ON f.id = t.folder_id WHERE t.id = %s""", (item_id,))
        row = await cur.fetchone()
        if row is None:
            return None
        if row[2]:
            return CoverSource(Path(row[0]) / row[1], True, cover_id("tr", item_id, row[4] // 1_000_000_000))
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
    return CoverSource(Path(row[0]) / row[1], row[2] == 2, cover_id(kind, item_id, row[3]))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class CoverCache:
    """Disk cache of original (extracted) and resized covers. Thread-safe: writes are atomic."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes

    def lookup(self, canonical_id: str, size: int | None) -> Path | None:
        """The cached file for (cover id, size), or None. No database access. A hit is
        marked as used (atime) for `prune`: noatime mounts never update it, relatime only
        once a day."""
        folder = self.root / (str(size) if size else "orig")
        for ext in ("jpg", "png", "gif", "webp", "bmp"):
            path = folder / f"{canonical_id}.{ext}"
            try:
                st = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            now = time.time()
            if st.st_atime < now - _TOUCH_AFTER_S:
                with contextlib.suppress(OSError):
                    os.utime(path, ns=(int(now * 1e9), st.st_mtime_ns))
            return path
        return None

    def produce(self, source: CoverSource, canonical_id: str, size: int | None) -> Path | None:
        """Extract and/or resize the cover into the cache; returns the file, or None when the
        source is gone or is not a readable image. Blocking: run it in a worker thread."""
        original = self._original(source, canonical_id)
        if original is None or not size:
            return original
        try:
            with Image.open(original) as img:
                if max(img.size) <= size:
                    return original
                img.thumbnail((size, size), Image.Resampling.LANCZOS)
                if img.mode not in ("RGB", "L"):
                    img = img.convert("RGB")
                buf = io.BytesIO()
                img.save(buf, "JPEG", quality=88, optimize=True)
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            log.warning("cannot resize cover %s: %s", canonical_id, exc)
            return None
        path = self.root / str(size) / f"{canonical_id}.jpg"
        _atomic_write(path, buf.getvalue())
        return path

    def _original(self, source: CoverSource, canonical_id: str) -> Path | None:
        if not source.embedded:
            return source.path if source.path.is_file() else None
        cached = self.lookup(canonical_id, None)
        if cached:
            return cached
        from orbsonic.scanner.tags import read_picture
        try:
            picture = read_picture(source.path)
        except Exception as exc:  # noqa: BLE001  (a broken file must not break the request)
            log.warning("cannot read embedded cover of %s: %s", source.path, exc)
            return None
        if picture is None:
            return None
        data, mime = picture
        path = self.root / "orig" / f"{canonical_id}.{_EXT.get(mime, 'jpg')}"
        _atomic_write(path, data)
        return path

    def prune(self) -> int:
        """Delete the least recently used files until the cache fits `max_bytes`. Returns
        the number of files removed."""
        files = []
        total = 0
        for path in self.root.rglob("*"):
            try:
                st = path.stat()
            except OSError:
                continue
            if path.is_file():
                files.append((max(st.st_atime, st.st_mtime), st.st_size, path))
                total += st.st_size
        removed = 0
        for _, size, path in sorted(files):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
            removed += 1
        return removed


def media_type(path: Path) -> str:
    """MIME type of a cached or source image from its extension."""
    return _MIME.get(path.suffix.lower().lstrip("."), "image/jpeg")
