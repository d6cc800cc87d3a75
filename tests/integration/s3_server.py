"""A real S3-compatible server on a loopback port: `moto_server` (moto[server], the test
extra; ../shared/docs/infra-notes.md §4), in its own process, that a test can stop and start
again on the same port (the store being down). Objects live in memory: a restart is empty.

moto accepts any access and secret key unless IAM authentication is turned on
(`INITIAL_NO_AUTH_ACTION_COUNT`); `auth=True` turns it on after `free_actions` requests, so a
test can create an IAM user and then see wrong keys refused.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest


def moto_binary() -> str | None:
    """The moto_server script next to this interpreter, or on the PATH."""
    here = Path(sys.executable).parent / "moto_server"
    return str(here) if here.is_file() else shutil.which("moto_server")


class MotoServer:
    """`start()` / `stop()` on one fixed port; `endpoint` (host:port) stays the same."""

    def __init__(self, *, auth: bool = False, free_actions: int = 0) -> None:
        binary = moto_binary()
        if binary is None:
            pytest.skip("no moto_server (install the test extra: moto[server])")
        self.binary, self.auth, self.free_actions = binary, auth, free_actions
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.endpoint = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> MotoServer:
        env = dict(os.environ)
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(self.free_actions)
        self.proc = subprocess.Popen([self.binary, "-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                assert self.proc.poll() is None, "moto_server exited"
                assert time.monotonic() < deadline, "moto_server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None

