"""The peer: supysonic 0.7.9 (SQLite, waitress) in a venv of its own in the bench work dir.

    venv = ensure_supysonic(work)                 # work/supysonic-venv, pip install once
    with Supysonic(venv, work / "supysonic-10000", library) as peer:
        peer.scan()                                # supysonic-cli folder scan --foreground
        peer.serve(port)                           # supysonic-server -S waitress --threads 4

Setup as in shared/docs/infra-notes.md §7: config in ./supysonic.conf of its work dir,
user added with supysonic-cli, legacy password auth only (no token auth).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.load import TreeSampler

VERSION = "0.7.9"
USER, PASSWORD = "bench", "bench-pass"


def ensure_supysonic(work: Path, log: Any = print) -> Path:
    """A venv with supysonic==0.7.9 and waitress, made with this Python (cached)."""
    venv = work / "supysonic-venv"
    marker = venv / f".supysonic-{VERSION}"
    if marker.is_file():
        return venv
    log(f"installing supysonic {VERSION} + waitress into {venv} ...")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            f"supysonic=={VERSION}",
            "waitress",
        ],
        check=True,
    )
    marker.touch()
    return venv


class PeerProcess:
    """A peer server run as a subprocess (`self.proc`), stopped on exit of a `with`."""

    proc: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Terminate the server (kill after 15 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> PeerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Supysonic(PeerProcess):
    def __init__(self, venv: Path, home: Path, library: Path) -> None:
        self.venv, self.home, self.library = venv, home, library
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        env["HOME"] = str(self.home)
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '')}"
        return env

    def _cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.venv / "bin" / "supysonic-cli"), *args],
            cwd=self.home,
            env=self._env(),
            check=check,
            capture_output=True,
            text=True,
        )

    def prepare(self) -> None:
        """A fresh database: config, admin user, the music folder."""
        if self.home.exists():
            import shutil

            shutil.rmtree(self.home)
        (self.home / "cache").mkdir(parents=True)
        (self.home / "supysonic.conf").write_text(f"""[base]
database_uri = sqlite:///{self.home}/supysonic.db
scanner_extensions = flac mp3 ogg opus m4a wav
[webapp]
cache_dir = {self.home}/cache
log_level = WARNING
[daemon]
socket = {self.home}/supysonic.sock
run_watcher = no
""")
        self._cli("user", "add", USER, "-p", PASSWORD)
        self._cli("user", "setroles", "-A", USER)
        self._cli("folder", "add", "music", str(self.library))

    def scan(self) -> dict[str, Any]:
        """Cold scan of the library; wall seconds and peak RSS of the scanning process tree."""
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(self.venv / "bin" / "supysonic-cli"), "folder", "scan", "--foreground", "music"],
            cwd=self.home,
            env=self._env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        with TreeSampler(proc.pid) as sampler:
            out, _ = proc.communicate()
        seconds = time.perf_counter() - t0
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"supysonic scan failed ({proc.returncode}):\n{text[-2000:]}")
        added = re.findall(r"(\d+) tracks? added|Added:?\s*(\d+)|(\d+) added", text)
        return {
            "seconds": round(seconds, 2),
            "peak_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
            "output": text.strip().splitlines()[-3:],
            "added_raw": added[:3],
        }

    def serve(self, port: int, threads: int = 4) -> None:
        self.port = port
        log = open(self.home / "server.log", "wb")  # noqa: SIM115  (closed with the process)
        self.proc = subprocess.Popen(
            [
                str(self.venv / "bin" / "supysonic-server"),
                "-S",
                "waitress",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "--threads",
                str(threads),
            ],
            cwd=self.home,
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
