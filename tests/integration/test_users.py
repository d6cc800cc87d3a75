"""User management, write then read through the real app: getUser, getUsers, createUser,
updateUser, deleteUser, changePassword (every role, folders, maxBitRate, email), the
audit log, and the CLI (`orbsonic user add/set/del`, `orbsonic audit`).

Every test writes, so each runs on a database of its own (`own`: a clone of the
two-folder library, a validating client: XML against the XSD, JSON against OpenAPI).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbsonic.auth.users import ROLE_ATTRS
from tests.conftest import ADMIN, ALICE, SECRET, Subsonic

ROLE_PARAM = {r: "scrobblingEnabled" if r == "scrobbling" else f"{r}Role" for r in ROLE_ATTRS}
SPEC_DEFAULTS = {r: r in ("settings", "stream", "scrobbling") for r in ROLE_ATTRS}


def once(api: Subsonic, method: str, **params: Any) -> dict[str, Any]:
    """One validated JSON call that must succeed: `Subsonic.ok` calls twice (XML and JSON),
    which a create, delete or password change cannot repeat. Their XML envelope is the
    empty one every other write validates."""
    body = api.raw(method, **params).json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body


def folder_ids(api: Subsonic) -> list[int]:
    return [f["id"] for f in api.ok("getMusicFolders")["musicFolders"]["musicFolder"]]


def roles_of(user: dict[str, Any]) -> dict[str, bool]:
    return {r: user[p] for r, p in ROLE_PARAM.items()}


def audit_log(url: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(actor, action, target, details), oldest first."""
    with psycopg.connect(url) as conn:
        return [tuple(r) for r in conn.execute(  # type: ignore[misc]
            "SELECT actor, action, target, details FROM audit_log ORDER BY id").fetchall()]


def test_create_then_read_every_field(own: Subsonic, own_db: str) -> None:
    f1, f2 = folder_ids(own)
    once(own, "createUser", username="dora", password="dora-pass", email="dora@example.org",
           musicFolderId=[f2], downloadRole=True, shareRole=True, streamRole=False, maxBitRate=192)
    user = own.ok("getUser", username="dora")["user"]
    want = {**SPEC_DEFAULTS, "download": True, "share": True, "stream": False}
    assert roles_of(user) == want
    assert (user["email"], user["folder"], user["maxBitRate"]) == ("dora@example.org", [f2], 192)
    # The new user logs in and reads their own record (getUser without a username: their own).
    dora = own.as_user("dora", "dora-pass")
    assert dora.ok("getUser")["user"]["username"] == "dora"
    listed = {u["username"]: u for u in own.ok("getUsers")["users"]["user"]}
    assert set(listed) == {ADMIN[0], ALICE[0], "dora"} and listed["dora"] == user
    assert listed[ADMIN[0]]["folder"] == [f1, f2] and all(roles_of(listed[ADMIN[0]]).values())
    (actor, _, target, details), = [e for e in audit_log(own_db) if e[1] == "user.create"]
    assert (actor, target, details["folders"], details["maxBitRate"]) == (ADMIN[0], "dora", [f2], 192)


def test_create_defaults_follow_the_spec(own: Subsonic) -> None:
    """settingsRole and streamRole true, the others false; no musicFolderId: every folder."""
    once(own, "createUser", username="eve", password="eve-pass", email="eve@example.org")
    user = own.ok("getUser", username="eve")["user"]
    assert roles_of(user) == SPEC_DEFAULTS
    assert user["folder"] == folder_ids(own) and user["maxBitRate"] == 0


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flags=st.fixed_dictionaries({r: st.booleans() for r in ROLE_ATTRS if r != "admin"}))
def test_update_sets_exactly_the_roles_given(own: Subsonic, flags: dict[str, bool]) -> None:
    """Any combination of roles written with updateUser reads back the same."""
    own.ok("updateUser", username=ALICE[0], **{ROLE_PARAM[r]: v for r, v in flags.items()})
    user = own.ok("getUser", username=ALICE[0])["user"]
    assert roles_of(user) == {**flags, "admin": False}


def test_update_changes_only_what_is_given(own: Subsonic, own_db: str) -> None:
    f1, f2 = folder_ids(own)
    before = own.ok("getUser", username=ALICE[0])["user"]
    own.ok("updateUser", username=ALICE[0], musicFolderId=[f1], maxBitRate=128)
    after = own.ok("getUser", username=ALICE[0])["user"]
    assert after == {**before, "folder": [f1], "maxBitRate": 128}
    own.ok("updateUser", username=ALICE[0], email="new@example.org", jukeboxRole=True)
    after2 = own.ok("getUser", username=ALICE[0])["user"]
    assert after2 == {**after, "email": "new@example.org", "jukeboxRole": True}
    # musicFolderId repeated: several folders
    own.ok("updateUser", username=ALICE[0], musicFolderId=[f2, f1])
    assert own.ok("getUser", username=ALICE[0])["user"]["folder"] == [f1, f2]
    changes = [d for _, action, target, d in audit_log(own_db) if action == "user.update"]
    assert changes[0] == {"folders": ["all", [f1]], "maxBitRate": [0, 128]}
    assert changes[1]["email"] == [ALICE[0] + "@example.org", "new@example.org"]
    assert changes[1]["roles"][1] == sorted([*changes[1]["roles"][0], "jukebox"])


def test_update_password_clear_and_enc(own: Subsonic, own_db: str) -> None:
    once(own, "updateUser", username=ALICE[0], password="enc:" + "späti 1".encode().hex())
    own.as_user(ALICE[0], "späti 1").ok("ping")
    own.as_user(ALICE[0], ALICE[1]).fail("ping", 40)
    # audited as a change, never with the value
    (details,) = [d for _, a, _, d in audit_log(own_db) if a == "user.update"]
    assert details == {"password": "changed"}


def test_created_with_enc_password_logs_in_with_token_too(own: Subsonic) -> None:
    import hashlib

    once(own, "createUser", username="fay", password="enc:" + b"fay pw".hex(), email="f@example.org")
    fay = own.as_user("fay", "fay pw")
    fay.ok("ping")
    token = hashlib.md5(b"fay pwsalt").hexdigest()
    r = own.http.get("/rest/ping", params={"u": "fay", "t": token, "s": "salt", "v": "1.16.1", "c": "t",
                                           "f": "json"})
    assert r.json()["subsonic-response"]["status"] == "ok"


@pytest.mark.parametrize(("method", "params", "code", "words"), [
    ("createUser", {"password": "x", "email": "a@b"}, 10, "username"),
    ("createUser", {"username": "x", "email": "a@b"}, 10, "password"),
    ("createUser", {"username": "x", "password": "y"}, 10, "email"),
    ("createUser", {"username": ADMIN[0], "password": "y", "email": "a@b"}, 0, "already exists"),
    ("createUser", {"username": "x", "password": "enc:zz", "email": "a@b"}, 0, "hex"),
    ("createUser", {"username": "x", "password": "y", "email": "a@b", "maxBitRate": 100}, 0, "maxBitRate"),
    ("createUser", {"username": "x", "password": "y", "email": "a@b", "musicFolderId": 999}, 70, "folder"),
    ("createUser", {"username": "x", "password": "y", "email": "a@b", "musicFolderId": "one"}, 0, "integer"),
    ("createUser", {"username": "x", "password": "y", "email": "a@b", "adminRole": "maybe"}, 0, "boolean"),
    ("createUser", {"username": "x y", "password": "y", "email": "a@b"}, 0, "username"),
    ("createUser", {"username": "x", "password": "y", "email": "a@b", "ldapAuthenticated": True}, 0, "LDAP"),
    ("updateUser", {"username": "nobody", "email": "a@b"}, 70, "nobody"),
    ("updateUser", {"email": "a@b"}, 10, "username"),
    ("updateUser", {"username": ALICE[0], "maxBitRate": 33}, 0, "maxBitRate"),
    ("updateUser", {"username": ADMIN[0], "adminRole": False}, 0, "last admin"),
    ("deleteUser", {"username": ADMIN[0]}, 0, "your own account"),
    ("deleteUser", {"username": "nobody"}, 70, "nobody"),
    ("deleteUser", {}, 10, "username"),
    ("changePassword", {"username": "nobody", "password": "x"}, 70, "nobody"),
    ("changePassword", {"username": ALICE[0]}, 10, "password"),
    ("getUser", {"username": "nobody"}, 70, "nobody"),
])
def test_bad_input_is_a_clear_error_and_writes_nothing(own: Subsonic, own_db: str, method: str,
                                                       params: dict[str, Any], code: int, words: str) -> None:
    before = own.ok("getUsers")["users"]["user"]
    err = own.fail(method, code, **params)
    assert words.lower() in err["message"].lower(), err
    assert own.ok("getUsers")["users"]["user"] == before
    assert not audit_log(own_db)


def test_delete_user(own: Subsonic, own_db: str) -> None:
    alice = own.as_user(*ALICE)
    alice.ok("star", id=own.ok("getRandomSongs", size=1)["randomSongs"]["song"][0]["id"])
    once(own, "deleteUser", username=ALICE[0])
    alice.fail("ping", 40)
    own.fail("getUser", 70, username=ALICE[0])
    assert [u["username"] for u in own.ok("getUsers")["users"]["user"]] == [ADMIN[0]]
    with psycopg.connect(own_db) as conn:
        assert conn.execute("SELECT count(*) FROM annotations").fetchone() == (0,)
    assert [(a, t) for _, a, t, _ in audit_log(own_db)] == [("user.delete", ALICE[0])]


def test_a_second_admin_can_be_demoted_but_not_the_last(own: Subsonic) -> None:
    own.ok("updateUser", username=ALICE[0], adminRole=True)
    alice = own.as_user(*ALICE)
    alice.ok("getUsers")
    alice.ok("updateUser", username=ADMIN[0], adminRole=False)  # alice is admin now; admin is not
    own.fail("getUsers", 50)
    err = alice.fail("updateUser", 0, username=ALICE[0], adminRole=False)
    assert "last admin" in err["message"]
    own.fail("deleteUser", 50, username=ALICE[0])
    alice.fail("deleteUser", 0, username=ALICE[0])


def test_change_password(own: Subsonic, own_db: str) -> None:
    alice = own.as_user(*ALICE)
    once(alice, "changePassword", username=ALICE[0], password="alice-2")
    alice = own.as_user(ALICE[0], "alice-2")
    alice.ok("ping")
    err = alice.fail("changePassword", 50, username=ADMIN[0], password="taken over")
    assert "admin" in err["message"]
    own.ok("ping")  # the admin's password is unchanged
    once(own, "changePassword", username=ALICE[0], password="enc:" + b"by admin".hex())
    own.as_user(ALICE[0], "by admin").ok("ping")
    # A user's own change is not an admin action; the admin's change of alice's password is.
    assert [(a, act, t) for a, act, t, _ in audit_log(own_db)] == [(ADMIN[0], "user.password", ALICE[0])]


def test_admin_only_endpoints_refuse_plain_users(own: Subsonic) -> None:
    alice = own.as_user(*ALICE)
    for method, params in (("getUsers", {}), ("createUser", {"username": "z", "password": "z", "email": "z"}),
                           ("updateUser", {"username": ALICE[0], "adminRole": True}),
                           ("deleteUser", {"username": ADMIN[0]}), ("getUser", {"username": ADMIN[0]})):
        alice.fail(method, 50, **params)
    assert own.ok("getUser", username=ALICE[0])["user"]["adminRole"] is False


def test_roles_are_enforced_after_an_update(own: Subsonic) -> None:
    """Taking downloadRole/streamRole away takes effect on the next request (no cache)."""
    song = own.ok("getRandomSongs", size=1)["randomSongs"]["song"][0]["id"]
    alice = own.as_user(*ALICE)
    assert alice.raw("download", id=song).status_code == 200
    own.ok("updateUser", username=ALICE[0], downloadRole=False, streamRole=False)
    assert "download role" in alice.fail("download", 50, id=song)["message"]
    alice.fail("stream", 50, id=song)
    own.ok("updateUser", username=ALICE[0], streamRole=True)
    assert alice.raw("stream", id=song).status_code == 200


def test_start_scan_is_audited(own: Subsonic, own_db: str) -> None:
    import time

    own.ok("startScan")
    deadline = time.monotonic() + 60
    while own.ok("getScanStatus")["scanStatus"]["scanning"] and time.monotonic() < deadline:
        time.sleep(0.2)
    assert [(a, act, d) for a, act, _, d in audit_log(own_db)] == [(ADMIN[0], "scan.start", {"full": False})]


# ---------------------------------------------------------------------------- CLI


def orbsonic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orbsonic", *args], env=env, capture_output=True, text=True,
                          timeout=120)


def test_cli_user_roles_folders_and_audit(own_db: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": own_db, "ORBSONIC_DATA_DIR": str(tmp_path / "data"),
           "ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOG_LEVEL": "warning"}
    with psycopg.connect(own_db) as conn:
        f1, f2 = (r[0] for r in conn.execute("SELECT id FROM music_folders ORDER BY id"))
        name2 = conn.execute("SELECT name FROM music_folders WHERE id = %s", (f2,)).fetchone()[0]
    r = orbsonic("user", "add", "gus", "--password", "gus pw", "--role", "share,jukebox", "--no-role",
                 "download", "--folder", str(f1), "--max-bitrate", "320", env=env)
    assert r.returncode == 0, r.stderr
    r = orbsonic("user", "set", "gus", "--no-role", "Share", "--role", "videoConversion", "--folder", name2,
                 "--email", "gus@example.org", env=env)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.startswith("gus\tuser\tgus@example.org\t") and f"folders={f2}" in line
    roles = dict(p.split("=", 1) for p in line.split("\t")[4:])["roles"].split(",")
    assert "jukebox" in roles and "videoConversion" in roles and "share" not in roles
    assert "download" not in roles and "stream" in roles  # untouched column defaults stay
    listed = orbsonic("user", "list", env=env).stdout
    assert line in listed.splitlines()
    r = orbsonic("user", "set", "gus", "--all-folders", env=env)
    assert "folders=all" in r.stdout
    # Refusals are clear, exit 2, and change nothing.
    bad = orbsonic("user", "set", "gus", "--role", "wizard", env=env)
    assert bad.returncode == 2 and "unknown role 'wizard'" in bad.stderr
    bad = orbsonic("user", "set", "gus", "--folder", "nowhere", env=env)
    assert bad.returncode == 2 and "music folder not found" in bad.stderr
    last = orbsonic("user", "del", ADMIN[0], env=env)
    assert last.returncode == 2 and "last admin" in last.stderr
    assert orbsonic("user", "del", "gus", env=env).returncode == 0
    out = orbsonic("audit", "--limit", "3", env=env)
    assert out.returncode == 0, out.stderr
    rows = [ln.split("\t") for ln in out.stdout.splitlines()]
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("cli", "user.delete", "gus"), ("cli", "user.update", "gus"), ("cli", "user.update", "gus")]
    assert len(orbsonic("audit", env=env).stdout.splitlines()) == 4  # + user.create


def test_audit_recent_is_newest_first(own_db: str) -> None:
    from orbsonic.library import audit

    async def go() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(own_db) as conn:
            for n in range(5):
                await audit.record(conn, "tester", "scan.start", details={"n": n})
            await conn.commit()
            return await audit.recent(conn, 3)

    entries = asyncio.run(go())
    assert [e.details["n"] for e in entries] == [4, 3, 2]
    assert all(e.actor == "tester" and e.target == "" for e in entries)
