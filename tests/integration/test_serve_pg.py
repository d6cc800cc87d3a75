"""`orbsonic serve` processes and their embedded PostgreSQL (issue 6 §1): two on one data dir,
a SIGKILLed one, and a PostgreSQL that dies under a running server.

Real `python -m orbsonic serve` subprocesses on loopback ports, without DATABASE_URL.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orbsonic.db.embedded import EmbeddedPostgres
from tests.conftest import SECRET, wait_ready

PASSWORD = "pw"
# A request that hangs on a dead database waited 30 s before; these bounds tell the two apart.
FAST_S = 5.0


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    system_dir = Path(tempfile.mkdtemp(prefix="orbsonic-pgsys-"))
    system_dir.chmod(0o755)  # as root the cluster is relocated here, not under /var/lib/orbsonic
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ORBSONIC_DATABASE_URL")}
    env.update(ORBSONIC_DATA_DIR=str(tmp_path / "data"), ORBSONIC_SECRET_KEY=SECRET,
               ORBSONIC_ADMIN_PASSWORD=PASSWORD, ORBSONIC_PG_NO_SYNC="1",
               ORBSONIC_PG_SYSTEM_DIR=str(system_dir), ORBSONIC_LOG_LEVEL="info")
    (tmp_path / "music").mkdir()
    yield env
    pid = _postmaster_pid(tmp_path / "data")
    if pid is not None:  # a failed test must not leave a server behind
        os.kill(pid, signal.SIGINT)
    shutil.rmtree(system_dir, ignore_errors=True)


class Serve:
    """One `orbsonic serve` subprocess on a free port."""

    def __init__(self, env: dict[str, str], music: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "orbsonic", "serve", str(music), "--host",
                                      "127.0.0.1", "--port", str(self.port), "--no-scan"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_ready(self.url, lambda: self.proc.poll() is None, lambda: self.proc.communicate(timeout=5)[0])

    def call(self, method: str = "getAlbumList2") -> dict[str, object]:
        r = httpx.get(f"{self.url}/rest/{method}", timeout=FAST_S * 4,
                      params={"u": "admin", "p": PASSWORD, "v": "1.16.1", "c": "t", "f": "json",
                              "type": "newest"})
        return r.json()["subsonic-response"]

    def stop(self, sig: int = signal.SIGTERM) -> str:
        self.proc.send_signal(sig)
        out = self.proc.communicate(timeout=60)[0]
        if sig == signal.SIGTERM:
            assert self.proc.returncode == 0, out
        return out


def _postmaster_pid(data_dir: Path) -> int | None:
    pid_file = EmbeddedPostgres(data_dir / "pgdata").data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError, IndexError):
        return None


def test_two_serves_on_one_data_dir_the_last_one_out_stops_postgres(env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    """The second serve attaches to the first's PostgreSQL; stopping the first leaves it to the
    second (before, it stopped PostgreSQL under the second, whose requests then hung 30 s)."""
    data, music = tmp_path / "data", tmp_path / "music"
    first = Serve(env, music)
    pid = _postmaster_pid(data)
    second = Serve(env, music)
    try:
        assert _postmaster_pid(data) == pid  # attached, not a second server
        out = first.stop()
        assert "leaving PostgreSQL" in out and "running" in out, out
        t0 = time.monotonic()
        assert second.call()["status"] == "ok"
        assert time.monotonic() - t0 < FAST_S
        assert _postmaster_pid(data) == pid
    finally:
        out = second.stop()
    assert "stopped PostgreSQL" in out, out
    assert _postmaster_pid(data) is None


def test_postgres_left_by_a_killed_serve_is_stopped_by_the_next(env: dict[str, str], tmp_path: Path) -> None:
    data, music = tmp_path / "data", tmp_path / "music"
    killed = Serve(env, music)
    killed.stop(signal.SIGKILL)
    pid = _postmaster_pid(data)
    assert pid is not None  # nobody could stop it
    later = Serve(env, music)
    try:
        assert later.call()["status"] == "ok"
        assert _postmaster_pid(data) == pid
    finally:
        later.stop()
    assert _postmaster_pid(data) is None  # the last one out stopped it


def test_postgres_that_dies_under_serve_is_restarted(env: dict[str, str], tmp_path: Path) -> None:
    """SIGKILL the postmaster under a running serve: requests fail fast with the clean envelope
    meanwhile, the server restarts PostgreSQL on the same port, and requests succeed again."""
    data, music = tmp_path / "data", tmp_path / "music"
    serve = Serve(env, music)
    try:
        assert serve.call()["status"] == "ok"
        pid = _postmaster_pid(data)
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        answers: list[str] = []
        deadline = time.monotonic() + 90
        while True:
            t0 = time.monotonic()
            body = serve.call()
            assert time.monotonic() - t0 < FAST_S
            if body["status"] == "ok":
                break
            answers.append(body["error"]["message"])  # type: ignore[index]
            assert time.monotonic() < deadline, answers[-5:]
            time.sleep(0.2)
        assert set(answers) <= {"database unavailable"}
        new_pid = _postmaster_pid(data)
        assert new_pid is not None and new_pid != pid
        assert httpx.get(f"{serve.url}/readyz", timeout=FAST_S).status_code == 200
    finally:
        out = serve.stop()
    assert "restarted the embedded PostgreSQL" in out, out
    assert _postmaster_pid(data) is None
