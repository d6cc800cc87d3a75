"""The bundled web client at `/` (issue 10): SPA fallback, cache headers, API paths never
shadowed, and a helpful page when no build exists. Uses a tiny fake build directory (no node)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.conftest import make_app

INDEX = '<!doctype html><title>Orbsonic</title><script type="module" src="/assets/index-abc123.js"></script>'


@pytest.fixture
def fake_build(tmp_path: Path) -> Path:
    root = tmp_path / "build"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log('orb')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    return root


def client(monkeypatch: pytest.MonkeyPatch, fresh_db: str, tmp_path: Path, root: Path) -> Iterator[Any]:
    monkeypatch.setenv("ORBSONIC_WEBCLIENT_DIR", str(root))
    with TestClient(make_app(fresh_db, tmp_path / "data")) as http:
        yield http


@pytest.fixture
def http(monkeypatch: pytest.MonkeyPatch, fresh_db: str, tmp_path: Path, fake_build: Path) -> Iterator[Any]:
    yield from client(monkeypatch, fresh_db, tmp_path, fake_build)


def test_index_is_served_at_root_with_no_cache(http: Any) -> None:
    r = http.get("/")
    assert r.status_code == 200
    assert r.text == INDEX
    assert r.headers["content-type"].startswith("text/html")
    assert r.headers["cache-control"] == "no-cache"


@pytest.mark.parametrize("path", ["/albums", "/album/al-123", "/deep/link/x?y=1", "/index.html"])
def test_unknown_client_paths_fall_back_to_index(http: Any, path: str) -> None:
    r = http.get(path)
    assert r.status_code == 200 and r.text == INDEX
    assert r.headers["cache-control"] == "no-cache"


def test_hashed_assets_are_immutable(http: Any) -> None:
    r = http.get("/assets/index-abc123.js")
    assert r.status_code == 200 and r.text == "console.log('orb')"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "javascript" in r.headers["content-type"]
    assert http.head("/assets/index-abc123.js").status_code == 200


def test_missing_asset_is_404_not_index(http: Any) -> None:
    assert http.get("/assets/nope-000.js").status_code == 404


def test_top_level_static_file(http: Any) -> None:
    r = http.get("/favicon.svg")
    assert r.status_code == 200 and r.text == "<svg/>"


def test_no_escape_from_the_build_dir(http: Any) -> None:
    for path in ("/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"):
        r = http.get(path)
        assert "outside the build" not in r.text, path


def test_api_paths_are_not_shadowed(http: Any) -> None:
    assert http.get("/healthz").json() == {"status": "ok"}
    # An unknown native route is the API's 404, never the SPA's index.html.
    r = http.get("/api/v1/no-such-route")
    assert r.status_code == 404 and INDEX not in r.text
    r = http.get("/rest/ping", params={"f": "json"})
    assert "subsonic-response" in r.text
    assert http.get("/api/nothing").status_code == 404
    assert INDEX not in http.get("/rest/nothing").text


def test_without_a_build_root_explains_how_to_build(
    monkeypatch: pytest.MonkeyPatch, fresh_db: str, tmp_path: Path
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for http in client(monkeypatch, fresh_db, tmp_path, empty):
        r = http.get("/")
        assert r.status_code == 200
        assert "npm run build" in r.text and "scripts/setup" in r.text
        assert http.get("/albums").status_code == 200
