"""Embedded PostgreSQL: a private cluster for zero-config use and for tests.

The cluster directory is the data directory. The server listens on 127.0.0.1 only (the port
of its previous run when free, else a free one, or a fixed one), Unix socket in the data
directory; TCP logins need the generated password (pgpass.py); the app uses role and database
`orbsonic`. A second `EmbeddedPostgres` on a running cluster (`orbsonic scan`, or a second
`orbsonic serve`, next to `orbsonic serve`) attaches to it. Starts and stops on one directory
are serialised by a flock, and each started or attached object holds a lease
(clusterstate.py): `stop()` stops the server only when no other process holds one — the last
one out stops it, whoever started it, also a server left running by a SIGKILLed process.
`ensure_running()` starts a server that died again on its port, so the URLs handed out stay
valid (the supervisor of `serve` calls it, supervisor.py).

PostgreSQL refuses to run as root: as root the server runs as the owner of an existing
cluster, else as the system user `orbsonic-pg` (created when missing). When that user cannot
reach the directory (under /root, mode 700) the cluster goes to
`/var/lib/orbsonic/clusters/<hash>`, named in a `CLUSTER_LOCATION` file; when it cannot reach
the binaries (a venv under /root) they are copied once to `/var/lib/orbsonic/pg-<version>`.
The user's directories are never chmod-ed.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import shlex
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Self

import psycopg
from psycopg import sql

from orbsonic.db import pgpass
from orbsonic.db.clusterstate import (
    DB_NAME,
    ROLE_NAME,
    Running,
    dir_lock,
    drop_lease,
    free_port,
    last_port,
    make_url,
    running_server,
    socket_dir_setting,
    take_lease,
)
from orbsonic.db.pgbin import (
    BIN_ENV,
    INSTALL_HINT,
    MIN_MAJOR,
    TIMEOUT_S,
    candidate_bins,
    RunAs,
    copy_install,
    find_pg_bin,
    mkdir_public,
    owner_of,
    pg_version,
    run,
    system_user,
    user_can,
)
from orbsonic.errors import EmbeddedPostgresError

log = logging.getLogger("orbsonic.db")

LOCATION_FILE = "CLUSTER_LOCATION"
LOG_NAME = "postgresql.log"
NO_SYNC_ENV = "ORBSONIC_PG_NO_SYNC"
SYSTEM_DIR_ENV = "ORBSONIC_PG_SYSTEM_DIR"
DEFAULT_SYSTEM_DIR = Path("/var/lib/orbsonic")
# Durability off: for throwaway test clusters only.
FAST_SETTINGS: Mapping[str, str] = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}


def _log_tail(log_file: Path, offset: int = 0, lines: int = 25) -> str:
    try:
        text = log_file.read_bytes()[offset:].decode("utf-8", "replace")
    except OSError as exc:
        return f"(log {log_file} unreadable: {exc})"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


class EmbeddedPostgres:
    """A private PostgreSQL cluster in `cluster_dir`, started on demand.

    `port`: fixed TCP port (default: a free one at each start). `log_file`: server log (default
    `<data dir>/postgresql.log`). Extras: `bin_dir` (default `find_pg_bin()`), `no_sync` (initdb
    --no-sync; default `$ORBSONIC_PG_NO_SYNC`), `server_settings` (extra `--name=value`),
    `system_dir` (root only: relocated clusters and copied binaries; default
    `$ORBSONIC_PG_SYSTEM_DIR` or /var/lib/orbsonic), `ephemeral` (delete the files on `stop()`).
    """

    def __init__(self, cluster_dir: Path, *, port: int | None = None, log_file: Path | None = None,
                 bin_dir: Path | None = None, no_sync: bool | None = None,
                 server_settings: Mapping[str, str] | None = None, system_dir: Path | None = None,
                 ephemeral: bool = False) -> None:
        self.cluster_dir = Path(cluster_dir).expanduser().absolute()
        self._port_req = port
        self._log_req = Path(log_file).expanduser().absolute() if log_file else None
        self._bin_req = Path(bin_dir) if bin_dir else None
        env_no_sync = os.environ.get(NO_SYNC_ENV, "").strip().lower() in ("1", "true", "yes", "on")
        self._no_sync = env_no_sync if no_sync is None else no_sync
        self._settings = dict(server_settings or {})
        self._system_dir = Path(system_dir or os.environ.get(SYSTEM_DIR_ENV) or DEFAULT_SYSTEM_DIR).absolute()
        self._ephemeral = ephemeral
        self._url: str | None = None
        self._port: int | None = None
        self._owned = False  # this object started the server (else attached, or not started)
        self._data_dir: Path | None = None
        self._log_file: Path | None = None
        self._bin: Path | None = None
        self._run_as: RunAs | None = None
        self._password: str | None = None
        self._lease: int | None = None

    @property
    def url(self) -> str:
        """`postgresql://orbsonic:<password>@127.0.0.1:<port>/orbsonic`; raises if not started."""
        if self._url is None:
            raise EmbeddedPostgresError(f"the embedded PostgreSQL in {self.cluster_dir} is not started")
        return self._url

    @property
    def running(self) -> bool:
        """True while this object is started or attached and its server process is alive."""
        return self._url is not None and self._data_dir is not None and bool(running_server(self._data_dir))

    @property
    def attached(self) -> bool:
        """True when this object uses a server that another EmbeddedPostgres/process started."""
        return self._url is not None and not self._owned

    @property
    def port(self) -> int | None:
        """TCP port of the server while started or attached, else None."""
        return self._port if self._url is not None else None

    @property
    def data_dir(self) -> Path:
        """The real data directory: `cluster_dir`, or where CLUSTER_LOCATION points after relocation."""
        return self._data_dir or self._locate(self.cluster_dir)

    @property
    def log_file(self) -> Path:
        """The server log this object's start writes to."""
        return self._log_file or self.data_dir / LOG_NAME

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> str:
        """Start (initdb on first use, ~0.6 s; start ~0.1 s) or attach to the server; return its URL.

        Idempotent. Raises EmbeddedPostgresError, with the server log's tail where there is one.
        """
        if self._url is not None:
            return self._url
        req = self.cluster_dir
        try:
            req.mkdir(parents=True, exist_ok=True)
            with dir_lock(req):
                data = self._locate(req)
                running = running_server(data)
                url = self._attach(data, running) if running is not None else self._start_new(req, data)
                self._lease = take_lease(req)
                return url
        except PermissionError as exc:
            from orbsonic.check import dir_problem  # what is wrong: owner, mode, read-only, …

            raise EmbeddedPostgresError(f"permission denied using the PostgreSQL cluster {req}: "
                                        f"{dir_problem(req) or exc}") from exc
        except OSError as exc:
            raise EmbeddedPostgresError(f"cannot use the PostgreSQL cluster directory {req}: {exc}") from exc

    @staticmethod
    def _locate(req: Path) -> Path:
        loc = req / LOCATION_FILE
        first = loc.read_text().partition("\n")[0].strip() if loc.is_file() else ""
        return Path(first) if first.startswith("/") else req

    def _attach(self, data: Path, running: Running) -> str:
        if self._port_req is not None and self._port_req != running.port:
            log.warning("PostgreSQL in %s already runs on port %d, not %d: using it", data,
                        running.port, self._port_req)
        self._password = pgpass.load(self.cluster_dir)
        self._ensure_database(running.host, running.port)
        self._data_dir, self._port, self._owned = data, running.port, False
        self._url = make_url(running.host, running.port, self._password)
        log.info("attached to the PostgreSQL of %s (pid %d, port %d)", data, running.pid, running.port)
        return self._url

    def _start_new(self, req: Path, data: Path) -> str:
        bin_dir = self._bin_req or find_pg_bin()
        major, version = pg_version(bin_dir)
        initialized = (data / "PG_VERSION").is_file()
        if initialized and (cluster_major := int((data / "PG_VERSION").read_text().split(".")[0])) != major:
            bin_dir = self._matching_bin(data, cluster_major, bin_dir, major)
            major, version = pg_version(bin_dir)
        if major < MIN_MAJOR:
            raise EmbeddedPostgresError(f"{bin_dir} is PostgreSQL {version}, Orbsonic needs >= {MIN_MAJOR}: "
                                        + INSTALL_HINT.replace("no PostgreSQL server binaries found. ", ""))
        run_as: RunAs | None = None
        if os.geteuid() == 0:
            run_as = owner_of(data) if initialized else system_user()
            if not initialized:
                data = self._reachable_data_dir(req, data, run_as)
            bin_dir = self._reachable_bin(bin_dir, version, run_as)
        self._bin, self._run_as = bin_dir, run_as
        if not (data / "PG_VERSION").is_file():
            self._initdb(bin_dir, data, run_as)
        self._password = pgpass.load(self.cluster_dir)
        log_file = self._prepare_log(data, run_as)
        port = self._pg_ctl_start(bin_dir, data, log_file, run_as, prefer=last_port(data))
        self._data_dir, self._log_file, self._port, self._owned = data, log_file, port, True
        try:
            self._ensure_database("127.0.0.1", port)
        except EmbeddedPostgresError:
            self._pg_ctl_stop(data)
            raise
        self._url = make_url("127.0.0.1", port, self._password)
        if self._ephemeral:
            atexit.register(self.stop)
        return self._url

    def _ensure_tools(self, data: Path) -> None:
        """Binaries and account for pg_ctl on an initialised cluster this object attached to."""
        if self._bin is not None:
            return
        bin_dir = self._bin_req or find_pg_bin()
        major, _ = pg_version(bin_dir)
        cluster_major = int((data / "PG_VERSION").read_text().split(".")[0])
        if cluster_major != major:
            bin_dir = self._matching_bin(data, cluster_major, bin_dir, major)
        run_as = owner_of(data) if os.geteuid() == 0 else None
        if run_as is not None:
            bin_dir = self._reachable_bin(bin_dir, pg_version(bin_dir)[1], run_as)
        self._bin, self._run_as = bin_dir, run_as

    def ensure_running(self) -> bool:
        """Start the server again if its postmaster is gone (crashed, killed, stopped by hand).

        Same data directory and port as before, so the URL stays valid; a no-op while it
        runs (another process may have restarted it first). Returns True when this call
        started it. Raises EmbeddedPostgresError (e.g. while the dead server's backends still
        hold its shared memory, or its port is taken: call again later).
        """
        if self._url is None or self._port is None:
            raise EmbeddedPostgresError(f"the embedded PostgreSQL in {self.cluster_dir} is not started")
        req = self.cluster_dir
        with dir_lock(req):
            data = self._locate(req)
            running = running_server(data)
            if running is not None:
                if running.port != self._port:
                    log.error("PostgreSQL of %s runs on port %d now, this process uses %d: restart it",
                              data, running.port, self._port)
                return False
            self._ensure_tools(data)
            assert self._bin is not None
            log_file = self._log_file or self._prepare_log(data, self._run_as)
            self._pg_ctl_start(self._bin, data, log_file, self._run_as, prefer=self._port, fixed=True)
            self._data_dir, self._log_file = data, log_file
        return True

    def restart(self) -> None:
        """Fast restart of the running server (`pg_ctl restart -m fast`: every client is
        disconnected, the server is back on the same port when this returns). For tests and
        maintenance. Raises EmbeddedPostgresError."""
        data = self.data_dir
        if self._url is None or running_server(data) is None:
            raise EmbeddedPostgresError(f"the embedded PostgreSQL in {self.cluster_dir} is not running")
        self._ensure_tools(data)
        assert self._bin is not None
        # -l: else the new postmaster keeps pg_ctl's stdout (our pipe) open and run never returns.
        res = run([str(self._bin / "pg_ctl"), "-D", str(data), "-l", str(self.log_file), "-w", "-t",
                    str(TIMEOUT_S), "-m", "fast", "restart"], self._run_as, timeout=2 * TIMEOUT_S + 15)
        if res.returncode != 0:
            raise EmbeddedPostgresError(f"PostgreSQL in {data} did not restart: {res.stdout.strip()}\n"
                                        f"Last lines of {self.log_file}:\n{_log_tail(self.log_file)}")

    def _matching_bin(self, data: Path, cluster_major: int, bin_dir: Path, major: int) -> Path:
        """Binaries of the cluster's major version when we chose them ourselves; else an error."""
        if self._bin_req is None and not os.environ.get(BIN_ENV, "").strip():
            for cand in candidate_bins():
                if pg_version(cand)[0] == cluster_major:
                    log.info("cluster %s is PostgreSQL %d: using %s", data, cluster_major, cand)
                    return cand
        raise EmbeddedPostgresError(
            f"the cluster {data} is PostgreSQL {cluster_major} but {bin_dir} is PostgreSQL {major}: install "
            f"PostgreSQL {cluster_major} (e.g. apt-get install postgresql-{cluster_major}) and set "
            f"{BIN_ENV} to its bin directory, or dump the data (pg_dumpall) and move that directory away")

    def _reachable_data_dir(self, req: Path, data: Path, run_as: RunAs) -> Path:
        """Root only: a new, empty data dir owned by `run_as`, relocated if `run_as` cannot reach `req`."""
        if data == req and user_can(run_as, "-x", req.parent):  # we chown `req` itself
            if any(p.name != LOCATION_FILE for p in req.iterdir()):
                raise EmbeddedPostgresError(f"{req} is neither empty nor a PostgreSQL data directory: "
                                            "use a new or empty directory")
            os.chown(req, run_as.uid, run_as.gid)
            return req
        if data == req:
            digest = hashlib.sha256(str(req.resolve()).encode()).hexdigest()[:16]
            data = self._system_dir / "clusters" / digest
            log.warning("user %s cannot reach %s: the PostgreSQL cluster goes to %s", run_as.name, req, data)
        mkdir_public(data.parent)
        if not user_can(run_as, "-x", data.parent):
            raise EmbeddedPostgresError(f"user {run_as.name} cannot reach {data.parent}: set "
                                        f"{SYSTEM_DIR_ENV} to a directory outside private home directories")
        data.mkdir(mode=0o700, exist_ok=True)
        os.chown(data, run_as.uid, run_as.gid)
        if data != req:
            (req / LOCATION_FILE).write_text(
                f"{data}\n\nThis Orbsonic PostgreSQL cluster lives in the directory above, because the user "
                f"{run_as.name} that runs PostgreSQL (which refuses to run as root) cannot reach {req}.\n")
        return data

    def _reachable_bin(self, bin_dir: Path, version: str, run_as: RunAs) -> Path:
        """Root only: `bin_dir`, or a copy of its install tree that `run_as` can execute."""
        if user_can(run_as, "-x", bin_dir / "postgres"):
            return bin_dir
        root = bin_dir.resolve().parent
        dest = self._system_dir / f"pg-{version}"
        if not (dest / "bin" / "postgres").is_file():
            if not ((root / "lib").is_dir() and (root / "share").is_dir()):
                raise EmbeddedPostgresError(
                    f"user {run_as.name} cannot run {bin_dir / 'postgres'}, and {root} is no self-contained"
                    " install (bin/, lib/, share/) to copy: install PostgreSQL outside private home"
                    f" directories (e.g. apt-get install postgresql) and set {BIN_ENV}")
            log.warning("user %s cannot run %s: copying PostgreSQL to %s", run_as.name, bin_dir, dest)
            mkdir_public(dest.parent)
            copy_install(root, dest)
        if not user_can(run_as, "-x", dest / "bin" / "postgres"):
            raise EmbeddedPostgresError(f"user {run_as.name} cannot run {dest / 'bin' / 'postgres'}: set "
                                        f"{SYSTEM_DIR_ENV} to a directory outside private home directories")
        return dest / "bin"

    def _initdb(self, bin_dir: Path, data: Path, run_as: RunAs | None) -> None:
        password = pgpass.new()
        with pgpass.pwfile(password, (run_as.uid, run_as.gid) if run_as else None) as pwfile:
            args = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth-local=trust",
                    "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                    *(["--no-sync"] if self._no_sync else [])]
            t0 = time.monotonic()
            res = run([*args, "--locale=C.UTF-8"], run_as)
            if res.returncode != 0 and "locale" in res.stdout.lower():
                log.info("locale C.UTF-8 is not available: initdb with --locale=C")
                res = run([*args, "--locale=C"], run_as)
        if res.returncode != 0:
            raise EmbeddedPostgresError(f"initdb of {data} failed (exit {res.returncode}):\n"
                                        + "\n".join(res.stdout.strip().splitlines()[-15:]))
        pgpass.save(self.cluster_dir, password)
        log.info("initialised PostgreSQL cluster %s in %.2f s", data, time.monotonic() - t0)

    def _prepare_log(self, data: Path, run_as: RunAs | None) -> Path:
        """The log file pg_ctl appends to: the requested one when its user can write it, else the default."""
        p, default = self._log_req, data / LOG_NAME
        if p is None or p == default:
            return default
        with contextlib.suppress(OSError):
            p.parent.mkdir(parents=True, exist_ok=True)
            p.touch(exist_ok=True)
            if run_as is not None and p.stat().st_uid == 0:
                os.chown(p, run_as.uid, run_as.gid)
        if user_can(run_as, "-w", p):
            return p
        log.warning("%s cannot write %s: logging to %s", run_as.name if run_as else "we", p, default)
        return default

    def _pg_ctl_start(self, bin_dir: Path, data: Path, log_file: Path, run_as: RunAs | None, *,
                      prefer: int | None = None, fixed: bool = False) -> int:
        """Start the server with pg_ctl -w; return its port: the requested one, else `prefer`
        (only, when `fixed`) while it is free, else a free one (retried if taken meanwhile)."""
        fixed = fixed or self._port_req is not None
        first = self._port_req or prefer
        for attempt in range(1 if fixed else 3):
            port = first if attempt == 0 and first else free_port()
            opts = ["-c", "listen_addresses=127.0.0.1", "-p", str(port),
                    "-c", f"unix_socket_directories={socket_dir_setting(data)}",
                    *(f"--{name}={value}" for name, value in self._settings.items())]
            offset = log_file.stat().st_size if log_file.exists() else 0
            t0 = time.monotonic()
            res = run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log_file), "-w", "-t",
                        str(TIMEOUT_S), "-o", shlex.join(opts), "start"], run_as, timeout=TIMEOUT_S + 15)
            if res.returncode == 0:
                log.info("started PostgreSQL %s on 127.0.0.1:%d in %.2f s", data, port, time.monotonic() - t0)
                return port
            tail = _log_tail(log_file, offset)
            if "could not bind" not in tail and "already in use" not in tail:
                break
            log.info("port %d is taken: retrying with another", port)
        last = (res.stdout.strip().splitlines() or ["no output"])[-1]
        raise EmbeddedPostgresError(f"PostgreSQL in {data} did not start (pg_ctl exit {res.returncode}: "
                                    f"{last}).\nLast lines of {log_file}:\n{tail}")

    def _ensure_database(self, host: str, port: int) -> None:
        """Create role and database `orbsonic` when missing (connects as the superuser `postgres`)."""
        try:
            with psycopg.connect(host=host, port=port, user="postgres", dbname="postgres",
                                 password=self._password, connect_timeout=10, autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ROLE_NAME,)).fetchone():
                    conn.execute(sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                        sql.Identifier(ROLE_NAME), sql.Literal(self._password)))
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB_NAME,)).fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(DB_NAME), sql.Identifier(ROLE_NAME)))
                    log.info("created database %s", DB_NAME)
        except psycopg.Error as exc:
            raise EmbeddedPostgresError(f"cannot set up database {DB_NAME} on port {port}: {exc}") from exc

    def stop(self) -> None:
        """Drop this object's lease; fast shutdown of the server when no other process holds
        one (whoever started it), else only detach.

        Idempotent. An ephemeral cluster's files are deleted after a shutdown. Raises
        EmbeddedPostgresError (with the log tail) if the server does not stop.
        """
        if self._url is None:
            return
        data: Path | None = None
        with dir_lock(self.cluster_dir):
            last = drop_lease(self._lease) if self._lease is not None else self._owned
            self._lease = None
            running = running_server(self.data_dir)
            if last and running is not None:
                data = self.data_dir
                self._ensure_tools(data)
                self._pg_ctl_stop(data)
            elif running is not None:
                log.info("leaving PostgreSQL %s running: other Orbsonic processes use it", self.data_dir)
        self._url, self._owned = None, False
        if self._ephemeral:
            atexit.unregister(self.stop)
            for d in (data, self.cluster_dir) if data is not None else ():
                shutil.rmtree(d, ignore_errors=True)

    def _pg_ctl_stop(self, data: Path) -> None:
        assert self._bin is not None
        t0 = time.monotonic()
        res = run([str(self._bin / "pg_ctl"), "-D", str(data), "-w", "-t", str(TIMEOUT_S), "-m", "fast",
                    "stop"], self._run_as, timeout=TIMEOUT_S + 15)
        if res.returncode != 0 and running_server(data) is not None:
            raise EmbeddedPostgresError(f"PostgreSQL in {data} did not stop: {res.stdout.strip()}\n"
                                        f"Last lines of {self.log_file}:\n{_log_tail(self.log_file)}")
        log.info("stopped PostgreSQL %s in %.2f s", data, time.monotonic() - t0)


def ephemeral_postgres(base_dir: Path, *, bin_dir: Path | None = None, port: int | None = None,
                       system_dir: Path | None = None) -> EmbeddedPostgres:
    """A not-yet-started throwaway cluster in `base_dir/pgdata`, tuned for tests.

    initdb --no-sync, fsync/full_page_writes/synchronous_commit off; its files are deleted
    on `stop()` (or at interpreter exit if never stopped). Use as a context manager:
    `with ephemeral_postgres(tmp_path) as pg: psycopg.connect(pg.url)`.
    """
    return EmbeddedPostgres(Path(base_dir) / "pgdata", port=port, bin_dir=bin_dir, no_sync=True,
                            server_settings=FAST_SETTINGS, system_dir=system_dir, ephemeral=True)
