"""`orbsonic user …` and `orbsonic audit`: user administration from the command line
(the same library calls as the Subsonic user endpoints, audited as the CLI)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path
from typing import Any

import psycopg

from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from orbsonic.cli import _check_data_dir, _run
from orbsonic.config import Settings
from orbsonic.db.runtime import database
from orbsonic.errors import OrbsonicError


def password_from(given: str | None, prompt: str) -> str:
    """The password from --password, ORBSONIC_PASSWORD, one line of a piped standard input,
    or typed twice at a prompt. Raises OrbsonicError when it is empty or missing."""
    if given:
        return given
    if os.environ.get("ORBSONIC_PASSWORD"):
        return os.environ["ORBSONIC_PASSWORD"]
    how = "give it with --password, ORBSONIC_PASSWORD or one line on standard input"
    if not sys.stdin.isatty():
        # `echo pw | orbsonic user add bob`: no terminal to prompt on (getpass would read /dev/tty
        # or hit end of input on the confirmation).
        first = sys.stdin.readline().rstrip("\r\n")
        if not first:
            raise OrbsonicError(f"no password on standard input (empty line or end of input): {how}")
        return first
    try:
        first = getpass.getpass(prompt)
        if not first:
            raise OrbsonicError(f"the password must not be empty: {how}")
        if first != getpass.getpass("Again: "):
            raise OrbsonicError("passwords do not match")
    except EOFError:
        raise OrbsonicError(f"no password typed (end of input): {how}") from None
    return first


def _role_flags(args: argparse.Namespace) -> dict[str, bool]:
    """--role/--no-role (repeated or comma-separated, any case) → {Subsonic role: granted}."""
    by_lower = {r.lower(): r for r in users.ROLE_ATTRS}
    out: dict[str, bool] = {}
    for granted, given in ((True, args.role), (False, args.no_role)):
        for name in (n.strip() for item in given for n in item.split(",") if n.strip()):
            if name.lower() not in by_lower:
                raise OrbsonicError(f"unknown role {name!r} (roles: {', '.join(users.ROLE_ATTRS)})")
            out[by_lower[name.lower()]] = granted
    return out


def cmd_user(s: Settings, args: argparse.Namespace) -> int:
    from orbsonic.library import audit, folders

    _check_data_dir(s, "user")
    password = ""  # asked before the database starts, which takes a moment
    if args.action in ("add", "passwd"):
        password = password_from(args.password, ("Password" if args.action == "add" else "New password")
                             + f" for {args.username}: ")
    image = _read_avatar(args.file) if args.action == "avatar" else b""
    key = SecretKey.load_or_create(s.secret_key, s.data_dir)
    with database(s) as url:
        if args.action == "add":
            roles = _role_flags(args)

            async def add(c: psycopg.AsyncConnection[Any]) -> users.User:
                fids = await folders.resolve(c, args.folder) if args.folder else None
                return await users.create_user(
                    c, key, args.username, password, is_admin=args.admin, email=args.email, roles=roles,
                    folder_ids=fids, max_bitrate=args.max_bitrate or 0, actor=audit.CLI_ACTOR)

            u = _run(url, add)
            print(f"user {args.username} created" + (" (admin)" if u.is_admin else ""))
        elif args.action == "set":
            roles = _role_flags(args)

            async def edit(c: psycopg.AsyncConnection[Any]) -> users.User:
                fids = await folders.resolve(c, args.folder) if args.folder else None
                changes = users.UserChanges(email=args.email, roles=roles, folder_ids=fids,
                                            all_folders=args.all_folders, max_bitrate=args.max_bitrate)
                user = await users.update_user(c, key, args.username, changes, actor=audit.CLI_ACTOR)
                if args.listenbrainz_token is not None or args.lastfm_session is not None:
                    from orbsonic.library import scrobbling

                    await scrobbling.set_credentials(c, args.username, listenbrainz_token=args.listenbrainz_token,
                                                     lastfm_session=args.lastfm_session)
                return user

            print(_user_line(_run(url, edit)))
        elif args.action == "del":
            _run(url, lambda c: users.delete_user(c, args.username, actor=audit.CLI_ACTOR))
            print(f"user {args.username} deleted")
        elif args.action == "passwd":
            _run(url, lambda c: users.set_password(c, key, args.username, password, actor=audit.CLI_ACTOR))
            print(f"password of {args.username} changed")
        elif args.action == "list":
            for u in _run(url, users.list_users):
                print(_user_line(u))
        elif args.action == "avatar":
            from orbsonic.library import avatars

            mime = _run(url, lambda c: avatars.set_avatar(c, args.username, image))
            print(f"avatar of {args.username} set ({mime}, {len(image)} bytes)")
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


def _read_avatar(path: Path) -> bytes:
    from orbsonic.library import avatars

    try:
        with path.open("rb") as fh:
            return fh.read(avatars.MAX_BYTES + 1)
    except OSError as e:
        raise OrbsonicError(f"cannot read {path}: {e.strerror}") from None


def _user_line(u: users.User) -> str:
    """name, admin|user, email, created, roles, folders (tab-separated)."""
    d = users.describe(u)
    folders = d["folders"] if d["folders"] == "all" else ",".join(map(str, d["folders"]))
    return (f"{u.username}\t{'admin' if u.is_admin else 'user'}\t{u.email}\t{u.created_at:%Y-%m-%d}"
            f"\troles={','.join(d['roles']) or '-'}\tfolders={folders}\tmaxBitRate={u.max_bitrate}")


def cmd_audit(s: Settings, args: argparse.Namespace) -> int:
    import json

    from orbsonic.library import audit

    with database(s) as url:
        for e in _run(url, lambda c: audit.recent(c, args.limit)):
            details = json.dumps(e.details, ensure_ascii=False, sort_keys=True) if e.details else ""
            print(f"{e.at:%Y-%m-%d %H:%M:%S%z}\t{e.actor}\t{e.action}\t{e.target or '-'}\t{details}")
    return 0
