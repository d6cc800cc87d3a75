"""Schema migrations: `schema/NNNN_name.sql` files applied in order, recorded in `schema_migrations`.

All pending files run in one transaction that first takes a transaction-level advisory
lock, so replicas starting together apply each file exactly once, and a failing file
leaves the database as it was. Migration files must not contain BEGIN/COMMIT, nor
statements that cannot run in a transaction block (CREATE INDEX CONCURRENTLY).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from orbsonic.errors import DatabaseTooNew, OrbsonicError

log = logging.getLogger("orbsonic.db")

MIN_SERVER_VERSION = 150000
# pg_advisory_xact_lock key for migrations: b"orbmigr" as an integer. Other advisory
# locks of Orbsonic (the scanner's) must use different keys.
MIGRATION_LOCK_KEY = 0x6F72626D696772
_FILE_RE = re.compile(r"(\d{4})_([A-Za-z0-9_]+)\.sql")


class SchemaNotMigrated(OrbsonicError):
    """The database schema is older than this Orbsonic (or empty): run the migrations first."""


class UnsupportedPostgres(OrbsonicError):
    """The PostgreSQL server is older than 15."""


@dataclass(frozen=True)
class Migration:
    """One schema file: `version` 1 for `0001_init.sql`, `name` "init", `path` the file."""

    version: int
    name: str
    path: Path

    @property
    def label(self) -> str:
        """"0001_init": the file name without .sql."""
        return self.path.stem


def schema_dir() -> Path:
    """The directory of the migration files: the repo's `schema/`, or `orbsonic/_schema` in a wheel.

    Raises OrbsonicError when neither exists.
    """
    here = Path(__file__).resolve()
    for cand in (here.parents[2] / "schema", here.parents[1] / "_schema"):
        if cand.is_dir() and any(cand.glob("*.sql")):
            return cand
    raise OrbsonicError(f"no schema directory found next to {here.parents[1]} (schema/ or orbsonic/_schema)")


def migrations(directory: Path | None = None) -> list[Migration]:
    """The migration files of `directory` (default `schema_dir()`), by ascending version.

    Files not named NNNN_name.sql are ignored; raises OrbsonicError on a duplicate version.
    """
    directory = directory or schema_dir()
    found: dict[int, Migration] = {}
    for path in directory.glob("*.sql"):
        m = _FILE_RE.fullmatch(path.name)
        if not m:
            log.warning("ignoring %s: migration files are named NNNN_name.sql", path)
            continue
        mig = Migration(int(m.group(1)), m.group(2), path)
        if mig.version in found:
            raise OrbsonicError(f"two migrations with version {mig.version}: {found[mig.version].path} and "
                                f"{path}")
        found[mig.version] = mig
    return [found[v] for v in sorted(found)]


def _check_server(conn: psycopg.Connection[Any]) -> None:
    version = conn.info.server_version
    if version < MIN_SERVER_VERSION:
        major, minor = divmod(version, 10000)
        raise UnsupportedPostgres(
            f"PostgreSQL {major}.{minor} at {conn.info.host}:{conn.info.port} is too old: "
            "Orbsonic needs PostgreSQL 15 or newer"
        )


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest applied migration version, 0 when none is (no `schema_migrations` table).

    Runs in `conn`'s current transaction (opening one unless autocommit).
    """
    cur = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = cur.fetchone()
    if row is None or not row[0]:
        return 0
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
    return int(row[0]) if row else 0


def _too_new(db_version: int, known: int) -> DatabaseTooNew:
    return DatabaseTooNew(f"database schema version {db_version} is newer than this Orbsonic "
                          f"(knows up to {known}): upgrade Orbsonic")


def migrate(conninfo: str, *, directory: Path | None = None) -> list[str]:
    """Apply every pending migration; return the labels applied, e.g. ["0001_init"], [] if none.

    One transaction under pg_advisory_xact_lock(MIGRATION_LOCK_KEY); `directory` defaults to
    `schema_dir()`. Raises DatabaseTooNew (applying nothing) when the database has a newer
    version than the newest file, UnsupportedPostgres below PostgreSQL 15, and psycopg
    errors from a failing file (after rolling everything back).
    """
    files = migrations(directory)
    newest = files[-1].version if files else 0
    with psycopg.connect(conninfo) as conn:
        _check_server(conn)
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version integer PRIMARY KEY, name text NOT NULL,"
                " applied_at timestamptz NOT NULL DEFAULT now())"
            )
            current = schema_version(conn)
            if current > newest:
                raise _too_new(current, newest)
            applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_migrations")}
            done: list[str] = []
            for mig in files:
                if mig.version in applied:
                    continue
                log.info("applying schema migration %s", mig.label)
                try:
                    conn.execute(mig.path.read_text(encoding="utf-8"))
                except psycopg.Error as exc:
                    exc.add_note(f"in schema migration {mig.path}")
                    raise
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (mig.version, mig.name)
                )
                done.append(mig.label)
            # The job queue's own tables (procrastinate), under the same lock and transaction;
            # only with Orbsonic's own schema (tests migrate made-up schema directories too).
            if directory is None:
                from orbsonic.jobs.schema import ensure_schema

                if (jobs := ensure_schema(conn)) is not None:
                    log.info("job queue schema %s", jobs)
    if done:
        log.info("database schema now at version %d (%s)", newest, ", ".join(done))
    return done


def check_schema(conninfo: str, *, directory: Path | None = None) -> int:
    """Readiness check: return the database's schema version when it is exactly the newest known.

    Raises DatabaseTooNew when it is newer, SchemaNotMigrated when older or empty,
    UnsupportedPostgres below PostgreSQL 15, psycopg.OperationalError when unreachable.
    """
    with psycopg.connect(conninfo, autocommit=True) as conn:
        _check_server(conn)
        current = schema_version(conn)
    return expect_schema(current, directory)


async def check_schema_async(conn: psycopg.AsyncConnection[Any]) -> int:
    """`check_schema` on an open async connection (the /readyz probe): the schema version.

    Raises DatabaseTooNew, SchemaNotMigrated; psycopg errors from the queries.
    """
    cur = await conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    current = 0
    if row is not None and row[0]:
        cur = await conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations")
        current = int(row[0]) if (row := await cur.fetchone()) else 0
    return expect_schema(current)


def expect_schema(current: int, directory: Path | None = None) -> int:
    """`current` when it is the newest migration version of `directory` (default `schema_dir()`).

    Raises DatabaseTooNew when it is newer, SchemaNotMigrated when older.
    """
    files = migrations(directory)
    newest = files[-1].version if files else 0
    if current > newest:
        raise _too_new(current, newest)
    if current < newest:
        raise SchemaNotMigrated(
            f"database schema version {current} is older than this Orbsonic (needs {newest}): "
            "apply the migrations first (orbsonic.db.migrate.migrate, run at server start)"
        )
    return current
