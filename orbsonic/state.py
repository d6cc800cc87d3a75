"""What the app's lifespan opens once and every request handler shares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from orbsonic.auth.passwords import SecretKey
from orbsonic.config import Settings
from orbsonic.covers import CoverCache
from orbsonic.scanner.launcher import ScanLauncher
from orbsonic.transcode.response import Transcoding


@dataclass(frozen=True)
class AppState:
    """Settings, the PostgreSQL pool, the password key, the cover cache, the scan launcher,
    transcoding (ffmpeg runner + transcode cache; None in apps built without it)."""

    settings: Settings
    pool: AsyncConnectionPool
    key: SecretKey
    covers: CoverCache
    scans: ScanLauncher
    # The job queue, opened on `pool`, for enqueueing (orbsonic/jobs): `await jobs.defer(state.jobs, …)`.
    jobs: Any = None
    transcoding: Transcoding | None = None
    # Verified credentials (orbsonic.auth.cache.CredentialCache; None = every request queries).
    auth_cache: Any = None
    # Rendered per-user read answers (subsonic_api.answers.AnswerCache; None = not kept).
    answers: Any = None
    # Cover visibility per folder set for getCoverArt's fast path (orbsonic.library.cover_access).
    cover_access: Any = None
