"""Command line: serve, scan, user add|passwd|list|apikey, migrate.

    orbsonic serve [MUSIC_DIR ...] [--host H] [--port P] [--data-dir D] [--config F]
    orbsonic scan [MUSIC_DIR ...] [--full] [--quiet]
    orbsonic user add NAME [--admin] [--email E] [--password P] [--role R ...] [--no-role R ...]
                           [--folder ID|NAME ...] [--max-bitrate KBPS]
    orbsonic user set NAME [--email E] [--role R ...] [--no-role R ...] [--folder ID|NAME ... | --all-folders]
                           [--max-bitrate KBPS] [--listenbrainz-token T] [--lastfm-session K]
    orbsonic user del NAME
    orbsonic user passwd NAME [--password P]
    orbsonic user list
    orbsonic audit [--limit N]
    orbsonic user apikey NAME [--name LABEL] | --list | --revoke ID
    orbsonic user avatar NAME FILE
    orbsonic migrate
    orbsonic ingest DIR s3://bucket/prefix [--dry-run] [--quiet]
    orbsonic check [MUSIC_DIR ...] [--host H] [--port P]
    orbsonic --version

Without DATABASE_URL every command uses the embedded PostgreSQL in the data dir. Passwords
not given on the command line are read from ORBSONIC_PASSWORD, standard input (one line,
when it is not a terminal) or prompted for. Every failure the user can fix is one line on
stderr and exit status 2 (`check`: 1 when it found a problem); Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from orbsonic import __version__, check
from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from orbsonic.config import SETTINGS, Settings, load_settings
from orbsonic.db.migrate import migrate
from orbsonic.db.runtime import database
from orbsonic.errors import OrbsonicError
from orbsonic import logs, metrics
from orbsonic.scanner import launcher
from orbsonic.storage import ingest, s3

log = logging.getLogger("orbsonic")
T = TypeVar("T")


_DEFAULTS = Settings()
_SETTING = {st.key: st for st in SETTINGS}


def _default_text(key: str) -> str:
    value = getattr(_DEFAULTS, key)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(str(v) for v in value) or "none"
    return str(value).lower() if key == "log_level" else str(value) or "none"


def _help(text: str, key: str | None = None, *, env: str | None = None, default: str | None = None) -> str:
    """Help text with the default and the environment variable of setting `key`
    (orbsonic.config.SETTINGS), so that --help never disagrees with the settings table."""
    if key is not None:
        env = env or _SETTING[key].env
        default = _default_text(key) if default is None else default
    extra = "; ".join(x for x in (default and f"default: {default}", env and f"env {env}") if x)
    return (f"{text} ({extra})" if extra else text).replace("%", "%%")


def _settings_epilog() -> str:
    """Every setting with its variable, TOML key and doc: what `--config` and the environment take."""
    lines = ["settings (environment variable, TOML key for --config FILE: meaning):"]
    for st in SETTINGS:
        key = "scan_interval" if st.key == "scan_interval_s" else st.key
        doc = st.doc.replace("`", "")
        lines += textwrap.wrap(f"{st.env}, {key}: {doc}", width=100, initial_indent="  ",
                               subsequent_indent="      ")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="FILE", help=_help("TOML settings file", env="ORBSONIC_CONFIG",
                                                                default="none"))
    common.add_argument("--data-dir", metavar="DIR", help=_help(
        "data directory (embedded PostgreSQL, cover cache, secret key)", "data_dir"))
    common.add_argument("--log-level", metavar="LEVEL",
                        help=_help("debug, info, warning or error", "log_level"))
    folders = _help("music folder to scan; adds to the configured ones", "music_folders")
    listen = argparse.ArgumentParser(add_help=False)
    listen.add_argument("--host", help=_help("listen address", "host"))
    listen.add_argument("--port", type=int, help=_help("listen port", "port"))
    formatter = argparse.RawDescriptionHelpFormatter
    p = argparse.ArgumentParser(prog="orbsonic", description="Subsonic-compatible music server",
                                epilog="`orbsonic COMMAND --help` tells more; `orbsonic serve --help` "
                                "lists every setting.")
    p.add_argument("--version", action="version", version=f"orbsonic {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common, listen], help="scan and serve music folders",
                           description="Scan the music folders and serve them to Subsonic clients.",
                           epilog=_settings_epilog(), formatter_class=formatter)
    serve.add_argument("music_dirs", nargs="*", metavar="MUSIC_DIR", help=folders)
    serve.add_argument("--workers", type=int, metavar="N", help=_help("HTTP worker processes", "workers"))
    serve.add_argument("--no-scan", action="store_true", help=_help(
        "do not scan on start (the folders are still registered)", env="ORBSONIC_SCAN_ON_START=false",
        default="scan on start"))

    scan = sub.add_parser("scan", parents=[common], help="scan the music folders once",
                          epilog=_settings_epilog(), formatter_class=formatter)
    scan.add_argument("music_dirs", nargs="*", metavar="MUSIC_DIR", help=folders)
    scan.add_argument("--full", action="store_true", help="re-read every file, changed or not")
    scan.add_argument("--quiet", action="store_true", help="no progress bar")
    scan.add_argument("--log-progress", action="store_true", help=(
        "progress as a few log lines and a summary, per-file messages only at --log-level debug "
        "(the server's scans)"))

    check = sub.add_parser("check", parents=[common, listen],
                           help="check settings, data dir, port, database, ffmpeg and folders",
                           description=textwrap.fill(
                               "Report in a few lines whether `orbsonic serve` with these arguments would "
                               "work: settings, data dir, port, database, ffmpeg, music folders. Exit "
                               "status 1 when something is wrong.", 80), epilog=_settings_epilog(),
                           formatter_class=formatter)
    check.add_argument("music_dirs", nargs="*", metavar="MUSIC_DIR", help=folders)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True,
                                                                      metavar="ACTION")
    pw_help = _help("the password; else read from the environment, standard input (one line) or a prompt",
                    env="ORBSONIC_PASSWORD", default="prompt")
    access = argparse.ArgumentParser(add_help=False)
    roles = ", ".join(users.ROLE_ATTRS)
    access.add_argument("--role", action="append", default=[], metavar="ROLE",
                        help=f"grant a role (repeat, or comma-separate): {roles}")
    access.add_argument("--no-role", action="append", default=[], metavar="ROLE", help="take a role away")
    access.add_argument("--folder", action="append", default=[], metavar="ID|NAME",
                        help="limit the user to these music folders (repeat); default: all")
    access.add_argument("--max-bitrate", type=int, metavar="KBPS", help="0 (no limit), 32 … 320")
    add = user.add_parser("add", parents=[common, access], help="create a user")
    add.add_argument("username", help="login name")
    add.add_argument("--admin", action="store_true", help="make the user an administrator")
    add.add_argument("--email", default="", help="e-mail address (default: none)")
    add.add_argument("--password", help=pw_help)
    edit = user.add_parser("set", parents=[common, access], help="change a user's roles, folders, email")
    edit.add_argument("username", help="login name")
    edit.add_argument("--email", help="new e-mail address")
    edit.add_argument("--all-folders", action="store_true", help="every music folder, also later ones")
    edit.add_argument("--listenbrainz-token", metavar="TOKEN",
                      help="forward this user's plays to ListenBrainz with this user token (\"\" removes it)")
    edit.add_argument("--lastfm-session", metavar="KEY",
                      help="forward this user's plays to Last.fm with this session key (\"\" removes it; "
                           "needs lastfm_api_key and lastfm_api_secret)")
    delete = user.add_parser("del", parents=[common], help="delete a user")
    delete.add_argument("username", help="login name")
    pw = user.add_parser("passwd", parents=[common], help="change a password")
    pw.add_argument("username", help="login name")
    pw.add_argument("--password", help=pw_help)
    user.add_parser("list", parents=[common], help="list users")
    key = user.add_parser("apikey", parents=[common], help="create, list or revoke API keys")
    key.add_argument("username", help="login name of the key's owner")
    key.add_argument("--name", default="", help="label of a new key (default: none)")
    key.add_argument("--list", action="store_true", help="list the user's keys")
    key.add_argument("--revoke", type=int, metavar="ID", help="revoke key ID (from --list)")
    avatar = user.add_parser("avatar", parents=[common], help="set a user's avatar (getAvatar)")
    avatar.add_argument("username", help="login name")
    avatar.add_argument("file", type=Path, help="a JPEG, PNG, GIF or WebP image (at most 2 MB)")

    audit_p = sub.add_parser("audit", parents=[common], help="show the audit log of admin actions")
    audit_p.add_argument("--limit", type=int, default=50, help="newest N entries (default 50)")

    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
    worker = sub.add_parser("worker", parents=[common], help="run background jobs (analysis, thumbnails …)")
    worker.add_argument("--concurrency", type=int, help="jobs at once (default $ORBSONIC_JOB_CONCURRENCY, 2)")
    worker.add_argument("--parent-pid", type=int, metavar="PID",
                        help="stop when process PID is gone (how `orbsonic serve` runs its worker)")
    analysis = sub.add_parser("analysis", parents=[common], help="background analysis progress")
    analysis.add_argument("action", choices=["status"], help="status: analysed / pending counts")
    ingest.add_parser(sub, common)
    return p


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config, data_dir=_path(args.data_dir), host=getattr(args, "host", None),
        port=getattr(args, "port", None), workers=getattr(args, "workers", None),
        log_level=args.log_level.upper() if args.log_level else None,
        extra_music_folders=getattr(args, "music_dirs", None))


def _path(value: str | None) -> Path | None:
    return Path(value).expanduser().resolve() if value else None


def _run(url: str, fn: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]]) -> T:
    async def go() -> T:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            result = await fn(conn)
            await conn.commit()
            return result
    return asyncio.run(go())


def _check_data_dir(s: Settings, command: str) -> None:
    """Fail early, saying what is wrong, when the data dir is needed but cannot be written:
    for the embedded PostgreSQL, the generated secret key, or serve's cover cache."""
    needed = not s.database_url or command == "serve" or (command == "user" and not s.secret_key)
    if not needed:
        return
    if problem := check.dir_problem(s.data_dir):
        raise OrbsonicError(f"data dir: {problem}")
    pgdata = s.data_dir / "pgdata"
    if (not s.database_url and pgdata.is_dir() and os.geteuid() != 0
            and (problem := check.dir_problem(pgdata))):
        raise OrbsonicError(f"embedded PostgreSQL: {problem}")


def _usable_folders(s: Settings, url: str) -> Settings:
    """Say plainly which configured music folders are missing; return `s` without the missing
    ones the library does not have yet (they are not registered). When none of the folders
    exists and none is in the library (a first start with a mistyped path) raise OrbsonicError.
    A folder the library already has stays and is only warned about: the scanner skips it and
    removes nothing (an unmounted disk)."""
    if not s.music_folders:
        return s
    known = set(_run(url, launcher.known_folders))
    problems = {f: p for f in s.music_folders if (p := check.folder_problem(f, empty_ok=True))}
    for folder, problem in problems.items():
        if str(folder) in known:
            log.warning("%s: the library keeps what it has of it, removing nothing", problem)
    new_missing = [f for f in problems if str(f) not in known]
    if new_missing and len(new_missing) == len(s.music_folders):
        raise OrbsonicError("; ".join(problems[f] for f in new_missing) + ": check the path "
                            "(nothing was added to the library)")
    for folder in new_missing:
        log.warning("%s: skipped", problems[folder])
    return s.replace(music_folders=tuple(f for f in s.music_folders if f not in new_missing))


def cmd_serve(s: Settings, args: argparse.Namespace) -> int:
    from orbsonic.http import server

    if args.no_scan:
        s = s.replace(scan_on_start=False)
    if problem := check.port_problem(s.host, s.port):
        raise OrbsonicError(problem)
    _check_data_dir(s, "serve")
    if not s.music_folders:
        log.warning("no music folder given: pass one (orbsonic serve ~/Music) or set ORBSONIC_MUSIC_FOLDERS")
    with database(s) as url:
        s = _usable_folders(s, url)
        key = SecretKey.load_or_create(s.secret_key, s.data_dir)

        async def bootstrap(conn: psycopg.AsyncConnection[Any]) -> str | None:
            await users.verify_secret_key(conn, key)
            if not s.scan_on_start:  # else the scan registers them (scanner.sync_folders)
                await launcher.register_folders(conn, [f for f in s.music_folders if isinstance(f, str) or f.is_dir()])
            return await users.ensure_admin(conn, key, s.admin_user, s.admin_password or None)

        generated = _run(url, bootstrap)
        if generated:
            print(f"Created admin user '{s.admin_user}' with password: {generated}", flush=True)
            print(f"(shown once; change it with `{_passwd_command(s, s.admin_user)}`)", flush=True)
            if s.scan_on_start:  # the first scan repeats how to sign in when it is done
                os.environ[launcher.FIRST_RUN_ENV] = f"{s.admin_user}\n{_passwd_command(s, s.admin_user)}"
        os.environ.update({
            "DATABASE_URL": url, "ORBSONIC_DATA_DIR": str(s.data_dir),
            "ORBSONIC_MUSIC_FOLDERS": os.pathsep.join(str(p) for p in s.music_folders),
            "ORBSONIC_SCAN_ON_START": "true" if s.scan_on_start else "false",
            "ORBSONIC_LOG_LEVEL": s.log_level,
            # each worker knows it is not alone: shared state goes to PostgreSQL (orbsonic/kv)
            "ORBSONIC_WORKERS": str(s.workers),
        })
        if args.config:
            os.environ["ORBSONIC_CONFIG"] = str(_path(args.config))
        # every worker, the job worker and scans write their metrics there (orbsonic/metrics)
        metrics.prepare_dir(s.data_dir)
        urls = check.open_urls(s.host, s.port)
        print(f"Orbsonic {__version__} serving {len(s.music_folders)} music folder(s) at "
              f"{urls[0]} (Subsonic API at /rest)", flush=True)
        for other in urls[1:]:
            print(f"  also at {other}", flush=True)
        # uvicorn's own "Uvicorn running on http://0.0.0.0:4040" names an address no browser opens;
        # the lines above say it better. (dictConfig keeps a logger's existing filters.)
        logging.getLogger("uvicorn.error").addFilter(_NotRunningOn())
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal under the handler
        # that was installed before it ran. The default one would kill us before `database()`
        # stops the embedded PostgreSQL; this one unwinds through it instead.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        job_worker = None
        if s.job_worker:
            from orbsonic.jobs.worker import WorkerProcess

            job_worker = WorkerProcess(dict(os.environ), s.job_concurrency)
            job_worker.start()
        try:
            server.run(server.server_config("orbsonic.app:app_from_env", s, factory=True))
        finally:
            if job_worker is not None:
                job_worker.stop()
    return 0


class _NotRunningOn(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Uvicorn running on")


def _passwd_command(s: Settings, username: str) -> str:
    """The command that resets `username`'s password for this server's database."""
    if s.database_url:
        return f"orbsonic user passwd {username} (with the same DATABASE_URL)"
    data_dir = "" if s.data_dir == _DEFAULTS.data_dir else f" --data-dir {shlex.quote(str(s.data_dir))}"
    return f"orbsonic user passwd {username}{data_dir}"


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _sigint_in_main_only() -> None:
    """Ctrl-C reaches the whole process group, the forked tag readers too: they ignore it and
    the main process stops them (scanner._Reader.close) — else each prints its own
    KeyboardInterrupt traceback. Batches already written stay: the next scan resumes."""
    main_pid = os.getpid()

    def on_sigint(signum: int, frame: object) -> None:
        if os.getpid() == main_pid:
            raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_sigint)


def _say(s: Settings) -> Any:
    """How `scan` tells its summary: printed, or as log records with `log_format = json` (so that
    a server's output stays one JSON object per line)."""
    if s.log_format == "json":
        return lambda line, level=logging.INFO: log.log(level, line.strip())

    def say(line: str, level: int = logging.INFO) -> None:
        print(line, file=sys.stderr if level >= logging.WARNING else sys.stdout, flush=True)
    return say


def _no_progress(phase: str, done: int, total: int) -> None:
    pass


def cmd_scan(s: Settings, args: argparse.Namespace) -> int:
    from orbsonic.scanner.progress import ProgressLog
    from orbsonic.scanner.scanner import options_from_settings, scan

    _sigint_in_main_only()
    bar = None
    progress: Any = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(unit="file", desc="reading tags", dynamic_ncols=True)

        def progress(phase: str, done: int, total: int) -> None:
            assert bar is not None
            bar.total = total
            bar.n = done
            bar.refresh()
    elif args.quiet:
        progress = _no_progress
    else:  # a few log lines (the scanner's default)
        progress = ProgressLog()
    if args.log_progress and s.log_level != "DEBUG":
        # One line per skipped or odd file would scroll the first start's admin password away:
        # the summary names the first few.
        logging.getLogger("orbsonic.scanner.files").setLevel(logging.ERROR)
    _check_data_dir(s, "scan")
    with database(s) as url:
        if not args.log_progress:  # the server checked them before it started this scan
            s = _usable_folders(s, url)
        try:
            # The scanner holds a session-level lock: not through a transaction-pooling PgBouncer.
            report = scan(s.database_direct_url or url, s.music_folders, full=args.full, progress=progress,
                          options=options_from_settings(s))
        finally:
            if bar is not None:
                bar.close()
    if report.already_running:
        if args.log_progress:  # another replica or worker of this server is scanning
            log.debug("a scan is already running")
        else:
            print("a scan is already running", file=sys.stderr)
        return 0
    rate = report.read / report.seconds if report.seconds else 0.0
    say = _say(s)
    say(f"scanned {report.folders} folder(s) in {report.seconds:.1f} s: {report.files_seen} files, "
        f"{report.read} read ({rate:.0f} files/s), {report.added} added, {report.updated} updated, "
        f"{report.removed} removed, {report.skipped} skipped")
    shown = 5 if args.log_progress and s.log_level != "DEBUG" else None
    if shown is not None:
        for path, reason in report.skipped_files[:shown]:
            say(f"  skipped {path}: {reason}")
        if report.skipped > shown:
            say(f"  … and {report.skipped - shown} more skipped (every one is listed at --log-level debug)")
    for err in report.errors[:shown]:
        say(f"warning: {err}", logging.WARNING)
    if args.log_progress and (first_run := os.environ.get(launcher.FIRST_RUN_ENV)):
        admin, _, passwd = first_run.partition("\n")
        say(f"First scan done. Sign in as '{admin}' with the password printed when the server started "
            f"(\"Created admin user\" above); to set a new one: {passwd}")
    return 0


def cmd_check(s: Settings, args: argparse.Namespace) -> int:
    return check.run_check(s, sys.stdout, config_file=args.config)


def cmd_worker(s: Settings, args: argparse.Namespace) -> int:
    """Run background jobs until SIGINT/SIGTERM (orbsonic/jobs/worker.py)."""
    from orbsonic.jobs import worker

    # Tasks read their settings (cover cache, ffmpeg …) from the environment, like serve's child.
    os.environ["ORBSONIC_DATA_DIR"] = str(s.data_dir)
    if args.config:
        os.environ["ORBSONIC_CONFIG"] = str(_path(args.config))
    with database(s) as url:
        # The scan job's scanner and the tasks find the database here (embedded: no DATABASE_URL).
        os.environ.setdefault("DATABASE_URL", url)
        return worker.main(s.database_direct_url or url, args.concurrency or s.job_concurrency,
                           args.parent_pid, s.job_stalled_after)


def cmd_analysis(s: Settings, args: argparse.Namespace) -> int:
    """`orbsonic analysis status`: one line each of loudness and sonic-feature progress."""
    from orbsonic.analysis import loudness, sonic_jobs

    with database(s) as url:
        print(_run(url, loudness.status).line())
        print(_run(url, sonic_jobs.status).line())
    return 0


def cmd_migrate(s: Settings, args: argparse.Namespace) -> int:
    _check_data_dir(s, "migrate")
    with database(s, apply_migrations=False) as url:
        applied = migrate(s.database_direct_url or url)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings: Settings | None = None
    try:
        settings = _settings(args)
        s3.configure(s3.S3Config.from_settings(settings))  # s3:// folders: serve, check, scan
        logs.configure(settings.log_level, settings.log_format)
        if settings.database_url and args.command != "check" and (
                problem := check.url_problem(settings.database_url)):
            raise OrbsonicError(problem)
        from orbsonic.cli_users import cmd_audit, cmd_user  # it imports this module's helpers

        handler = {"serve": cmd_serve, "scan": cmd_scan, "user": cmd_user, "audit": cmd_audit,
                   "migrate": cmd_migrate, "worker": cmd_worker, "check": cmd_check,
                   "analysis": cmd_analysis, "ingest": ingest.command}
        return handler[args.command](settings, args)
    except OrbsonicError as exc:
        print(f"orbsonic: {exc}", file=sys.stderr)
        return 2
    except psycopg.OperationalError as exc:
        # Unreachable server, refused login, missing database: libpq's reason on one line.
        if settings is not None and settings.database_url:
            print(f"orbsonic: {check.db_error_line(exc, settings.database_url)}", file=sys.stderr)
        else:
            print(f"orbsonic: embedded PostgreSQL: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
