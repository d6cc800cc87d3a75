"""Subsonic authentication and the error codes of spec §2.2–2.5 (exact codes, XML and JSON).

Users, API keys and the NULL-password user live in a database of this module's own (a
clone of the migrated template), served by two apps: one with the default settings and
one with token auth switched off. Read-only checks that need the scanned library (error
70, admin-only endpoints) use the shared `api` fixture.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.auth import users
from orbsonic.auth.passwords import SecretKey
from tests.conftest import ADMIN, ALICE, SECRET, Subsonic, add_users, clone_db, make_app

UTF8_USER = ("jürgen", "pässwörd 密码")
HASH_ONLY = ("hashonly", "hash-only-pass")  # password_enc NULL: no token auth possible
JOE = ("joe", "sesame")  # the spec's worked example


class AuthEnv:
    def __init__(self, url: str, http: TestClient, no_token_http: TestClient, api_key: str) -> None:
        self.url, self.http, self.no_token_http, self.api_key = url, http, no_token_http, api_key


@pytest.fixture(scope="module")
def auth_env(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuthEnv]:
    url = clone_db(pg, template_url)
    data = tmp_path_factory.mktemp("authdata")
    add_users(url, data)
    key = SecretKey.from_text(SECRET)

    async def setup() -> str:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for name, pw in (UTF8_USER, HASH_ONLY, JOE):
                await users.create_user(conn, key, name, pw)
            await conn.execute("UPDATE users SET password_enc = NULL WHERE username = %s", (HASH_ONLY[0],))
            api_key = await users.create_api_key(conn, ALICE[0], "test key")
            await conn.commit()
            return api_key

    api_key = asyncio.run(setup())
    with TestClient(make_app(url, data)) as http, \
            TestClient(make_app(url, tmp_path_factory.mktemp("authdata2"), token_auth=False)) as no_token:
        yield AuthEnv(url, http, no_token, api_key)


def call(http: Any, method: str = "ping", **params: Any) -> dict[str, Any]:
    """Call with exactly `params` (no automatic credentials) in XML and JSON; both bodies are
    validated (against the legacy XSD when c=DSub); return the JSON envelope after checking
    that XML says the same."""
    client = Subsonic(http, client=params.get("c") or "pytest")
    xml = client.raw(method, fmt="xml", auth=False, **params)
    js = client.raw(method, fmt="json", auth=False, **params)
    assert xml.status_code == js.status_code == 200
    body = js.json()["subsonic-response"]
    if body["status"] == "ok":
        assert b'status="ok"' in xml.content, xml.text
    else:
        assert f'code="{body["error"]["code"]}"'.encode() in xml.content, xml.text
    return body


def code(http: Any, method: str = "ping", **params: Any) -> int | None:
    """The error code of a call (None when it succeeded)."""
    body = call(http, method, **params)
    return None if body["status"] == "ok" else body["error"]["code"]


BASE = {"v": "1.16.1", "c": "pytest"}


def token(password: str, salt: str) -> str:
    return hashlib.md5((password + salt).encode("utf-8")).hexdigest()


def enc(password: str) -> str:
    return "enc:" + password.encode("utf-8").hex()


# ---------------------------------------------------------------- accepted credentials


@pytest.mark.parametrize("user", [ADMIN, ALICE, UTF8_USER, JOE])
def test_plain_and_enc_password(auth_env: AuthEnv, user: tuple[str, str]) -> None:
    name, pw = user
    assert code(auth_env.http, u=name, p=pw, **BASE) is None
    assert code(auth_env.http, u=name, p=enc(pw), **BASE) is None
    assert code(auth_env.http, u=name, p="enc:" + pw.encode("utf-8").hex().upper(), **BASE) is None


def test_utf8_password_goes_through_form_post_and_query_encoding(auth_env: AuthEnv) -> None:
    name, pw = UTF8_USER
    r = auth_env.http.post("/rest/tokenInfo.view", data={"u": name, "p": pw, "f": "json", **BASE})
    assert r.json()["subsonic-response"]["tokenInfo"] == {"username": name}


@pytest.mark.parametrize("user", [ADMIN, UTF8_USER, JOE])
def test_token_auth(auth_env: AuthEnv, user: tuple[str, str]) -> None:
    name, pw = user
    salt = secrets.token_hex(6)
    assert code(auth_env.http, u=name, t=token(pw, salt), s=salt, **BASE) is None
    assert code(auth_env.http, u=name, t=token(pw, salt).upper(), s=salt, **BASE) is None


def test_token_spec_worked_example(auth_env: AuthEnv) -> None:
    """password sesame, salt c19b2d → t=26719a1196d2a940705a59634eb18eab (spec §2.2)."""
    body = call(auth_env.http, "tokenInfo", u="joe", t="26719a1196d2a940705a59634eb18eab", s="c19b2d", **BASE)
    assert body["status"] == "ok" and body["tokenInfo"]["username"] == "joe"


def test_api_key(auth_env: AuthEnv) -> None:
    body = call(auth_env.http, "tokenInfo", apiKey=auth_env.api_key, **BASE)
    assert body["status"] == "ok" and body["tokenInfo"] == {"username": ALICE[0]}
    assert code(auth_env.http, apiKey=auth_env.api_key, **BASE) is None


def test_api_key_of_a_fresh_user(auth_env: AuthEnv) -> None:
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(auth_env.url) as conn:
            k = await users.create_api_key(conn, UTF8_USER[0])
            await conn.commit()
            return k

    key = asyncio.run(make())
    assert call(auth_env.http, "tokenInfo", apiKey=key, **BASE)["tokenInfo"]["username"] == UTF8_USER[0]


def test_hash_only_user_can_still_use_a_password(auth_env: AuthEnv) -> None:
    name, pw = HASH_ONLY
    assert code(auth_env.http, u=name, p=enc(pw), **BASE) is None  # checked against the argon2 hash
    assert code(auth_env.http, u=name, p="wrong", **BASE) == 40


def test_token_auth_off_still_accepts_passwords_and_keys(auth_env: AuthEnv) -> None:
    name, pw = ADMIN
    assert code(auth_env.no_token_http, u=name, p=pw, **BASE) is None
    assert code(auth_env.no_token_http, u=name, p=enc(pw), **BASE) is None
    assert code(auth_env.no_token_http, apiKey=auth_env.api_key, **BASE) is None


def test_dsub_protocol_1_2_0_is_accepted(dsub: Subsonic) -> None:
    r = dsub.raw("ping", fmt=None)  # DSub sends no f: XML, validated against the legacy XSD
    assert r.status_code == 200 and b'status="ok"' in r.content
    p = {"u": ADMIN[0], "p": enc(ADMIN[1]), "c": "DSub"}
    for v in ("1.2.0", "1.13.0", "1.16.0", "1.16.1", "1.16"):
        assert code(dsub.http, v=v, **p) is None, v


# ---------------------------------------------------------------- 10: missing parameters


@pytest.mark.parametrize("params", [
    pytest.param({"p": ADMIN[1], **BASE}, id="missing-u"),
    pytest.param({"u": "", "p": ADMIN[1], **BASE}, id="empty-u"),
    pytest.param({"u": ADMIN[0], **BASE}, id="missing-p"),
    pytest.param({"u": ADMIN[0], "p": "", **BASE}, id="empty-p"),
    pytest.param({"u": ADMIN[0], "t": token(ADMIN[1], "abcdef"), **BASE}, id="t-without-s"),
    pytest.param({"u": ADMIN[0], "s": "abcdef", **BASE}, id="s-without-t"),
    pytest.param({"u": ADMIN[0], "p": ADMIN[1], "c": "pytest"}, id="missing-v"),
    pytest.param({"u": ADMIN[0], "p": ADMIN[1], "v": "1.16.1"}, id="missing-c"),
    pytest.param({"u": ADMIN[0], "p": ADMIN[1], "v": "", "c": "pytest"}, id="empty-v"),
    pytest.param({}, id="nothing"),
])
def test_missing_parameter_is_10(auth_env: AuthEnv, params: dict[str, str]) -> None:
    assert code(auth_env.http, **params) == 10


def test_ping_without_credentials_is_10(app_http: Any) -> None:
    r = app_http.get("/rest/ping.view")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert b'status="failed"' in r.content and b'code="10"' in r.content


# ---------------------------------------------------------------- 20 / 30: protocol version


@pytest.mark.parametrize("v, expected", [("0.9.0", 20), ("2.0.0", 30), ("1.17.0", 30), ("1.99.0", 30),
                                         ("1.16.9", None), ("1.0.0", None), ("1.2.0", None)])
def test_protocol_version(auth_env: AuthEnv, v: str, expected: int | None) -> None:
    assert code(auth_env.http, u=ADMIN[0], p=ADMIN[1], v=v, c="pytest") == expected


def test_version_is_checked_before_credentials(auth_env: AuthEnv) -> None:
    assert code(auth_env.http, u=ADMIN[0], p="wrong", v="2.0.0", c="pytest") == 30


# ---------------------------------------------------------------- 40: wrong credentials


@pytest.mark.parametrize("params", [
    pytest.param({"u": ADMIN[0], "p": "wrong"}, id="wrong-password"),
    pytest.param({"u": ADMIN[0], "p": ADMIN[1].upper()}, id="case-matters"),
    pytest.param({"u": ADMIN[0], "p": enc("wrong")}, id="wrong-enc"),
    pytest.param({"u": ADMIN[0], "p": "enc:zz"}, id="bad-enc-hex"),
    pytest.param({"u": ADMIN[0], "p": "enc:abc"}, id="odd-enc-hex"),
    pytest.param({"u": ADMIN[0], "p": "enc:ff"}, id="enc-not-utf8"),
    pytest.param({"u": "nobody", "p": ADMIN[1]}, id="unknown-user"),
    pytest.param({"u": "Admin", "p": ADMIN[1]}, id="username-case"),
    pytest.param({"u": ADMIN[0], "t": token("wrong", "abcdef"), "s": "abcdef"}, id="wrong-token"),
    pytest.param({"u": ADMIN[0], "t": token(ADMIN[1], "abcdef"), "s": "abcdeg"}, id="wrong-salt"),
    pytest.param({"u": "nobody", "t": token(ADMIN[1], "abcdef"), "s": "abcdef"}, id="unknown-user-token"),
    pytest.param({"u": UTF8_USER[0], "p": "passwörd 密码"}, id="utf8-near-miss"),
])
def test_wrong_credentials_are_40(auth_env: AuthEnv, params: dict[str, str]) -> None:
    assert code(auth_env.http, **params, **BASE) == 40


@pytest.mark.parametrize("params", [
    pytest.param({"u": "ad\x00min", "p": ADMIN[1]}, id="nul-in-u"),
    pytest.param({"u": "ad\x00min", "t": token(ADMIN[1], "abcdef"), "s": "abcdef"}, id="nul-in-u-token"),
    pytest.param({"u": ADMIN[0], "p": ADMIN[1] + "\x00"}, id="nul-in-p"),
    pytest.param({"u": ADMIN[0], "p": enc(ADMIN[1] + "\x00")}, id="nul-in-enc"),
    pytest.param({"u": ADMIN[0], "t": token("wrong", "ab\x00"), "s": "ab\x00"}, id="nul-in-salt"),
])
def test_nul_in_credentials_is_40_not_an_internal_error(auth_env: AuthEnv, params: dict[str, str]) -> None:
    """PostgreSQL text cannot hold NUL; a lookup with one must still be a plain 40.
    (Sent as a form body: NUL cannot go into a URL through httpx.)"""
    r = auth_env.http.post("/rest/ping.view", content=urlencode({**params, **BASE, "f": "json"}),
                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.json()["subsonic-response"]["error"]["code"] == 40, r.text


def test_salt_is_any_text(auth_env: AuthEnv) -> None:
    salt = "sälz \x00 密"
    r = auth_env.http.post("/rest/ping.view", content=urlencode(
        {"u": ADMIN[0], "t": token(ADMIN[1], salt), "s": salt, **BASE, "f": "json"}),
        headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.json()["subsonic-response"]["status"] == "ok", r.text


# ---------------------------------------------------------------- 41: no token auth


def test_token_auth_disabled_by_settings_is_41(auth_env: AuthEnv) -> None:
    salt = "abcdef"
    body = call(auth_env.no_token_http, u=ADMIN[0], t=token(ADMIN[1], salt), s=salt, **BASE)
    assert body["error"]["code"] == 41
    assert body["error"].get("helpUrl", "").startswith("http")


def test_token_for_user_without_recoverable_password_is_41(auth_env: AuthEnv) -> None:
    name, pw = HASH_ONLY
    assert code(auth_env.http, u=name, t=token(pw, "abcdef"), s="abcdef", **BASE) == 41


# ---------------------------------------------------------------- 43 / 44: API keys, conflicts


@pytest.mark.parametrize("extra", [
    pytest.param({"u": ALICE[0]}, id="apiKey+u"),
    pytest.param({"p": ALICE[1]}, id="apiKey+p"),
    pytest.param({"u": ALICE[0], "p": ALICE[1]}, id="apiKey+u+p"),
    pytest.param({"t": token(ALICE[1], "abcdef"), "s": "abcdef"}, id="apiKey+t+s"),
])
def test_api_key_with_other_credentials_is_43(auth_env: AuthEnv, extra: dict[str, str]) -> None:
    assert code(auth_env.http, apiKey=auth_env.api_key, **extra, **BASE) == 43


@pytest.mark.parametrize("extra", [
    pytest.param({"t": token(ADMIN[1], "abcdef"), "s": "abcdef"}, id="p+t+s"),
    pytest.param({"t": token(ADMIN[1], "abcdef")}, id="p+t"),
])
def test_password_with_token_is_43(auth_env: AuthEnv, extra: dict[str, str]) -> None:
    assert code(auth_env.http, u=ADMIN[0], p=ADMIN[1], **extra, **BASE) == 43


@pytest.mark.parametrize("key", ["not-a-key", "x" * 43, ""])
def test_invalid_api_key_is_44(auth_env: AuthEnv, key: str) -> None:
    body = call(auth_env.http, apiKey=key, **BASE)
    assert body["error"]["code"] == 44


def test_revoked_api_key_is_44(auth_env: AuthEnv) -> None:
    async def make_and_revoke() -> str:
        async with await psycopg.AsyncConnection.connect(auth_env.url) as conn:
            k = await users.create_api_key(conn, JOE[0], "short-lived")
            await conn.commit()
            return k

    async def revoke() -> None:
        async with await psycopg.AsyncConnection.connect(auth_env.url) as conn:
            (key_id, *_), = await users.list_api_keys(conn, JOE[0])
            await users.revoke_api_key(conn, JOE[0], key_id)
            await conn.commit()

    key = asyncio.run(make_and_revoke())
    assert code(auth_env.http, apiKey=key, **BASE) is None
    asyncio.run(revoke())
    assert code(auth_env.http, apiKey=key, **BASE) == 44


# ---------------------------------------------------------------- 50: not authorised


def test_non_admin_start_scan_is_50(api: Subsonic) -> None:
    api.as_user(*ALICE).fail("startScan", 50)


def test_get_user_of_another_user_is_50_for_non_admins(api: Subsonic) -> None:
    alice = api.as_user(*ALICE)
    alice.fail("getUser", 50, username=ADMIN[0])
    assert alice.ok("getUser", username=ALICE[0])["user"]["username"] == ALICE[0]
    assert alice.ok("getUser")["user"]["adminRole"] is False
    assert api.ok("getUser", username=ALICE[0])["user"]["username"] == ALICE[0]  # admins may


# ---------------------------------------------------------------- 70: not found


@pytest.mark.parametrize("method, params", [
    ("getAlbum", {"id": "al-zzzzzz"}),
    ("getAlbum", {"id": "garbage"}),
    ("getAlbum", {"id": "tr-1"}),          # an id of another kind
    ("getArtist", {"id": "ar-zzzzzz"}),
    ("getSong", {"id": "tr-zzzzzz"}),
    ("getSong", {"id": "al-1;al-2"}),
    ("getMusicDirectory", {"id": "dr-zzzzzz"}),
    ("getUser", {"username": "nobody"}),
])
def test_unknown_ids_are_70(api: Subsonic, method: str, params: dict[str, str]) -> None:
    api.fail(method, 70, **params)


# ---------------------------------------------------------------- no credentials needed


def test_open_subsonic_extensions_without_any_credentials(app_http: Any) -> None:
    client = Subsonic(app_http)
    xml = client.raw("getOpenSubsonicExtensions", fmt=None, auth=False)  # no u, p, v, c or f
    assert xml.status_code == 200 and b'status="ok"' in xml.content
    body = client.raw("getOpenSubsonicExtensions", fmt="json", auth=False).json()["subsonic-response"]
    assert body["status"] == "ok"
    names = {e["name"]: e["versions"] for e in body["openSubsonicExtensions"]}
    assert names["formPost"] == [1] and names["apiKeyAuthentication"] == [1]
    # with wrong credentials it still answers (it ignores them)
    wrong = client.raw("getOpenSubsonicExtensions", fmt="json", auth=False, u="nobody", p="x")
    assert wrong.json()["subsonic-response"]["status"] == "ok"


def test_auth_errors_are_http_200_envelopes_in_every_format(auth_env: AuthEnv) -> None:
    q = {"u": ADMIN[0], "p": "wrong", **BASE}
    for f, ctype in (("xml", "text/xml"), ("json", "application/json"), ("jsonp", "application/javascript")):
        r = auth_env.http.get("/rest/ping.view", params={**q, "f": f, "callback": "cb"})
        assert r.status_code == 200 and r.headers["content-type"].startswith(ctype), (f, r.headers)
        assert b"40" in r.content


# ---------------------------------------------------------------- API keys under concurrency


def test_parallel_requests_with_one_api_key_do_not_wait_for_each_other(auth_env: AuthEnv) -> None:
    """Recording a key's last use must not lock its row for the rest of the request: a
    client firing requests in parallel (Symfonium, Feishin) would be served one at a time."""

    async def go() -> tuple[str | None, str | None]:
        async with await psycopg.AsyncConnection.connect(auth_env.url) as first, \
                await psycopg.AsyncConnection.connect(auth_env.url) as second:
            key = await users.create_api_key(first, ALICE[0], "parallel")  # never used yet
            await first.commit()
            await second.execute("SET lock_timeout = '2s'")
            held = await users.get_by_api_key(first, key)  # its transaction stays open
            other = await users.get_by_api_key(second, key)  # another request, meanwhile
            await first.rollback()
            await second.rollback()
            return (held.username if held else None), (other.username if other else None)

    assert asyncio.run(go()) == (ALICE[0], ALICE[0])


def test_api_key_use_is_recorded(auth_env: AuthEnv) -> None:
    async def make() -> str:
        async with await psycopg.AsyncConnection.connect(auth_env.url) as conn:
            k = await users.create_api_key(conn, JOE[0], "recorded")
            await conn.commit()
            return k

    async def last_used() -> list[Any]:
        async with await psycopg.AsyncConnection.connect(auth_env.url) as conn:
            return [row[3] for row in await users.list_api_keys(conn, JOE[0]) if row[1] == "recorded"]

    key = asyncio.run(make())
    assert asyncio.run(last_used()) == [None]
    assert code(auth_env.http, apiKey=key, **BASE) is None
    (used,) = asyncio.run(last_used())
    assert used is not None
