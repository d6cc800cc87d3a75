"""Which PostgreSQL to use: DATABASE_URL, or the embedded one in the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from orbsonic.config import Settings
from orbsonic.db.embedded import EmbeddedPostgres
from orbsonic.db.migrate import migrate
from orbsonic.db.supervisor import Supervisor


@contextmanager
def database(settings: Settings, *, apply_migrations: bool = True, supervise: bool = True) -> Iterator[str]:
    """Yield a libpq URL: `settings.database_url`, or an embedded PostgreSQL started in
    `data_dir/pgdata` (or attached to, when another Orbsonic process runs it; on exit it is
    stopped only when no other Orbsonic process uses it). Migrations are applied first.
    With `supervise`, an embedded server that dies meanwhile is restarted on the same port
    (orbsonic.db.supervisor). Raises EmbeddedPostgresError, DatabaseTooNew."""
    if settings.database_url:
        if apply_migrations:  # a session of its own (a transaction-pooling PgBouncer may sit on DATABASE_URL)
            migrate(settings.session_url)
        yield settings.database_url
        return
    pg = EmbeddedPostgres(settings.data_dir / "pgdata")
    url = pg.start()
    try:
        if apply_migrations:
            migrate(url)
        if not supervise:
            yield url
            return
        with Supervisor(pg):
            yield url
    finally:
        pg.stop()
