"""Which PostgreSQL to use: DATABASE_URL, or the embedded one in the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orbsonic.config import Settings
from orbsonic.db.embedded import EmbeddedPostgres
from orbsonic.db.migrate import migrate


@contextmanager
def database(settings: Settings, *, apply_migrations: bool = True) -> Iterator[str]:
    """Yield a libpq URL: `settings.database_url`, or an embedded PostgreSQL started in
    `data_dir/pgdata` (stopped again on exit unless it was already running, e.g. when
    `orbsonic scan` runs next to `orbsonic serve`). Migrations are applied first.
    Raises EmbeddedPostgresError, DatabaseTooNew."""
    if settings.database_url:
        if apply_migrations:
            migrate(settings.database_url)
        yield settings.database_url
        return
    pg = EmbeddedPostgres(settings.data_dir / "pgdata")
    url = pg.start()
    try:
        if apply_migrations:
            migrate(url)
        yield url
    finally:
        pg.stop()
