"""The state of a PostgreSQL cluster directory shared by Orbsonic processes: who may start or
stop its server (a flock on the directory), who still uses it (leases), and whether and where
its server runs (postmaster.pid, postmaster.opts).

Every EmbeddedPostgres that started or attached to a server holds a shared flock on
`<cluster dir>/orbsonic.lease`; a process that wants to stop the server takes the directory
lock, then tries to turn its lease exclusive: that works only when no other process holds
one. The kernel drops the flocks of a process that dies, SIGKILL included.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import logging
import os
import shlex
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from orbsonic.errors import EmbeddedPostgresError

log = logging.getLogger("orbsonic.db")

LEASE_FILE = "orbsonic.lease"
ROLE_NAME = "orbsonic"
DB_NAME = "orbsonic"
_TIMEOUT_S = 60
_SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 on Linux


@contextlib.contextmanager
def dir_lock(path: Path) -> Iterator[None]:
    """Exclusive flock on directory `path`, so two processes never start one cluster twice.

    Blocking: the holder's own steps all time out after a minute or so.
    """
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def take_lease(cluster_dir: Path) -> int | None:
    """A shared flock on `cluster_dir/orbsonic.lease`, held until `drop_lease`; None when the
    file cannot be created (a cluster directory we may not write: then the starter stops it)."""
    try:
        fd = os.open(cluster_dir / LEASE_FILE, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        log.warning("cannot create %s (%s): the process that started PostgreSQL will stop it",
                    cluster_dir / LEASE_FILE, exc)
        return None
    fcntl.flock(fd, fcntl.LOCK_SH)  # never waits: exclusive holders also hold the directory lock
    return fd


def drop_lease(fd: int) -> bool:
    """Release a lease from `take_lease`; True when no other process held one (the last one out)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def last_port(data: Path) -> int | None:
    """The port of the previous run of the server of `data`, from its postmaster.opts."""
    with contextlib.suppress(OSError, ValueError):
        args = shlex.split((data / "postmaster.opts").read_text())
        for flag, value in itertools.pairwise(args):
            if flag == "-p" and value.isdigit() and 0 < int(value) < 65536:
                return int(value)
    return None


def pid_is_postgres(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, owned by another user
    with contextlib.suppress(OSError):  # a stale postmaster.pid whose PID got reused (after a reboot)
        return any(name in Path(f"/proc/{pid}/comm").read_text() for name in ("postgres", "postmaster"))
    return True


class Running(NamedTuple):
    pid: int
    host: str  # a TCP address, or a Unix socket directory (starts with "/")
    port: int


def running_server(data: Path) -> Running | None:
    """The live server of data directory `data` per its postmaster.pid, once ready; None if down.

    Waits (up to a minute) while it is starting or stopping.
    """
    deadline = time.monotonic() + _TIMEOUT_S
    while True:
        try:
            lines = (data / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        if not lines or not lines[0].strip().isdigit() or not pid_is_postgres(pid := int(lines[0])):
            return None
        status = lines[7].strip() if len(lines) > 7 else "starting"
        if status in ("ready", "standby") and lines[3].strip().isdigit():
            addr = lines[5].strip() if len(lines) > 5 else ""
            addr = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(addr, addr)
            addr = addr or (lines[4].strip() if len(lines) > 4 else "")  # no TCP: the socket dir
            if not addr:
                raise EmbeddedPostgresError(f"the server of {data} (pid {pid}) has neither TCP nor a socket")
            return Running(pid, addr, int(lines[3]))
        if time.monotonic() > deadline:
            raise EmbeddedPostgresError(f"the server of {data} (pid {pid}) stayed {status!r} for a minute")
        time.sleep(0.05)


def make_url(host: str, port: int, password: str | None = None, *, role: str = ROLE_NAME,
             dbname: str = DB_NAME) -> str:
    """The libpq URL of database `dbname` as `role` on a TCP address or a socket directory."""
    user = f"{role}:{password}" if password else role
    if host.startswith("/"):
        return f"postgresql://{user}@/{dbname}?host={host}&port={port}"
    return f"postgresql://{user}@{f'[{host}]' if ':' in host else host}:{port}/{dbname}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def socket_dir_setting(data: Path) -> str:
    path = str(data)
    if len(path) + len("/.s.PGSQL.65535") > _SUN_PATH_MAX:
        return ""  # a socket path longer than sun_path cannot be bound: TCP only
    return '"' + path.replace('"', '""') + '"' if any(c in path for c in ' ,"\\') else path
