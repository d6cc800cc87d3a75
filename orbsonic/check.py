"""Diagnostics for the command line, and `orbsonic check`.

Each probe answers None when all is well, else one sentence that says what is wrong and
how to fix it — never an exception class or a traceback:

    dir_problem(Path("/var/lib/orbsonic"))   # "… is on a read-only file system …" or None
    port_problem("0.0.0.0", 4040)            # "port 4040 on 0.0.0.0 is already in use …" or None
    folder_problem(Path("/music"))           # "music folder /music does not exist" or None
    open_urls("0.0.0.0", 4040)               # ["http://localhost:4040/", "http://192.0.2.2:4040/"]

The probes try for real (create a file, bind the port, list the folder) rather than reason
about permission bits: root without CAP_DAC_OVERRIDE, ACLs, immutable files and read-only
mounts all look writable to `os.access`. `run_check` prints one line per subject (settings,
data dir, port, database, ffmpeg, each music folder) and returns the exit status.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

import psycopg
from psycopg.conninfo import conninfo_to_dict

from orbsonic.config import Settings

_ANY_V4 = ("0.0.0.0", "", "*")
_ANY_V6 = ("::", "[::]")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _mount_point(path: Path) -> Path:
    p = path
    while not os.path.ismount(p) and p != p.parent:
        p = p.parent
    return p


def _existing_ancestor(path: Path) -> Path:
    p = path
    while not os.path.lexists(p) and p != p.parent:
        p = p.parent
    return p


def dir_problem(path: Path, *, create: bool = True) -> str | None:
    """None when this process can write files in directory `path` (created first, with its
    parents, when `create`; else the nearest existing ancestor must be writable), else one
    sentence naming the real cause: read-only file system, not a directory, no space, an
    ancestor that cannot be entered, or who owns the directory with which mode."""
    path = Path(path)
    probe = path
    try:
        if create:
            path.mkdir(parents=True, exist_ok=True)
        elif not path.is_dir():
            probe = _existing_ancestor(path)
        fd, tmp = tempfile.mkstemp(dir=probe, prefix=".orbsonic-write-test-")
        os.close(fd)
        os.unlink(tmp)
        return None
    except OSError as exc:
        return _explain_unwritable(path, exc)


def _explain_unwritable(path: Path, exc: OSError) -> str:
    me = _user(os.geteuid())
    where = _existing_ancestor(path)
    if exc.errno == errno.EROFS:
        return (f"{path} is on a read-only file system (mounted at {_mount_point(where)}): "
                "choose a writable --data-dir (ORBSONIC_DATA_DIR) or remount it read-write")
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left for {path} ({exc.strerror}): free some space or choose another --data-dir"
    if isinstance(exc, (FileExistsError, NotADirectoryError)) or exc.errno in (errno.EEXIST, errno.ENOTDIR):
        blocker = where if not where.is_dir() else path
        return f"{blocker} exists but is not a directory: move it away or choose another --data-dir"
    if exc.errno not in (errno.EACCES, errno.EPERM):
        return f"cannot write in {path}: {exc.strerror or exc}"
    # Permission: first an ancestor we may not enter, then the directory itself.
    for d in [*reversed(where.parents), where]:
        if d.is_dir() and not os.access(d, os.X_OK):
            return _who(d, me, "cannot be entered by")
    return _who(where, me, "cannot be written by")


def _who(d: Path, me: str, what: str) -> str:
    try:
        st = d.stat()
    except OSError as exc:
        return f"{d} {what} {me}: {exc.strerror or exc}"
    owner, mode = _user(st.st_uid), f"{stat.S_IMODE(st.st_mode):04o}"
    uid = os.geteuid()
    owner_w = bool(st.st_mode & (stat.S_IXUSR if "entered" in what else stat.S_IWUSR))
    if uid == 0:
        if st.st_uid == 0 and not owner_w:
            return (f"{d} is root's own with mode {mode} ({what} anyone without the override capability, "
                    f"and this root has none — a container?): chmod u+{'x' if 'entered' in what else 'w'} "
                    f"{d}, or choose another --data-dir")
        return (f"{d} (owner {owner}, mode {mode}) {what} root here: an immutable attribute (lsattr), a "
                "root-squashing network mount or a container without CAP_DAC_OVERRIDE; choose another "
                "--data-dir or fix its ownership")
    if st.st_uid == uid:
        if not owner_w:
            return (f"{d} is yours ({me}) but its mode {mode} {what} you: chmod u+"
                    f"{'x' if 'entered' in what else 'w'} {d}")
        return (f"{d} is yours ({me}, mode {mode}) yet the write was refused: an immutable attribute "
                "(lsattr), an ACL or a security policy (SELinux, AppArmor)")
    return (f"{d} belongs to {owner} (mode {mode}) and {what} {me}: run Orbsonic as {owner}, "
            f"`chown {me} {d}`, or choose another --data-dir (ORBSONIC_DATA_DIR)")


def folder_problem(path: Path | str, *, empty_ok: bool = False) -> str | None:
    """None when music folder `path` is a readable directory with something in it (or empty,
    with `empty_ok`), else why not: "does not exist", "is not a directory", "cannot be read
    (…)" or "is empty". An `s3://bucket/prefix` folder is asked of the object store."""
    if isinstance(path, str):
        return _s3_problem(path, empty_ok)
    try:
        if not path.exists():
            return f"music folder {path} does not exist"
        if not path.is_dir():
            return f"music folder {path} is not a directory"
        with os.scandir(path) as it:
            if next(it, None) is None and not empty_ok:
                return f"music folder {path} is empty"
    except OSError as exc:
        return f"music folder {path} cannot be read ({exc.strerror or exc}) by {_user(os.geteuid())}"
    return None


def _free_after(host: str, port: int) -> int | None:
    for candidate in range(port + 1, min(port + 50, 65536)):
        if _bind_error(host, candidate) is None:
            return candidate
    return None


def _bind_error(host: str, port: int) -> OSError | None:
    bind_host = host.strip("[]") if host not in _ANY_V4 else "0.0.0.0"
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(bind_host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as s:
            # As uvicorn does: a port whose old connections linger in TIME_WAIT is free.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(addr)
    except OSError as exc:
        return exc
    return None


def port_problem(host: str, port: int) -> str | None:
    """None when `host`:`port` can be bound right now, else why not, with the setting to change."""
    exc = _bind_error(host, port)
    if exc is None:
        return None
    if isinstance(exc, socket.gaierror):
        return f"listen address {host!r} cannot be resolved ({exc.strerror}): fix --host (ORBSONIC_HOST)"
    if exc.errno == errno.EADDRINUSE:
        free = _free_after(host, port)
        other = f" (e.g. --port {free} or ORBSONIC_PORT={free})" if free else ""
        return (f"port {port} on {host} is already in use (another Orbsonic or another program): "
                f"choose another port with --port or ORBSONIC_PORT{other}")
    if exc.errno == errno.EACCES:
        return (f"port {port} on {host} needs privileges (ports below 1024 are root's): choose another with "
                "--port or ORBSONIC_PORT (default 4040)")
    if exc.errno == errno.EADDRNOTAVAIL:
        return (f"{host} is not an address of this machine: use --host 0.0.0.0 (every address) or "
                "127.0.0.1 (this machine only), or set ORBSONIC_HOST")
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"


def _machine_addresses(v6: bool) -> list[str]:
    import psutil

    found: list[str] = []
    for addrs in psutil.net_if_addrs().values():
        for a in addrs:
            if a.family not in ((socket.AF_INET, socket.AF_INET6) if v6 else (socket.AF_INET,)):
                continue
            try:
                ip = ipaddress.ip_address(a.address.split("%", 1)[0])
            except ValueError:
                continue
            if not (ip.is_loopback or ip.is_link_local or ip.is_unspecified):
                found.append(str(ip))
    return sorted(dict.fromkeys(found), key=lambda s: (":" in s, s))


def open_urls(host: str, port: int) -> list[str]:
    """URLs a user can open for a server listening on `host`:`port`: for a wildcard address
    localhost and this machine's own addresses (no link-local ones), else `host` itself."""
    def url(h: str) -> str:
        return f"http://{f'[{h}]' if ':' in h else h}:{port}/"
    if host in _ANY_V4 or host in _ANY_V6:
        return [url("localhost"), *(url(a) for a in _machine_addresses(v6=host in _ANY_V6))]
    return [url(host.strip("[]"))]


def redact_url(url: str) -> str:
    """`user@host:port/dbname` of a libpq URL or conninfo, without its password."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.Error:
        return "(unparsable)"
    host = d.get("host") or d.get("hostaddr") or "local socket"
    port = f":{d['port']}" if d.get("port") else ""
    user = f"{d['user']}@" if d.get("user") else ""
    return f"{user}{host}{port}/{d.get('dbname', '')}"


def url_problem(url: str) -> str | None:
    """None when `url` parses as a libpq URL or conninfo string, else what is wrong with it."""
    try:
        d = conninfo_to_dict(url)
    except psycopg.Error as exc:
        return (f"DATABASE_URL is not a valid PostgreSQL URL ({' '.join(str(exc).split())}): expected "
                "postgresql://user:password@host:5432/dbname")
    ports = str(d.get("port") or "")
    if ports and not all(p.strip().isdigit() for p in ports.split(",")):
        return f"DATABASE_URL has an invalid port {ports!r}: expected postgresql://user:password@host:5432/dbname"
    return None


def db_error_line(exc: psycopg.Error, url: str) -> str:
    """One line for a connection failure: where, and libpq's reason without line breaks."""
    text = " ".join(str(exc).split())
    for prefix in ("connection failed: ", "connection is bad: "):
        text = text.removeprefix(prefix)
    return f"cannot connect to PostgreSQL at {redact_url(url)}: {text}"


def ffmpeg_version() -> tuple[str, str] | None:
    """(path, first line of `ffmpeg -version`), or None when ffmpeg is not on PATH."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        return None
    try:
        out = subprocess.run([exe, "-version"], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return exe, f"cannot run: {exc}"
    first = out.splitlines()[0] if out else "no output"
    return exe, " ".join(first.split()[:3])


# ---- orbsonic check -------------------------------------------------------------------------

OK, WARN, FAIL = "ok", "warn", "FAIL"


class _Report:
    def __init__(self, out: TextIO) -> None:
        self.out, self.failed, self.warned = out, 0, 0

    def line(self, status: str, subject: str, text: str) -> None:
        self.failed += status == FAIL
        self.warned += status == WARN
        print(f"{status:<4}  {subject:<9} {text}", file=self.out, flush=True)

    def probe(self, subject: str, fn: Callable[[], tuple[str, str]]) -> None:
        try:
            status, text = fn()
        except Exception as exc:  # noqa: BLE001 - a diagnostic reports, it never dies
            status, text = FAIL, " ".join(str(exc).split()) or type(exc).__name__
        self.line(status, subject, text)


def _database(s: Settings, known: list[Path]) -> tuple[str, str]:
    """The database line; appends the library's music folders to `known`."""
    from orbsonic.db import embedded
    from orbsonic.db.migrate import migrations, schema_version

    newest = migrations()[-1].version
    if s.database_url:
        if problem := url_problem(s.database_url):
            return FAIL, problem
        url, where = s.database_url, f"at {redact_url(s.database_url)} (DATABASE_URL)"
        pg = None
    else:
        bin_dir = embedded.find_pg_bin()
        version = embedded.pg_version(bin_dir)[1]
        pg = embedded.EmbeddedPostgres(s.data_dir / "pgdata")
        if not (pg.data_dir / "PG_VERSION").is_file():
            return OK, (f"embedded PostgreSQL {version} ({bin_dir}); its cluster is created in "
                        f"{pg.cluster_dir} at the first start")
        url, where = pg.start(), f"embedded in {pg.data_dir}"
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            server = conn.info.server_version
            current = schema_version(conn)
            if current > 0:
                known += [r[0] if r[0].startswith("s3://") else Path(r[0])
                          for r in conn.execute("SELECT path FROM music_folders ORDER BY id")]
    except psycopg.Error as exc:
        return FAIL, db_error_line(exc, url)
    finally:
        if pg is not None:
            pg.stop()
    ver = f"PostgreSQL {server // 10000}.{server % 10000}"
    if server < 150000:
        return FAIL, f"{ver} {where} is too old: Orbsonic needs PostgreSQL 15 or newer"
    if current > newest:
        return FAIL, (f"{ver} {where}: schema version {current} is newer than this Orbsonic ({newest}): "
                      "upgrade Orbsonic")
    if current < newest:
        return OK, f"{ver} {where}: schema {current}, {newest - current} migration(s) to apply at start"
    return OK, f"{ver} {where}: schema up to date (version {current})"


def _s3_problem(url: str, empty_ok: bool) -> str | None:
    from orbsonic.storage import s3

    try:
        storage = s3.folder_storage(url)
        storage.check()
        if not empty_ok and next(iter(storage.walk()), None) is None:
            return f"music folder {url} is empty"
    except (ValueError, s3.StorageUnavailable) as exc:
        return f"music folder {url} cannot be listed ({getattr(exc, 'reason', exc)})"
    return None


def _folder(f: Path | str) -> tuple[str, str]:
    if problem := folder_problem(f, empty_ok=True):
        return FAIL, problem
    if isinstance(f, str):
        return OK, f"{f} answers"
    n = sum(1 for _ in os.scandir(f))
    return (OK, f"{f} is readable ({n} entries at the top)") if n else (WARN, f"music folder {f} is empty")


def run_check(s: Settings, out: TextIO, *, config_file: str | None = None) -> int:
    """Print a few lines about settings, data dir, port, database, ffmpeg and music folders
    for what `orbsonic serve` would do with `s`; return 1 when something is wrong, else 0
    (warnings alone do not fail)."""
    from orbsonic import __version__

    r = _Report(out)
    config = config_file or os.environ.get("ORBSONIC_CONFIG") or "none"
    r.line(OK, "settings", f"orbsonic {__version__}; config file {config}; data dir {s.data_dir}; listen on "
           f"{s.host}:{s.port}; database {'DATABASE_URL' if s.database_url else 'embedded'}; "
           f"log level {s.log_level.lower()}")
    r.probe("data dir", lambda: (FAIL, p) if (p := dir_problem(s.data_dir, create=False)) else
            (OK, f"{s.data_dir} is writable by {_user(os.geteuid())}"
                 + ("" if s.data_dir.is_dir() else " (created at the first start)")))
    r.probe("port", lambda: (WARN, p + " — fine if it is this Orbsonic running")
            if (p := port_problem(s.host, s.port)) else (OK, f"{s.port} is free on {s.host}: "
                                                         + " ".join(open_urls(s.host, s.port))))
    known: list[Path] = []
    r.probe("database", lambda: _database(s, known))

    def ffmpeg() -> tuple[str, str]:
        found = ffmpeg_version()
        if found is None:
            return WARN, "ffmpeg not found on PATH: transcoding is unavailable (apt-get install ffmpeg)"
        return OK, f"{found[1]} ({found[0]})"
    r.probe("ffmpeg", ffmpeg)
    if not s.music_folders and not known:
        r.line(WARN, "folders", "no music folder configured: pass one (orbsonic serve ~/Music) or set "
               "ORBSONIC_MUSIC_FOLDERS")
    for folder in s.music_folders or known:  # without configured folders a scan takes the library's
        r.probe("folder", lambda f=folder: _folder(f))
    for folder in (f for f in known if s.music_folders and f not in s.music_folders):
        r.line(WARN, "folder", f"{folder} is in the library but not configured: the next scan removes it "
               "and its tracks (give it too to keep it)")
    if r.failed:
        print(f"{r.failed} problem(s) found", file=out)
        return 1
    print("all good" + (f" ({r.warned} warning(s))" if r.warned else ""), file=out)
    return 0
