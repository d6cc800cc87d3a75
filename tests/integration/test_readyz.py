"""/readyz and /healthz: every readiness branch, as a load balancer or Kubernetes sees it.

The database-down branch is tested with a real stop of PostgreSQL in test_db_faults.py; here
the schema branches, on a database of the test's own whose schema changes under the server.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.db.migrate import migrations
from tests.conftest import make_app

NEWEST = migrations()[-1].version


@pytest.fixture
def http(fresh_db: str, tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(fresh_db, tmp_path / "data")) as client:
        yield client


def _problem(r: Any, code: str) -> dict[str, Any]:
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == "about:blank" and body["title"] == "Service Unavailable" and body["status"] == 503
    assert body["code"] == code and body["detail"]
    return body


def test_ready_with_the_newest_schema(http: TestClient) -> None:
    r = http.get("/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready", "schema": NEWEST}
    assert http.head("/readyz").status_code == 200
    assert http.get("/healthz").json() == {"status": "ok"}


def test_schema_too_old(http: TestClient, fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        conn.execute("DELETE FROM schema_migrations WHERE version = %s", (NEWEST,))
    body = _problem(http.get("/readyz"), "schema-too-old")
    assert f"needs {NEWEST}" in body["detail"]
    assert http.get("/healthz").status_code == 200


def test_schema_too_new(http: TestClient, fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, 'from_the_future')",
                     (NEWEST + 100,))
    body = _problem(http.get("/readyz"), "schema-too-new")
    assert "upgrade Orbsonic" in body["detail"]


def test_schema_table_gone(http: TestClient, fresh_db: str) -> None:
    with psycopg.connect(fresh_db) as conn:
        conn.execute("DROP TABLE schema_migrations")
    _problem(http.get("/readyz"), "schema-too-old")
