"""Artist and album information (getArtistInfo, getAlbumInfo): local data first, then what the
metadata providers said, read from the PostgreSQL cache (tables artist_info, album_info).

Local data, read on the request (a few indexed queries and one directory listing):
* MusicBrainz ids from the tags (artists.mbid, albums.mbid);
* the artist's folder: a directory holding the artist's albums (or tracks) whose name is the
  artist's (case- and accent-insensitive, e.g. `Björk/1995 - Post/…` → `Björk`); a layout
  without one (`Genre/Artist - Album`) has no artist folder, so a genre's `folder.jpg` never
  becomes an artist picture;
* the artist image: `artist.*`, else `folder.*` (jpg, jpeg, png, webp, gif, bmp) in that folder;
* notes from sidecar text files: ARTIST_SIDECARS in the artist's folder, ALBUM_SIDECARS in the
  album's folder (UTF-8, else Windows-1252; the first MAX_NOTE_BYTES).

Provider data never comes from the request path: a missing or expired cache row only queues
the `metadata.artist`/`metadata.album` job (one waiting per item: a queueing lock) and the
answer is made of local data and whatever stale row there is (orbsonic/integrations/refresh.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import anyio
from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic import jobs
from orbsonic.config import Settings
from orbsonic.errors import NotFound
from orbsonic.ids import fold
from orbsonic.library.filters import Folders, folder_list
from orbsonic.scanner.images import IMAGE_SUFFIXES
from orbsonic.storage import Storage, StorageUnavailable, storage_for

log = logging.getLogger("orbsonic.metadata")

ARTIST_SIDECARS = ("artist.txt", "biography.txt", "bio.txt")
ALBUM_SIDECARS = ("notes.txt", "album.txt", "info.txt", "review.txt")
ARTIST_IMAGE_STEMS = ("artist", "folder")
MAX_NOTE_BYTES = 64 * 1024
ARTIST_TASK, ALBUM_TASK = "metadata.artist", "metadata.album"


@dataclass(frozen=True, slots=True)
class LocalFiles:
    """What the artist's or album's folder holds: the image (`root`/`image_rel`, mtime in whole
    seconds) and the sidecar text ("" when none)."""

    root: str
    image_rel: str | None
    image_mtime: int
    notes: str


@dataclass(frozen=True, slots=True)
class CachedArtist:
    """A row of artist_info (see schema/0024)."""

    artist_id: int
    mbid: str | None
    biography: str | None
    lastfm_url: str | None
    image_path: str | None
    image_version: int | None
    similar: list[dict[str, str]]
    top_tracks: list[dict[str, str]]
    error: str | None
    expires_at: datetime
    fresh: bool


@dataclass(frozen=True, slots=True)
class CachedAlbum:
    """A row of album_info."""

    album_id: int
    mbid: str | None
    notes: str | None
    lastfm_url: str | None
    error: str | None
    expires_at: datetime
    fresh: bool


def providers_on(settings: Settings) -> bool:
    """True when a metadata provider is configured (a Last.fm key, or a MusicBrainz URL)."""
    return bool(settings.lastfm_api_key or settings.musicbrainz_url)


# ------------------------------------------------------------------ local files

_FOLDERS_OF_ARTIST = """
SELECT f.path AS root, x.path, x.name FROM (
    SELECT d.folder_id, d.path, d.name, 2 AS weight FROM album_artists aa
      JOIN albums a ON a.id = aa.album_id JOIN directories d ON d.id = a.directory_id
     WHERE aa.artist_id = %(artist)s
    UNION ALL
    SELECT p.folder_id, p.path, p.name, 1 FROM album_artists aa
      JOIN albums a ON a.id = aa.album_id JOIN directories d ON d.id = a.directory_id
      JOIN directories p ON p.id = d.parent_id
     WHERE aa.artist_id = %(artist)s) x
  JOIN music_folders f ON f.id = x.folder_id
 WHERE x.path <> '' {folders}
 GROUP BY f.path, x.path, x.name ORDER BY sum(x.weight) DESC, x.path LIMIT 20"""


def _same_name(a: str, b: str) -> bool:
    fa, fb = fold(a), fold(b)
    return fa == fb or fa.removeprefix("the ") == fb.removeprefix("the ")


async def artist_folder(conn: AsyncConnection, artist_id: int, name: str,
                        folders: Folders = None) -> tuple[str, str] | None:
    """(music folder path, relative path) of the artist's folder, or None (see module doc)."""
    sql = _FOLDERS_OF_ARTIST.format(folders="" if folders is None else "AND x.folder_id = ANY(%(folders)s)")
    cur = await conn.execute(sql, {"artist": artist_id, "folders": folder_list(folders)})
    for root, rel, dir_name in await cur.fetchall():
        if _same_name(dir_name, name):
            return root, rel
    return None


def _read_note(storage: Storage, rel: str) -> str:
    try:
        with storage.open(rel) as fh:
            raw = fh.read(MAX_NOTE_BYTES)
    except (NotFound, StorageUnavailable):
        return ""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    return text.replace("\x00", "").strip()


def read_folder(root: str, rel: str, image_stems: Sequence[str], sidecars: Sequence[str],
                outside_roots: tuple[str, ...] = ()) -> LocalFiles:
    """List one folder: its image named after `image_stems` (in that order, any case) and its
    first non-empty sidecar of `sidecars`. Files are opened through the folder's storage, so
    a link leaving the music folder is neither shown nor read. Blocking."""
    storage = storage_for(root, outside_roots)
    try:
        names = sorted(n for n in storage.names(rel) if not n.startswith("._"))
    except (NotFound, StorageUnavailable):  # an S3 store that is down: no local files this time
        return LocalFiles(root, None, 0, "")
    by_lower: dict[str, str] = {}
    for n in names:
        by_lower.setdefault(n.lower(), n)
    image, mtime = None, 0
    for stem in image_stems:
        for n in names:
            s, dot, suffix = n.rpartition(".")
            if dot and s.lower() == stem and suffix.lower() in IMAGE_SUFFIXES:
                key = f"{rel}/{n}"
                try:
                    info = storage.stat(key)
                except (NotFound, StorageUnavailable):
                    continue
                image, mtime = key, info.mtime_ns // 1_000_000_000
                break
        if image:
            break
    notes = ""
    for side in sidecars:
        if side in by_lower:
            notes = _read_note(storage, f"{rel}/{by_lower[side]}")
            if notes:
                break
    return LocalFiles(root, image, mtime, notes)


async def local_artist(conn: AsyncConnection, artist_id: int, name: str, folders: Folders,
                       outside_roots: tuple[str, ...] = ()) -> LocalFiles | None:
    """The artist folder's image and biography sidecar, or None without an artist folder."""
    where = await artist_folder(conn, artist_id, name, folders)
    if where is None:
        return None
    return await anyio.to_thread.run_sync(read_folder, where[0], where[1], ARTIST_IMAGE_STEMS,
                                          ARTIST_SIDECARS, outside_roots)


async def local_album(conn: AsyncConnection, album_id: int,
                      outside_roots: tuple[str, ...] = ()) -> LocalFiles | None:
    """The album folder's notes sidecar (its image is the album cover, `al-…`)."""
    cur = await conn.execute("""SELECT f.path, d.path FROM albums a JOIN directories d ON d.id = a.directory_id
                                  JOIN music_folders f ON f.id = d.folder_id WHERE a.id = %s""", (album_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    return await anyio.to_thread.run_sync(read_folder, row[0], row[1], (), ALBUM_SIDECARS, outside_roots)


# ------------------------------------------------------------------ the cache

async def cached_artist(conn: AsyncConnection, artist_id: int) -> CachedArtist | None:
    """The artist_info row (`fresh`: not expired), or None."""
    async with conn.cursor(row_factory=class_row(CachedArtist)) as cur:
        await cur.execute("""SELECT artist_id, mbid, biography, lastfm_url, image_path, image_version, similar_artists AS similar,
                                    top_tracks, error, expires_at, expires_at > now() AS fresh
                               FROM artist_info WHERE artist_id = %s""", (artist_id,))
        return await cur.fetchone()


async def cached_album(conn: AsyncConnection, album_id: int) -> CachedAlbum | None:
    """The album_info row (`fresh`: not expired), or None."""
    async with conn.cursor(row_factory=class_row(CachedAlbum)) as cur:
        await cur.execute("""SELECT album_id, mbid, notes, lastfm_url, error,
                                    expires_at, expires_at > now() AS fresh
                               FROM album_info WHERE album_id = %s""", (album_id,))
        return await cur.fetchone()


async def queue_refresh(app: Any, task: str, item_id: int) -> None:
    """Queue the fetch of one artist or album (at most one waiting per item). A queue that
    cannot be reached is logged, never raised: the answer is made of local data anyway."""
    if app is None:
        return
    try:
        await jobs.defer(app, task, queueing_lock=f"{task}:{item_id}", item_id=item_id)
    except Exception as exc:  # noqa: BLE001
        log.warning("cannot queue %s for %s: %s", task, item_id, exc)


async def artist_image(conn: AsyncConnection, artist_id: int,
                       outside_roots: tuple[str, ...] = ()) -> tuple[str, str | None, int] | None:
    """The artist's own picture: (directory or music folder root, relative path or None for an
    absolute downloaded file, version). The local `artist.*`/`folder.*` wins over the
    provider's downloaded image. None when the artist has neither (its cover is then its
    cover album's)."""
    cur = await conn.execute("""SELECT ar.name, i.image_path, i.image_version FROM artists ar
                                  LEFT JOIN artist_info i ON i.artist_id = ar.id WHERE ar.id = %s""", (artist_id,))
    row = await cur.fetchone()
    if row is None:
        return None
    local = await local_artist(conn, artist_id, row[0], None, outside_roots)
    if local is not None and local.image_rel:
        return local.root, local.image_rel, local.image_mtime
    if row[1] and row[2]:
        return row[1], None, int(row[2])
    return None
