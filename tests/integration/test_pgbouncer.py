"""Orbsonic behind a real PgBouncer in transaction pooling mode (issue 12): `orbsonic serve` with
DATABASE_URL through PgBouncer and ORBSONIC_DATABASE_DIRECT_URL straight to PostgreSQL (for
migrations, LISTEN, the scanner's lock and the job worker). Requests run concurrently and each
query shape many times, so that transactions of different clients share server connections and
psycopg would have prepared statements (it prepares after 5 runs): nothing may rely on session
state. Skipped when Debian's `pgbouncer` is not installed (scripts/setup test installs it)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.conftest import clone_db
from tests.integration.replicas import PASSWORD, Replica, base_env, free_port, wait_until

PGBOUNCER = shutil.which("pgbouncer") or next(
    (p for p in ("/usr/sbin/pgbouncer",) if os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(PGBOUNCER is None,
                                reason="pgbouncer is not installed (apt-get install pgbouncer)")


class PgBouncer:
    """A pgbouncer process (transaction pooling, few server connections) in front of `direct`."""

    def __init__(self, direct: str) -> None:
        u = urlsplit(direct)
        self.work = Path(tempfile.mkdtemp(prefix="orbsonic-pgbouncer-"))
        self.work.chmod(0o755)
        self.port = free_port()
        self.user, self.password, self.dbname = u.username or "", u.password or "", u.path.lstrip("/")
        (self.work / "users.txt").write_text(f'"{self.user}" "{self.password}"\n')
        (self.work / "pgbouncer.ini").write_text(f"""[databases]
* = host={u.hostname} port={u.port} user={self.user} password={self.password}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir = {self.work}
auth_type = plain
auth_file = {self.work}/users.txt
admin_users = {self.user}
pool_mode = transaction
default_pool_size = 4
max_client_conn = 200
server_reset_query =
logfile = {self.work}/pgbouncer.log
pidfile = {self.work}/pgbouncer.pid
""")
        for f in self.work.iterdir():
            f.chmod(0o644)
        user = None
        if os.geteuid() == 0:  # pgbouncer refuses to run as root
            user = "nobody"
            os.chown(self.work, pwd.getpwnam(user).pw_uid, -1)
        self.proc = subprocess.Popen([PGBOUNCER, str(self.work / "pgbouncer.ini")], user=user,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.url = f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{self.dbname}"
        wait_until(self._answers, timeout=20, what="pgbouncer to accept connections")

    def _answers(self) -> bool:
        assert self.proc.poll() is None, (self.work / "pgbouncer.log").read_text(errors="replace")
        try:
            with psycopg.connect(self.url, connect_timeout=2, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            time.sleep(0.1)
            return False

    def stats(self) -> dict[str, Any]:
        """SHOW STATS of our database on the admin console (total_xact_count …)."""
        admin = f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/pgbouncer"
        with psycopg.connect(admin, autocommit=True, prepare_threshold=None) as conn:
            cur = conn.execute("SHOW STATS")
            names = [c.name for c in cur.description or ()]
            for row in cur.fetchall():
                stats = dict(zip(names, row))
                if stats["database"] == self.dbname:
                    return stats
        raise AssertionError("no stats for " + self.dbname)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.work, ignore_errors=True)


@pytest.fixture
def bouncer(pg: Any, template_url: str) -> Iterator[tuple[PgBouncer, str]]:
    direct = clone_db(pg, template_url)
    b = PgBouncer(direct)
    try:
        yield b, direct
    finally:
        b.stop()


def test_the_server_works_through_pgbouncer_transaction_pooling(bouncer: tuple[PgBouncer, str],
                                                                test_library: tuple[Path, Any],
                                                                tmp_path: Path) -> None:
    pgb, direct = bouncer
    music = tmp_path / "music"
    music.mkdir()
    for artist in sorted(p for p in test_library[0].iterdir() if p.is_dir())[:4]:
        shutil.copytree(artist, music / artist.name)
    env = base_env(tmp_path / "data", pgb.url, ORBSONIC_DATABASE_DIRECT_URL=direct,
                   ORBSONIC_JOB_STALLED_AFTER="5")
    server = Replica(env, music, tmp_path / "serve.log")  # its own job worker child, on the direct URL
    try:
        xacts_before = pgb.stats()["total_xact_count"]
        server.ok("startScan")  # a job; the worker's scanner holds its lock on a direct session
        wait_until(lambda: (s := server.ok("getScanStatus")["scanStatus"]) and not s["scanning"]
                   and s["count"] > 0, timeout=180, what="the scan")
        albums = server.ok("getAlbumList2", type="alphabeticalByName", size=50)["albumList2"]["album"]
        assert albums
        songs = [s["id"] for s in server.ok("getAlbum", id=albums[0]["id"])["album"]["song"]]

        def session(n: int) -> None:
            # the same query shapes again and again, from 8 clients over 4 server connections
            for i in range(12):
                assert server.ok("getAlbumList2", type="newest", size=10)["albumList2"]["album"]
                assert server.ok("search3", query="", songCount=5)["searchResult3"]
                server.ok("savePlayQueue", id=songs, current=songs[0], position=i)
                assert [e["id"] for e in server.ok("getPlayQueue")["playQueue"]["entry"]] == songs
                server.ok("scrobble", id=songs[0], submission="false")
                server.ok("star", id=songs[0])
                tokens = server.api("POST", "/auth/login",
                                    json={"username": "admin", "password": PASSWORD}).json()
                assert server.api("GET", "/me", tokens["accessToken"]).status_code == 200

        with ThreadPoolExecutor(8) as ex:
            list(ex.map(session, range(8)))
        pid = server.ok("createPlaylist", name="through pgbouncer", songId=songs)["playlist"]["id"]
        assert [e["id"] for e in server.ok("getPlaylist", id=pid)["playlist"]["entry"]] == songs
        assert server.ok("getNowPlaying")["nowPlaying"]["entry"]
        # a revocation still reaches the credential cache (its LISTEN is on the direct URL)
        tokens = server.api("POST", "/auth/login", json={"username": "admin", "password": PASSWORD}).json()
        key = server.api("POST", "/api-keys", tokens["accessToken"], json={"name": "k"}).json()
        assert server.rest("ping", auth={"apiKey": key["key"]})["status"] == "ok"
        assert server.api("DELETE", f"/api-keys/{key['id']}", tokens["accessToken"]).status_code == 204
        assert server.rest("ping", auth={"apiKey": key["key"]})["status"] == "failed"
        assert pgb.stats()["total_xact_count"] - xacts_before > 8 * 12 * 5  # it did go through pgbouncer
        log = server.output()
        assert "prepared statement" not in log and "Traceback" not in log, log[-3000:]
    finally:
        server.stop()
