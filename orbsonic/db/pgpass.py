"""The embedded cluster's password: TCP connections to it need one (scram-sha-256).

Without it, any local account could connect to 127.0.0.1:<port> as superuser (trust auth).
The password is generated at initdb and kept in `<cluster dir>/orbsonic.password` (mode
0600, owned by whoever runs Orbsonic); the Unix socket, inside the 0700 data directory,
stays trusted for the PostgreSQL user itself. Clusters made before this have no file and
keep trusting local TCP connections.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

PASSWORD_FILE = "orbsonic.password"


def load(cluster_dir: Path) -> str | None:
    """The cluster's password, or None for a cluster without one (trust auth)."""
    try:
        return (cluster_dir / PASSWORD_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def save(cluster_dir: Path, password: str) -> None:
    """Write the password file (0600) into the cluster directory."""
    fd = os.open(cluster_dir / PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(password + "\n")


def new() -> str:
    """A fresh URL-safe password (no quoting needed in a libpq URL)."""
    return secrets.token_urlsafe(24)


@contextlib.contextmanager
def pwfile(password: str, owner: tuple[int, int] | None) -> Iterator[str]:
    """A temporary file holding `password` for `initdb --pwfile`, readable by `owner`
    (uid, gid) when initdb runs as another user; removed afterwards."""
    fd, path = tempfile.mkstemp(prefix="orbsonic-pw-")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        if owner is not None:
            os.chown(path, *owner)
        yield path
    finally:
        os.unlink(path)
