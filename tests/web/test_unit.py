"""The web client's Vitest suite (engine: queue fuzz test, seek index, gapless arithmetic,
format detection, gain), run from pytest so scripts/test and CI run it too."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.web.conftest import WEB

pytestmark = pytest.mark.web


def test_vitest_suite(npm: str) -> None:
    r = subprocess.run([npm, "test", "--silent"], cwd=WEB, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout.split("Tests")[-1]


def test_typecheck(npm: str) -> None:
    r = subprocess.run(
        [npm, "run", "check", "--silent"], cwd=WEB, capture_output=True, text=True, timeout=600
    )
    assert r.returncode == 0 and "0 errors" in r.stdout, r.stdout[-4000:]


def test_initial_bundle_within_budget(webclient_build: Path, npm: str) -> None:
    # check-size.mjs fails over 60 kB gzipped; it also runs at the end of `npm run build`.
    r = subprocess.run(
        ["node", "scripts/check-size.mjs"], cwd=WEB, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "initial JS" in r.stdout
    # the WASM decoder is its own chunk, not loaded (or preloaded) by index.html
    index = (webclient_build / "index.html").read_text()
    assert list((webclient_build / "assets").glob("flac-*.js"))
    assert "flac-" not in index
