"""Native API auth (docs/native-api.md "Auth", issue 9): login, access tokens, rotating refresh
tokens with reuse detection, sessions and their revocation across app instances, registration,
admin user creation, password change, the shared login rate limit.

Two app instances (TestClient, lifespan run) on one database stand for two workers or replicas:
what one revokes, the other must refuse on its very next request. Every JSON answer is validated
against the served OpenAPI document."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from orbsonic.auth import tokens, users
from orbsonic.auth.passwords import SecretKey
from tests.conftest import ADMIN, ALICE, SECRET, Subsonic, add_users, clone_db, make_app, wait_ready
from tests.integration.native_client import Native


class Checked(Native):
    """A Native client whose every JSON / problem+json answer is validated against the
    OpenAPI document the server serves (the operation's schema for that status)."""

    doc: dict[str, Any] | None = None

    def call(self, method: str, path: str, **kw: Any) -> Any:
        r = super().call(method, path, **kw)
        doc = Checked.doc or self.http.get("/api/v1/openapi.json").json()
        Checked.doc = doc
        op = _operation(doc, method, "/api/v1" + path.split("?")[0])
        assert str(r.status_code) in op["responses"], (method, path, r.status_code, "not documented")
        content = op["responses"][str(r.status_code)].get("content", {})
        ctype = r.headers.get("content-type", "").split(";")[0]
        if r.status_code == 204:
            assert not r.content
        elif ctype in content:
            schema = {**content[ctype]["schema"], "components": doc["components"]}
            Draft202012Validator(schema).validate(r.json())
        else:
            raise AssertionError(f"{method} {path} answered {ctype}, documented {list(content)}")
        return r


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    for template, ops in doc["paths"].items():
        if re.fullmatch(re.sub(r"\{[a-z_]+\}", "[^/]+", template), path) and method.lower() in ops:
            return ops[method.lower()]
    raise AssertionError(f"{method} {path} not in the OpenAPI document")


def login(http: Any, username: str, password: str, client: str = "pytest") -> dict[str, Any]:
    r = Checked(http, None).call("POST", "/auth/login",
                                 json={"username": username, "password": password, "client": client})
    assert r.status_code == 200, r.text
    return r.json()


def as_token(http: Any, tok: dict[str, Any]) -> Checked:
    return Checked(http, tok["accessToken"])


@pytest.fixture(scope="module")
def auth_db(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = clone_db(pg, template_url)
    add_users(url, tmp_path_factory.mktemp("authdata"))
    return url


@pytest.fixture(scope="module")
def two_apps(auth_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """Two app instances on one database (two workers / replicas sharing the secret key)."""
    with TestClient(make_app(auth_db, tmp_path_factory.mktemp("a"))) as a, \
            TestClient(make_app(auth_db, tmp_path_factory.mktemp("b"))) as b:
        yield a, b


@pytest.fixture(scope="module")
def admin(two_apps: tuple[Any, Any]) -> Checked:
    return as_token(two_apps[0], login(two_apps[0], *ADMIN))


_n = iter(range(10**6))


def new_user(admin: Checked, **extra: Any) -> tuple[str, str]:
    name, password = f"u{next(_n)}", f"pw-{next(_n)}-secret"
    me = admin.ok("POST", "/users", 201, json={"username": name, "password": password, **extra})
    assert me["username"] == name
    return name, password


def once(client: Subsonic, method: str, **params: Any) -> None:
    """A Subsonic write called once (Subsonic.ok calls in XML and in JSON), validated."""
    body = client.raw(method, **params).json()["subsonic-response"]
    assert body["status"] == "ok", body


def sql(url: str, query: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        cur = conn.execute(query, args)
        return cur.fetchall() if cur.description else []


def test_login_answers_tokens_that_authenticate(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, b = two_apps
    name, pw = new_user(admin)
    tok = login(a, name, pw, client="Orb web")
    assert tok["tokenType"] == "Bearer" and tok["expiresIn"] == 900 and tok["user"]["username"] == name
    assert "stream" in tok["user"]["roles"] and tok["user"]["admin"] is False
    claims = jwt.decode(tok["accessToken"], options={"verify_signature": False})
    assert {"sub", "sid", "exp", "iat", "jti"} <= set(claims)
    assert claims["sid"] == tok["session"] and claims["exp"] - claims["iat"] == 900
    # the other instance verifies the same token (key derived from the shared secret key)
    for app in (a, b):
        assert as_token(app, tok).ok("GET", "/me")["username"] == name
    # the same account and password work on the Subsonic API
    assert Subsonic(a, name, pw).ok("ping")["status"] == "ok"


def test_wrong_credentials_are_401(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, _ = two_apps
    name, pw = new_user(admin)
    anon = Checked(a, None)
    for body in ({"username": name, "password": pw + "x"}, {"username": "nobody-here", "password": pw},
                 {"username": name.upper(), "password": pw}):
        p = anon.problem("POST", "/auth/login", 401, json=body)
        assert p["code"] == "unauthorized" and pw not in p["detail"]
    # a NUL cannot be in any stored name (PostgreSQL text): malformed input, named, never a 500
    p = anon.problem("POST", "/auth/login", 422, json={"username": name + "\x00", "password": pw})
    assert p["errors"][0]["field"] == "username" and pw not in p["detail"]
    missing = anon.problem("POST", "/auth/login", 422, json={"username": name})
    assert missing["errors"][0]["field"] == "password"
    assert anon.problem("POST", "/auth/login", 422, json={"username": name, "password": 5})


def test_refresh_rotates_and_reuse_revokes_the_session(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, b = two_apps
    name, pw = new_user(admin)
    first = login(a, name, pw)
    anon_a, anon_b = Checked(a, None), Checked(b, None)
    second = anon_b.ok("POST", "/auth/refresh", json={"refreshToken": first["refreshToken"]})
    assert second["session"] == first["session"] and second["refreshToken"] != first["refreshToken"]
    assert second["accessToken"] != first["accessToken"]
    third = anon_a.ok("POST", "/auth/refresh", json={"refreshToken": second["refreshToken"]})
    assert as_token(b, third).ok("GET", "/me")["username"] == name
    # the rotated token presented again: refused, and the whole session is revoked at once
    anon_a.problem("POST", "/auth/refresh", 401, json={"refreshToken": second["refreshToken"]})
    assert as_token(b, third).problem("GET", "/me", 401)["code"] == "unauthorized"
    anon_b.problem("POST", "/auth/refresh", 401, json={"refreshToken": third["refreshToken"]})
    anon_a.problem("POST", "/auth/refresh", 401, json={"refreshToken": "never-issued"})
    anon_a.problem("POST", "/auth/refresh", 422, json={})
    # another login is a new, working session
    assert as_token(a, login(a, name, pw)).ok("GET", "/me")["username"] == name


def test_logout_revokes_access_and_refresh(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, b = two_apps
    name, pw = new_user(admin)
    tok, other = login(a, name, pw), login(a, name, pw)
    as_token(a, tok).ok("POST", "/auth/logout", 204)
    as_token(b, tok).problem("GET", "/me", 401)
    Checked(b, None).problem("POST", "/auth/refresh", 401, json={"refreshToken": tok["refreshToken"]})
    assert as_token(b, other).ok("GET", "/me")["username"] == name  # only this session
    # an API key has no session to log out
    key = admin.ok("POST", "/api-keys", 201, json={"name": "script"})["key"]
    assert Checked(a, key).problem("POST", "/auth/logout", 400)["errors"][0]["field"] == "Authorization"


def test_logout_all_is_seen_by_another_instance_at_once(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, b = two_apps
    name, pw = new_user(admin)
    toks = [login(a, name, pw, client=f"device {i}") for i in range(3)]
    for t in toks:  # the other instance has seen (and could cache) every session
        assert as_token(b, t).ok("GET", "/me")["username"] == name
    as_token(a, toks[0]).ok("POST", "/auth/logout-all", 204)
    for t in toks:
        as_token(b, t).problem("GET", "/me", 401)
        Checked(b, None).problem("POST", "/auth/refresh", 401, json={"refreshToken": t["refreshToken"]})
    assert admin.ok("GET", "/me")["username"] == "admin"  # other users' sessions untouched


def test_sessions_listed_and_revoked_one_by_one(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, b = two_apps
    name, pw = new_user(admin)
    phone, laptop = login(a, name, pw, client="phone"), login(b, name, pw, client="laptop")
    listed = as_token(a, phone).ok("GET", "/auth/sessions")
    assert [(s["id"], s["client"], s["current"]) for s in listed] == [
        (phone["session"], "phone", True), (laptop["session"], "laptop", False)]
    assert as_token(a, laptop).ok("GET", "/auth/sessions")[1]["current"] is True
    as_token(a, phone).ok("DELETE", f"/auth/sessions/{laptop['session']}", 204)
    as_token(b, laptop).problem("GET", "/me", 401)
    assert [s["id"] for s in as_token(b, phone).ok("GET", "/auth/sessions")] == [phone["session"]]
    # already revoked, another user's, or not a session id: 404
    as_token(a, phone).problem("DELETE", f"/auth/sessions/{laptop['session']}", 404)
    as_token(a, phone).problem("DELETE", f"/auth/sessions/{admin_session(admin)}", 404)
    as_token(a, phone).problem("DELETE", "/auth/sessions/not-a-uuid", 404)
    assert as_token(b, phone).ok("GET", "/me")["username"] == name


def admin_session(admin: Checked) -> str:
    return jwt.decode(admin.token, options={"verify_signature": False})["sid"]


def test_sessions_survive_a_restart(auth_db: str, admin: Checked, two_apps: tuple[Any, Any],
                                    tmp_path: Path) -> None:
    name, pw = new_user(admin)
    with TestClient(make_app(auth_db, tmp_path / "1")) as first:
        tok = login(first, name, pw)
    with TestClient(make_app(auth_db, tmp_path / "2")) as again:
        assert as_token(again, tok).ok("GET", "/me")["username"] == name
        fresh = Checked(again, None).ok("POST", "/auth/refresh", json={"refreshToken": tok["refreshToken"]})
        assert as_token(again, fresh).ok("GET", "/me")["username"] == name


def test_expired_tampered_and_foreign_tokens_are_refused(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, _ = two_apps
    name, pw = new_user(admin)
    tok = login(a, name, pw)
    claims = jwt.decode(tok["accessToken"], options={"verify_signature": False})
    key = SecretKey.from_text(SECRET)
    uid, sid = int(claims["sub"]), claims["sid"]
    # well signed for a live session, but expired an hour ago
    expired = tokens.issue_access(key, uid, sid, 60, now=time.time() - 3600)
    assert Checked(a, expired).problem("GET", "/me", 401)["code"] == "unauthorized"
    # the same, minted now, works: only the expiry made the difference
    assert Checked(a, tokens.issue_access(key, uid, sid, 60)).ok("GET", "/me")["username"] == name
    # payload changed to claim the admin (id 1), signature kept
    head, body, sig = tok["accessToken"].split(".")
    forged = dict(claims, sub=str(admin.ok("GET", "/me")["id"]))
    forged_body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    Checked(a, f"{head}.{forged_body}.{sig}").problem("GET", "/me", 401)
    Checked(a, f"{head}.{body}.{sig[:-4]}AAAA").problem("GET", "/me", 401)
    # signed with another server key, or with no signature at all
    other = tokens.issue_access(SecretKey.from_text("1" * 64), uid, sid, 900)
    Checked(a, other).problem("GET", "/me", 401)
    unsigned = jwt.encode(dict(claims), None, algorithm="none")
    Checked(a, unsigned).problem("GET", "/me", 401)
    # signed with the raw secret key instead of the derived one
    raw = jwt.encode(dict(claims), bytes.fromhex(SECRET), algorithm="HS256")
    Checked(a, raw).problem("GET", "/me", 401)
    # a token for a session that belongs to someone else
    Checked(a, tokens.issue_access(key, uid, admin_session(admin), 60)).problem("GET", "/me", 401)
    Checked(a, "a.b.c").problem("GET", "/me", 401)


def test_access_token_ttl_setting(auth_db: str, admin: Checked, tmp_path: Path) -> None:
    name, pw = new_user(admin)
    with TestClient(make_app(auth_db, tmp_path, access_token_ttl=120)) as app:
        tok = login(app, name, pw)
        claims = jwt.decode(tok["accessToken"], options={"verify_signature": False})
        assert tok["expiresIn"] == 120 and claims["exp"] - claims["iat"] == 120


def test_idle_sessions_expire(auth_db: str, admin: Checked, tmp_path: Path) -> None:
    name, pw = new_user(admin)
    with TestClient(make_app(auth_db, tmp_path, session_idle_timeout=3600)) as app:
        idle, busy = login(app, name, pw, client="idle"), login(app, name, pw, client="busy")
        sql(auth_db, "UPDATE sessions SET last_seen = now() - interval '2 hours' WHERE id = %s",
            idle["session"])
        assert [s["client"] for s in as_token(app, busy).ok("GET", "/auth/sessions")] == ["busy"]
        Checked(app, None).problem("POST", "/auth/refresh", 401, json={"refreshToken": idle["refreshToken"]})
        assert sql(auth_db, "SELECT revoked_at IS NOT NULL FROM sessions WHERE id = %s", idle["session"]) == [
            (True,)]
        again = Checked(app, None).ok("POST", "/auth/refresh", json={"refreshToken": busy["refreshToken"]})
        assert again["session"] == busy["session"]


def test_password_change_revokes_the_other_sessions(two_apps: tuple[Any, Any], admin: Checked) -> None:
    a, b = two_apps
    name, pw = new_user(admin)
    mine, other = login(a, name, pw), login(a, name, pw)
    me = as_token(a, mine)
    body = me.problem("POST", "/me/password", 403, json={"currentPassword": "wrong", "newPassword": "n"})
    assert body["code"] == "forbidden"
    assert as_token(b, other).ok("GET", "/me")  # a refused change revokes nothing
    me.ok("POST", "/me/password", 204, json={"currentPassword": pw, "newPassword": "new-secret"})
    assert me.ok("GET", "/me")["username"] == name  # the session that changed it stays
    as_token(b, other).problem("GET", "/me", 401)
    Checked(a, None).problem("POST", "/auth/login", 401, json={"username": name, "password": pw})
    assert login(b, name, "new-secret")["user"]["username"] == name
    assert Subsonic(a, name, "new-secret").ok("ping")["status"] == "ok"  # one password for both APIs


def test_password_changed_elsewhere_revokes_every_session(two_apps: tuple[Any, Any], admin: Checked,
                                                          auth_db: str) -> None:
    """`orbsonic user passwd` (users.set_password), Subsonic changePassword and updateUser."""
    a, b = two_apps
    name, pw = new_user(admin)
    toks = [login(a, name, pw), login(b, name, pw)]

    async def passwd() -> None:
        async with await psycopg.AsyncConnection.connect(auth_db) as conn:
            await users.set_password(conn, SecretKey.from_text(SECRET), name, "changed-by-cli")
            await conn.commit()

    asyncio.run(passwd())
    for t in toks:
        as_token(a, t).problem("GET", "/me", 401)
        Checked(b, None).problem("POST", "/auth/refresh", 401, json={"refreshToken": t["refreshToken"]})
    assert login(a, name, "changed-by-cli")
    # Subsonic changePassword (the user's own, and an admin's updateUser)
    tok = login(a, name, "changed-by-cli")
    once(Subsonic(a, name, "changed-by-cli"), "changePassword", username=name, password="by-subsonic")
    as_token(b, tok).problem("GET", "/me", 401)
    tok = login(b, name, "by-subsonic")
    once(Subsonic(a, *ADMIN), "updateUser", username=name, password="by-admin")
    as_token(a, tok).problem("GET", "/me", 401)
    # other changes of the user (a role) do not log them out
    tok = login(a, name, "by-admin")
    once(Subsonic(a, *ADMIN), "updateUser", username=name, shareRole=True)
    assert "share" in as_token(b, tok).ok("GET", "/me")["roles"]


def test_a_deleted_users_tokens_stop_at_once(two_apps: tuple[Any, Any], admin: Checked, auth_db: str) -> None:
    a, b = two_apps
    name, pw = new_user(admin)
    tok = login(a, name, pw)
    assert as_token(b, tok).ok("GET", "/me")
    sql(auth_db, "DELETE FROM users WHERE username = %s", name)
    as_token(a, tok).problem("GET", "/me", 401)
    as_token(b, tok).problem("GET", "/me", 401)
    Checked(a, None).problem("POST", "/auth/refresh", 401, json={"refreshToken": tok["refreshToken"]})
    # the same through Subsonic deleteUser
    name, pw = new_user(admin)
    tok = login(b, name, pw)
    once(Subsonic(a, *ADMIN), "deleteUser", username=name)
    as_token(b, tok).problem("GET", "/me", 401)


def test_only_admins_create_users(two_apps: tuple[Any, Any], admin: Checked, auth_db: str) -> None:
    a, _ = two_apps
    alice = as_token(a, login(a, *ALICE))
    mallory = {"username": "mallory", "password": "x"}
    assert alice.problem("POST", "/users", 403, json=mallory)["code"] == "forbidden"
    Checked(a, None).problem("POST", "/users", 401, json=mallory)
    assert not sql(auth_db, "SELECT 1 FROM users WHERE username = 'mallory'")
    folder = sql(auth_db, "INSERT INTO music_folders (name, path) VALUES ('f', '/x') RETURNING id")[0][0]
    me = admin.ok("POST", "/users", 201, json={"username": "carol", "password": "carol-pw",
                                               "email": "c@x.org", "roles": ["stream", "upload"],
                                               "folders": [folder]})
    assert sorted(me["roles"]) == ["stream", "upload"] and me["folders"] == [folder] and not me["admin"]
    assert as_token(a, login(a, "carol", "carol-pw")).ok("GET", "/me") == me
    assert Subsonic(a, "carol", "carol-pw").ok("getUser", username="carol")["user"]["uploadRole"] is True
    taken = admin.problem("POST", "/users", 409, json={"username": "carol", "password": "y"})
    assert taken["code"] == "conflict"
    admin.problem("POST", "/users", 400, json={"username": "dave", "password": "y",
                                               "folders": [folder + 999]})
    empty = admin.problem("POST", "/users", 400, json={"username": "dave", "password": "y", "folders": []})
    assert empty["errors"][0]["field"] == "folders"
    assert admin.problem("POST", "/users", 422, json={"username": "dave", "password": "y", "roles": ["root"]})
    admin.problem("POST", "/users", 400, json={"username": "has space", "password": "y"})
    boss = admin.ok("POST", "/users", 201, json={"username": "erin", "password": "erin-pw", "admin": True})
    assert boss["admin"] is True and "upload" in boss["roles"]


def test_registration_is_off_by_default(two_apps: tuple[Any, Any], auth_db: str, tmp_path: Path) -> None:
    a, _ = two_apps
    body = Checked(a, None).problem("POST", "/auth/register", 403, json={"username": "zed", "password": "pw"})
    assert body["code"] == "forbidden"
    assert not sql(auth_db, "SELECT 1 FROM users WHERE username = 'zed'")
    with TestClient(make_app(auth_db, tmp_path, registration_open=True)) as open_app:
        anon = Checked(open_app, None)
        me = anon.ok("POST", "/auth/register", 201, json={"username": "zed", "password": "zed-pw"})
        assert me["username"] == "zed" and me["admin"] is False and "upload" not in me["roles"]
        assert login(open_app, "zed", "zed-pw")["user"] == me
        anon.problem("POST", "/auth/register", 409, json={"username": "zed", "password": "other"})
        # extra fields (admin: true) are refused, not ignored
        anon.problem("POST", "/auth/register", 422, json={"username": "yan", "password": "p", "admin": True})


def test_login_rate_limit_is_shared_with_subsonic(pg: Any, template_url: str, tmp_path: Path) -> None:
    url = clone_db(pg, template_url)
    add_users(url, tmp_path / "d")
    with TestClient(make_app(url, tmp_path / "a", login_max_failures=3, login_lockout=600,
                             login_delay_ms=1)) as app:
        anon = Checked(app, None)
        for _ in range(3):
            anon.problem("POST", "/auth/login", 401, json={"username": ALICE[0], "password": "guess"})
        r = anon.call("POST", "/auth/login", json={"username": ALICE[0], "password": ALICE[1]})
        assert r.status_code == 429 and r.json()["code"] == "too-many-requests"
        assert 1 <= int(r.headers["retry-after"]) <= 600
        # the same counters: the Subsonic API refuses this user name too (error 40, its only code)
        Subsonic(app, *ALICE).fail("ping", 40)
        # per address: the locked-out address cannot log in as another user either
        right = {"username": ADMIN[0], "password": ADMIN[1]}
        assert anon.call("POST", "/auth/login", json=right).status_code == 429
        # a wrong current password in a password change counts as well
        sql(url, "DELETE FROM login_failures")
        me = as_token(app, login(app, *ADMIN))
        for _ in range(3):
            me.problem("POST", "/me/password", 403, json={"currentPassword": "guess", "newPassword": "x"})
        me.problem("POST", "/me/password", 429, json={"currentPassword": ADMIN[1], "newPassword": "x"})
        sql(url, "DELETE FROM login_failures")
        assert login(app, *ADMIN)["user"]["username"] == "admin"


# ------------------------------------------------------------- `orbsonic serve --workers 2`


def _descendants(pid: int) -> set[int]:
    parents: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parents[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        for child, parent in parents.items():
            if parent == p and child not in found:
                found.add(child)
                todo.append(child)
    return found


def _server_side_inode(server_port: int, client_port: int) -> str | None:
    """The socket inode of the server's end of the loopback connection from `client_port`."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        local, remote = f[1].split(":"), f[2].split(":")
        if int(local[1], 16) == server_port and int(remote[1], 16) == client_port:
            return f[9]
    return None


def _worker_of(pids: set[int], inode: str) -> int | None:
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                if os.readlink(fd) == f"socket:[{inode}]":
                    return pid
        except OSError:
            continue
    return None


class Conn:
    """One keep-alive HTTP connection (so one worker process serves all its requests)."""

    def __init__(self, port: int) -> None:
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.c.connect()
        self.local_port = self.c.sock.getsockname()[1]

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.c.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                       headers=headers)
        r = self.c.getresponse()
        data = r.read()
        return r.status, json.loads(data) if data else None


def test_revocation_is_seen_by_the_other_worker(fresh_db: str, tmp_path: Path) -> None:
    """Two worker processes of one `orbsonic serve --workers 2`: the logout made through one
    is refused by the other on its next request (no per-process state)."""
    music = tmp_path / "music"
    music.mkdir()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "DATABASE_URL": fresh_db, "ORBSONIC_DATA_DIR": str(tmp_path / "data"),
           "ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOG_LEVEL": "warning", "ORBSONIC_JOB_WORKER": "false",
           "ORBSONIC_ADMIN_PASSWORD": ADMIN[1]}
    proc = subprocess.Popen([sys.executable, "-m", "orbsonic", "serve", str(music), "--host", "127.0.0.1",
                             "--port", str(port), "--no-scan", "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    conns: list[Conn] = []
    try:
        wait_ready(f"http://127.0.0.1:{port}", lambda: proc.poll() is None, lambda: proc.stdout.read() if proc.stdout else "", 60)
        # Open connections until two different worker processes hold one each.
        by_worker: dict[int, Conn] = {}
        for _ in range(200):
            c = Conn(port)
            conns.append(c)
            assert c.call("GET", "/me")[0] == 401  # the request makes the worker accept it
            inode = _server_side_inode(port, c.local_port)
            worker = _worker_of(_descendants(proc.pid), inode) if inode else None
            if worker is not None:
                by_worker.setdefault(worker, c)
            if len(by_worker) == 2:
                break
        assert len(by_worker) == 2, "the kernel never handed a connection to the second worker"
        one, two = by_worker.values()
        status, tok = one.call("POST", "/auth/login", body={"username": ADMIN[0], "password": ADMIN[1]})
        assert status == 200, tok
        other = one.call("POST", "/auth/login", body={"username": ADMIN[0], "password": ADMIN[1]})[1]
        assert two.call("GET", "/me", tok["accessToken"])[0] == 200
        assert one.call("POST", "/auth/logout", tok["accessToken"])[0] == 204
        assert two.call("GET", "/me", tok["accessToken"])[0] == 401
        assert two.call("GET", "/me", other["accessToken"])[0] == 200
        assert two.call("POST", "/auth/logout-all", other["accessToken"])[0] == 204
        assert one.call("GET", "/me", other["accessToken"])[0] == 401
        assert one.call("POST", "/auth/refresh", body={"refreshToken": other["refreshToken"]})[0] == 401
    finally:
        for c in conns:
            c.c.close()
        proc.terminate()
        proc.communicate(timeout=30)


@given(st.text(max_size=300) | st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.text(max_size=60),
                                         st.text(max_size=60), st.text(max_size=60)))
def test_garbage_credentials_never_verify(text: str) -> None:
    assert tokens.verify_access(SecretKey.from_text(SECRET), text) is None
