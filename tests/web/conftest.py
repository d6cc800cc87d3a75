"""Shared fixtures of the web client's tests: node, the npm packages, a fresh build, and
Debian's chromium (infra-notes §9; never a Playwright browser download). A test that needs
one of them skips with the reason when it is truly unavailable (scripts/setup test installs
node, npm and chromium as root on CI)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "webclient"
BUILD = ROOT / "orbsonic" / "_webclient"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

pytestmark = pytest.mark.web


def _newest(paths: list[Path]) -> float:
    return max(
        p.stat().st_mtime for d in paths for p in ([d] if d.is_file() else d.rglob("*")) if p.is_file()
    )


@pytest.fixture(scope="session")
def npm() -> str:
    exe = shutil.which("npm")
    if exe is None:
        pytest.skip("npm is not installed (scripts/setup test installs nodejs and npm as root)")
    if not (WEB / "node_modules").is_dir():
        subprocess.run(
            [exe, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WEB, check=True, timeout=600
        )
    return exe


@pytest.fixture(scope="session")
def webclient_build(npm: str) -> Path:
    """orbsonic/_webclient, rebuilt when older than the client's sources."""
    index = BUILD / "index.html"
    sources = [WEB / "src", WEB / "index.html", WEB / "package.json", WEB / "vite.config.ts"]
    if not index.is_file() or index.stat().st_mtime < _newest(sources):
        subprocess.run([npm, "run", "build", "--silent"], cwd=WEB, check=True, timeout=600)
    return BUILD


@pytest.fixture(scope="session")
def chromium(npm: str) -> str:
    if not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        pytest.skip(f"no chromium at {CHROMIUM} (scripts/setup test installs Debian's chromium as root)")
    return CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))


def run_node(script: str, *args: str, timeout: float = 240, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a webclient/e2e script (with `env` added to the environment); returns its last
    stdout line as JSON."""
    r = subprocess.run(
        ["node", script, *args],
        cwd=WEB,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "CHROMIUM": CHROMIUM, **(env or {})},
    )
    if os.environ.get("ORB_DEBUG"):  # the page's console lines (e2e scripts print them then)
        print(r.stderr[-20000:])
    assert r.returncode == 0, f"{script} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("{")]
    assert lines, r.stdout + r.stderr
    return json.loads(lines[-1])


def sine_pair(
    out: Path, *, rate: int, bits: int, seconds: float, cut: int, hz: float = 441.0, noise: float = 0.0005
) -> tuple[Path, Path, int]:
    """Two FLAC files cut at sample `cut` from one continuous stereo sine (plus a little noise
    so the files are big enough for several seek points); returns (a, b, total samples)."""
    out.mkdir(parents=True, exist_ok=True)
    total = int(rate * seconds)
    expr = f"0.5*sin(2*PI*{hz}*t)+{noise}*(random(0)-0.5)"
    fmt = ["-sample_fmt", "s16"] if bits == 16 else ["-sample_fmt", "s32", "-bits_per_raw_sample", "24"]
    paths = []
    for name, (s, e), n in (("a", (0, cut), 1), ("b", (cut, total), 2)):
        p = out / f"sine{rate}_{name}.flac"
        subprocess.run(
            [
                "ffmpeg",
                "-nostdin",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                f"aevalsrc={expr}|{expr}:s={rate}:d={seconds}",
                "-af",
                f"atrim=start_sample={s}:end_sample={e},asetpts=N/SR/TB",
                "-c:a",
                "flac",
                *fmt,
                "-metadata",
                "artist=Orb Test",
                "-metadata",
                f"album=Gapless Sine {rate}",
                "-metadata",
                f"title=Sine {rate} {name.upper()}",
                "-metadata",
                f"track={n}",
                str(p),
            ],
            check=True,
            timeout=120,
        )
        paths.append(p)
    return paths[0], paths[1], total
