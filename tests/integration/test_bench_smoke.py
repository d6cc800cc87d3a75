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


@pytest.mark.timeout(620)
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
            "--transcode-clients",
            "4",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
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
    tr = main["transcode"]  # bench/transcode.py: every figure measured, nothing failed
    assert all(r["errors"] == 0 for r in (*tr["ttfb"].values(), *tr["concurrent"].values(), tr["cover_presized"]))
    assert all(r["ratio_p50"] > 0 for r in tr["concurrent"].values()), tr["concurrent"]
    assert tr["cached"]["cached"]["bytes"] == tr["cached"]["original"]["bytes"] > 0
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
                    "## Transcoding and covers", "## Targets"):
        assert heading in report
    assert "| getAlbumList2 newest @0 |" in report


@pytest.mark.timeout(620)
def test_bench_sql_library_quick_run(tmp_path: Path) -> None:
    """`--sql-tracks N --sql-only`: a library generated in SQL (bench/sqllib.py) is served and
    measured: getRandomSongs (50, 500), getPlaylist of a playlist made through the API,
    getNowPlaying with players seeded right before, the album lists, search3, getArtists."""
    work = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sql-tracks", "3000", "--sql-only", "--quick", "--work", str(work),
         "--seconds", "0.15", "--clients", "10", "--playlist-size", "300"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    results = json.loads((work / "results.json").read_text())
    assert "main" not in results and "peer" not in results
    sql = results["sql"]
    gen = sql["generation"]
    assert gen["tracks"] == 3000 and gen["albums"] > 100 and gen["artists"] > 20
    assert sql["library"]["tracks"] == 3000  # what discovery counted through the API
    assert sql["seeded_reads"]["playlist"] == 300
    scenarios = sql["scenarios"]
    for name in ("getRandomSongs", "getRandomSongs size=500", "getPlaylist (300 entries)", "getNowPlaying",
                 "getArtists", "getAlbumList2 random", "getAlbumList2 newest @0", 'search3 "" songs @0',
                 "search3 text"):
        assert name in scenarios, sorted(scenarios)
    assert not any(k.startswith(("stream", "getCoverArt")) for k in scenarios)
    errors = {n: v[c]["first_error"] for n, v in scenarios.items() for c in v if v[c]["errors"]}
    assert not errors, errors
    # the playlist's 300 entries and the seeded players are in the answers measured
    assert scenarios["getPlaylist (300 entries)"]["c1"]["bytes"] > 300 * 500 * scenarios[
        "getPlaylist (300 entries)"]["c1"]["requests"]
    now = scenarios["getNowPlaying"]["c1"]
    assert now["bytes"] / now["requests"] > 2000  # four players' entries, not an empty list
    report = (work / "RESULTS.md").read_text()
    assert "## API on a library generated in SQL (3,000 tracks)" in report
    assert "--sql-tracks 3000 --sql-only" in report
    # issue 12's scenarios and the server-side figures, with the targets table
    for name in ("search3 common word", "search3 two common words", "search3 one-letter prefix",
                 "getSimilarSongs", "getSimilarSongs2", "getTopSongs", "getIndexes ifModifiedSince"):
        assert name in scenarios, sorted(scenarios)
    probes = sql["server"]["probes"]
    assert probes['search3 "" songs @0']["db_exec_ms"] > 0 and "getRandomSongs" in probes
    assert "Targets at 3,000 tracks" in report and "Server side (bench/sqlprobe.py)" in report
    assert sql["generation_cached"] is False
    # a second run clones the cached library instead of generating it again
    again = subprocess.run(
        [sys.executable, "-m", "bench.run", "--sql-tracks", "3000", "--sql-only", "--sql-probe-only",
         "--work", str(work)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-4000:]
    sql2 = json.loads((work / "results.json").read_text())["sql"]
    assert sql2["generation_cached"] is True and sql2["generation"]["tracks"] == 3000
    assert sql2["server"]["probes"].keys() == probes.keys()


@pytest.mark.timeout(620)
def test_bench_paced_listeners_quick_run(tmp_path: Path) -> None:
    """`--streams-only --paced-listeners N --paced-seconds S` (bench/paced.py): a few paced
    player-like listeners play the library's tracks at their bitrates; every range answered,
    the figures and the report's two labelled tables are there."""
    work = tmp_path / "bench"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--streams-only", "--tracks", "200", "--quick", "--skip-peer",
         "--clients", "4", "--stream-seconds", "0.5", "--paced-listeners", "4", "--paced-seconds", "2",
         "--work", str(work)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    run = json.loads((work / "results.json").read_text())["streams_only"]["runs"]["1"]
    paced = run["paced"]
    assert paced["listeners"] == 4 and paced["requests"] > 0 and paced["errors"] == 0, paced
    assert paced["bytes"] > 0 and paced["tracks_started"] >= 4
    assert 0 < paced["ttfb_p50_ms"] <= paced["ttfb_p95_ms"] <= paced["ttfb_p99_ms"] <= paced["ttfb_max_ms"]
    assert paced["underrun_listeners"] <= 4 and paced["stall_s"] >= 0
    assert paced["tracks_pool"] > 100 and {"flac", "mp3"} <= set(paced["tracks_pool_suffixes"])
    assert "server_cpu_pct" in paced and "db_cpu_pct" in paced and paced["client_cpu_pct"] >= 0
    assert run["ranges"]["requests"] > 0 and run["ranges"]["errors"] == 0  # the closed loop still runs
    report = (work / "RESULTS.md").read_text()
    assert "### Saturation (closed loop)" in report and "### 4 paced listeners" in report
