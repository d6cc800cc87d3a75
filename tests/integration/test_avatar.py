"""getAvatar: an image set with `orbsonic user avatar NAME FILE` (run as a user would), then
served by the app on the same database."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from starlette.testclient import TestClient

from tests.conftest import ADMIN, SECRET, Subsonic, add_users, make_app


def orbsonic(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "orbsonic", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def env(fresh_db: str, tmp_path: Path) -> dict[str, str]:
    add_users(fresh_db, tmp_path)
    return {**os.environ, "DATABASE_URL": fresh_db, "ORBSONIC_DATA_DIR": str(tmp_path / "data"),
            "ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOG_LEVEL": "warning"}


def test_avatar_set_with_the_cli_is_served(env: dict[str, str], fresh_db: str, tmp_path: Path) -> None:
    png = tmp_path / "me.png"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(png)
    r = orbsonic("user", "avatar", "alice", str(png), env=env)
    assert r.returncode == 0 and "image/png" in r.stdout, r.stderr
    jpg = tmp_path / "boss.jpg"
    Image.new("RGB", (20, 20), "blue").save(jpg)
    assert orbsonic("user", "avatar", ADMIN[0], str(jpg), env=env).returncode == 0

    with TestClient(make_app(fresh_db, tmp_path / "app")) as http:
        api = Subsonic(http)
        r = api.raw("getAvatar", username="alice")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        assert r.content == png.read_bytes()  # served as set
        assert Image.open(io.BytesIO(r.content)).size == (40, 30)
        alice = api.as_user("alice", "alice-pass")  # every user sees every avatar
        r = alice.raw("getAvatar", username=ADMIN[0], fmt="xml")
        assert r.headers["content-type"] == "image/jpeg" and r.content == jpg.read_bytes()
        api.fail("getAvatar", 70, username="nobody")
        api.fail("getAvatar", 10)

    # replacing works; the old image is gone
    Image.new("RGB", (8, 8), "red").save(png)
    assert orbsonic("user", "avatar", "alice", str(png), env=env).returncode == 0
    with TestClient(make_app(fresh_db, tmp_path / "app")) as http:
        assert Subsonic(http).raw("getAvatar", username="alice").content == png.read_bytes()


def test_avatar_without_one_is_not_found(api: Subsonic) -> None:
    api.fail("getAvatar", 70, username="alice")


def test_avatar_cli_refuses_what_is_not_an_image(env: dict[str, str], tmp_path: Path) -> None:
    text = tmp_path / "not.png"
    text.write_text("hello")
    r = orbsonic("user", "avatar", "alice", str(text), env=env)
    assert r.returncode == 2 and "not an image" in r.stderr
    big = tmp_path / "big.bmp"
    big.write_bytes(b"BM" + b"\0" * (3 * 1024 * 1024))
    r = orbsonic("user", "avatar", "alice", str(big), env=env)
    assert r.returncode == 2 and "larger than 2 MB" in r.stderr
    bmp = tmp_path / "small.bmp"
    Image.new("RGB", (4, 4)).save(bmp)
    r = orbsonic("user", "avatar", "alice", str(bmp), env=env)
    assert r.returncode == 2 and "BMP" in r.stderr
    png = tmp_path / "ok.png"
    Image.new("RGB", (4, 4)).save(png)
    r = orbsonic("user", "avatar", "nobody", str(png), env=env)
    assert r.returncode == 2 and "not found" in r.stderr
    r = orbsonic("user", "avatar", "alice", str(tmp_path / "missing.png"), env=env)
    assert r.returncode == 2 and "cannot read" in r.stderr
