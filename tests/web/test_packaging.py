"""The wheel ships the built web client (git-ignored orbsonic/_webclient, included through
hatch `artifacts` in pyproject.toml), so `pip install orbsonic` serves `/` with no node."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.web.conftest import ROOT

pytestmark = pytest.mark.web


def test_wheel_contains_the_built_client(webclient_build: Path, tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if r.returncode != 0 and "hatchling" in r.stderr:
        pytest.skip("hatchling cannot be installed here: " + r.stderr[-300:])
    assert r.returncode == 0, r.stderr[-2000:]
    (wheel,) = tmp_path.glob("orbsonic-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "orbsonic/_webclient/index.html" in names
    built = {
        f"orbsonic/_webclient/{p.relative_to(webclient_build).as_posix()}"
        for p in webclient_build.rglob("*")
        if p.is_file()
    }
    assert built <= names, built - names
    assert "orbsonic/webclient.py" in names
