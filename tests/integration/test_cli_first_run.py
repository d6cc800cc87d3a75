"""First run and the command line as a new user meets them (issue 6 §3): the banner, a busy
port, the first scan's output, broken DATABASE_URLs, piped passwords, Ctrl-C, unwritable
data dirs, missing music folders, --no-scan, --help, --version and `orbsonic check`.

Real subprocesses (`python -m orbsonic ...`), a real PostgreSQL, real audio files.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.conftest import SECRET
from tests.integration.test_cli import _free_port, orbsonic

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(fresh_db: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": fresh_db, "ORBSONIC_DATA_DIR": str(tmp_path / "data"),
            "ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOG_LEVEL": "info"}


def _embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ORBSONIC_DATABASE_URL")}
    env.update(ORBSONIC_DATA_DIR=str(tmp_path / "data"), ORBSONIC_SECRET_KEY=SECRET, ORBSONIC_PG_NO_SYNC="1")
    return env


def _no_traceback(r: subprocess.CompletedProcess[str]) -> None:
    """Neither a traceback nor an exception class name (psycopg.OperationalError: …) is shown."""
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert not re.search(r"\w(Error|Exception|Interrupt): ", r.stderr), r.stderr


class Server:
    """`orbsonic serve` in the background; its combined output collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "orbsonic", "serve", *args], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            assert self.proc.poll() is None or self._reader.is_alive(), self.output
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen in:\n{self.output}")
            time.sleep(0.1)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        rc = self.proc.wait(timeout=60)
        self._reader.join(timeout=10)
        return rc


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


# ---- banner and port --------------------------------------------------------------------------

def test_banner_prints_addresses_a_user_can_open(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "music").mkdir()
    port = _free_port()
    srv = Server([str(tmp_path / "music"), "--host", "0.0.0.0", "--port", str(port), "--no-scan"], env)
    try:
        srv.wait_for("Subsonic API at /rest")
        deadline = time.monotonic() + 60
        while not _ready(port):
            assert time.monotonic() < deadline, srv.output
            time.sleep(0.2)
    finally:
        srv.stop()
    banner = [ln for ln in srv.lines if ln.startswith(("Orbsonic ", "  also at "))]
    assert banner and f"http://localhost:{port}/" in banner[0], srv.output
    assert "http://0.0.0.0" not in srv.output, srv.output  # uvicorn's line neither
    import psutil

    own = [a.address for addrs in psutil.net_if_addrs().values() for a in addrs
           if a.family == socket.AF_INET and not a.address.startswith(("127.", "169.254."))]
    for address in own:  # every address of this machine is listed, each one can be opened
        assert any(f"http://{address}:{port}/" in ln for ln in banner), (address, banner)


def test_a_port_in_use_is_reported_before_the_banner(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "music").mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        t0 = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "orbsonic", "serve", str(tmp_path / "music"), "--host",
                            "127.0.0.1", "--port", str(port)], env=env, capture_output=True, text=True,
                           timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "serving" not in r.stdout and "Created admin user" not in r.stdout, r.stdout
    err = r.stderr.strip().splitlines()
    assert f"port {port}" in err[-1] and "already in use" in err[-1], r.stderr
    assert "--port" in err[-1] and "ORBSONIC_PORT" in err[-1], r.stderr
    _no_traceback(r)
    assert time.monotonic() - t0 < 30


# ---- the first scan ---------------------------------------------------------------------------

def test_first_scan_shows_progress_and_a_summary_not_a_line_per_file(
        env: dict[str, str], tmp_path: Path, test_library: tuple[Path, object]) -> None:
    music = tmp_path / "music"
    shutil.copytree(test_library[0], music)
    env = {**env}
    env.pop("ORBSONIC_ADMIN_PASSWORD", None)
    srv = Server([str(music), "--host", "127.0.0.1", "--port", str(_free_port())], env)
    try:
        srv.wait_for("First scan done", timeout=120)
    finally:
        srv.stop()
    out = srv.lines
    pw_line = next(i for i, ln in enumerate(out) if "Created admin user 'admin' with password:" in ln)
    after = out[pw_line:]
    # No log line names a single file (the broken FLAC is "skipped", tags warn about odd files).
    per_file = [ln for ln in after if str(music) in ln and not ln.startswith("  skipped ")]
    assert per_file == [], "\n".join(per_file)
    assert any("files read (100%)" in ln for ln in after), srv.output
    summary = next(ln for ln in after if ln.startswith("scanned 1 folder(s)"))
    assert "added" in summary and "1 skipped" in summary, summary
    assert any(ln.startswith("  skipped ") and "broken.flac" in ln for ln in after), srv.output
    reminder = next(ln for ln in after if "First scan done" in ln)
    assert "orbsonic user passwd admin" in reminder and "Created admin user" in reminder
    assert len(after) < 30, srv.output  # the password stays on a screen


def test_later_scans_do_not_repeat_the_reminder(env: dict[str, str], tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    srv = Server([str(music), "--host", "127.0.0.1", "--port", str(_free_port())],
                 {**env, "ORBSONIC_ADMIN_PASSWORD": "given-pw"})
    try:
        srv.wait_for("scanned 1 folder(s)")
    finally:
        srv.stop()
    assert "First scan done" not in srv.output and "Created admin user" not in srv.output


# ---- clear errors -----------------------------------------------------------------------------

@pytest.mark.parametrize("url, says", [
    ("foo", "not a valid PostgreSQL URL"),
    ("postgresql://u@127.0.0.1:notaport/db", "invalid port"),
    ("postgresql://u@127.0.0.1:{free}/db", "cannot connect to PostgreSQL at u@127.0.0.1:{free}/db"),
    ("postgresql://u:secret-pw@nonexistent.invalid/db",
     "cannot connect to PostgreSQL at u@nonexistent.invalid"),
])
def test_a_bad_database_url_is_one_clear_line(env: dict[str, str], url: str, says: str) -> None:
    free = str(_free_port())
    for command in (["user", "list"], ["scan"], ["migrate"]):
        r = orbsonic(*command, env={**env, "DATABASE_URL": url.replace("{free}", free)})
        assert r.returncode == 2, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert says.replace("{free}", free) in r.stderr, r.stderr
        assert "secret-pw" not in r.stderr
        _no_traceback(r)


@pytest.mark.parametrize("stdin", ["\n", ""])
def test_a_piped_empty_password_is_a_clear_error(env: dict[str, str], stdin: str) -> None:
    env = {k: v for k, v in env.items() if k != "ORBSONIC_PASSWORD"}
    r = subprocess.run([sys.executable, "-m", "orbsonic", "user", "add", "bob"], env=env, input=stdin,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "no password" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    _no_traceback(r)
    assert "bob" not in orbsonic("user", "list", env=env).stdout


def test_a_piped_password_is_used(env: dict[str, str], fresh_db: str) -> None:
    env = {k: v for k, v in env.items() if k != "ORBSONIC_PASSWORD"}
    r = subprocess.run([sys.executable, "-m", "orbsonic", "user", "add", "bob"], env=env, input="pipe pw\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr

    import asyncio

    from orbsonic.auth import users
    from orbsonic.auth.passwords import SecretKey

    async def stored() -> str | None:
        async with await psycopg.AsyncConnection.connect(fresh_db) as conn:
            user = await users.get_by_name(conn, "bob")
            assert user is not None
            return user.clear_password(SecretKey.from_text(SECRET))
    assert asyncio.run(stored()) == "pipe pw"  # one line, without its newline
    assert "bob\tuser" in orbsonic("user", "list", env=env).stdout


def _big_library(src: Path, dest: Path, copies: int) -> int:
    """`copies` hard-linked copies of the test library: thousands of real files, no disk."""
    n = 0
    for i in range(copies):
        for f in src.rglob("*"):
            if f.is_file():
                target = dest / f"c{i:03d}" / f.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(f, target)
                n += 1
    return n


def test_ctrl_c_during_a_scan_exits_quietly_and_the_scan_resumes(
        env: dict[str, str], fresh_db: str, tmp_path: Path, test_library: tuple[Path, object]) -> None:
    music = tmp_path / "music"
    _big_library(test_library[0], music, 120)
    # Its own session, like a terminal's foreground job: Ctrl-C signals the whole process group.
    proc = subprocess.Popen([sys.executable, "-m", "orbsonic", "scan", str(music), "--quiet"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        with psycopg.connect(fresh_db, autocommit=True) as conn:
            while True:
                row = conn.execute("SELECT phase, files_done, files_seen FROM scan_status").fetchone()
                assert row is not None
                if row[0] == "reading" and row[1] >= 1000:  # one batch written, more to read
                    break
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the scan never got going"
                time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    with psycopg.connect(fresh_db) as conn:
        kept = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
    assert kept > 0  # the batches written before Ctrl-C stay
    again = orbsonic("scan", str(music), env={**env, "ORBSONIC_LOG_LEVEL": "warning"}, timeout=300)
    assert again.returncode == 0, again.stderr
    read = int(again.stdout.split(" read ")[0].rsplit(", ", 1)[1])
    total = int(again.stdout.split(" files, ")[0].rsplit(" ", 1)[1])
    assert read <= total - kept, again.stdout  # what the interrupted scan wrote is not read again
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM tracks").fetchone()[0] == total - 120  # broken.flac ×120


# ---- data dir and music folders ---------------------------------------------------------------

def _need_root_tool(tool: str) -> None:
    if os.geteuid() != 0 or shutil.which(tool) is None:
        pytest.skip(f"needs root and {tool} to make a directory root cannot write")


def test_a_root_owned_data_dir_root_cannot_write_is_not_called_another_users(tmp_path: Path) -> None:
    """As root in a container without CAP_DAC_OVERRIDE, a mode-555 dir of root's own is unwritable."""
    _need_root_tool("setpriv")
    data = tmp_path / "data"
    data.mkdir(mode=0o555)
    data.chmod(0o555)
    drop = ["setpriv", "--inh-caps=-dac_override,-dac_read_search",
            "--bounding-set=-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*drop, "touch", str(data / "x")], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("setpriv could not drop CAP_DAC_OVERRIDE here")
    r = subprocess.run([*drop, sys.executable, "-m", "orbsonic", "user", "list"], env=_embedded_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "another user's" not in r.stderr, r.stderr
    assert "root's own" in r.stderr and "0555" in r.stderr and "chmod u+w" in r.stderr, r.stderr
    _no_traceback(r)


def test_the_embedded_postgres_names_the_real_cause_too(tmp_path: Path) -> None:
    """The same diagnosis when EmbeddedPostgres is used directly (not behind the CLI's check)."""
    _need_root_tool("setpriv")
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o555)
    code = ("import sys; from pathlib import Path; from orbsonic.db.embedded import EmbeddedPostgres\n"
            "try: EmbeddedPostgres(Path(sys.argv[1]) / 'pgdata').start()\n"
            "except Exception as exc: print(exc)")
    r = subprocess.run(["setpriv", "--inh-caps=-dac_override,-dac_read_search",
                        "--bounding-set=-dac_override,-dac_read_search", "--", sys.executable, "-c", code,
                        str(data)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    if "permission denied" not in r.stdout:
        pytest.skip(f"setpriv could not drop CAP_DAC_OVERRIDE here: {r.stdout}{r.stderr}")
    assert "root's own" in r.stdout and "another user's" not in r.stdout, r.stdout


def test_a_read_only_data_dir_says_read_only(tmp_path: Path) -> None:
    _need_root_tool("unshare")
    data = tmp_path / "data"
    data.mkdir()
    script = (f'mount --bind -o ro "{data}" "{data}" || exit 77; '
              f'exec "{sys.executable}" -m orbsonic user list')
    r = subprocess.run(["unshare", "-m", "sh", "-c", script], env=_embedded_env(tmp_path),
                       capture_output=True, text=True, timeout=120)
    if r.returncode == 77:
        pytest.skip("cannot make a read-only bind mount here")
    assert r.returncode == 2, r.stderr
    assert "read-only file system" in r.stderr and str(data) in r.stderr, r.stderr
    assert "another user's" not in r.stderr
    _no_traceback(r)


def test_a_missing_only_music_folder_at_first_start_is_an_error(env: dict[str, str], tmp_path: Path,
                                                                 fresh_db: str) -> None:
    missing = tmp_path / "Muisc"
    for command in (["serve", str(missing), "--host", "127.0.0.1", "--port", str(_free_port())],
                    ["scan", str(missing)]):
        r = orbsonic(*command, env=env)
        assert r.returncode == 2, r.stdout + r.stderr
        assert f"music folder {missing} does not exist" in r.stderr, r.stderr
        _no_traceback(r)
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM music_folders").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 0  # no admin created either


def test_a_missing_folder_next_to_existing_ones_is_skipped_and_not_registered(
        env: dict[str, str], tmp_path: Path, fresh_db: str) -> None:
    music, missing = tmp_path / "music", tmp_path / "Muisc"
    music.mkdir()
    (music / "x.mp3").write_bytes(b"")
    r = orbsonic("scan", str(music), str(missing), env=env)
    assert r.returncode == 0, r.stderr
    assert f"music folder {missing} does not exist: skipped" in r.stderr, r.stderr
    with psycopg.connect(fresh_db) as conn:
        assert [r[0] for r in conn.execute("SELECT path FROM music_folders")] == [str(music)]


def test_a_missing_folder_of_an_existing_library_removes_nothing(
        env: dict[str, str], tmp_path: Path, fresh_db: str, test_library: tuple[Path, object]) -> None:
    music = tmp_path / "music"
    shutil.copytree(test_library[0], music)
    assert orbsonic("scan", str(music), env=env).returncode == 0
    with psycopg.connect(fresh_db) as conn:
        before = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
    assert before > 0
    music.rename(tmp_path / "unmounted")
    r = orbsonic("scan", str(music), env=env)
    assert r.returncode == 0, r.stderr
    assert f"music folder {music} does not exist" in r.stderr and "removing nothing" in r.stderr, r.stderr
    with psycopg.connect(fresh_db) as conn:
        assert conn.execute("SELECT count(*) FROM tracks").fetchone()[0] == before


def test_serve_no_scan_registers_its_folders(env: dict[str, str], tmp_path: Path, fresh_db: str) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    port = _free_port()
    srv = Server([str(a), str(b), "--host", "127.0.0.1", "--port", str(port), "--no-scan"],
                 {**env, "ORBSONIC_ADMIN_PASSWORD": "pw"})
    try:
        deadline = time.monotonic() + 60
        while not _ready(port):
            assert time.monotonic() < deadline, srv.output
            time.sleep(0.2)
        r = httpx.get(f"http://127.0.0.1:{port}/rest/getMusicFolders",
                      params={"u": "admin", "p": "pw", "v": "1.16.1", "c": "t", "f": "json"})
        folders = r.json()["subsonic-response"]["musicFolders"]["musicFolder"]
        assert sorted(f["name"] for f in folders) == ["a", "b"]
    finally:
        srv.stop()
    assert "scanned" not in srv.output  # and still no scan
    with psycopg.connect(fresh_db) as conn:
        paths = [r[0] for r in conn.execute("SELECT path FROM music_folders ORDER BY path")]
    assert paths == [str(a.resolve()), str(b.resolve())]


# ---- --help, --version, check -----------------------------------------------------------------

def _all_parsers(p: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(p.prog, p)]
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _all_parsers(sub)
    return found


def test_help_documents_every_option_with_its_default_and_variable() -> None:
    from orbsonic.cli import _parser
    from orbsonic.config import SETTINGS

    envs = {s.key: s.env for s in SETTINGS}
    setting_of = {"data_dir": "data_dir", "log_level": "log_level", "host": "host", "port": "port",
                  "workers": "workers", "music_dirs": "music_folders"}
    checked = 0
    for prog, parser in _all_parsers(_parser()):
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert action.help and action.help != argparse.SUPPRESS, f"{prog} {action.dest} has no help"
            if action.dest in setting_of:
                text = action.help % {}
                assert envs[setting_of[action.dest]] in text and "default: " in text, (prog, text)
                checked += 1
    assert checked >= 10
    r = subprocess.run([sys.executable, "-m", "orbsonic", "serve", "--help"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    for s in SETTINGS:  # the settings table is in the help, new settings included
        assert s.env in text, s.env
    assert "default: 4040; env ORBSONIC_PORT" in text and "default: 0.0.0.0; env ORBSONIC_HOST" in text


def test_version() -> None:
    from orbsonic import __version__

    r = subprocess.run([sys.executable, "-m", "orbsonic", "--version"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == f"orbsonic {__version__}"


def test_check_reports_each_subject_and_fails_on_a_problem(env: dict[str, str], tmp_path: Path) -> None:
    music = tmp_path / "music"
    music.mkdir()
    (music / "a.flac").write_bytes(b"")
    port = str(_free_port())
    r = orbsonic("check", str(music), "--port", port, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    subjects = [ln.split()[1] for ln in lines[:-1]]
    assert subjects == ["settings", "data", "port", "database", "ffmpeg", "folder"], r.stdout
    assert all(ln.startswith(("ok ", "warn ")) for ln in lines[:-1]), r.stdout
    assert "schema up to date" in r.stdout and f"{port} is free" in r.stdout
    assert lines[-1].startswith("all good")
    assert len(lines) <= 10

    bad = orbsonic("check", str(tmp_path / "nope"), "--port", port,
                   env={**env, "DATABASE_URL": f"postgresql://u@127.0.0.1:{_free_port()}/db"})
    assert bad.returncode == 1, bad.stdout
    fails = [ln for ln in bad.stdout.splitlines() if ln.startswith("FAIL")]
    assert len(fails) == 2 and "cannot connect to PostgreSQL" in fails[0] and "does not exist" in fails[1], \
        bad.stdout
    assert bad.stdout.strip().splitlines()[-1] == "2 problem(s) found"
    _no_traceback(bad)


def test_check_warns_of_a_library_folder_the_next_scan_would_remove(env: dict[str, str],
                                                                     tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    for d in (old, new):
        d.mkdir()
        (d / "x.mp3").write_bytes(b"")
    assert orbsonic("scan", str(old), env=env).returncode == 0
    r = orbsonic("check", "--port", str(_free_port()), env=env)  # no folder given: the library's
    assert r.returncode == 0 and f"ok    folder    {old} is readable" in r.stdout, r.stdout
    r = orbsonic("check", str(new), "--port", str(_free_port()), env=env)
    assert r.returncode == 0, r.stdout
    warn = [ln for ln in r.stdout.splitlines() if ln.startswith("warn") and str(old) in ln]
    assert len(warn) == 1 and "next scan removes it" in warn[0], r.stdout
