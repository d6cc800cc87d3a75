"""Helpers of the multi-process tests (test_replicas.py, test_pgbouncer.py): `orbsonic serve`
and `orbsonic worker` as real subprocesses on loopback, and a Subsonic call against one of them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import SECRET, wait_ready

PASSWORD = "replica-admin-pw"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(data_dir: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The environment of one replica: its own data dir, the shared database, the shared key."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ORBSONIC_") and k not in ("DATABASE_URL", "VALKEY_URL")}
    env.update(DATABASE_URL=database_url, ORBSONIC_DATA_DIR=str(data_dir), ORBSONIC_SECRET_KEY=SECRET,
               ORBSONIC_ADMIN_PASSWORD=PASSWORD, ORBSONIC_LOG_LEVEL="info",
               ORBSONIC_LOGIN_MAX_FAILURES="0", **extra)
    return env


class Process:
    """A `python -m orbsonic …` subprocess whose output goes to a log file (read on failure)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "orbsonic", *args], env=env,
                                     stdout=self._out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def output(self) -> str:
        """Everything the process printed so far."""
        self._out.flush()
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """Send `sig` and wait for the exit; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._out.close()
        return self.proc.returncode


class Replica(Process):
    """One `orbsonic serve` on a free loopback port, waited for until /readyz answers 200."""

    def __init__(self, env: dict[str, str], music: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(["serve", str(music), "--host", "127.0.0.1", "--port", str(self.port), "--no-scan"],
                         env, log)
        wait_ready(self.url, self.alive, self.output, 120)

    def rest(self, method: str, *, auth: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
        """The `subsonic-response` object of a Subsonic call (admin password auth by default)."""
        creds = {"u": "admin", "p": PASSWORD} if auth is None else auth
        r = httpx.get(f"{self.url}/rest/{method}", timeout=30,
                      params={**creds, "v": "1.16.1", "c": "replicas", "f": "json", **params})
        assert r.status_code == 200, r.text
        return r.json()["subsonic-response"]

    def ok(self, method: str, **params: Any) -> dict[str, Any]:
        """A Subsonic call that must succeed."""
        body = self.rest(method, **params)
        assert body["status"] == "ok", (method, body)
        return body

    def api(self, verb: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """A native API call (`/api/v1` + path), with a Bearer credential when given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(verb, f"{self.url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def wait_until(predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
    """Poll `predicate()` until it returns something truthy (returned); AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} never held"
        time.sleep(0.2)
