"""The native API's framework (native_api/registry.py, dispatch.py, openapi.py): bearer auth,
problem+json errors, body and query validation, Idempotency-Key, cursors, the OpenAPI document."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from native_api.pagination import decode_cursor, encode_cursor
from native_api.registry import ROUTES
from orbsonic.errors import BadParam
from tests.conftest import ADMIN, ALICE
from tests.integration.native_client import Native, api_key_for
import contextlib


@pytest.fixture(scope="module")
def admin(app_http: Any, library_db: str) -> Native:
    return Native(app_http, api_key_for(library_db, ADMIN[0]))


@pytest.fixture(scope="module")
def alice(app_http: Any, library_db: str) -> Native:
    return Native(app_http, api_key_for(library_db, ALICE[0]))


def test_me_with_an_api_key(admin: Native, alice: Native) -> None:
    me = admin.ok("GET", "/me")
    assert me["username"] == "admin" and me["admin"] is True and "stream" in me["roles"]
    me = alice.ok("GET", "/me")
    assert me["username"] == "alice" and me["admin"] is False and me["folders"] is None


def test_missing_and_wrong_credentials_are_401_problems(app_http: Any) -> None:
    anon = Native(app_http, None)
    body = anon.problem("GET", "/me", 401)
    assert body["code"] == "unauthorized"
    assert Native(app_http, "not-a-key").problem("GET", "/me", 401)["code"] == "unauthorized"
    assert Native(app_http, "x" * 10000).problem("GET", "/me", 401)
    r = anon.call("GET", "/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


def test_unknown_routes_and_methods_are_problems(admin: Native) -> None:
    assert admin.problem("GET", "/no-such-thing", 404)["code"] == "not-found"
    body = admin.problem("PATCH", "/me", 405)
    assert body["code"] == "method-not-allowed"


def test_a_path_starlette_cannot_match_is_still_a_problem(admin: Native) -> None:
    """A newline in a path segment matches no Starlette pattern, not even the catch-all
    (schemathesis found `DELETE /api/v1/auth/sessions/%0A…` answered in plain text)."""
    for method in ("GET", "DELETE"):
        assert admin.problem(method, "/api-keys/%0A7", 404)["code"] == "not-found"
    assert admin.problem("GET", "/%0A", 404)["code"] == "not-found"


def test_nul_characters_are_refused_not_stored(admin: Native) -> None:
    """PostgreSQL text cannot hold NUL: a body or query string with one is a 422 naming the
    field, never a 500 (schemathesis found POST /api-keys {"name": "a\\u0000b"})."""
    body = admin.problem("POST", "/api-keys", 422, json={"name": "a\x00b"})
    assert body["errors"][0]["field"] == "name"
    assert admin.problem("GET", "/sync", 422, params={"since": "1\x00"})["errors"][0]["field"] == "since"
    key = admin.ok("POST", "/api-keys", 201, json={"name": "back\\u0000slash"})  # the text, not a NUL
    assert key["name"] == "back\\u0000slash"


def test_body_validation_names_the_field(admin: Native) -> None:
    body = admin.problem("POST", "/api-keys", 422, json={"name": 5})
    assert body["errors"][0]["field"] == "name"
    body = admin.problem("POST", "/api-keys", 422, json={"name": "x", "colour": "red"})
    assert body["errors"][0]["field"] == "colour"
    body = admin.problem("POST", "/api-keys", 400, content=b"{not json",
                         headers={"content-type": "application/json"})
    assert "JSON" in body["detail"]
    body = admin.problem("POST", "/api-keys", 400, content=b"name=x",
                         headers={"content-type": "application/x-www-form-urlencoded"})
    assert body["errors"][0]["field"] == "body"


def test_body_cap_applies_to_chunked_bodies(admin: Native) -> None:
    def chunks():
        for _ in range(40):
            yield b" " * 65536

    r = admin.http.post("/api/v1/api-keys", content=chunks(), headers=admin.headers(
        {"content-type": "application/json"}))
    assert r.status_code == 400 and "larger than" in r.json()["detail"]


def test_api_keys_create_list_revoke(alice: Native, app_http: Any) -> None:
    created = alice.ok("POST", "/api-keys", 201, json={"name": "phone"})
    assert created["name"] == "phone" and len(created["key"]) >= 40
    listed = alice.ok("GET", "/api-keys")
    assert any(k["id"] == created["id"] and "key" not in k for k in listed)
    assert Native(app_http, created["key"]).ok("GET", "/me")["username"] == "alice"
    alice.ok("DELETE", f"/api-keys/{created['id']}", 204)
    assert Native(app_http, created["key"]).problem("GET", "/me", 401)
    alice.problem("DELETE", f"/api-keys/{created['id']}", 404)
    alice.problem("DELETE", "/api-keys/²", 400)
    alice.problem("DELETE", "/api-keys/" + "9" * 5000, 400)


def test_idempotency_key_applies_a_write_once(alice: Native) -> None:
    before = len(alice.ok("GET", "/api-keys"))
    h = {"Idempotency-Key": "create-tablet-1"}
    first = alice.call("POST", "/api-keys", json={"name": "tablet"}, headers=h)
    second = alice.call("POST", "/api-keys", json={"name": "tablet"}, headers=h)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() and second.headers["idempotent-replayed"] == "true"
    assert len(alice.ok("GET", "/api-keys")) == before + 1
    # the same key for another request is a conflict, not a silent replay
    assert alice.problem("DELETE", "/api-keys/1", 409, headers=h)["code"] == "conflict"
    assert alice.problem("POST", "/api-keys", 400, json={}, headers={"Idempotency-Key": "x" * 300})


def test_concurrent_retries_with_one_key_apply_once(app_http: Any, library_db: str) -> None:
    client = Native(app_http, api_key_for(library_db, ALICE[0], "concurrency"))
    before = len(client.ok("GET", "/api-keys"))
    results: list[Any] = []

    def post() -> None:
        r = client.call("POST", "/api-keys", json={"name": "race"}, headers={"Idempotency-Key": "race-1"})
        results.append((r.status_code, r.json()["id"]))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r for r in results}) == 1 and results[0][0] == 201
    assert len(client.ok("GET", "/api-keys")) == before + 1


def test_openapi_document_lists_every_route(app_http: Any) -> None:
    doc = app_http.get("/api/v1/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    for r in ROUTES:
        op = doc["paths"]["/api/v1" + r.path][r.method.lower()]
        assert op["operationId"] == r.handler.__name__ and op["summary"]
    assert "Problem" in doc["components"]["schemas"]
    from jsonschema import Draft202012Validator

    for _name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


def test_every_mounted_route_is_documented(app_http: Any) -> None:
    """What the app really serves under /api/v1 (not only the registry) is in the document,
    and operation ids are unique (schemathesis and client generators key on them)."""
    from starlette.routing import Mount

    doc = app_http.get("/api/v1/openapi.json").json()
    mount = next(r for r in app_http.app.routes if isinstance(r, Mount) and r.path == "/api/v1")
    served = [r.path for r in mount.routes if r.path not in ("/openapi.json", "/{rest:path}")]
    assert served and all("/api/v1" + p in doc["paths"] for p in served), served
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids)) == len(ROUTES)


def test_extra_responses_must_be_other_successes() -> None:
    from native_api.registry import route

    async def h(ctx: Any) -> None: ...

    for bad in ({200: None}, {404: None}, {100: None}):
        with pytest.raises(ValueError, match="extra response"):
            route("GET", "/never-registered", summary="x", tag="x", responses=bad)(h)
    assert not any(r.path == "/never-registered" for r in ROUTES)


@given(st.lists(st.one_of(st.integers(-2**62, 2**62), st.text(max_size=30), st.none()),
                min_size=1, max_size=4))
def test_cursor_round_trip(key: list[Any]) -> None:
    assert decode_cursor(encode_cursor("name", key), "name", len(key)) == tuple(key)


@given(st.text(max_size=200))
def test_cursor_garbage_is_bad_param(text: str) -> None:
    with contextlib.suppress(BadParam):
        decode_cursor(text, "name", 2)


def test_cursor_of_another_sort_is_refused() -> None:
    with pytest.raises(BadParam):
        decode_cursor(encode_cursor("name", ["a", 1]), "year", 2)
    with pytest.raises(BadParam):
        decode_cursor(encode_cursor("name", ["a", 1]), "name", 3)
    assert decode_cursor(None, "name", 2) is None and decode_cursor("", "name", 2) is None


def test_the_app_can_be_built_twice(library_db: str, tmp_path: Any) -> None:
    """native_api.routes() is called by every create_app (tests build many apps)."""
    import native_api
    from tests.conftest import make_app

    make_app(library_db, tmp_path)
    make_app(library_db, tmp_path)
    assert callable(native_api.routes)
