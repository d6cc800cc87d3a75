"""The second peer: maneki 0.29.0 (needs Python ≥ 3.13), in a venv of its own in the bench
work dir, set up as in shared/docs/infra-notes.md §7:

    python = find_python313()                     # None: say so, skip maneki
    venv = ensure_maneki(work, python)            # work/maneki-venv, pip install once
    with Maneki(venv, work / "maneki-10000", library) as peer:
        peer.serve(port)                          # scans at startup; wait_ready() until it answers fully

Its Subsonic API is under /audio/rest; the user comes from MANEKI_SERVER__USERNAME/PASSWORD.
It writes <library>/.maneki/index.db inside the library folder (removed by `prepare`).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.peer import PeerProcess

VERSION = "0.29.0"
USER, PASSWORD = "bench", "bench-pass"
PREFIX = "/audio/rest"


def find_python313() -> str | None:
    """A Python ≥ 3.13 interpreter on this machine (PATH, then pyenv), or None."""
    for name in ("python3.14", "python3.13"):
        # A pyenv shim is on PATH even when its version is not selected, and then fails
        # with 127: only an interpreter that actually runs counts.
        if (found := shutil.which(name)) and subprocess.run(
                [found, "-c", "pass"], capture_output=True).returncode == 0:
            return found
    for pattern in ("/root/.pyenv/versions/3.1[3-9]*/bin/python3.1[3-9]",
                    os.path.expanduser("~/.pyenv/versions/3.1[3-9]*/bin/python3.1[3-9]")):
        if hits := sorted(glob.glob(pattern)):
            return hits[-1]
    return None


def ensure_maneki(work: Path, python: str, log: Any = print) -> Path:
    """A venv with maneki==VERSION made with `python` (cached by a marker file)."""
    venv = work / "maneki-venv"
    marker = venv / f".maneki-{VERSION}"
    if marker.is_file():
        return venv
    log(f"installing maneki {VERSION} into {venv} with {python} ...")
    subprocess.run([python, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
                    "--disable-pip-version-check", f"maneki=={VERSION}"], check=True)
    marker.touch()
    return venv


class Maneki(PeerProcess):
    def __init__(self, venv: Path, home: Path, library: Path) -> None:
        # Absolute: the server runs with its home as working directory.
        self.venv, self.home, self.library = venv.absolute(), home.absolute(), library.absolute()
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
        home = str(self.home)
        env.update(HOME=home, XDG_CONFIG_HOME=f"{home}/.config", XDG_CACHE_HOME=f"{home}/.cache",
                   XDG_DATA_HOME=f"{home}/.local/share", XDG_STATE_HOME=f"{home}/.local/state",
                   MANEKI_SERVER__USERNAME=USER, MANEKI_SERVER__PASSWORD=PASSWORD)
        env["PATH"] = f"{self.venv / 'bin'}:{env.get('PATH', '')}"
        return env

    def prepare(self) -> None:
        """A fresh home and no index left in the library from an earlier run."""
        if self.home.exists():
            shutil.rmtree(self.home)
        self.home.mkdir(parents=True)
        shutil.rmtree(self.library / ".maneki", ignore_errors=True)

    def serve(self, port: int) -> None:
        """Start `maneki serve` (one worker, no online image lookups); it scans at startup."""
        self.port = port
        log = open(self.home / "server.log", "wb")  # noqa: SIM115  (closed with the process)
        self.proc = subprocess.Popen(
            [str(self.venv / "bin" / "maneki"), "serve", str(self.library), "--host", "127.0.0.1",
             "--port", str(port), "--no-artist-images", "--no-cover-images", "--workers", "1"],
            cwd=self.home, env=self._env(), stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, tracks: int, timeout_s: float = 600) -> float:
        """Seconds until its startup scan is done: the songs of the first 500 albums
        (getAlbumList2 alphabeticalByName) stop growing for 3 polls in a row. (`search3`
        with an empty query finds nothing on maneki, so it cannot count the library.)"""
        t0 = time.perf_counter()
        url = (f"http://127.0.0.1:{self.port}{PREFIX}/getAlbumList2.view?u={USER}&p={PASSWORD}"
               "&v=1.16.1&c=bench&f=json&type=alphabeticalByName&size=500")
        last, stable = -1, 0
        while time.perf_counter() - t0 < timeout_s:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"maneki exited ({self.proc.returncode}); see {self.home}/server.log")
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    body = json.loads(r.read())["subsonic-response"]
                songs = sum(int(a.get("songCount") or 0) for a in body.get("albumList2", {}).get("album", []))
                stable = stable + 1 if songs == last and songs > 0 else 0
                last = songs
                if stable >= 3 or songs >= tracks:
                    return round(time.perf_counter() - t0, 2)
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(1.0)
        raise RuntimeError(f"maneki did not finish its scan of {tracks} tracks in {timeout_s} s")
