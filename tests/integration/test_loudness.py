"""Loudness analysis (issue 8, "Loudness and ReplayGain"): real files made by ffmpeg at known
levels, scanned into a real PostgreSQL; the scan queues `analysis.loudness_scan`, a real job
worker runs it and the per-album `analysis.loudness` jobs; the measured loudness is checked
against ffmpeg's own ebur128 (run here separately) and the sine's theoretical level, and the
served OpenSubsonic `replayGain` (validated against the OpenAPI schema) takes the tags when
present, else the analysis (ReplayGain 2.0: −18 LUFS reference)."""

from __future__ import annotations

import asyncio
import math
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutagen.flac import FLAC
from starlette.testclient import TestClient

from orbsonic.analysis import loudness
from orbsonic.ids import public_id
from orbsonic.jobs import worker
from orbsonic.scanner.scanner import scan
from tests.conftest import ROOT, Subsonic, add_users, make_app

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")


def q(url: str, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


def make_flac(path: Path, source: str, seconds: float, db: float, **tags: str) -> None:
    """A FLAC of lavfi `source` (e.g. "sine=frequency=1000") attenuated by `db`, with tags."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = [x for k, v in tags.items() for x in ("-metadata", f"{k}={v}")]
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
                    f"{source}:duration={seconds}", "-af", f"volume={db}dB", *meta, str(path)],
                   check=True)


def ffmpeg_ebur128(path: Path) -> tuple[float, float]:
    """(integrated LUFS, true peak dBFS) as ffmpeg's ebur128 prints them, parsed here."""
    out = subprocess.run([FFMPEG, "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
                          "-f", "null", "-"], capture_output=True, text=True, check=True).stderr
    summary = out[out.rindex("Summary:"):]
    i = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary).group(1))  # type: ignore[union-attr]
    return i, peak


def run_jobs(url: str, concurrency: int = 2, workers: int = 1) -> None:
    """Run `workers` job workers until no job is waiting. A worker with wait=False stops when a
    fetch finds the queue empty, which can happen while another job is still deferring the
    per-album jobs: so run again while jobs wait (a bounded number of rounds)."""
    async def round_() -> None:
        await asyncio.gather(*(worker.run(url, concurrency=concurrency, wait=False, name=f"w{i}",
                                          install_signal_handlers=False) for i in range(workers)))

    for _ in range(10):
        asyncio.run(round_())
        if not q(url, "SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"):
            return
    raise AssertionError("jobs still waiting after 10 worker rounds")


def queued(url: str) -> list[str]:
    return [r[0] for r in q(url, "SELECT task_name FROM procrastinate_jobs WHERE status = 'todo' "
                                 "ORDER BY id")]


class Lib:
    def __init__(self, url: str, root: Path, api: Subsonic) -> None:
        self.url, self.root, self.api = url, root, api

    def song(self, rel: str) -> dict[str, Any]:
        [(ident,)] = q(self.url, "SELECT id FROM tracks WHERE path = %s", rel)
        return self.api.ok("getSong", id=public_id("tr", ident))["song"]

    def row(self, rel: str) -> tuple[Any, ...]:
        [row] = q(self.url, """SELECT r128_loudness, r128_track_gain, r128_track_peak, r128_album_gain,
                                      r128_album_peak, r128_version, r128_error
                                 FROM tracks WHERE path = %s""", rel)
        return row


TRACKS = {  # rel path: (lavfi source, seconds, attenuation dB)
    "Album/01 sine.flac": ("sine=frequency=1000", 6, -10.0),
    "Album/02 noise.flac": ("anoisesrc=color=pink:seed=7:amplitude=0.3", 4, -6.0),
    "Album/03 quiet.flac": ("sine=frequency=440", 3, -20.0),
}


@pytest.fixture
def lib(fresh_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lib]:
    root = tmp_path / "music"
    for n, (rel, (src, secs, db)) in enumerate(TRACKS.items(), 1):
        make_flac(root / rel, src, secs, db, title=rel, album="Levels", artist="Tone", track=str(n))
    make_flac(root / "Tagged/01 tagged.flac", "sine=frequency=1000", 3, -10.0, title="tagged",
              album="Tagged", artist="Tone", REPLAYGAIN_TRACK_GAIN="-7.00 dB", REPLAYGAIN_TRACK_PEAK="0.5",
              REPLAYGAIN_ALBUM_GAIN="-6.50 dB", REPLAYGAIN_ALBUM_PEAK="0.6")
    data = tmp_path / "data"
    monkeypatch.setenv("ORBSONIC_DATA_DIR", str(data))
    monkeypatch.delenv("ORBSONIC_CONFIG", raising=False)
    report = scan(fresh_db, [root], workers=1)
    assert report.added == 4 and not report.errors, report
    add_users(fresh_db, data)
    with TestClient(make_app(fresh_db, data, (root,))) as http:
        yield Lib(fresh_db, root, Subsonic(http))


def test_parse_summary_reads_ffmpegs_numbers() -> None:
    text = ("[Parsed_ebur128_0 @ 0x1] Summary:\n\n  Integrated loudness:\n    I:         -31.1 LUFS\n"
            "    Threshold: -41.1 LUFS\n\n  True peak:\n    Peak:      -28.1 dBFS\n")
    m = loudness.parse_summary(text)
    assert (m.integrated_lufs, m.true_peak_db) == (-31.1, -28.1)
    assert m.gain_db == pytest.approx(13.1)
    assert m.peak == pytest.approx(10 ** (-28.1 / 20))
    silent = loudness.parse_summary(text.replace("-31.1 LUFS", "-inf LUFS")
                                    .replace("-28.1 dBFS", "-inf dBFS"))
    assert silent.gain_db is None and silent.peak == 0.0
    with pytest.raises(loudness.AnalysisError):
        loudness.parse_summary("Invalid data found when processing input")


@given(st.lists(st.tuples(st.floats(-70, 0), st.floats(0.5, 600)), min_size=1, max_size=20))
def test_album_loudness_is_an_energy_mean_between_the_tracks(items: list[tuple[float, float]]) -> None:
    album = loudness.album_loudness(items)
    assert album is not None
    lo, hi = min(i for i, _ in items), max(i for i, _ in items)
    assert lo - 1e-6 <= album <= hi + 1e-6
    # equal tracks: the album is that loudness
    assert loudness.album_loudness([(items[0][0], d) for _, d in items]) == pytest.approx(items[0][0])


def test_scan_queues_analysis_and_the_job_measures_like_ffmpeg(lib: Lib) -> None:
    assert "analysis.loudness_scan" in queued(lib.url)
    # before the worker ran: pending, nothing served for untagged tracks
    assert "trackGain" not in lib.song("Album/01 sine.flac").get("replayGain", {})
    run_jobs(lib.url)
    measured: dict[str, tuple[float, float]] = {}
    for rel in TRACKS:
        lufs, gain, peak, _, _, version, error = lib.row(rel)
        ref_i, ref_peak = ffmpeg_ebur128(lib.root / rel)
        measured[rel] = (ref_i, 6.0 if "sine" in rel else 4.0 if "noise" in rel else 3.0)
        assert error is None and version
        assert lufs == pytest.approx(ref_i, abs=0.5)
        assert gain == pytest.approx(-18.0 - ref_i, abs=0.5)
        assert 20 * math.log10(peak) == pytest.approx(ref_peak, abs=0.5)
    # a full-scale/8 sine (ffmpeg's default amplitude) at −10 dB, mono: −18.06 − 10 − 3.01 LUFS
    sine_lufs = lib.row("Album/01 sine.flac")[0]
    assert sine_lufs == pytest.approx(20 * math.log10(0.125) - 10 - 3.01, abs=0.5)
    # album: energy-weighted over the three tracks, the same value on each
    expected_album = -18.0 - loudness.album_loudness(list(measured.values()))  # type: ignore[operator]
    album_gains = {lib.row(rel)[3] for rel in TRACKS}
    assert len(album_gains) == 1
    assert album_gains.pop() == pytest.approx(expected_album, abs=0.5)
    album_peak = max(lib.row(rel)[2] for rel in TRACKS)
    # served: analysed values, since the files carry no ReplayGain tags
    rg = lib.song("Album/01 sine.flac")["replayGain"]
    assert rg["trackGain"] == pytest.approx(-18.0 - measured["Album/01 sine.flac"][0], abs=0.5)
    assert rg["albumGain"] == pytest.approx(expected_album, abs=0.5)
    assert rg["albumPeak"] == pytest.approx(album_peak, rel=1e-4)
    assert 0 < rg["trackPeak"] < 1


def test_tags_win_over_analysis(lib: Lib) -> None:
    run_jobs(lib.url)
    # the tagged track is never analysed, and its tags are served as they are
    assert lib.row("Tagged/01 tagged.flac")[5] is None
    rg = lib.song("Tagged/01 tagged.flac")["replayGain"]
    assert rg == {"trackGain": -7.0, "trackPeak": 0.5, "albumGain": -6.5, "albumPeak": pytest.approx(0.6)}
    # even when an analysis exists (e.g. measured before the file was tagged), tags win
    with psycopg.connect(lib.url) as conn:
        conn.execute("""UPDATE tracks SET r128_track_gain = 3, r128_track_peak = 0.1, r128_album_gain = 2,
                               r128_album_peak = 0.2 WHERE path = 'Tagged/01 tagged.flac'""")
    assert lib.song("Tagged/01 tagged.flac")["replayGain"]["trackGain"] == -7.0


def test_analysis_resumes_and_redoes_only_changed_files(lib: Lib) -> None:
    url = lib.url
    status = asyncio.run(_status(url))
    assert (status.analysed, status.pending, status.tagged) == (0, 3, 1)
    # a worker that stops after one album's first track: simulate by analysing one track by hand
    with psycopg.connect(url) as conn:
        conn.execute("""UPDATE tracks SET r128_version = size::text || ':' || mtime_ns::text,
                               r128_loudness = -99, r128_track_gain = 81, r128_track_peak = 0.001
                         WHERE path = 'Album/01 sine.flac'""")
    run_jobs(url)
    # the finished track was skipped (its made-up value stays), the others measured
    assert lib.row("Album/01 sine.flac")[1] == 81
    assert asyncio.run(_status(url)).pending == 0
    # the file changes (louder): the next scan queues the work again and only it is re-measured
    before = lib.row("Album/02 noise.flac")
    make_flac(lib.root / "Album/01 sine.flac", "sine=frequency=1000", 6, 0.0, title="Album/01 sine.flac",
              album="Levels", artist="Tone", track="1")
    scan(url, [lib.root], workers=1)
    assert asyncio.run(_status(url)).pending == 1
    assert "analysis.loudness_scan" in queued(url)
    run_jobs(url)
    ref_i, _ = ffmpeg_ebur128(lib.root / "Album/01 sine.flac")
    assert lib.row("Album/01 sine.flac")[0] == pytest.approx(ref_i, abs=0.5)
    after = lib.row("Album/02 noise.flac")
    assert after[:3] == before[:3]  # not re-measured
    assert after[3] != before[3]  # but the album gain follows the louder track
    assert asyncio.run(_status(url)).analysed == 3


def test_unreadable_file_is_recorded_not_retried(lib: Lib) -> None:
    (lib.root / "Album/03 quiet.flac").write_bytes(b"fLaC" + b"\x00" * 4000)
    with psycopg.connect(lib.url) as conn:  # the scanner has not seen the damage: same version
        conn.execute("""UPDATE tracks SET size = %s, mtime_ns = %s WHERE path = 'Album/03 quiet.flac'""",
                     (4004, (lib.root / "Album/03 quiet.flac").stat().st_mtime_ns))
    run_jobs(lib.url)
    error = lib.row("Album/03 quiet.flac")[6]
    assert error and "ffmpeg" in error
    status = asyncio.run(_status(lib.url))
    assert (status.failed, status.pending) == (1, 0)
    assert "trackGain" not in lib.song("Album/03 quiet.flac")["replayGain"]


def test_analysis_status_command(lib: Lib, tmp_path: Path) -> None:
    run_jobs(lib.url)
    env = {**os.environ, "DATABASE_URL": lib.url, "ORBSONIC_DATA_DIR": str(tmp_path / "cli"),
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "orbsonic", "analysis", "status"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "loudness: 3 analysed, 0 pending, 0 failed, 1 with ReplayGain tags" in out.stdout


async def _status(url: str) -> loudness.Status:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await loudness.status(conn)


def test_200_tracks_through_the_job_system(fresh_db: str, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """200 short files in 10 albums: one scan, two concurrent workers, every track analysed once
    and every album's tracks share one album gain."""
    monkeypatch.setenv("ORBSONIC_DATA_DIR", str(tmp_path / "data"))
    root = tmp_path / "music"
    levels = tmp_path / "levels"
    for n in range(4):
        make_flac(levels / f"{n}.flac", "sine=frequency=500", 0.5, -3.0 * n)
    for n in range(200):
        album, track = divmod(n, 20)
        path = root / f"A{album:02}" / f"{track:02}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(levels / f"{n % 4}.flac", path)
        tags = FLAC(path)
        tags.update({"title": f"t{n}", "album": f"Album {album}", "artist": "Batch",
                     "tracknumber": str(track + 1)})
        tags.save()
    report = scan(fresh_db, [root], workers=2)
    assert report.added == 200, report
    assert asyncio.run(_status(fresh_db)).pending == 200

    run_jobs(fresh_db, concurrency=2, workers=2)
    status = asyncio.run(_status(fresh_db))
    assert (status.analysed, status.pending, status.failed) == (200, 0, 0)
    rows = q(fresh_db, """SELECT album_id, count(DISTINCT r128_album_gain), count(*),
                                 min(r128_track_gain), max(r128_track_gain)
                            FROM tracks GROUP BY album_id""")
    assert len(rows) == 10
    for _, distinct_album_gains, count, lo, hi in rows:
        assert (distinct_album_gains, count) == (1, 20)
        assert hi - lo == pytest.approx(9.0, abs=0.5)  # the four levels 3 dB apart
    # nothing left to queue: a second scan queues a scan job that defers no album
    scan(fresh_db, [root], workers=1)
    run_jobs(fresh_db)
    assert not q(fresh_db, "SELECT 1 FROM procrastinate_jobs WHERE task_name = 'analysis.loudness' "
                           "AND status NOT IN ('succeeded')")
