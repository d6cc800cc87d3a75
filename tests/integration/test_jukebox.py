"""jukeboxControl driving a real mpv (--ao=null: it plays, silently, in real time) through
the validating client, on a small library of 30-second tracks made with ffmpeg."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orbsonic.jukebox import mpv
from tests.conftest import Subsonic, add_users, make_app, users_sql

MPV = shutil.which("mpv")
needs_mpv = pytest.mark.skipif(MPV is None, reason="mpv is not installed (scripts/setup test installs it)")
SECONDS = 30


@pytest.fixture(scope="module")
def jukebox_db(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    from orbsonic.scanner.scanner import scan
    from tests.conftest import clone_db

    root = tmp_path_factory.mktemp("jukebox") / "music"
    album = root / "Tone Artist" / "2001 - Tones"
    album.mkdir(parents=True)
    for n, hz in enumerate((220, 330, 440), 1):
        subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi",
                        "-i", f"sine=frequency={hz}:duration={SECONDS}",
                        "-metadata", f"title=Tone {hz}", "-metadata", "artist=Tone Artist",
                        "-metadata", "album=Tones", "-metadata", f"track={n}", "-q:a", "9",
                        str(album / f"{n:02d} Tone {hz}.mp3")], check=True)
    url = clone_db(pg, template_url)
    report = scan(url, [root], workers=1)
    assert report.added == 3 and not report.errors, report
    add_users(url, tmp_path_factory.mktemp("jukebox-users"))
    with psycopg.connect(url) as conn:  # alice gets the jukebox role, as an admin would grant it
        conn.execute("UPDATE users SET can_jukebox = true WHERE username = 'alice'")
    return url, root


@pytest.fixture
def juke(jukebox_db: tuple[str, Path], tmp_path: Path) -> Iterator[Subsonic]:
    from starlette.testclient import TestClient

    url, root = jukebox_db
    with psycopg.connect(url) as conn:  # each test starts with an empty jukebox
        conn.execute("UPDATE jukebox_state SET track_ids = '{}', current_index = -1, playing = false,"
                     " gain = 0.75")
    app = make_app(url, tmp_path, (root,), jukebox_enabled=True, jukebox_mpv=MPV or "mpv",
                   jukebox_audio_output="null")
    with TestClient(app) as client:
        yield Subsonic(client)
    assert not mpv.socket_of(tmp_path).exists() or not _answers(mpv.socket_of(tmp_path)), \
        "the server's mpv outlived the app"


def _answers(sock: Path) -> bool:
    import asyncio
    return asyncio.run(mpv.alive(sock))


def song_ids(client: Subsonic) -> list[str]:
    album = client.ok("getAlbumList2", type="alphabeticalByName")["albumList2"]["album"][0]
    return [s["id"] for s in client.ok("getAlbum", id=album["id"])["album"]["song"]]


def jb(client: Subsonic, action: str, fmt: str = "json", **params: Any) -> dict[str, Any]:
    """One validated jukeboxControl call that must succeed (actions are not idempotent)."""
    r = client.raw("jukeboxControl", fmt=fmt, action=action, **params)
    if fmt == "xml":
        assert b'status="ok"' in r.content, r.text[:300]
        return {}
    body = r.json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body["jukeboxPlaylist" if action == "get" else "jukeboxStatus"]


def wait_for(client: Subsonic, pred: Any, timeout: float = 10) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        st = jb(client, "status")
        if pred(st) or time.monotonic() > deadline:
            return st
        time.sleep(0.1)


@needs_mpv
def test_jukebox_plays_skips_and_sets_gain(juke: Subsonic) -> None:
    ids = song_ids(juke)
    assert jb(juke, "status") == {"currentIndex": -1, "playing": False, "gain": 0.75, "position": 0}
    jb(juke, "set", id=ids[:2])
    jb(juke, "add", "xml", id=ids[2])
    got = jb(juke, "get")
    assert [e["id"] for e in got["entry"]] == ids
    assert got["playing"] is False
    juke.ok("jukeboxControl", action="get")  # XML and JSON both validate

    st = jb(juke, "start")
    assert st["playing"] is True and st["currentIndex"] == 0
    st = wait_for(juke, lambda s: s["position"] >= 1)
    assert st["playing"] is True and st["currentIndex"] == 0 and st["position"] >= 1  # mpv's clock runs

    st = jb(juke, "skip", index=2, offset=10)
    assert st["currentIndex"] == 2 and st["playing"] is True
    assert 10 <= st["position"] < SECONDS

    st = jb(juke, "setGain", gain=0.25)
    assert st["gain"] == 0.25  # read back from mpv's volume
    assert jb(juke, "status")["gain"] == 0.25

    st = jb(juke, "stop")
    assert st["playing"] is False and st["currentIndex"] == 2
    paused_at = st["position"]
    time.sleep(1.2)
    assert jb(juke, "status")["position"] == paused_at  # stopped: the position holds
    st = jb(juke, "start")
    assert st["playing"] is True and st["currentIndex"] == 2 and st["position"] >= paused_at

    jb(juke, "remove", index=0)
    got = jb(juke, "get")
    assert [e["id"] for e in got["entry"]] == ids[1:]
    assert got["currentIndex"] == 1  # the playing song moved up one place

    jb(juke, "shuffle")
    assert sorted(e["id"] for e in jb(juke, "get")["entry"]) == sorted(ids[1:])
    jb(juke, "clear")
    got = jb(juke, "get")
    assert got.get("entry", []) == [] and got["currentIndex"] == -1 and got["playing"] is False


@needs_mpv
def test_jukebox_bad_input(juke: Subsonic) -> None:
    ids = song_ids(juke)
    juke.fail("jukeboxControl", 10)
    juke.fail("jukeboxControl", 0, action="dance")
    juke.fail("jukeboxControl", 70, action="add", id="tr-zzzzzz")
    juke.fail("jukeboxControl", 70, action="set", id="al-1")
    jb(juke, "set", id=ids)
    juke.fail("jukeboxControl", 10, action="skip")
    juke.fail("jukeboxControl", 10, action="skip", index=3)
    juke.fail("jukeboxControl", 10, action="remove", index=-1)
    juke.fail("jukeboxControl", 10, action="setGain")
    for bad in ("1.5", "-0.1", "loud", "nan"):
        juke.fail("jukeboxControl", 0, action="setGain", gain=bad)
    assert [e["id"] for e in jb(juke, "get")["entry"]] == ids  # nothing half-applied
    assert jb(juke, "status")["gain"] == 0.75
    # the jukebox role is needed (alice got it; a user without it is refused)
    alice = juke.as_user("alice", "alice-pass")
    assert [e["id"] for e in jb(alice, "get")["entry"]] == ids
    juke.raw("createUser", username="nojuke", password="pw-nojuke", email="n@x.org")
    juke.as_user("nojuke", "pw-nojuke").fail("jukeboxControl", 50, action="status")



@needs_mpv
def test_jukebox_hides_and_refuses_songs_outside_the_users_folders(juke: Subsonic,
                                                                   jukebox_db: tuple[str, Path]) -> None:
    ids = song_ids(juke)
    jb(juke, "set", id=ids)
    juke.raw("createUser", username="narrow", password="pw-narrow", email="w@x.org", jukeboxRole=True)
    # no music folder at all (as an admin could set)
    users_sql(jukebox_db[0], "UPDATE users SET folder_ids = '{}' WHERE username = 'narrow'")
    narrow = juke.as_user("narrow", "pw-narrow")
    got = jb(narrow, "get")
    assert got.get("entry", []) == []  # the shared playlist's songs are not revealed
    narrow.fail("jukeboxControl", 70, action="add", id=ids[0])
    narrow.fail("jukeboxControl", 70, action="set", id=ids[0])
    assert [e["id"] for e in jb(juke, "get")["entry"]] == ids  # nothing changed


@needs_mpv
def test_jukebox_restores_its_playlist_when_mpv_restarts(juke: Subsonic, tmp_path: Path) -> None:
    """The playlist lives in PostgreSQL: a player that died is started again with it."""
    ids = song_ids(juke)
    jb(juke, "set", id=ids)
    jb(juke, "skip", index=1)
    _kill_player(mpv.socket_of(tmp_path))
    st = jb(juke, "status")
    assert st["playing"] is False
    st = jb(juke, "start")  # any command starts a new player with the saved playlist
    assert st["playing"] is True and st["currentIndex"] == 1
    assert [e["id"] for e in jb(juke, "get")["entry"]] == ids


def _kill_player(sock: Path) -> None:
    from orbsonic.library import jukebox
    proc = jukebox._STARTED[sock]
    proc.kill()
    proc.wait()


def test_jukebox_disabled_is_a_clear_error(api: Subsonic) -> None:
    err = api.fail("jukeboxControl", 0, action="status")
    assert err["message"] == "jukebox is not enabled on this server"
    api.fail("jukeboxControl", 0, action="get")


def test_jukebox_without_a_player_binary_is_a_clear_error(jukebox_db: tuple[str, Path],
                                                          tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    url, root = jukebox_db
    app = make_app(url, tmp_path, (root,), jukebox_enabled=True, jukebox_mpv=str(tmp_path / "no-mpv"),
                   jukebox_audio_output="null")
    with TestClient(app) as client:
        api = Subsonic(client)
        assert api.ok("jukeboxControl", action="status")["jukeboxStatus"]["playing"] is False
        err = api.fail("jukeboxControl", 0, action="start")
        assert "cannot start the jukebox player" in err["message"] and "Traceback" not in err["message"]
