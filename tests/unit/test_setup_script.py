"""scripts/setup: one install per pyproject.toml whatever the order of `scripts/test` and
`scripts/serve`, and the system packages each mode needs (issue 6 §3).

The real script runs on a copy of the checkout whose `.venv/bin/python`, `dpkg-query` and
`apt-get` are recorders: what it would install is asserted, nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy2(ROOT / "scripts" / "setup", repo / "scripts" / "setup")
    shutil.copy2(ROOT / "pyproject.toml", repo / "pyproject.toml")
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    for path, body in [(venv_bin / "python", f'echo "$*" >> "{tmp_path}/pip.log"'),
                       (stubs / "dpkg-query", "exit 1"),  # nothing is installed
                       (stubs / "apt-get", f'echo "$*" >> "{tmp_path}/apt.log"')]:
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return repo


def _setup(repo: Path, mode: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{repo.parent / 'stubs'}:{os.environ['PATH']}", "PYTHON": sys.executable}
    r = subprocess.run(["bash", str(repo / "scripts" / "setup"), mode], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r


def _installs(repo: Path) -> list[str]:
    log = repo.parent / "pip.log"
    return [ln for ln in log.read_text().splitlines() if " -e " in ln] if log.exists() else []


def test_switching_between_test_and_serve_installs_once(checkout: Path) -> None:
    _setup(checkout, "test")
    assert _installs(checkout) == ["-m pip install -q -e .[test]"]
    for mode in ("serve", "test", "serve"):
        _setup(checkout, mode)
    assert len(_installs(checkout)) == 1, _installs(checkout)

    with (checkout / "pyproject.toml").open("a") as fh:  # a new dependency: install again, once
        fh.write("\n# changed\n")
    _setup(checkout, "serve")
    _setup(checkout, "serve")
    assert _installs(checkout)[1:] == ["-m pip install -q -e ."]
    _setup(checkout, "test")
    _setup(checkout, "serve")
    assert _installs(checkout)[2:] == ["-m pip install -q -e .[test]"]
    stamps = sorted(p.name.rsplit("-", 1)[1] for p in (checkout / ".venv").glob(".setup-*"))
    assert stamps == ["serve", "test"]


def _system_packages(repo: Path, mode: str) -> set[str]:
    apt = repo.parent / "apt.log"
    apt.unlink(missing_ok=True)
    r = _setup(repo, mode)
    if os.geteuid() == 0:
        installs = [ln for ln in apt.read_text().splitlines() if ln.startswith("install")]
        return set(installs[-1].split()) if installs else set()
    return set(r.stderr.split("please install these packages first:", 1)[1].split())


def test_test_mode_installs_ffmpeg_and_flac(checkout: Path) -> None:
    test = _system_packages(checkout, "test")
    # flac: metaflac for tests/unit/test_flacinfo.py; mpv: the jukebox (tests/integration/test_jukebox.py)
    assert {"ffmpeg", "flac", "mpv", "libicu72"} <= test
    serve = _system_packages(checkout, "serve")
    assert "libicu72" in serve and not {"ffmpeg", "flac", "mpv"} & serve
