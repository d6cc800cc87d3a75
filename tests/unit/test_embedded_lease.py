"""The embedded PostgreSQL shared by several processes: leases (the last one out stops it, also
after a SIGKILLed holder), the port kept across runs, and restarting a server that died."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from orbsonic.db.embedded import FAST_SETTINGS, EmbeddedPostgres
from orbsonic.db.supervisor import Supervisor
from tests.unit.test_embedded_pg import ANY_BIN, needs_pg

pytestmark = needs_pg


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[[], EmbeddedPostgres]]:
    """A factory of EmbeddedPostgres objects on one cluster directory; the files go afterwards."""
    system_dir = Path(tempfile.mkdtemp(prefix="orbsonic-pgsys-"))
    system_dir.chmod(0o755)
    made: list[EmbeddedPostgres] = []

    def new() -> EmbeddedPostgres:
        pg = EmbeddedPostgres(tmp_path / "pg", bin_dir=ANY_BIN, no_sync=True, server_settings=FAST_SETTINGS,
                              system_dir=system_dir)
        made.append(pg)
        return pg

    yield new
    for pg in made:
        pg.stop()
    if made:
        shutil.rmtree(made[0].data_dir, ignore_errors=True)
    shutil.rmtree(system_dir, ignore_errors=True)


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=5) as conn:
            return conn.execute("SELECT 1").fetchone() == (1,)
    except psycopg.OperationalError:
        return False


def test_the_last_one_out_stops_it_whoever_started_it(make: Callable[[], EmbeddedPostgres]) -> None:
    first, second = make(), make()
    first.start()
    second.start()
    assert second.attached and second.url == first.url
    url = first.url
    first.stop()  # the starter leaves: the server stays for the other user
    assert second.running and _answers(second.url)
    pid_file = second.data_dir / "postmaster.pid"
    second.stop()  # the last one out, though it only attached
    assert not pid_file.exists()
    assert not _answers(url)


def test_a_killed_holder_leaves_no_lease(make: Callable[[], EmbeddedPostgres], tmp_path: Path) -> None:
    """A process SIGKILLed while using the server (the kernel drops its flock): the next last
    one out stops the server that process started and could not stop."""
    probe = make()  # only to know the paths; not started
    script = textwrap.dedent(f"""
        import os, signal, sys
        from pathlib import Path
        from orbsonic.db.embedded import EmbeddedPostgres, FAST_SETTINGS
        pg = EmbeddedPostgres(Path({str(probe.cluster_dir)!r}), bin_dir=Path({str(ANY_BIN)!r}), no_sync=True,
                              server_settings=FAST_SETTINGS, system_dir=Path({str(probe._system_dir)!r}))
        pg.start()
        print(pg.url, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2])
    assert res.returncode == -signal.SIGKILL, res.stderr
    url = res.stdout.strip()
    assert _answers(url)  # left running by the killed process
    later = make()
    later.start()
    assert later.attached and later.url == url
    later.stop()
    assert not _answers(url)


def test_a_new_run_keeps_the_port_of_the_last(make: Callable[[], EmbeddedPostgres]) -> None:
    pg = make()
    pg.start()
    port = pg.port
    pg.stop()
    again = make()
    again.start()
    assert again.port == port and not again.attached


def test_ensure_running_restarts_a_dead_server_on_its_port(make: Callable[[], EmbeddedPostgres]) -> None:
    pg, user = make(), make()
    pg.start()
    user.start()
    assert pg.ensure_running() is False  # running: nothing to do
    pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while True:  # the killed postmaster's backends release its shared memory after a moment
        try:
            if user.ensure_running():  # the attached one restarts it, with the same URL
                break
        except Exception:  # EmbeddedPostgresError until then
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert _answers(pg.url) and pg.url == user.url
    assert int((pg.data_dir / "postmaster.pid").read_text().split()[0]) != pid
    assert pg.ensure_running() is False


def test_supervisor_restarts_a_server_that_was_stopped_by_hand(make: Callable[[], EmbeddedPostgres]) -> None:
    pg = make()
    pg.start()
    with Supervisor(pg, interval_s=0.2) as sup:
        pid = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # what `pg_ctl stop -m fast` does
        deadline = time.monotonic() + 60
        while sup.restarts == 0 or not _answers(pg.url):
            assert time.monotonic() < deadline, "not restarted"
            time.sleep(0.2)
    assert pg.running


