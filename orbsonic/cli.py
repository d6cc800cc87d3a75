"""Command line: serve, scan, user add|passwd|list|apikey, migrate.

    orbsonic serve [MUSIC_DIR ...] [--host H] [--port P] [--data-dir D] [--config F]
    orbsonic scan [MUSIC_DIR ...] [--full] [--quiet]
    orbsonic user add NAME [--admin] [--email E] [--password P]
    orbsonic user passwd NAME [--password P]
    orbsonic user list
    orbsonic user apikey NAME [--name LABEL] | --list | --revoke ID
    orbsonic migrate

Without DATABASE_URL every command uses the embedded PostgreSQL in the data dir. Passwords
not given on the command line are read from ORBSONIC_PASSWORD or prompted for.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from orbsonic import __version__
from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from orbsonic.config import Settings, load_settings
from orbsonic.db.migrate import migrate
from orbsonic.db.runtime import database
from orbsonic.errors import OrbsonicError

log = logging.getLogger("orbsonic")
T = TypeVar("T")


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="TOML settings file (default $ORBSONIC_CONFIG)")
    common.add_argument("--data-dir", help="data directory (embedded PostgreSQL, caches, secret key)")
    common.add_argument("--log-level", help="debug, info, warning, error")
    p = argparse.ArgumentParser(prog="orbsonic", description="Subsonic-compatible music server")
    p.add_argument("--version", action="version", version=f"orbsonic {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", parents=[common], help="scan and serve music folders")
    serve.add_argument("music_dirs", nargs="*", metavar="MUSIC_DIR")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--no-scan", action="store_true", help="do not scan on start")

    scan = sub.add_parser("scan", parents=[common], help="scan the music folders once")
    scan.add_argument("music_dirs", nargs="*", metavar="MUSIC_DIR")
    scan.add_argument("--full", action="store_true", help="re-read every file, changed or not")
    scan.add_argument("--quiet", action="store_true", help="no progress bar")

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", parents=[common], help="create a user")
    add.add_argument("username")
    add.add_argument("--admin", action="store_true")
    add.add_argument("--email", default="")
    add.add_argument("--password")
    pw = user.add_parser("passwd", parents=[common], help="change a password")
    pw.add_argument("username")
    pw.add_argument("--password")
    user.add_parser("list", parents=[common], help="list users")
    key = user.add_parser("apikey", parents=[common], help="create, list or revoke API keys")
    key.add_argument("username")
    key.add_argument("--name", default="", help="label of a new key")
    key.add_argument("--list", action="store_true", help="list the user's keys")
    key.add_argument("--revoke", type=int, metavar="ID", help="revoke key ID")

    sub.add_parser("migrate", parents=[common], help="apply database migrations and exit")
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


def _password(given: str | None, prompt: str) -> str:
    if given:
        return given
    if os.environ.get("ORBSONIC_PASSWORD"):
        return os.environ["ORBSONIC_PASSWORD"]
    first = getpass.getpass(prompt)
    if first != getpass.getpass("Again: "):
        raise OrbsonicError("passwords do not match")
    return first


def cmd_serve(s: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    if args.no_scan:
        s = s.replace(scan_on_start=False)
    if not s.music_folders:
        log.warning("no music folder given: pass one (orbsonic serve ~/Music) or set ORBSONIC_MUSIC_FOLDERS")
    with database(s) as url:
        key = SecretKey.load_or_create(s.secret_key, s.data_dir)

        async def bootstrap(conn: psycopg.AsyncConnection[Any]) -> str | None:
            await users.verify_secret_key(conn, key)
            return await users.ensure_admin(conn, key, s.admin_user, s.admin_password or None)

        generated = _run(url, bootstrap)
        if generated:
            print(f"Created admin user '{s.admin_user}' with password: {generated}", flush=True)
            print("(shown once; change it with `orbsonic user passwd`)", flush=True)
        os.environ.update({
            "DATABASE_URL": url, "ORBSONIC_DATA_DIR": str(s.data_dir),
            "ORBSONIC_MUSIC_FOLDERS": os.pathsep.join(str(p) for p in s.music_folders),
            "ORBSONIC_SCAN_ON_START": "true" if s.scan_on_start else "false",
            "ORBSONIC_LOG_LEVEL": s.log_level,
        })
        if args.config:
            os.environ["ORBSONIC_CONFIG"] = str(_path(args.config))
        print(f"Orbsonic {__version__} serving {len(s.music_folders)} music folder(s) on "
              f"http://{s.host}:{s.port}/ (Subsonic API at /rest)", flush=True)
        # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal under the handler
        # that was installed before it ran. The default one would kill us before `database()`
        # stops the embedded PostgreSQL; this one unwinds through it instead.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        uvicorn.run("orbsonic.app:app_from_env", factory=True, host=s.host, port=s.port,
                    workers=s.workers if s.workers > 1 else None, log_level=s.log_level.lower(),
                    access_log=s.log_level == "DEBUG", proxy_headers=True)
    return 0


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


def cmd_scan(s: Settings, args: argparse.Namespace) -> int:
    from orbsonic.scanner.scanner import options_from_settings, scan

    bar = None
    progress = None
    if not args.quiet and sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(unit="file", desc="reading tags", dynamic_ncols=True)

        def progress(phase: str, done: int, total: int) -> None:
            assert bar is not None
            bar.total = total
            bar.n = done
            bar.refresh()

    with database(s) as url:
        try:
            report = scan(url, s.music_folders, full=args.full, progress=progress,
                          options=options_from_settings(s))
        finally:
            if bar is not None:
                bar.close()
    if report.already_running:
        print("a scan is already running", file=sys.stderr)
        return 0
    rate = report.read / report.seconds if report.seconds else 0.0
    print(f"scanned {report.folders} folder(s) in {report.seconds:.1f} s: {report.files_seen} files, "
          f"{report.read} read ({rate:.0f} files/s), {report.added} added, {report.updated} updated, "
          f"{report.removed} removed, {report.skipped} skipped")
    for err in report.errors:
        print(f"warning: {err}", file=sys.stderr)
    return 0


def cmd_user(s: Settings, args: argparse.Namespace) -> int:
    key = SecretKey.load_or_create(s.secret_key, s.data_dir)
    with database(s) as url:
        if args.action == "add":
            password = _password(args.password, f"Password for {args.username}: ")
            _run(url, lambda c: users.create_user(c, key, args.username, password, is_admin=args.admin,
                                                  email=args.email))
            print(f"user {args.username} created" + (" (admin)" if args.admin else ""))
        elif args.action == "passwd":
            password = _password(args.password, f"New password for {args.username}: ")
            _run(url, lambda c: users.set_password(c, key, args.username, password))
            print(f"password of {args.username} changed")
        elif args.action == "list":
            for u in _run(url, users.list_users):
                role = "admin" if u.is_admin else "user"
                print(f"{u.username}\t{role}\t{u.email}\t{u.created_at:%Y-%m-%d}")
        elif args.list:
            for kid, name, created, used in _run(url, lambda c: users.list_api_keys(c, args.username)):
                print(f"{kid}\t{name or '-'}\tcreated {created:%Y-%m-%d}\tlast used {used or 'never'}")
        elif args.revoke is not None:
            _run(url, lambda c: users.revoke_api_key(c, args.username, args.revoke))
            print(f"API key {args.revoke} revoked")
        else:
            new = _run(url, lambda c: users.create_api_key(c, args.username, args.name))
            print(new)
    return 0


def cmd_migrate(s: Settings, args: argparse.Namespace) -> int:
    with database(s, apply_migrations=False) as url:
        applied = migrate(url)
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
        logging.basicConfig(level=settings.log_level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        handler = {"serve": cmd_serve, "scan": cmd_scan, "user": cmd_user, "migrate": cmd_migrate}
        return handler[args.command](settings, args)
    except OrbsonicError as exc:
        print(f"orbsonic: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
