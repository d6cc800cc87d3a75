"""The bundled web client end to end: real Chromium (Debian's, driven by playwright-core)
against the real app under uvicorn on loopback, over the generated test library (FLAC
16/44.1 and 24/96) plus a continuous sine cut into two FLAC files for the gapless check.

webclient/e2e/run.mjs runs every flow in one browser session and reports each; a flow that
needs a native route the server does not have yet is xfailed naming that route (the client
is written against docs/native-api.md; the routes land from other branches). Screenshots
of the main views go to $ORBSONIC_SCREENSHOTS or <tmp>/screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN, LiveServer, add_users, clone_db, make_app
from tests.integration.native_client import api_key_for
from tests.web.conftest import run_node, sine_pair

pytestmark = pytest.mark.web

FLOWS = [
    "first-paint",
    "login",
    "settings-sessions",
    "browse",
    "search",
    "play-flac-16-44",
    "play-flac-24-96",
    "seek-exact",
    "queue-panel",
    "playlist-edit",
    "queue-follows-second-context",
    "gapless-sine",
    "phone-width",
    "settings-api-keys",
    "logout-everywhere",
]


@pytest.fixture(scope="module")
def e2e_server(
    pg: Any,
    template_url: str,
    test_library: tuple[Path, Any],
    webclient_build: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    from orbsonic.scanner.scanner import scan

    sine = tmp_path_factory.mktemp("sine")
    sine_pair(sine / "Orb Test" / "Gapless Sine 44100", rate=44100, bits=16, seconds=6.0, cut=132_317)
    url = clone_db(pg, template_url)
    report = scan(url, [test_library[0], sine], workers=2)
    assert report.added > 0, report
    add_users(url, tmp_path_factory.mktemp("e2edata"))
    old = os.environ.get("ORBSONIC_WEBCLIENT_DIR")
    os.environ["ORBSONIC_WEBCLIENT_DIR"] = str(webclient_build)
    try:
        app = make_app(url, tmp_path_factory.mktemp("e2eapp"), (test_library[0], sine))
    finally:
        if old is None:
            os.environ.pop("ORBSONIC_WEBCLIENT_DIR", None)
        else:
            os.environ["ORBSONIC_WEBCLIENT_DIR"] = old
    os.environ["ORB_E2E_API_KEY"] = api_key_for(url, ADMIN[0], "e2e")
    with LiveServer(app) as server:
        yield server


@pytest.fixture(scope="module")
def e2e_run(
    e2e_server: LiveServer, chromium: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    shots = Path(os.environ.get("ORBSONIC_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    out = run_node("e2e/run.mjs", e2e_server.url, ADMIN[0], ADMIN[1], str(shots), timeout=600)
    out["shots"] = str(shots)
    return out


@pytest.mark.parametrize("name", FLOWS)
def test_flow(e2e_run: dict[str, Any], name: str) -> None:
    f = e2e_run["flows"].get(name)
    assert f is not None, f"flow {name} did not run: {e2e_run}"
    if not f["ok"] and f["missing"]:
        pytest.xfail("native routes not on this server yet: " + ", ".join(f["missing"]))
    assert f["ok"], json.dumps(f)[:4000]
    assert not f.get("pageErrors"), f["pageErrors"]


def test_performance_figures_measured(e2e_run: dict[str, Any]) -> None:
    """Issue 10's figures — first contentful paint (budget 1 s), click-to-sound for a 24/96
    FLAC (300 ms), seek-to-sound (200 ms) — are measured by every e2e run and written to
    `timings.json` next to the screenshots (printed too), where the README's figures come
    from. Tests assert behaviour, not timings (a loaded CI machine is not a benchmark): this
    checks that each flow played and produced its figure, and leaves the budgets to the report."""
    flows = e2e_run["flows"]
    metrics = ("fcpMs", "clickToSoundMs", "eventToSoundMs", "phases", "seekToSoundMs", "tier", "badge", "analysis")
    figures = {n: {k: f[k] for k in metrics if k in f} for n, f in flows.items()}
    budgets = {"first-paint": ("fcpMs", 1000), "play-flac-24-96": ("clickToSoundMs", 300),
               "seek-exact": ("seekToSoundMs", 200)}
    report = {name: {"ms": flows[name].get(key), "budget_ms": budget,
                     "within": (flows[name].get(key) or 0) <= budget} for name, (key, budget) in budgets.items()}
    (Path(e2e_run["shots"]) / "timings.json").write_text(json.dumps({"figures": figures, "budgets": report}, indent=1))
    print(json.dumps(report))
    for name, (key, _) in budgets.items():
        f = flows[name]
        if not f["ok"] and f.get("missing"):
            pytest.xfail("native routes not on this server yet: " + ", ".join(f["missing"]))
        assert f["ok"], f
        assert isinstance(f[key], (int, float)) and f[key] > 0, f


def test_screenshots_written(e2e_run: dict[str, Any]) -> None:
    shots = Path(e2e_run["shots"])
    assert (shots / "login.png").stat().st_size > 1000
    if os.environ.get("ORBSONIC_SCREENSHOTS_COPY"):
        for p in shots.glob("*.png"):
            shutil.copy(p, os.environ["ORBSONIC_SCREENSHOTS_COPY"])
