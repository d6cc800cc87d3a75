"""Two `orbsonic serve` replicas on loopback sharing one PostgreSQL and one real valkey-server
(VALKEY_URL), with the job work done by separate `orbsonic worker` processes (issue 12,
"Replicas and background work"): what one replica does, the other sees; a scan asked for on both
at once runs once; a SIGKILLed replica or worker loses nothing.

The tests of this module share one cluster and run in file order (the last ones kill processes).
"""

from __future__ import annotations

import re
import shutil
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import clone_db
from tests.integration.replicas import PASSWORD, Process, Replica, base_env, wait_until
from tests.integration.valkey_server import ValkeyServer

STALLED_AFTER = "3"  # s: a killed worker's job is taken over quickly (ORBSONIC_JOB_STALLED_AFTER)


@dataclass
class Cluster:
    db: str
    music: Path
    a: Replica
    b: Replica
    workers: list[Process]
    env: dict[str, str]
    tmp: Path

    def start_worker(self, name: str) -> Process:
        w = Process(["worker", "--concurrency", "2"], base_env(self.tmp / name, self.db, **self.env),
                    self.tmp / f"{name}.log")
        self.workers.append(w)
        return w


def _library(src: Path, dest: Path, artists: int) -> Path:
    dest.mkdir()
    for artist in sorted(p for p in src.iterdir() if p.is_dir())[:artists]:
        shutil.copytree(artist, dest / artist.name)
    return dest


def _workers_alive(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM procrastinate_workers "
                           "WHERE last_heartbeat > now() - interval '20 seconds'").fetchone()
        return int(row[0]) if row else 0


@pytest.fixture(scope="module")
def cluster(pg: Any, template_url: str, test_library: tuple[Path, Any],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("replicas")
    db = clone_db(pg, template_url)
    music = _library(test_library[0], tmp / "music", 4)
    valkey = ValkeyServer(tmp).start()
    env = {"VALKEY_URL": valkey.url, "ORBSONIC_JOB_WORKER": "false",
           "ORBSONIC_JOB_STALLED_AFTER": STALLED_AFTER}
    procs: list[Process] = []
    try:
        a = Replica(base_env(tmp / "a", db, **env), music, tmp / "a.log")
        procs.append(a)
        b = Replica(base_env(tmp / "b", db, **env), music, tmp / "b.log")
        procs.append(b)
        c = Cluster(db, music, a, b, [], env, tmp)
        c.start_worker("w1")
        wait_until(lambda: _workers_alive(db) >= 1, what="the worker's first heartbeat")
        yield c
    finally:
        for p in procs + (c.workers if "c" in locals() else []):
            p.stop()
        valkey.stop()


def test_a_login_on_one_replica_works_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    r = a.api("POST", "/auth/login", json={"username": "admin", "password": PASSWORD, "client": "t"})
    assert r.status_code == 200, r.text
    tokens = r.json()
    me = b.api("GET", "/me", tokens["accessToken"])
    assert me.status_code == 200 and me.json()["username"] == "admin", me.text
    # the refresh token rotates on b and the new access token works on a
    r = b.api("POST", "/auth/refresh", json={"refreshToken": tokens["refreshToken"]})
    assert r.status_code == 200, r.text
    assert a.api("GET", "/me", r.json()["accessToken"]).status_code == 200


def test_logout_everywhere_on_one_replica_holds_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    login = a.api("POST", "/auth/login", json={"username": "admin", "password": PASSWORD}).json()
    token = login["accessToken"]
    assert b.api("GET", "/me", token).status_code == 200  # b has now seen (and may cache) it
    assert a.api("POST", "/auth/logout-all", token).status_code == 204
    assert b.api("GET", "/me", token).status_code == 401
    assert b.api("POST", "/auth/refresh", json={"refreshToken": login["refreshToken"]}).status_code == 401


def test_an_api_key_revoked_on_one_replica_is_refused_by_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    login = a.api("POST", "/auth/login", json={"username": "admin", "password": PASSWORD})
    token = login.json()["accessToken"]
    created = b.api("POST", "/api-keys", token, json={"name": "replica test"})
    assert created.status_code == 201, created.text
    key, key_id = created.json()["key"], created.json()["id"]
    for replica in (a, b):  # both verify (and cache) the key
        assert replica.rest("ping", auth={"apiKey": key})["status"] == "ok"
        assert replica.api("GET", "/me", key).status_code == 200
    assert a.api("DELETE", f"/api-keys/{key_id}", token).status_code == 204
    assert b.rest("ping", auth={"apiKey": key})["status"] == "failed"
    assert b.api("GET", "/me", key).status_code == 401


def test_a_scan_asked_for_on_both_replicas_at_once_runs_once(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    answers: list[dict[str, Any]] = []
    barrier = threading.Barrier(2)

    def ask(replica: Replica) -> None:
        barrier.wait()
        answers.append(replica.ok("startScan")["scanStatus"])

    threads = [threading.Thread(target=ask, args=(r,)) for r in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 2 and all(s["scanning"] for s in answers), answers
    # while it runs, both replicas say so; when done, both count the same tracks
    done = wait_until(lambda: (s := b.ok("getScanStatus")["scanStatus"]) and not s["scanning"]
                      and s["count"] > 0 and s, timeout=120, what="the scan to finish")
    assert a.ok("getScanStatus")["scanStatus"] == done
    with psycopg.connect(cluster.db) as conn:
        started = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'scan.start'").fetchone()
        left = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'scan.library'"
                            " AND status <> 'succeeded'").fetchone()
    assert started == (1,)  # one of the two requests queued the scan, the other found it queued
    assert left == (0,)
    assert "scan started (pid" not in a.output() + b.output()  # the worker scanned, not a replica's child
    albums_a = a.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]
    albums_b = b.ok("getAlbumList2", type="alphabeticalByName", size=500)["albumList2"]["album"]
    assert albums_a and albums_a == albums_b


def _first_song(replica: Replica) -> list[str]:
    """Song ids of the first albums (at least three songs)."""
    albums = replica.ok("getAlbumList2", type="alphabeticalByName", size=10)["albumList2"]["album"]
    ids: list[str] = []
    for album in albums:
        ids += [s["id"] for s in replica.ok("getAlbum", id=album["id"])["album"]["song"]]
        if len(ids) >= 3:
            return ids
    raise AssertionError(f"fewer than three songs: {ids}")


def test_the_play_queue_saved_on_one_replica_is_read_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    songs = _first_song(a)[:3]
    a.ok("savePlayQueue", id=songs, current=songs[1], position=1234)
    queue = b.ok("getPlayQueue")["playQueue"]
    assert [e["id"] for e in queue["entry"]] == songs
    assert queue["current"] == songs[1] and queue["position"] == 1234


def test_kept_answers_of_the_other_replica_follow_a_queue_save_and_a_star(cluster: Cluster) -> None:
    # getPlayQueue and getSong are kept rendered per user (subsonic_api/answers.py): B's kept
    # answers must follow A's writes (NOTIFY orbsonic_answers of schema/0022, 0033).
    a, b = cluster.a, cluster.b
    songs = _first_song(a)[:3]
    a.ok("savePlayQueue", id=songs[:1], current=songs[0])
    wait_until(lambda: [e["id"] for e in b.ok("getPlayQueue")["playQueue"].get("entry", [])] == songs[:1],
               timeout=5, what="B's queue of one song")
    assert "starred" not in b.ok("getSong", id=songs[2])["song"]
    b.ok("getPlayQueue"), b.ok("getSong", id=songs[2])  # both kept on B now
    a.ok("savePlayQueue", id=songs, current=songs[2], position=99)
    a.ok("star", id=songs[2])
    wait_until(lambda: [e["id"] for e in b.ok("getPlayQueue")["playQueue"].get("entry", [])] == songs,
               timeout=5, what="B's queue after A's save")
    wait_until(lambda: "starred" in b.ok("getSong", id=songs[2])["song"], timeout=5, what="B's star")
    a.ok("unstar", id=songs[2])
    wait_until(lambda: "starred" not in b.ok("getSong", id=songs[2])["song"], timeout=5, what="B's unstar")


def test_a_playlist_made_on_one_replica_is_seen_and_changed_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    songs = _first_song(b)
    pid = b.ok("createPlaylist", name="across replicas", songId=songs[:2])["playlist"]["id"]
    assert "across replicas" in [p["name"] for p in a.ok("getPlaylists")["playlists"]["playlist"]]
    a.ok("updatePlaylist", playlistId=pid, songIdToAdd=songs[2])
    assert [e["id"] for e in b.ok("getPlaylist", id=pid)["playlist"]["entry"]] == songs[:3]


def test_now_playing_reported_to_one_replica_is_listed_by_the_other(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    song = _first_song(a)[0]
    a.ok("scrobble", id=song, submission="false")
    entries = b.ok("getNowPlaying")["nowPlaying"]["entry"]
    assert [e["id"] for e in entries] == [song] and entries[0]["username"] == "admin"


def test_a_killed_worker_s_scan_is_run_again_by_another(cluster: Cluster) -> None:
    """A worker SIGKILLed while it holds the scan job: the job is re-queued as stalled and the
    second worker runs it to the end (the files added meanwhile are in the library)."""
    a, b = cluster.a, cluster.b
    w1 = cluster.workers[0]
    before = b.ok("getScanStatus")["scanStatus"]["count"]
    extra = cluster.music / "zz added later"
    shutil.copytree(next(p for p in sorted(cluster.music.iterdir()) if p.is_dir()), extra)
    a.ok("startScan", fullScan="true")
    with psycopg.connect(cluster.db, autocommit=True) as conn:
        wait_until(lambda: conn.execute("SELECT 1 FROM procrastinate_jobs WHERE task_name = 'scan.library'"
                                        " AND status = 'doing'").fetchone(), what="the scan job to start")
    w1.stop(signal.SIGKILL)
    cluster.start_worker("w2")  # (w1's scanner died with it: PR_SET_PDEATHSIG)
    after = wait_until(lambda: (s := b.ok("getScanStatus")["scanStatus"]) and not s["scanning"]
                       and s["count"] > before and s["count"], timeout=180, what="the re-run scan")
    assert after > before
    with psycopg.connect(cluster.db) as conn:
        left = conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs WHERE task_name ="
                            " 'scan.library' AND status <> 'succeeded' GROUP BY 1").fetchall()
    assert left == []
    w2 = cluster.workers[-1]
    assert re.search(r"re-queued \d+ job\(s\) of stopped workers", w2.output()), w2.output()
    assert "scan job: scanner started" in w2.output()


def test_a_replica_killed_with_sigkill_leaves_the_other_serving_everything(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    login = a.api("POST", "/auth/login", json={"username": "admin", "password": PASSWORD}).json()
    songs = _first_song(a)
    a.ok("savePlayQueue", id=songs[:2], current=songs[0])
    a.stop(signal.SIGKILL)
    assert b.ok("ping")["status"] == "ok"
    assert b.api("GET", "/me", login["accessToken"]).status_code == 200
    assert [e["id"] for e in b.ok("getPlayQueue")["playQueue"]["entry"]] == songs[:2]
    assert b.ok("getAlbumList2", type="newest")["albumList2"]["album"]
    b.ok("startScan")  # the job queue still takes work, and the worker still runs it
    wait_until(lambda: not b.ok("getScanStatus")["scanStatus"]["scanning"], timeout=120, what="the scan")


def test_a_replica_killed_while_its_own_job_worker_scans_loses_no_scan(
        pg: Any, template_url: str, test_library: tuple[Path, Any], tmp_path: Path) -> None:
    """The default set-up (each `serve` runs a job worker child): the replica whose worker holds
    the scan job is SIGKILLed; its worker stops with it, and the scan is finished or run again
    by the other replica's worker. The other replica answers throughout."""
    db = clone_db(pg, template_url)
    music = _library(test_library[0], tmp_path / "music", 6)
    valkey = ValkeyServer(tmp_path).start()
    env = {"VALKEY_URL": valkey.url, "ORBSONIC_JOB_STALLED_AFTER": STALLED_AFTER}
    replicas: list[Replica] = []
    try:
        replicas = [Replica(base_env(tmp_path / n, db, **env), music, tmp_path / f"{n}.log") for n in "ab"]
        wait_until(lambda: _workers_alive(db) >= 2, what="both job workers")
        assert replicas[0].ok("startScan")["scanStatus"]["scanning"]
        holder = wait_until(lambda: next((r for r in replicas if "scan job: scanner started" in r.output()),
                                         None), timeout=60, what="a worker to take the scan job")
        other = replicas[1 - replicas.index(holder)]
        holder.stop(signal.SIGKILL)
        assert other.ok("ping")["status"] == "ok"
        done = wait_until(lambda: (s := other.ok("getScanStatus")["scanStatus"]) and not s["scanning"]
                          and s["count"] > 0 and s, timeout=180, what="the scan to be finished")
        with psycopg.connect(db) as conn:
            left = conn.execute("SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'scan.library'"
                                " AND status <> 'succeeded'").fetchone()
            tracks = conn.execute("SELECT count(*) FROM tracks").fetchone()
        assert left == (0,)
        assert tracks is not None and done["count"] == tracks[0] > 0
        assert other.ok("getAlbumList2", type="newest")["albumList2"]["album"]
    finally:
        for r in replicas:
            r.stop()
        valkey.stop()
