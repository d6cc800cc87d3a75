"""Scrobble forwarding to ListenBrainz and Last.fm, both local fakes on loopback: plays go
through the durable outbox and the job queue, once each, survive outages (503 then recovery,
a refused port) and a server that stopped before queueing, and never fail the scrobble."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from orbsonic import jobs
from orbsonic.jobs import worker
from tests.conftest import ADMIN, ALICE, SECRET, Subsonic, make_app
from tests.integration.conftest import clone_from
from tests.integration.fake_services import FakeService, Seen
from tests.integration.native_client import Native, api_key_for
from tests.integration.test_discovery import World, disco_template  # noqa: F401

LB_TOKEN, FM_SESSION, FM_KEY, FM_SECRET = "lb-token-1234", "fm-session-5678", "fm-key", "fm-secret"
T0 = 1_700_000_000  # seconds


class Forwarding:
    def __init__(self, world: World, lb: FakeService, fm: FakeService, native: Native) -> None:
        self.world, self.lb, self.fm, self.native = world, lb, fm, native

    def run_jobs(self, seconds: float = 30) -> None:
        """Run workers until no job waits, also jobs scheduled for a retry a few seconds ahead."""
        async def go() -> None:
            await worker.run(self.world.url, concurrency=2, wait=False, name="t", install_signal_handlers=False)

        deadline = time.monotonic() + seconds
        while True:
            asyncio.run(go())
            if not self.world.q("SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"):
                return
            if time.monotonic() > deadline:
                raise AssertionError("jobs still waiting")
            time.sleep(0.5)

    def listens(self) -> list[dict[str, Any]]:
        """Every listen ListenBrainz accepted (an answered 200), in order."""
        return [p for s in self.lb.seen("/1/submit-listens") if s.body.get("listen_type") != "playing_now"
                and s.status == 200 for p in s.body["payload"]]

    def scrobbles(self) -> list[Seen]:
        return [s for s in self.fm.seen("track.scrobble") if s.status == 200]


@pytest.fixture
def fwd(pg: Any, disco_template: tuple[str, Path], tmp_path: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Forwarding]:
    with FakeService() as lb, FakeService() as fm:
        lb.routes = {"/1/submit-listens": {"status": "ok"}}
        fm.routes = {"track.scrobble": {"scrobbles": {"@attr": {"accepted": 1, "ignored": 0}}},
                     "track.updateNowPlaying": {"nowplaying": {}}}
        url = clone_from(pg, disco_template[0])
        kw = {"listenbrainz_url": lb.url, "lastfm_url": fm.url + "/2.0/", "lastfm_api_key": FM_KEY,
              "lastfm_api_secret": FM_SECRET, "provider_timeout": 1}
        for key, value in kw.items():
            monkeypatch.setenv(f"ORBSONIC_{key.upper()}", str(value))
        monkeypatch.setenv("ORBSONIC_DATA_DIR", str(tmp_path))
        with TestClient(make_app(url, tmp_path, (disco_template[1],), **kw)) as http:
            world = World(url, disco_template[1], Subsonic(http))
            native = Native(http, api_key_for(url, ADMIN[0]))
            set_up = native.ok("PUT", "/me/scrobbling", json={"listenbrainzToken": LB_TOKEN, "lastfmSession": FM_SESSION})
            assert set_up == {"enabled": True, "listenbrainz": True, "lastfm": True}
            world.q("DELETE FROM procrastinate_jobs RETURNING 1")
            yield Forwarding(world, lb, fm, native)


def _signed_ok(s: Seen) -> bool:
    """Last.fm's api_sig: md5 of the sorted parameters (without format) and the secret."""
    params = {k: v for k, v in s.params.items() if k not in ("format", "api_sig")}
    raw = "".join(k + params[k] for k in sorted(params)) + FM_SECRET
    return s.params.get("api_sig") == hashlib.md5(raw.encode()).hexdigest()


def test_plays_are_forwarded_once_to_both_services(fwd: Forwarding) -> None:
    w, api = fwd.world, fwd.world.api
    ids, times = [w.track("Dawn"), w.track("Halo")], [T0 * 1000, (T0 + 300) * 1000]
    api.ok("scrobble", id=ids, time=times)  # ok() calls twice (XML, JSON): the second is a re-send
    assert w.jobs() == ["scrobble.forward"]
    fwd.run_jobs()
    listens = fwd.listens()
    assert [(l["listened_at"], l["track_metadata"]["track_name"], l["track_metadata"]["artist_name"],
             l["track_metadata"]["release_name"]) for l in listens] == [
        (T0, "Dawn", "Aurora Vale", "First Light"), (T0 + 300, "Halo", "Aurora Vale", "First Light")]
    [req] = fwd.lb.seen("/1/submit-listens")
    assert req.headers["Authorization"] == f"Token {LB_TOKEN}" and req.body["listen_type"] == "import"
    [sc] = fwd.scrobbles()
    assert sc.method == "POST" and sc.params["sk"] == FM_SESSION and sc.params["api_key"] == FM_KEY
    assert (sc.params["artist[0]"], sc.params["track[0]"], sc.params["timestamp[0]"]) == ("Aurora Vale", "Dawn", str(T0))
    assert (sc.params["track[1]"], sc.params["timestamp[1]"]) == ("Halo", str(T0 + 300))
    assert _signed_ok(sc)
    # sent once: again, and the same batch re-sent by the client, queue nothing more
    api.ok("scrobble", id=ids, time=times)
    fwd.run_jobs()
    assert len(fwd.lb.seen()) == 1 and len(fwd.fm.seen()) == 1
    assert w.q("SELECT service, count(*) FROM scrobble_outbox WHERE sent_at IS NOT NULL GROUP BY 1 ORDER BY 1") == [
        ("lastfm", 2), ("listenbrainz", 2)]


def test_an_outage_is_retried_and_the_play_forwarded_once(fwd: Forwarding) -> None:
    w, api = fwd.world, fwd.world.api
    fwd.lb.fail_next = 1  # ListenBrainz answers 503 once, then recovers
    fwd.fm.mode = "down"  # Last.fm stays down
    api.ok("scrobble", id=w.track("Glass"), time=T0 * 1000)  # the scrobble itself never fails
    assert w.q("SELECT count(*) FROM play_history") == [(1,)]

    async def one_round() -> None:
        await worker.run(w.url, concurrency=1, wait=False, name="t", install_signal_handlers=False)

    asyncio.run(one_round())  # first attempt: both fail, a retry is scheduled with back-off
    [(attempts, error)] = w.q("SELECT attempts, last_error FROM scrobble_outbox WHERE service = 'listenbrainz'")
    assert attempts == 1 and "503" in error
    fwd.fm.mode = "up"
    fwd.run_jobs()
    assert [l["track_metadata"]["track_name"] for l in fwd.listens()] == ["Glass"]
    assert len(fwd.lb.seen()) == 2  # the failed try and the one that worked
    assert [s.params["track[0]"] for s in fwd.scrobbles()] == ["Glass"]
    assert w.q("SELECT count(*) FROM scrobble_outbox WHERE sent_at IS NULL") == [(0,)]
    assert w.jobs("failed") == []


def test_a_refused_service_never_fails_the_scrobble(fwd: Forwarding) -> None:
    w, api = fwd.world, fwd.world.api
    fwd.lb.server.shutdown()
    fwd.lb.server.server_close()
    api.ok("scrobble", id=w.track("Dusk"), time=T0 * 1000)
    api.ok("scrobble", id=w.track("Dusk"), submission="false")

    async def one_round() -> None:
        await worker.run(w.url, concurrency=1, wait=False, name="t", install_signal_handlers=False)

    asyncio.run(one_round())
    [(sent, error)] = w.q("SELECT sent_at, last_error FROM scrobble_outbox WHERE service = 'listenbrainz'")
    assert sent is None and error
    assert [s.params["track[0]"] for s in fwd.scrobbles()] == ["Dusk"]  # Last.fm is not held up


def test_a_play_whose_job_was_never_queued_is_swept_up(fwd: Forwarding) -> None:
    """The server stopped between the play's commit and the job's deferral: the outbox row is
    there, and the periodic sweep queues it."""
    w, api = fwd.world, fwd.world.api
    api.ok("scrobble", id=w.track("Ember"), time=T0 * 1000)
    w.q("DELETE FROM procrastinate_jobs RETURNING 1")  # the job is lost, the outbox row is not
    w.q("UPDATE scrobble_outbox SET created_at = now() - interval '1 minute' RETURNING 1")

    async def sweep() -> None:
        app = jobs.make_app(w.url)
        async with app.open_async():
            await jobs.defer(app, "scrobble.sweep")

    asyncio.run(sweep())
    fwd.run_jobs()
    assert [l["track_metadata"]["track_name"] for l in fwd.listens()] == ["Ember"]
    assert [s.params["track[0]"] for s in fwd.scrobbles()] == ["Ember"]


def test_now_playing_is_forwarded(fwd: Forwarding) -> None:
    w, api = fwd.world, fwd.world.api
    api.ok("scrobble", id=w.track("Rust"), submission="false")
    fwd.run_jobs()
    now = [s for s in fwd.lb.seen("/1/submit-listens") if s.body["listen_type"] == "playing_now"]
    assert now and now[0].body["payload"][0]["track_metadata"]["track_name"] == "Rust"
    assert "listened_at" not in now[0].body["payload"][0]
    [np] = fwd.fm.seen("track.updateNowPlaying")[:1]
    assert (np.params["artist"], np.params["track"], np.params["album"]) == ("Brass Hollow", "Rust", "Tin")
    assert _signed_ok(np)
    assert fwd.listens() == [] and w.q("SELECT count(*) FROM scrobble_outbox") == [(0,)]


def test_users_without_credentials_or_the_scrobbling_role_forward_nothing(fwd: Forwarding) -> None:
    w = fwd.world
    alice = w.api.as_user(*ALICE)
    alice.ok("scrobble", id=w.track("Zinc"), time=T0 * 1000)
    assert w.q("SELECT count(*) FROM scrobble_outbox") == [(0,)] and w.jobs() == []
    w.api.ok("updateUser", username=ADMIN[0], scrobblingEnabled="false")
    assert fwd.native.ok("GET", "/me/scrobbling") == {"enabled": False, "listenbrainz": True, "lastfm": True}
    w.api.ok("scrobble", id=w.track("Zinc"), time=T0 * 1000)
    assert w.q("SELECT count(*) FROM scrobble_outbox") == [(0,)]
    # removing a credential stops that service only
    w.api.ok("updateUser", username=ADMIN[0], scrobblingEnabled="true")
    assert fwd.native.ok("PUT", "/me/scrobbling", json={"lastfmSession": ""}) == {
        "enabled": True, "listenbrainz": True, "lastfm": False}
    w.api.ok("scrobble", id=w.track("Copper"), time=T0 * 1000)
    assert w.q("SELECT service FROM scrobble_outbox") == [("listenbrainz",)]
    bad = fwd.native.problem("PUT", "/me/scrobbling", 400, json={"listenbrainzToken": "has space"})
    assert bad["errors"][0]["field"] == "listenbrainzToken"


def test_the_cli_sets_and_clears_credentials(fwd: Forwarding, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": fwd.world.url, "ORBSONIC_DATA_DIR": str(tmp_path / "cli"),
           "ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOG_LEVEL": "warning"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "orbsonic", "user", "set", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    r = cli(ALICE[0], "--listenbrainz-token", "alice-lb", "--lastfm-session", "alice-fm")
    assert r.returncode == 0, r.stderr
    q = "SELECT listenbrainz_token, lastfm_session FROM users WHERE username = %s"
    assert fwd.world.q(q, ALICE[0]) == [("alice-lb", "alice-fm")]
    assert cli(ALICE[0], "--lastfm-session", "").returncode == 0
    assert fwd.world.q(q, ALICE[0]) == [("alice-lb", None)]
    bad = cli(ALICE[0], "--listenbrainz-token", "not ascii é")
    assert bad.returncode == 2 and "listenbrainzToken" in bad.stderr
