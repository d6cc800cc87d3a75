"""The app factory: one Starlette app serving the Subsonic API and the native API.

The lifespan opens the PostgreSQL pool (psycopg docs: create with open=False, open in
the lifespan), checks the schema and the password key, and starts the background scan
triggers (on start, on a schedule, on file changes). The database itself — embedded or
DATABASE_URL — is brought up by the CLI before the HTTP workers start.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware

import native_api
import share_web
import subsonic_api
from orbsonic import eventbus, jobs, logs, webclient
from orbsonic.http import metrics as http_metrics
from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from orbsonic.config import Settings, load_settings
from orbsonic.covers import CoverCache
from orbsonic.db.migrate import check_schema
from orbsonic.auth.cache import CredentialCache
from orbsonic.db.pool import Pool
from orbsonic.kv.pgnotify import PgChannel
from subsonic_api.answers import AnswerCache
from subsonic_api.registry import ALL_METHODS
from orbsonic.kv.semaphore import open_semaphore
from orbsonic.errors import ConfigError
from orbsonic.library import jukebox
from orbsonic.library.cover_access import CoverAccess
from orbsonic.scanner.launcher import ScanLauncher
from orbsonic.state import AppState
from orbsonic.transcode.cache import TranscodeCache
from orbsonic.transcode.ffmpeg import Transcoder, find_ffmpeg
from orbsonic.transcode.response import Transcoding

log = logging.getLogger("orbsonic")
# The library's hot pages are cached (or on SSD): random reads cost about what sequential
# ones do. With the default random_page_cost (4, spinning disks) the planner prefers a seq
# scan + sort of every album artist over the artists_browse index for getArtists
# (tests/integration/test_explain.py). A session setting, so no database privilege is needed.
PLANNER_OPTIONS = "-c random_page_cost=1.1"


def pooled_connection_options(settings: Settings) -> dict[str, Any]:
    """psycopg connect options of the request pool. Behind a transaction-pooling PgBouncer
    (`database_direct_url` set) a connection's session is not ours: no prepared statements
    (PgBouncer 1.18 cannot route them) and no startup `options` (PgBouncer refuses them; set
    random_page_cost on the database or server instead, see compose.yml)."""
    if settings.database_direct_url:
        return {"prepare_threshold": None}
    return {"options": PLANNER_OPTIONS}


async def _scan_triggers(state: AppState) -> None:
    """Run the configured scan triggers until cancelled."""
    s = state.settings
    tasks = []
    if s.scan_on_start:
        await state.scans.start()
    if s.scan_interval_s > 0:
        tasks.append(asyncio.create_task(_every(state, s.scan_interval_s)))
    if s.scan_watch and s.music_folders:
        tasks.append(asyncio.create_task(_watch(state)))
    try:
        await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()


async def _housekeeping(state: AppState, every_s: int = 3600) -> None:
    """Keep the cover and transcode caches within their sizes (least recently used first)."""
    while True:
        removed = await asyncio.to_thread(state.covers.prune)
        if removed:
            log.info("cover cache: removed %d files", removed)
        if state.transcoding is not None and state.transcoding.cache.enabled:
            removed = await asyncio.to_thread(state.transcoding.cache.prune)
            if removed:
                log.info("transcode cache: removed %d entries", removed)
        await asyncio.sleep(every_s)


async def _warm_songs(state: AppState) -> None:
    """Shape the library's songs into the song cache once, in the background, after start
    (subsonic_api/song_cache.py warm_up); a failure costs only the head start."""
    from subsonic_api.song_cache import warm_up

    assert state.answers is not None
    try:
        await asyncio.sleep(1.0)  # the LISTEN connection and the first requests first
        shaped = await warm_up(state.answers.songs, state.pool)
        log.info("song cache: %d songs shaped ahead", shaped)
    except Exception as exc:  # noqa: BLE001  (PostgreSQL away at start: lists fill it later)
        log.warning("song cache warm-up stopped: %s", exc)


async def _every(state: AppState, seconds: int) -> None:
    while True:
        await asyncio.sleep(seconds)
        await state.scans.start()


async def _watch(state: AppState) -> None:
    """Rescan a few seconds after files stop changing (debounced like Navidrome's watcher)."""
    from watchfiles import awatch

    local = [f for f in state.settings.music_folders if not isinstance(f, str)]  # not s3:// ones
    if not local:
        return
    async for _changes in awatch(*local, debounce=5000, step=500,
                                 recursive=True, ignore_permission_denied=True):
        await state.scans.start()


def create_app(settings: Settings, database_url: str, *, background: bool = True,
               pool_kwargs: dict[str, Any] | None = None) -> Starlette:
    """Build the app for a migrated database at `database_url`. With background=False no
    scan is triggered by the app itself (tests drive scans directly). `pool_kwargs` are
    passed to every pooled connection (tests install an EXPLAIN-recording cursor_factory)."""
    from orbsonic.storage import s3

    s3.configure(s3.S3Config.from_settings(settings))  # s3:// music folders (orbsonic/storage/s3.py)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await asyncio.to_thread(check_schema, database_url)
        # Pool fails fast while PostgreSQL is down and serves again as soon as it is back
        # (orbsonic/db/pool.py, issue 6 §1).
        pool = Pool(database_url, min_size=2, max_size=20, open=False, name="orbsonic",
                    kwargs={**pooled_connection_options(settings), **(pool_kwargs or {})})
        await pool.open(wait=True, timeout=30)
        tasks: list[asyncio.Task[None]] = []
        state: AppState | None = None
        # LISTEN and the scanner's lock need a session: not a transaction-pooling PgBouncer.
        session_url = settings.database_direct_url or database_url
        scans = ScanLauncher(session_url, settings.music_folders)
        try:
            key = SecretKey.load_or_create(settings.secret_key, settings.data_dir)
            async with pool.connection() as conn:
                await users.verify_secret_key(conn, key)
            covers = CoverCache(settings.cover_cache_dir, settings.cover_cache_size_mb * 1024 * 1024)
            # ffmpeg is CPU: the slots are per machine, shared by its workers (orbsonic/kv).
            slots = open_semaphore(f"transcode:{socket.gethostname()}", settings.transcode_max_concurrent,
                                   processes=settings.workers, pool=pool, valkey_url=settings.valkey_url)
            transcoding = Transcoding(
                Transcoder(find_ffmpeg(settings.ffmpeg), slots, settings.transcode_queue_wait_s),
                TranscodeCache(settings.transcode_cache_dir, settings.transcode_cache_size_mb * 1024 * 1024))
            job_queue = await jobs.open_app(pool)
            scans.jobs, scans.pool = job_queue, pool  # scans are jobs while a worker is alive
            # Invalidations reach every worker and replica through the database (LISTEN).
            auth_cache = None
            channel = PgChannel(session_url)
            answers = None  # subscribes before the LISTEN connection opens
            if settings.answer_cache_mb > 0:
                answers = AnswerCache(channel, max_bytes=settings.answer_cache_mb * 1024 * 1024)
            cover_access = CoverAccess(channel)
            if settings.auth_cache_ttl > 0:
                auth_cache = CredentialCache(channel, ttl_s=settings.auth_cache_ttl)
            await asyncio.to_thread(channel.start)
            state = AppState(settings, pool, key, covers, scans, job_queue, transcoding,
                             auth_cache=auth_cache, answers=answers, cover_access=cover_access)
            app.state.orbsonic = state
            # real-time events: PostgreSQL LISTEN, or Valkey pub/sub with VALKEY_URL (orbsonic/eventbus.py)
            app.state.events = await eventbus.started(session_url, settings.valkey_url)
            if background:
                tasks = [asyncio.create_task(_scan_triggers(state)),
                         asyncio.create_task(_housekeeping(state))]
                if answers is not None:
                    tasks.append(asyncio.create_task(_warm_songs(state)))
            yield
        finally:
            for task in tasks:
                task.cancel()
            if app_state := getattr(app.state, "orbsonic", None):
                for proc in list(app_state.transcoding.transcoder.running.values()):
                    await proc.close()  # no ffmpeg outlives the server
                await app_state.transcoding.transcoder.slots.close()
            await asyncio.to_thread(jukebox.close_player, settings)  # no mpv outlives the server
            await scans.aclose()
            if getattr(app.state, "events", None) is not None:
                await app.state.events.aclose()
            if state is not None and state.jobs is not None:
                await state.jobs.close_async()
            if state is not None and state.auth_cache is not None:
                state.auth_cache.close()
            if state is not None and state.answers is not None:
                state.answers.close()
            if state is not None and state.cover_access is not None:
                state.cover_access.close()
            await pool.close()

    # the web client's catch-all goes last: /rest, /api/v1, /healthz, /readyz, /share win
    routes = (subsonic_api.routes() + native_api.routes() + share_web.routes() + http_metrics.routes()
              + webclient.routes())
    # request ids, request metrics (orbsonic/http/metrics.py)
    middleware = [Middleware(http_metrics.RequestContext, subsonic_methods=ALL_METHODS)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware)


def app_from_env() -> Starlette:
    """uvicorn factory (`orbsonic.app:app_from_env`): settings and DATABASE_URL come from
    the environment the `orbsonic serve` command prepared for its workers."""
    settings = load_settings()
    logs.configure(settings.log_level, settings.log_format)  # a spawned worker's own logging
    if not settings.database_url:
        raise ConfigError("DATABASE_URL is not set: start the server with `orbsonic serve`")
    return create_app(settings, settings.database_url)
