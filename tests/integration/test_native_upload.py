"""Uploads (docs/native-api.md "Upload") through the real app on a music folder of the test's own:
a real FLAC is uploaded, validated, renamed into the upload folder and scanned; refused
uploads (not audio, too large, no upload role, interrupted) leave nothing behind."""

from __future__ import annotations

import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from tests.conftest import LiveServer, add_users, make_app, users_sql
from tests.integration.native_client import api_key_for
from tests.integration.test_native_playlists import Checked


@pytest.fixture
def music(tmp_path: Path, test_library: tuple[Path, Any]) -> Path:
    root = tmp_path / "music"
    root.mkdir()
    src = next(iter(sorted(test_library[0].rglob("*.flac"))))
    shutil.copy(src, root / "seed.flac")
    return root


@pytest.fixture
def flac(test_library: tuple[Path, Any]) -> bytes:
    return next(iter(sorted(test_library[0].rglob("*.flac")))).read_bytes()


@pytest.fixture
def db(fresh_db: str, tmp_path: Path) -> str:
    add_users(fresh_db, tmp_path)
    return fresh_db


@pytest.fixture
def client(db: str, music: Path, tmp_path: Path) -> Iterator[Checked]:
    with TestClient(make_app(db, tmp_path / "data", (music,), upload_max_mb=1)) as http:
        c = Checked(http, api_key_for(db, "admin"))
        c.db = db  # type: ignore[attr-defined]
        yield c


def api_key_for_db(client: Checked, user: str = "alice") -> str:
    """A key for `user`, given the upload role."""
    with psycopg.connect(client.db) as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE users SET can_upload = true WHERE username = %s", (user,))
    return api_key_for(client.db, user)  # type: ignore[attr-defined]


def leftovers(music: Path) -> list[str]:
    up = music / "Uploads"
    return sorted(p.name for p in up.iterdir()) if up.exists() else []


def test_upload_raw_body_is_scanned_and_playable(client: Checked, music: Path, flac: bytes, db: str) -> None:
    if len(flac) > 1024 * 1024:
        pytest.skip("test FLAC larger than the 1 MB cap of this app")
    t = client.ok(
        "POST",
        "/uploads",
        201,
        content=flac,
        headers={"X-Orb-Filename": "My Song.flac", "content-type": "audio/flac"},
    )
    assert t["id"].startswith("tr-") and t["codec"] == "flac" and t["durationMs"] > 0
    assert leftovers(music) == ["My Song.flac"] and (music / "Uploads" / "My Song.flac").read_bytes() == flac
    # the same name again: a suffix, no overwrite; path parts are dropped
    t2 = client.ok("POST", "/uploads", 201, content=flac, headers={"X-Orb-Filename": "../../My Song.flac"})
    assert t2["id"] != t["id"]
    t3 = client.ok("POST", "/uploads", 201, content=flac, headers={"X-Orb-Filename": "..\\..\\etc\\.x.flac"})
    assert t3["id"] not in (t["id"], t2["id"])
    assert leftovers(music) == ["My Song (2).flac", "My Song.flac", "x.flac"]
    assert not (music.parent / "My Song.flac").exists()
    with psycopg.connect(db) as conn:
        paths = {r[0] for r in conn.execute("SELECT path FROM tracks").fetchall()}
    assert {"Uploads/My Song.flac", "Uploads/My Song (2).flac", "Uploads/x.flac", "seed.flac"} <= paths
    # multipart
    resp = client.http.post(
        "/api/v1/uploads", files={"file": ("Multi.flac", flac, "audio/flac")}, headers=client.headers()
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["title"] and "Multi.flac" in leftovers(music)


def test_refused_uploads_leave_nothing(client: Checked, music: Path) -> None:
    body = client.problem(
        "POST", "/uploads", 415, content=b"not audio at all" * 100, headers={"X-Orb-Filename": "fake.flac"}
    )
    assert "not an audio file" in body["detail"]
    assert (
        client.problem(
            "POST",
            "/uploads",
            413,
            content=b"\0" * (1024 * 1024 + 10),
            headers={"X-Orb-Filename": "big.flac"},
        )["code"]
        == "too-large"
    )

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies to the stream itself
        for _ in range(20):
            yield b"\0" * 65536

    r = client.http.post(
        "/api/v1/uploads", content=chunks(), headers=client.headers({"X-Orb-Filename": "big2.flac"})
    )
    assert r.status_code == 413
    assert client.problem("POST", "/uploads", 400, content=b"x", headers={"X-Orb-Filename": "notes.txt"})
    assert client.problem("POST", "/uploads", 400, content=b"x", headers={"X-Orb-Filename": "...."})
    assert client.problem("POST", "/uploads", 400, content=b"x")["errors"][0]["field"] == "X-Orb-Filename"
    assert leftovers(music) == []


def test_upload_role_and_disabled(db: str, music: Path, tmp_path: Path, flac: bytes) -> None:
    with psycopg.connect(db) as conn:
        conn.execute("UPDATE users SET can_upload = false WHERE username = 'alice'")
    with TestClient(make_app(db, tmp_path / "d1", (music,))) as http:
        alice = Checked(http, api_key_for(db, "alice"))
        assert (
            alice.problem("POST", "/uploads", 403, content=flac, headers={"X-Orb-Filename": "a.flac"})["code"]
            == "forbidden"
        )
        # the upload role, but no access to the music folder holding the upload folder
        users_sql(db, "UPDATE users SET can_upload = true, folder_ids = '{}' WHERE username = 'alice'")
        body = alice.problem("POST", "/uploads", 403, content=flac, headers={"X-Orb-Filename": "a.flac"})
        assert "outside your music folders" in body["detail"]
    with TestClient(make_app(db, tmp_path / "d2", (music,), upload_dir="off")) as http:
        admin = Checked(http, api_key_for(db, "admin"))
        assert (
            "turned off"
            in admin.problem("POST", "/uploads", 503, content=flac, headers={"X-Orb-Filename": "a.flac"})[
                "detail"
            ]
        )
    with TestClient(make_app(db, tmp_path / "d3", (music,), upload_dir=str(tmp_path / "elsewhere"))) as http:
        admin = Checked(http, api_key_for(db, "admin"))
        assert (
            "not inside a music folder"
            in admin.problem("POST", "/uploads", 503, content=flac, headers={"X-Orb-Filename": "a.flac"})[
                "detail"
            ]
        )
    assert leftovers(music) == []


def test_interrupted_upload_leaves_nothing(db: str, music: Path, tmp_path: Path, flac: bytes) -> None:
    key = api_key_for(db, "admin")
    with LiveServer(make_app(db, tmp_path / "data", (music,))) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as s:
            s.sendall(
                (
                    f"POST /api/v1/uploads HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
                    f"X-Orb-Filename: cut.flac\r\nContent-Length: {len(flac) * 4}\r\n\r\n"
                ).encode()
            )
            s.sendall(flac[: len(flac) // 2])
            time.sleep(0.5)
        deadline = time.monotonic() + 10
        while leftovers(music) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert leftovers(music) == []


def test_resumable_session(client: Checked, music: Path, flac: bytes) -> None:
    half = len(flac) // 2
    s = client.ok("POST", "/uploads/sessions", 201,
                  json={"filename": "sub/../Chunked.flac", "size": len(flac)})
    assert s["offset"] == 0 and s["filename"] == "Chunked.flac" and s["track"] is None
    path, route = f"/uploads/sessions/{s['id']}", "/uploads/sessions/{session_id}"
    s1 = client.ok("PATCH", path, content=flac[:half], headers={"Upload-Offset": "0"}, route=route)
    assert s1["offset"] == half and s1["track"] is None
    body = client.problem("PATCH", path, 409, content=flac[half:], headers={"Upload-Offset": "0"})
    assert str(half) in body["detail"]
    assert client.problem("PATCH", path, 400, content=b"x")["errors"][0]["field"] == "Upload-Offset"
    assert client.ok("GET", path, route=route)["offset"] == half
    # in progress: only the hidden part file, which the scanner's walk skips
    assert [n for n in leftovers(music) if not n.startswith(".orb-upload-")] == []
    done = client.ok("PATCH", path, content=flac[half:], headers={"Upload-Offset": str(half)}, route=route)
    assert done["offset"] == len(flac) and done["track"]["id"].startswith("tr-")
    assert leftovers(music) == ["Chunked.flac"] and (music / "Uploads" / "Chunked.flac").read_bytes() == flac
    assert client.problem("GET", path, 404)
    # other users never see a session
    other = client.ok("POST", "/uploads/sessions", 201, json={"filename": "x.flac", "size": 10})
    alice = Checked(client.http, api_key_for_db(client))
    assert alice.problem("GET", f"/uploads/sessions/{other['id']}", 404)
    assert client.ok("DELETE", f"/uploads/sessions/{other['id']}", 204) is None
    assert client.problem("GET", f"/uploads/sessions/{other['id']}", 404)


def test_resumable_refusals_leave_nothing(client: Checked, music: Path) -> None:
    assert client.problem("POST", "/uploads/sessions", 413, json={"filename": "x.flac", "size": 10**9})
    assert client.problem("POST", "/uploads/sessions", 400, json={"filename": "x.exe", "size": 10})
    assert client.problem("POST", "/uploads/sessions", 422, json={"filename": "x.flac", "size": 0})
    s = client.ok("POST", "/uploads/sessions", 201, json={"filename": "fake.flac", "size": 100})
    path = f"/uploads/sessions/{s['id']}"
    assert client.problem("PATCH", path, 413, content=b"\0" * 101, headers={"Upload-Offset": "0"})
    assert client.ok("GET", path, route="/uploads/sessions/{session_id}")["offset"] == 0
    assert client.problem("PATCH", path, 415, content=b"\0" * 100, headers={"Upload-Offset": "0"})
    assert client.problem("GET", path, 404)
    assert leftovers(music) == []


def test_abandoned_sessions_are_dropped(client: Checked, music: Path) -> None:
    old = client.ok("POST", "/uploads/sessions", 201, json={"filename": "old.flac", "size": 10})
    with psycopg.connect(client.db) as conn:  # type: ignore[attr-defined]
        conn.execute("UPDATE upload_sessions SET created_at = now() - interval '2 days' WHERE id = %s",
                     (old["id"],))
    assert len(leftovers(music)) == 1
    new = client.ok("POST", "/uploads/sessions", 201, json={"filename": "new.flac", "size": 10})
    assert client.problem("GET", f"/uploads/sessions/{old['id']}", 404)
    assert leftovers(music) == [f".orb-upload-{new['id']}.part"]
