"""The podcast jobs (orbsonic/jobs): refresh a channel's feed, refresh every channel that is
due (a periodic task), download an episode.

* `podcasts.refresh` (channel_id): fetch the feed (≤ `podcast_feed_max_mb`), parse it, add new
  episodes and update known ones, fetch the channel image when it changed. A feed that cannot
  be fetched (404, timeout, too big, a redirect loop) or read (HTML, garbage) marks the channel
  `error` with the reason; its title, episodes and files stay.
* `podcasts.refresh_due` (every 15 minutes): queues a refresh of each channel not refreshed for
  `podcast_refresh_interval` (0 turns scheduled refreshes off).
* `podcasts.download` (episode_id): the enclosure into DATA_DIR/podcasts/<channel>/<episode>.<suffix>
  (≤ `podcast_episode_max_mb`), probed with mutagen for duration and bitrate, then `completed`;
  any failure marks it `error` with the reason.

Every task is idempotent (a worker that dies mid-job has it run again): a refresh upserts by
guid, a download only acts on an episode still marked `downloading`.
"""

from __future__ import annotations

import io
import logging
import mimetypes
import time
from pathlib import Path
from typing import Any

import anyio

from orbsonic import jobs
from orbsonic.errors import NotFound
from orbsonic.http.ssrf import AddressPolicy
from orbsonic.library import podcasts
from orbsonic.podcasts.feed import FeedError, parse
from orbsonic.podcasts.fetch import FetchError, download, fetch

log = logging.getLogger("orbsonic.podcasts")

REFRESH = "podcasts.refresh"
REFRESH_DUE = "podcasts.refresh_due"
DOWNLOAD = "podcasts.download"
MAX_IMAGE_BYTES = 10 * 1024 * 1024
_IMAGE_SUFFIX = {"JPEG": "jpg", "PNG": "png", "GIF": "gif", "WEBP": "webp", "BMP": "bmp"}
_AUDIO_TYPES = {"mp3": "audio/mpeg", "m4a": "audio/mp4", "aac": "audio/aac", "ogg": "audio/ogg",
                "oga": "audio/ogg", "opus": "audio/ogg", "flac": "audio/flac", "wav": "audio/wav",
                "mp4": "audio/mp4"}
_TYPE_SUFFIX = {"audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/mp4": "m4a", "audio/x-m4a": "m4a",
                "audio/aac": "aac", "audio/ogg": "ogg", "audio/opus": "opus", "audio/flac": "flac",
                "audio/x-flac": "flac", "audio/wav": "wav", "audio/x-wav": "wav"}


def _settings() -> Any:
    from orbsonic.config import load_settings

    return load_settings()


def address_policy(settings: Any) -> AddressPolicy:
    """The SSRF guard's policy from the settings `podcast_allow_networks` and
    `podcast_dns_servers` (both checked at load)."""
    return AddressPolicy.parse(settings.podcast_allow_networks, settings.podcast_dns_servers)


def _pool(context: Any) -> Any:
    return context.app.connector.pool


async def defer_refresh(app: Any, channel_id: int) -> int | None:
    """Queue a refresh of one channel (at most one waiting and one running per channel)."""
    name = f"podcast-refresh:{channel_id}"
    return await jobs.defer(app, REFRESH, lock=name, queueing_lock=name, channel_id=channel_id)


async def defer_download(app: Any, episode_id: int) -> int | None:
    """Queue the download of one episode (at most one waiting and one running per episode)."""
    name = f"podcast-download:{episode_id}"
    return await jobs.defer(app, DOWNLOAD, lock=name, queueing_lock=name, episode_id=episode_id)


@jobs.task(REFRESH, queue="podcasts", pass_context=True, retry=1)
async def refresh(context: Any, channel_id: int) -> str:
    """Refresh one channel; returns its new status ("completed", "error", or "gone"). No
    database connection is held while the feed or the image downloads."""
    settings = _settings()
    pool = _pool(context)
    async with pool.connection() as conn, conn.transaction():
        channel = await podcasts.start_refresh(conn, channel_id)
    if channel is None:
        return "gone"
    try:
        max_bytes = settings.podcast_feed_max_mb * 1024 * 1024
        fetched = await fetch(channel.url, max_bytes, address_policy(settings))
        feed = parse(fetched.data, fetched.url)
    except (FetchError, FeedError) as exc:
        log.info("podcast channel %d (%s): %s", channel_id, channel.url, exc)
        async with pool.connection() as conn, conn.transaction():
            await podcasts.channel_failed(conn, channel_id, str(exc))
        return "error"
    try:
        async with pool.connection() as conn, conn.transaction():
            added = await podcasts.save_feed(conn, channel_id, feed)
    except NotFound:  # unsubscribed while the feed downloaded
        return "gone"
    log.info("podcast channel %d: %d new episode(s)", channel_id, added)
    if feed.image_url and (feed.image_url != channel.image_url or not channel.image_key):
        await _store_image(pool, channel_id, feed.image_url, settings)
    return "completed"


async def _store_image(pool: Any, channel_id: int, url: str, settings: Any) -> None:
    """Fetch and keep a channel's image as DATA_DIR/podcasts/<channel>/cover.<ext>. A missing or
    broken image is logged and leaves the channel without a (new) cover, nothing else."""
    try:
        fetched = await fetch(url, MAX_IMAGE_BYTES, address_policy(settings), deadline_s=60.0)
        suffix = await anyio.to_thread.run_sync(_image_suffix, fetched.data)
    except (FetchError, ValueError) as exc:
        log.info("podcast channel %d: no cover from %s: %s", channel_id, url, exc)
        return
    from orbsonic.storage.local import LocalStorage

    key = f"{channel_id}/cover.{suffix}"
    storage = LocalStorage(podcasts.podcast_dir(settings.data_dir))
    await anyio.to_thread.run_sync(storage.put, key, fetched.data)
    async with pool.connection() as conn, conn.transaction():
        await podcasts.set_image(conn, channel_id, key, int(time.time()))


def _image_suffix(data: bytes) -> str:
    """The file suffix of an image Pillow can read. Raises ValueError for anything else."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
            fmt = img.format or ""
    except Exception as exc:  # noqa: BLE001  (Pillow raises many types for bad images)
        raise ValueError(f"not an image ({type(exc).__name__})") from None
    if fmt not in _IMAGE_SUFFIX:
        raise ValueError(f"unsupported image format {fmt or '?'}")
    return _IMAGE_SUFFIX[fmt]


@jobs.task(REFRESH_DUE, queue="podcasts", pass_context=True, cron="*/15 * * * *")
async def refresh_due(context: Any, timestamp: int | None = None) -> int:
    """Queue a refresh of every channel due (periodic; `timestamp` from procrastinate).
    Returns how many were queued."""
    interval = _settings().podcast_refresh_interval
    if interval <= 0:
        return 0
    async with _pool(context).connection() as conn, conn.transaction():
        due = await podcasts.due_channels(conn, interval)
    for channel_id in due:
        await defer_refresh(context.app, channel_id)
    return len(due)


def _suffix(url: str, content_type: str, feed_type: str | None) -> str:
    """The episode file's suffix: from the URL path, else the Content-Type, else mp3."""
    path = url.split("?", 1)[0].split("#", 1)[0].rsplit("/", 1)[-1].lower()
    ext = path.rsplit(".", 1)[-1] if "." in path else ""
    if ext in _AUDIO_TYPES:
        return ext
    for mime in (content_type, feed_type or ""):
        mime = mime.split(";")[0].strip().lower()
        if mime in _TYPE_SUFFIX:
            return _TYPE_SUFFIX[mime]
        guess = mimetypes.guess_extension(mime) if mime else None
        if guess and guess[1:] in _AUDIO_TYPES:
            return guess[1:]
    return "mp3"


def _probe(path: Path) -> tuple[int | None, int | None]:
    """(duration ms, bitrate kbps) of an audio file read with mutagen; (None, None) when it
    cannot tell. Raises ValueError when the file is no audio mutagen knows (an HTML page)."""
    import mutagen

    try:
        audio = mutagen.File(path)
    except Exception as exc:  # noqa: BLE001  (mutagen raises its own error per format)
        raise ValueError(f"not a readable audio file ({type(exc).__name__})") from None
    if audio is None or audio.info is None:
        raise ValueError("not an audio file")
    length = getattr(audio.info, "length", 0) or 0
    bitrate = getattr(audio.info, "bitrate", 0) or 0
    return (round(length * 1000) or None, round(bitrate / 1000) or None)


@jobs.task(DOWNLOAD, queue="podcasts", pass_context=True, retry=1)
async def download_episode(context: Any, episode_id: int) -> str:
    """Download one episode; returns its status ("completed", "error", or "skipped" when it no
    longer waits for a download). No database connection is held while the file downloads."""
    settings = _settings()
    root = podcasts.podcast_dir(settings.data_dir)
    pool = _pool(context)
    async with pool.connection() as conn, conn.transaction():
        pending = await podcasts.pending_download(conn, episode_id)
    if pending is None:
        return "skipped"
    suffix = _suffix(pending.audio_url, "", pending.feed_type)
    name = f"{episode_id}.{suffix}"
    try:
        got = await download(pending.audio_url, root / str(pending.channel_id), name,
                             settings.podcast_episode_max_mb * 1024 * 1024, address_policy(settings))
        duration_ms, bitrate = await anyio.to_thread.run_sync(_probe, got.path)
    except (FetchError, ValueError) as exc:
        (root / str(pending.channel_id) / name).unlink(missing_ok=True)
        log.info("podcast episode %d: %s", episode_id, exc)
        async with pool.connection() as conn, conn.transaction():
            await podcasts.download_failed(conn, episode_id, str(exc))
        return "error"
    async with pool.connection() as conn, conn.transaction():
        kept = await podcasts.finish_download(conn, episode_id, f"{pending.channel_id}/{name}", got.size,
                                              _AUDIO_TYPES[suffix], suffix, duration_ms, bitrate)
    if not kept:  # deleted while it downloaded
        got.path.unlink(missing_ok=True)
        return "skipped"
    return "completed"


def remove_files(data_dir: Path, keys: list[str]) -> None:
    """Delete stored podcast files by key (missing ones are fine). Blocking."""
    from orbsonic.storage.local import LocalStorage

    storage = LocalStorage(podcasts.podcast_dir(data_dir))
    for key in keys:
        try:
            storage.delete(key)
        except Exception as exc:  # noqa: BLE001  (a bad key or a gone file: nothing to delete)
            log.debug("cannot delete podcast file %s: %s", key, exc)


def remove_channel_files(data_dir: Path, channel_id: int) -> None:
    """Delete a channel's folder (episodes and cover). Blocking."""
    import shutil

    shutil.rmtree(podcasts.podcast_dir(data_dir) / str(int(channel_id)), ignore_errors=True)
