"""Smoke run of the benchmark command on a 1k-track library (`python -m bench.run --quick`):
the whole pipeline — library generation, embedded PostgreSQL, `orbsonic scan` and
`orbsonic serve` subprocesses, seeded annotations, every scenario, streams, the report —
works. The figures of a quick run mean nothing; the real run is `scripts/bench`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(300)
def test_bench_quick_run(tmp_path: Path) -> None:
    work = tmp_path / "bench"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--tracks",
            "1000",
            "--skip-peer",
            "--quick",
            "--work",
            str(work),
            "--seconds",
            "0.15",
            "--clients",
            "10",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((work / "results.json").read_text())
    main = results["main"]
    scan = main["scan"]
    assert scan["cold"]["added"] == 1000 and scan["cold"]["peak_rss_mb"] > 0
    assert scan["nochange"]["read"] == 0
    assert scan["one_percent"]["updated"] == scan["touched_files"] == 10
    scenarios = main["scenarios"]
    for name in (
        "getArtists",
        "getAlbumList2 starred @0",
        "getAlbumList2 highest @0",
        'search3 "" songs @0',
        "getRandomSongs",
        "getCoverArt cold resize",
        "getCoverArt cached",
        "getStarred2",
        "stream (whole track)",
        "reportPlayback",
        "getNowPlaying",
    ):
        assert name in scenarios, sorted(scenarios)
    errors = {n: v[c]["first_error"] for n, v in scenarios.items() for c in v if v[c]["errors"]}
    assert not errors, errors
    assert all(v["c1"]["requests"] > 0 and v["c16"]["requests"] > 0 for v in scenarios.values())
    ranges = main["streams"]["ranges"]
    assert ranges["requests"] > 0 and ranges["errors"] == 0, ranges
    native = main["native"]
    names = set(native["scenarios"])
    for name in ("native tracks page", "native albums deep page", "native search 1 letter common",
                 "native search 5 letters rare", "native stream (Range)"):
        assert name in names, sorted(names)
    assert any(n.startswith("native sync, ") for n in names), sorted(names)
    errors = {n: v[c]["first_error"] for n, v in native["scenarios"].items() for c in v if v[c]["errors"]}
    assert not errors, errors
    rt = native["realtime"]
    assert rt["received"] == rt["rounds"] > 0 and rt["lost"] == 0 and rt["p99_ms"] > 0, rt
    report = (work / "RESULTS.md").read_text()
    for heading in ("## Machine and versions", "## Scan", "## API", "## Native API", "## Streaming",
                    "## Targets"):
        assert heading in report
    assert "| getAlbumList2 newest @0 |" in report
