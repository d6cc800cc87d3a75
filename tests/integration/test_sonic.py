"""Sonic similarity (OpenSubsonic `sonicSimilarity`): real audio made by ffmpeg — sines, white
and brown noise, clicks at 90 and 150 BPM, two of each kind that differ in level, phase, seed
or a few Hz — scanned into a real PostgreSQL; the scan queues `analysis.sonic_scan`, a real job
worker computes the features, and through the Subsonic API each track's nearest neighbour must
be its sibling (the one that sounds alike), `findSonicPath` must walk from one end to the other,
and the answers must respect folder access. Every response is validated (XSD + OpenAPI)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.analysis import features, sonic, sonic_jobs
from orbsonic.ids import public_id
from orbsonic.scanner.scanner import scan
from tests.conftest import ALICE, ROOT, Subsonic, add_users, make_app
from tests.integration.test_loudness import q, run_jobs

FFMPEG = shutil.which("ffmpeg")
pytestmark = pytest.mark.skipif(FFMPEG is None, reason="needs ffmpeg")


def _click(bpm: int, amp: float, offset: float) -> str:
    # 15 ms bursts of a 1 kHz tone, one per beat.
    return f"aevalsrc='{amp}*sin(2*PI*1000*t)*lt(mod(t+{offset},60/{bpm}),0.015)'"


# name: (album, lavfi source). Siblings share a name up to the last letter.
SOUNDS = {
    "sine440a": ("Sines", "sine=frequency=440"),
    "sine440b": ("Sines", "aevalsrc='0.3*sin(2*PI*442*t)'"),
    "sine3500a": ("Sines", "sine=frequency=3520"),
    "sine3500b": ("Sines", "aevalsrc='0.25*sin(2*PI*3530*t)'"),
    "whitea": ("Noise", "anoisesrc=color=white:seed=1:amplitude=0.5"),
    "whiteb": ("Noise", "anoisesrc=color=white:seed=2:amplitude=0.35"),
    "browna": ("Noise", "anoisesrc=color=brown:seed=3:amplitude=0.5"),
    "brownb": ("Noise", "anoisesrc=color=brown:seed=4:amplitude=0.4"),
    "click90a": ("Clicks", _click(90, 0.8, 0.0)),
    "click90b": ("Clicks", _click(90, 0.6, 0.2)),
    "click150a": ("Clicks", _click(150, 0.8, 0.0)),
    "click150b": ("Clicks", _click(150, 0.6, 0.1)),
}
SECONDS = 10


def make_sound(path: Path, source: str, title: str, album: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", source,
                    "-t", str(SECONDS), "-ac", "1", "-ar", "44100", "-metadata", f"title={title}",
                    "-metadata", f"album={album}", "-metadata", f"artist={album} Maker", str(path)], check=True)


class Lib:
    def __init__(self, url: str, api: Subsonic) -> None:
        self.url, self.api = url, api
        self.ids = {title: public_id("tr", ident) for ident, title in q(url, "SELECT id, title FROM tracks")}
        self.names = {v: k for k, v in self.ids.items()}


@pytest.fixture(scope="module")
def lib(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lib]:
    from tests.conftest import clone_db

    url = clone_db(pg, template_url)
    root = tmp_path_factory.mktemp("sonic") / "music"
    for name, (album, source) in SOUNDS.items():
        make_sound(root / album / f"{name}.flac", source, name, album)
    data = tmp_path_factory.mktemp("sonicdata")
    old = os.environ.get("ORBSONIC_DATA_DIR")
    os.environ["ORBSONIC_DATA_DIR"] = str(data)
    try:
        report = scan(url, [root], workers=1)
        assert report.added == len(SOUNDS) and not report.errors, report
        assert "analysis.sonic_scan" in [r[0] for r in q(url, "SELECT task_name FROM procrastinate_jobs")]
        add_users(url, data)
        run_jobs(url)
        with TestClient(make_app(url, data, (root,))) as http:
            yield Lib(url, Subsonic(http))
    finally:
        if old is None:
            os.environ.pop("ORBSONIC_DATA_DIR", None)
        else:
            os.environ["ORBSONIC_DATA_DIR"] = old


def test_every_track_is_analysed_by_the_job(lib: Lib) -> None:
    rows = q(lib.url, "SELECT length(vec), error FROM track_sonic")
    assert len(rows) == len(SOUNDS)
    assert all(length == features.DIM * 4 and error is None for length, error in rows), rows
    assert q(lib.url, "SELECT version FROM sonic_state")[0][0] >= 3  # one bump per album
    assert "sonicSimilarity" in [e["name"] for e in lib.api.ok("getOpenSubsonicExtensions")["openSubsonicExtensions"]]


def test_nearest_neighbour_is_the_track_that_sounds_alike(lib: Lib) -> None:
    for name in SOUNDS:
        body = lib.api.ok("getSonicSimilarTracks", id=lib.ids[name], count=3)
        matches = body["sonicMatch"]
        assert len(matches) == 3
        got = [lib.names[m["entry"]["id"]] for m in matches]
        sibling = name[:-1] + ("b" if name.endswith("a") else "a")
        assert got[0] == sibling, (name, got)
        sims = [m["similarity"] for m in matches]
        assert sims == sorted(sims, reverse=True) and all(0 <= s <= 1 for s in sims)
        assert name not in got


def test_tempo_decides_between_identical_clicks(lib: Lib) -> None:
    """Clicks of the same tone differ only in tempo: 90 BPM is nearer 90 BPM than 150."""
    matches = lib.api.ok("getSonicSimilarTracks", id=lib.ids["click90a"], count=11)["sonicMatch"]
    order = [lib.names[m["entry"]["id"]] for m in matches]
    assert order.index("click90b") < order.index("click150a")
    assert order.index("click150a") < order.index("sine440a")


def test_count_is_honoured(lib: Lib) -> None:
    assert lib.api.ok("getSonicSimilarTracks", id=lib.ids["whitea"], count=0).get("sonicMatch", []) == []
    assert len(lib.api.ok("getSonicSimilarTracks", id=lib.ids["whitea"])["sonicMatch"]) == 10  # default
    assert len(lib.api.ok("getSonicSimilarTracks", id=lib.ids["whitea"], count=500)["sonicMatch"]) == 11


def test_sonic_path_walks_from_start_to_end(lib: Lib) -> None:
    start, end = lib.ids["sine440a"], lib.ids["whitea"]
    path = lib.api.ok("findSonicPath", startSongId=start, endSongId=end, count=6)["sonicMatch"]
    ids = [m["entry"]["id"] for m in path]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert ids[0] == start and ids[-1] == end
    sims = [m["similarity"] for m in path]
    assert sims[0] == 1.0 and all(0 <= s <= 1 for s in sims)
    # Smooth: every step is shorter than the jump from start to end (in the index's space).
    index = asyncio.run(_index(lib.url))
    rows = [index.position(int(q(lib.url, "SELECT id FROM tracks WHERE title = %s", lib.names[i])[0][0]))
            for i in ids]
    vecs = index.vecs[rows]
    steps = np.linalg.norm(np.diff(vecs, axis=0), axis=1)
    assert steps.max() < np.linalg.norm(vecs[-1] - vecs[0]), steps
    # The whole path without a count (default 25) cannot exceed the library.
    assert len(lib.api.ok("findSonicPath", startSongId=start, endSongId=end)["sonicMatch"]) == len(SOUNDS)
    two = lib.api.ok("findSonicPath", startSongId=start, endSongId=end, count=1)["sonicMatch"]
    assert [m["entry"]["id"] for m in two] == [start, end]


async def _index(url: str) -> sonic.SonicIndex:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        return await sonic.current_index(conn)


def test_path_follows_the_tracks_not_the_shortcut() -> None:
    """Tracks 0..39 on a segment, 40 more in a far cluster: the path from one end of the
    segment to the other takes segment tracks in order, never the cluster."""
    rng = np.random.default_rng(3)
    raw = np.zeros((80, features.DIM))  # constant dimensions do not count (z-score 0)
    raw[:40, 0], raw[:40, 1] = np.linspace(-1, 1, 40), 1.0
    raw[40:, 0], raw[40:, 1] = rng.normal(0, 0.05, 40), rng.normal(-5, 0.05, 40)
    idx = sonic.SonicIndex(1, np.arange(80, dtype=np.int64), np.ones(80, np.int64), sonic.normalise(raw))
    path = idx.path(0, 39, 8)
    assert path is not None
    ids = [t for t, _ in path]
    assert len(ids) == 8 and ids[0] == 0 and ids[-1] == 39 and ids == sorted(ids), ids
    steps = np.linalg.norm(np.diff(idx.vecs[ids], axis=0), axis=1)
    assert steps.max() <= 1.5 * steps.min(), steps  # evenly spaced steps (in the index's metric)


def test_errors_and_access(lib: Lib) -> None:
    lib.api.fail("getSonicSimilarTracks", 10)
    lib.api.fail("getSonicSimilarTracks", 70, id="tr-zzzz")
    lib.api.fail("findSonicPath", 10, startSongId=lib.ids["whitea"])
    lib.api.fail("findSonicPath", 70, startSongId=lib.ids["whitea"], endSongId="tr-zzzz")
    alice = lib.api.as_user(*ALICE)
    assert len(alice.ok("getSonicSimilarTracks", id=lib.ids["whitea"], count=2)["sonicMatch"]) == 2
    # Folder access (a neighbour from a folder the user may not read) is in test_access.py.


def test_a_changed_file_is_analysed_again_and_the_index_follows(lib: Lib) -> None:
    [(track_id,)] = q(lib.url, "SELECT id FROM tracks WHERE title = 'brownb'")
    before = q(lib.url, "SELECT version FROM sonic_state")[0][0]

    async def go() -> int:
        async with await psycopg.AsyncConnection.connect(lib.url) as conn:
            await conn.execute("UPDATE tracks SET mtime_ns = mtime_ns + 1 WHERE id = %s", (track_id,))
            await conn.commit()
            assert (await sonic_jobs.status(conn)).pending == 1
            [album] = await sonic_jobs.pending_albums(conn)
            done = await sonic_jobs.analyse_album(conn, album, FFMPEG or "ffmpeg")
            assert (await sonic_jobs.status(conn)).pending == 0
            return done

    assert asyncio.run(go()) == 1
    assert q(lib.url, "SELECT version FROM sonic_state")[0][0] == before + 1
    got = lib.api.ok("getSonicSimilarTracks", id=lib.ids["brownb"], count=1)["sonicMatch"]
    assert lib.names[got[0]["entry"]["id"]] == "browna"


def test_analysis_status_command_counts_sonic_features(lib: Lib, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": lib.url, "ORBSONIC_DATA_DIR": str(tmp_path / "cli"),
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-m", "orbsonic", "analysis", "status"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"sonic features: {len(SOUNDS)} analysed, 0 pending, 0 failed" in out.stdout
