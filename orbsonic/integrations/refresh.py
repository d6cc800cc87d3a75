"""The metadata cache's jobs: fetch one artist or album from the providers, and a periodic
sweep that re-queues the expired rows.

* `metadata.artist` (item_id): MusicBrainz id (when the tags carry none and `musicbrainz_url`
  is set), Last.fm biography, URL, image (downloaded under DATA_DIR/metadata/artists, so the
  server serves it: getCoverArt `ar-…`), similar artists and top tracks. Queued by a request
  that found no row or an expired one (orbsonic/library/artistinfo.py), or by the sweep.
* `metadata.album` (item_id): MusicBrainz release id and Last.fm notes and URL.
* `metadata.refresh` (every 15 minutes): queue the two above for rows past `expires_at`.

A provider that is down, slow (`provider_timeout`) or answers garbage changes nothing that was
cached: the row keeps its data, records the error and is tried again after a tenth of
`metadata_ttl`. Jobs therefore never fail (no procrastinate retry): the expiry is the retry.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image, UnidentifiedImageError
from psycopg import AsyncConnection, sql
from psycopg.types.json import Jsonb

from orbsonic import jobs
from orbsonic.cache import disk
from orbsonic.config import Settings
from orbsonic.integrations import lastfm, musicbrainz
from orbsonic.integrations.http import MAX_IMAGE_BYTES, ProviderError, client, fetch
from orbsonic.library.artistinfo import ALBUM_TASK, ARTIST_TASK, cached_artist, providers_on

log = logging.getLogger("orbsonic.metadata")
SWEEP_TASK = "metadata.refresh"
SWEEP_LIMIT = 500
_IMAGE_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp", "GIF": "gif"}


def _lastfm(settings: Settings) -> lastfm.Config:
    return lastfm.Config(settings.lastfm_url, settings.lastfm_api_key, settings.lastfm_api_secret)


def _expiry_s(settings: Settings, failed: bool) -> int:
    return max(60, settings.metadata_ttl // 10) if failed else max(60, settings.metadata_ttl)


async def _download_image(http: httpx.AsyncClient, url: str, dest_stem: Path) -> Path:
    """Fetch an image (≤ MAX_IMAGE_BYTES), check that it is a JPEG/PNG/WebP/GIF, and write it
    atomically to `dest_stem`.<ext>. Raises ProviderError."""
    resp = await fetch(http, "GET", url, limit=MAX_IMAGE_BYTES)
    try:
        with Image.open(io.BytesIO(resp.content)) as img:
            fmt = img.format or ""
            img.verify()
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        raise ProviderError(f"image {url[:100]} is not an image") from None
    ext = _IMAGE_FORMATS.get(fmt)
    if ext is None:
        raise ProviderError(f"image {url[:100]} is a {fmt or 'unknown'} file")
    path = dest_stem.with_suffix("." + ext)
    disk.atomic_write(path, resp.content)
    for old in dest_stem.parent.glob(dest_stem.name + ".*"):
        if old != path and not old.name.startswith("."):
            old.unlink(missing_ok=True)
    return path


async def fetch_artist(conn: AsyncConnection, settings: Settings, artist_id: int) -> list[str]:
    """Fetch one artist from the configured providers into artist_info; returns the errors
    (empty when every provider answered). Commits."""
    cur = await conn.execute("SELECT name, mbid FROM artists WHERE id = %s", (artist_id,))
    row = await cur.fetchone()
    if row is None:
        return []
    name, tag_mbid = row[0], row[1] or ""
    prev = await cached_artist(conn, artist_id)
    errors: list[str] = []
    mbid = tag_mbid
    info: lastfm.ArtistInfo | None = None
    image_path = prev.image_path if prev else None
    image_version = prev.image_version if prev else None
    async with client(settings.provider_timeout) as http:
        if not mbid and settings.musicbrainz_url:
            try:
                mbid = await musicbrainz.artist_mbid(http, settings.musicbrainz_url, name)
            except ProviderError as exc:
                errors.append(str(exc))
        if settings.lastfm_api_key:
            try:
                info = await lastfm.artist_info(http, _lastfm(settings), name)
            except ProviderError as exc:
                errors.append(str(exc))
        if info is not None and info.image_url:
            stem = settings.data_dir / "metadata" / "artists" / str(artist_id)
            try:
                image_path = str(await _download_image(http, info.image_url, stem))
                image_version = int(time.time())
            except ProviderError as exc:
                errors.append(str(exc))
    mbid = mbid or (info.mbid if info else "")
    await conn.execute(
        """INSERT INTO artist_info (artist_id, mbid, biography, lastfm_url, image_path, image_version, similar_artists,
                                    top_tracks, error, fetched_at, expires_at)
           VALUES (%(id)s, %(mbid)s, %(bio)s, %(url)s, %(img)s, %(ver)s, %(similar)s, %(top)s, %(error)s, now(),
                   now() + make_interval(secs => %(ttl)s))
           ON CONFLICT (artist_id) DO UPDATE SET
               mbid = coalesce(excluded.mbid, artist_info.mbid),
               biography = CASE WHEN %(have)s THEN excluded.biography ELSE artist_info.biography END,
               lastfm_url = CASE WHEN %(have)s THEN excluded.lastfm_url ELSE artist_info.lastfm_url END,
               image_path = excluded.image_path, image_version = excluded.image_version,
               similar_artists = CASE WHEN %(have)s THEN excluded.similar_artists ELSE artist_info.similar_artists END,
               top_tracks = CASE WHEN %(have)s THEN excluded.top_tracks ELSE artist_info.top_tracks END,
               error = excluded.error, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at""",
        {"id": artist_id, "mbid": mbid or None, "bio": info.biography if info else None,
         "url": info.url if info else None, "img": image_path, "ver": image_version,
         "similar": Jsonb(info.similar if info else []), "top": Jsonb(info.top_tracks if info else []),
         "error": "; ".join(errors)[:1000] or None, "have": info is not None,
         "ttl": _expiry_s(settings, bool(errors))})
    await conn.commit()
    if errors:
        log.warning("artist %s: %s", name, "; ".join(errors))
    return errors


async def fetch_album(conn: AsyncConnection, settings: Settings, album_id: int) -> list[str]:
    """Fetch one album into album_info; returns the errors. Commits."""
    cur = await conn.execute("SELECT name, artist_name, mbid FROM albums WHERE id = %s", (album_id,))
    row = await cur.fetchone()
    if row is None:
        return []
    name, artist, mbid = row[0], row[1] or "", row[2] or ""
    errors: list[str] = []
    info: lastfm.AlbumInfo | None = None
    async with client(settings.provider_timeout) as http:
        if not mbid and settings.musicbrainz_url and artist:
            try:
                mbid = await musicbrainz.release_mbid(http, settings.musicbrainz_url, artist, name)
            except ProviderError as exc:
                errors.append(str(exc))
        if settings.lastfm_api_key and artist:
            try:
                info = await lastfm.album_info(http, _lastfm(settings), artist, name)
            except ProviderError as exc:
                errors.append(str(exc))
    await conn.execute(
        """INSERT INTO album_info (album_id, mbid, notes, lastfm_url, error, fetched_at, expires_at)
           VALUES (%(id)s, %(mbid)s, %(notes)s, %(url)s, %(error)s, now(), now() + make_interval(secs => %(ttl)s))
           ON CONFLICT (album_id) DO UPDATE SET
               mbid = coalesce(excluded.mbid, album_info.mbid),
               notes = CASE WHEN %(have)s THEN excluded.notes ELSE album_info.notes END,
               lastfm_url = CASE WHEN %(have)s THEN excluded.lastfm_url ELSE album_info.lastfm_url END,
               error = excluded.error, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at""",
        {"id": album_id, "mbid": (mbid or (info.mbid if info else "")) or None,
         "notes": info.notes if info else None, "url": info.url if info else None,
         "error": "; ".join(errors)[:1000] or None, "have": info is not None,
         "ttl": _expiry_s(settings, bool(errors))})
    await conn.commit()
    if errors:
        log.warning("album %s: %s", name, "; ".join(errors))
    return errors


def _settings() -> Settings:
    from orbsonic.config import load_settings

    return load_settings()


@jobs.task(ARTIST_TASK, queue="metadata", pass_context=True)
async def refresh_artist(context: Any, item_id: int) -> int:
    """The `metadata.artist` job; returns the number of provider errors."""
    settings = _settings()
    if not providers_on(settings):
        return 0
    async with context.app.connector.pool.connection() as conn:
        return len(await fetch_artist(conn, settings, item_id))


@jobs.task(ALBUM_TASK, queue="metadata", pass_context=True)
async def refresh_album(context: Any, item_id: int) -> int:
    """The `metadata.album` job; returns the number of provider errors."""
    settings = _settings()
    if not providers_on(settings):
        return 0
    async with context.app.connector.pool.connection() as conn:
        return len(await fetch_album(conn, settings, item_id))


@jobs.task(SWEEP_TASK, queue="metadata", pass_context=True, cron="*/15 * * * *")
async def refresh_expired(context: Any, timestamp: int | None = None) -> int:
    """Queue a fetch for every expired artist_info/album_info row (at most SWEEP_LIMIT of each,
    oldest expiry first); returns how many were queued."""
    if not providers_on(_settings()):
        return 0
    queued = 0
    async with context.app.connector.pool.connection() as conn:
        for table, key, task in (("artist_info", "artist_id", ARTIST_TASK), ("album_info", "album_id", ALBUM_TASK)):
            query = sql.SQL("SELECT {key} FROM {table} WHERE expires_at <= now() ORDER BY expires_at, {key}"
                            " LIMIT %s").format(key=sql.Identifier(key), table=sql.Identifier(table))
            cur = await conn.execute(query, (SWEEP_LIMIT,))
            for (item_id,) in await cur.fetchall():
                if await jobs.defer(context.app, task, queueing_lock=f"{task}:{item_id}", item_id=item_id):
                    queued += 1
    return queued
