"""The command line, run as a user or a container would: `python -m orbsonic ...`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import SECRET, wait_ready


def orbsonic(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orbsonic", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def env(fresh_db: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": fresh_db, "ORBSONIC_DATA_DIR": str(tmp_path / "data"),
            "ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOG_LEVEL": "warning"}


def test_user_commands(env: dict[str, str]) -> None:
    r = orbsonic("user", "add", "carol", "--password", "s3cret pw", "--admin", "--email", "c@example.org",
                 env=env)
    assert r.returncode == 0, r.stderr
    r = orbsonic("user", "add", "dave", env={**env, "ORBSONIC_PASSWORD": "from-env"})
    assert r.returncode == 0, r.stderr
    listed = orbsonic("user", "list", env=env).stdout
    assert re.search(r"^carol\tadmin\tc@example.org", listed, re.M) and re.search(r"^dave\tuser", listed, re.M)
    dup = orbsonic("user", "add", "carol", "--password", "x", env=env)
    assert dup.returncode == 2 and "already exists" in dup.stderr
    assert orbsonic("user", "passwd", "dave", "--password", "new pw", env=env).returncode == 0
    missing = orbsonic("user", "passwd", "nobody", "--password", "x", env=env)
    assert missing.returncode == 2 and "not found" in missing.stderr

    key = orbsonic("user", "apikey", "dave", "--name", "phone", env=env).stdout.strip()
    assert len(key) >= 40
    keys = orbsonic("user", "apikey", "dave", "--list", env=env).stdout
    assert "phone" in keys and key not in keys  # only a digest is stored
    key_id = keys.split("\t", 1)[0]
    assert orbsonic("user", "apikey", "dave", "--revoke", key_id, env=env).returncode == 0
    assert "phone" not in orbsonic("user", "apikey", "dave", "--list", env=env).stdout


def test_migrate_is_idempotent(env: dict[str, str]) -> None:
    r = orbsonic("migrate", env=env)
    assert r.returncode == 0 and "up to date" in r.stdout


def test_refuses_a_newer_database(env: dict[str, str], fresh_db: str) -> None:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    r = orbsonic("scan", env=env)
    assert r.returncode == 2 and "newer" in r.stderr


def test_bad_configuration_is_a_clear_error(env: dict[str, str]) -> None:
    r = orbsonic("scan", env={**env, "ORBSONIC_SCAN_INTERVAL": "sometimes"})
    assert r.returncode == 2 and "ORBSONIC_SCAN_INTERVAL" in r.stderr


def _serve(env: dict[str, str], port: int, folder: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "orbsonic", "serve", str(folder), "--host", "127.0.0.1",
                             "--port", str(port), "--no-scan"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_ready(url: str, proc: subprocess.Popen[str]) -> None:
    wait_ready(url, lambda: proc.poll() is None, lambda: proc.stdout.read() if proc.stdout else "", 60)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_first_start_prints_a_generated_admin_password_once(env: dict[str, str], tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(env, port, music)
    try:
        _wait_ready(url, proc)
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    m = re.search(r"Created admin user 'admin' with password: (\S+)", out)
    assert m, out
    proc = _serve(env, port, music)
    try:
        _wait_ready(url, proc)
        r = httpx.get(f"{url}/rest/ping", params={"u": "admin", "p": m.group(1), "v": "1.16.1", "c": "t",
                                                   "f": "json"})
        assert r.json()["subsonic-response"]["status"] == "ok"
    finally:
        proc.terminate()
        again = proc.communicate(timeout=30)[0]
    assert "Created admin user" not in again


def test_admin_from_environment(env: dict[str, str], tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve({**env, "ORBSONIC_ADMIN_USER": "boss", "ORBSONIC_ADMIN_PASSWORD": "hunter22"}, port, music)
    try:
        _wait_ready(url, proc)
        r = httpx.get(f"{url}/rest/getUser", params={"u": "boss", "p": "hunter22", "v": "1.16.1", "c": "t",
                                                      "f": "json", "username": "boss"})
        user = r.json()["subsonic-response"]["user"]
        assert user["adminRole"] is True
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    finally:
        proc.terminate()
        out = proc.communicate(timeout=30)[0]
    assert "Created admin user" not in out  # the password was given, nothing to print


def test_serve_stops_its_embedded_postgres_on_sigterm(tmp_path: Path) -> None:
    """Without DATABASE_URL, serve starts PostgreSQL in the data dir and stops it on exit —
    also on SIGTERM (containers, systemd), after which uvicorn re-raises the signal."""
    from orbsonic.db.embedded import EmbeddedPostgres

    music = tmp_path / "music"
    music.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ORBSONIC_DATABASE_URL")}
    env.update(ORBSONIC_DATA_DIR=str(tmp_path / "data"), ORBSONIC_SECRET_KEY=SECRET,
               ORBSONIC_ADMIN_PASSWORD="pw", ORBSONIC_PG_NO_SYNC="1")
    port = _free_port()
    proc = _serve(env, port, music)
    try:
        _wait_ready(f"http://127.0.0.1:{port}", proc)
        pg_data = EmbeddedPostgres(tmp_path / "data" / "pgdata").data_dir
        assert (pg_data / "postmaster.pid").is_file()
    finally:
        proc.terminate()
        out = proc.communicate(timeout=60)[0]
    try:
        assert proc.returncode == 0, out
        assert "stopped PostgreSQL" in out
        assert not (pg_data / "postmaster.pid").exists()
    finally:
        import shutil

        shutil.rmtree(pg_data, ignore_errors=True)  # as root it was relocated under /var/lib/orbsonic
