"""Hostile input through the real HTTP server (issue 6 §2): over-long and non-ASCII numbers,
huge searches, chunked bodies past the form cap, over-long heads, slowloris heads and
bodies, clients that hang up mid-body, and login guessing.

The server is uvicorn configured by orbsonic.http.server (what `orbsonic serve` runs) on a
loopback port, with short timeouts; raw sockets play the hostile clients.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import psycopg
import pytest
import uvicorn

from conformance import validate_response
from orbsonic.http.server import MAX_HEAD_BYTES, OrbsonicH11Protocol, OrbsonicHttpToolsProtocol, server_config
from subsonic_api import MAX_FORM_BYTES
from tests.conftest import ADMIN, ALICE, SECRET, add_users, clone_db, make_app, make_settings, wait_ready

HEADER_TIMEOUT = 1
BODY_TIMEOUT = 2
MAX_FAILURES = 5
AUTH = {"u": ADMIN[0], "p": ADMIN[1], "v": "1.16.1", "c": "pytest", "f": "json"}


class Served:
    """An app served in a thread by uvicorn with Orbsonic's server configuration."""

    def __init__(self, url: str, data_dir: Path, http: str = "httptools", **settings: Any) -> None:
        s = make_settings(data_dir, **settings)
        app = make_app(url, data_dir, **settings)
        config = server_config(app, s, host="127.0.0.1", port=0, log_level="warning", lifespan="on",
                               http=http)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def hostile_db(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = clone_db(pg, template_url)
    add_users(url, tmp_path_factory.mktemp("hostiledata"))
    return url


SETTINGS = dict(header_timeout=HEADER_TIMEOUT, body_timeout=BODY_TIMEOUT, login_max_failures=MAX_FAILURES,
                login_lockout=600, login_delay_ms=1)


@pytest.fixture(scope="module", params=["httptools", "h11"])
def served(request: pytest.FixtureRequest, hostile_db: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The server with each HTTP parser orbsonic.http.server offers (httptools: the default)."""
    with Served(hostile_db, tmp_path_factory.mktemp("served"), http=request.param, **SETTINGS) as server:
        want = {"httptools": OrbsonicHttpToolsProtocol, "h11": OrbsonicH11Protocol}[request.param]
        assert server.server.config.http_protocol_class is want
        yield server


@pytest.fixture(autouse=True)
def no_login_failures(hostile_db: str) -> None:
    """Every test starts with no failed logins on record (they all come from 127.0.0.1)."""
    with psycopg.connect(hostile_db, autocommit=True) as conn:
        conn.execute("DELETE FROM login_failures")


def envelope(r: httpx.Response, method: str = "ping") -> dict[str, Any]:
    assert r.status_code == 200, r.text[:300]
    validate_response(method, r.content, r.headers["content-type"])
    return r.json()["subsonic-response"]


def failed(r: httpx.Response, code: int, method: str = "ping") -> str:
    body = envelope(r, method)
    assert body["status"] == "failed" and body["error"]["code"] == code, body
    assert "internal error" not in body["error"]["message"], body
    return body["error"]["message"]


def no_internal_errors(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if "internal error" in r.getMessage() or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


# ------------------------------------------------------------------ numbers


def test_overlong_protocol_version_is_an_envelope(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    """`v=1.<4,301 nines>.0` (no credentials needed) was `internal error: ValueError`."""
    for v in ("1." + "9" * 4301 + ".0", "1.١٦.1", "1.²", "1.16.1" + "0" * 5000, "١.16.1"):
        message = failed(httpx.get(f"{served.url}/rest/ping", params={"v": v, "c": "pytest", "f": "json"}), 0)
        assert "'v'" in message and len(message) < 200, message
        failed(httpx.get(f"{served.url}/rest/ping", params={**AUTH, "v": v}), 0)
    assert envelope(httpx.get(f"{served.url}/rest/ping", params=AUTH))["status"] == "ok"
    no_internal_errors(caplog)


@pytest.mark.parametrize("value", ["9" * 4301, "²", "١٢", "1_000", "１２", "+" + "0" * 41])
def test_overlong_and_non_ascii_numbers_are_bad_params(served: Served, value: str,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    message = failed(httpx.get(f"{served.url}/rest/getAlbumList2",
                               params={**AUTH, "type": "newest", "size": value}), 0, "getAlbumList2")
    assert "'size'" in message and len(message) < 200, message
    no_internal_errors(caplog)


def test_scrobble_time_superscript_is_not_an_internal_error(served: Served,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """`scrobble … time=%C2%B2`: "²".isdigit() is true, int("²") raises. A bad time is a
    clear error 0 naming `time` (and nothing is recorded), not an internal error."""
    for t in ("²", "9" * 5000, "١٢٣"):
        r = httpx.get(f"{served.url}/rest/scrobble", params={**AUTH, "id": "tr-1", "time": t})
        failed(r, 0, "scrobble")
    no_internal_errors(caplog)


# ------------------------------------------------------------------ search


def test_search3_with_50000_words(live_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    """50,000 words were one `&` each in the tsquery: StatementTooComplex. Words past the
    cap are ignored; repeats count once, so a repeated real word still finds its album."""
    base = f"{live_server.url}/rest/search3"
    first = envelope(httpx.get(base, params={**AUTH, "query": ""}), "search3")["searchResult3"]["album"][0]
    word = first["name"].split()[0]
    junk = " ".join(f"w{i}" for i in range(50_000))
    form = {"content-type": "application/x-www-form-urlencoded"}
    r = httpx.post(base, content=urlencode({**AUTH, "query": junk}), headers=form, timeout=60)
    body = envelope(r, "search3")
    assert body["status"] == "ok" and body["searchResult3"].get("album", []) == []
    r = httpx.post(base, content=urlencode({**AUTH, "query": " ".join([word] * 50_000)}), headers=form,
                   timeout=60)
    albums = envelope(r, "search3")["searchResult3"]["album"]
    assert first["id"] in [a["id"] for a in albums]
    no_internal_errors(caplog)


# ------------------------------------------------------------------ bodies


def chunks(total: int, piece: bytes = b"id=al-1&" * 8192) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield piece
        sent += len(piece)


def test_chunked_form_past_the_cap_is_refused(served: Served) -> None:
    """No Content-Length (chunked): the bytes read are counted, not the header. 20 MB of
    `id=…` took the server from 79 MB to 1.1 GB."""
    headers = {"content-type": "application/x-www-form-urlencoded"}
    r = httpx.post(f"{served.url}/rest/ping", params=AUTH, content=chunks(2 * MAX_FORM_BYTES),
                   headers=headers, timeout=60)
    assert r.request.headers["transfer-encoding"] == "chunked" and "content-length" not in r.request.headers
    assert "10 MB" in failed(r, 0)
    # a chunked form under the cap is read as usual (credentials in the body)
    small = (urlencode(AUTH).encode() + b"&" + piece for piece in [b"x=1"])
    r = httpx.post(f"{served.url}/rest/ping", content=small, headers=headers)
    assert envelope(r)["status"] == "ok"


def test_client_that_hangs_up_mid_body_is_not_an_error(served: Served,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Half a form body, then close: a debug line, no "internal error" traceback."""
    caplog.set_level(logging.DEBUG, logger="orbsonic.subsonic")
    body = urlencode({**AUTH, "x": "y" * 10_000}).encode()
    with socket.create_connection(("127.0.0.1", served.port)) as s:
        s.sendall(b"POST /rest/ping HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body[: len(body) // 2])
        time.sleep(0.2)
    deadline = time.monotonic() + 10
    while not any("disconnected" in r.getMessage() for r in caplog.records):
        assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
        time.sleep(0.05)
    no_internal_errors(caplog)


# ------------------------------------------------------------------ heads


def raw_request(port: int, data: bytes, *, half_close: bool = True) -> bytes:
    """Send `data`, half-close (uvicorn takes that as a hang-up), read the whole answer.
    A reset is a test failure."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def get_head(size: int) -> bytes:
    query = urlencode({**AUTH, "f": "xml"})
    pad = "x" * max(0, size - len(query) - 80)
    return f"GET /rest/ping?{query}&pad={pad} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()


@pytest.mark.parametrize("size", [MAX_HEAD_BYTES + 1024, 2 * MAX_HEAD_BYTES, 1024 * 1024])
def test_overlong_head_is_431_with_an_envelope_every_time(served: Served, size: int) -> None:
    """Heads over h11's default 16 KB got a plain-text 400 or a reset; now every head over
    the limit gets 431 and a Subsonic XML envelope, read in full (no reset)."""
    for _ in range(5):
        answer = raw_request(served.port, get_head(size))
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
        validate_response("ping", body, "text/xml")
        assert b'status="failed"' in body and b"64 KB" in body


def test_heads_up_to_the_limit_are_served(served: Served) -> None:
    """20 KB and 60 KB heads (a GET with a long id list) are answered normally."""
    for size in (20 * 1024, MAX_HEAD_BYTES - 4096):
        answer = raw_request(served.port, get_head(size), half_close=False)
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        assert b'status="ok"' in answer


def test_malformed_head_is_400_with_an_envelope(served: Served) -> None:
    answer = raw_request(served.port, b"GET /rest/ping HTTP/1.1\r\nHost x\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ") and b'status="failed"' in body, answer[:300]


# ------------------------------------------------------------------ timeouts


def trickle(s: socket.socket, data: bytes, stop: threading.Event) -> tuple[bool, bytes]:
    """Send `data` on `s` about one byte every 0.2 s until the server closes the connection;
    return (closed by the server, what it said)."""
    s.settimeout(0.2)
    answer = b""
    for byte in data:
        if stop.is_set():
            return False, answer
        try:
            s.send(bytes([byte]))
            chunk = s.recv(4096)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, answer
        if not chunk:
            return True, answer
        answer += chunk
    return False, answer


def test_slowloris_heads_and_bodies_are_closed(served: Served) -> None:
    """8 connections trickling a head, 2 trickling a body: each is closed with a 408 soon
    after its timeout (they would take minutes to finish), and a normal client is served
    meanwhile."""
    slow_head = b"GET /rest/ping?" + b"a" * 4000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    slow_body = (b"POST /rest/ping HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                 b"Content-Length: 4000\r\n\r\n")
    stop = threading.Event()
    socks = [socket.create_connection(("127.0.0.1", served.port)) for _ in range(10)]
    try:
        with ThreadPoolExecutor(10) as pool:
            futures = [pool.submit(trickle, s, slow_head, stop) for s in socks[:8]]
            for s in socks[8:]:
                s.sendall(slow_body)  # a whole head at once, then a slow body
                futures.append(pool.submit(trickle, s, b"x" * 4000, stop))
            time.sleep(0.3)
            assert envelope(httpx.get(f"{served.url}/rest/ping", params=AUTH))["status"] == "ok"
            try:
                for f in futures:
                    closed, answer = f.result(timeout=60)
                    assert closed and answer.startswith(b"HTTP/1.1 408 "), answer[:200]
                    assert b'status="failed"' in answer
            finally:
                stop.set()
    finally:
        for s in socks:
            s.close()


def test_keep_alive_clients_are_unaffected(served: Served) -> None:
    """A kept-alive connection idle for longer than the header timeout (but within
    keep-alive) is still served, and so is a POST whose body comes at once."""
    with httpx.Client(base_url=served.url) as client:
        for pause in (0, HEADER_TIMEOUT + 0.5, 0):
            time.sleep(pause)
            assert envelope(client.get("/rest/ping", params=AUTH))["status"] == "ok"
            r = client.post("/rest/ping", content=urlencode(AUTH),
                            headers={"content-type": "application/x-www-form-urlencoded"})
            assert envelope(r)["status"] == "ok"


# ------------------------------------------------------------------ login rate limit


def login(url: str, user: str, password: str) -> dict[str, Any]:
    return envelope(httpx.get(f"{url}/rest/ping", params={**AUTH, "u": user, "p": password}))


def test_guessing_passwords_gets_refused(served: Served) -> None:
    """50 wrong passwords in parallel, then the right one: refused (still 40) for the user
    and for every user from that address."""
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: login(served.url, ADMIN[0], f"guess{i}"), range(50)))
    assert all(a["status"] == "failed" and a["error"]["code"] == 40 for a in answers)
    refused = login(served.url, *ADMIN)
    assert refused["status"] == "failed" and refused["error"]["code"] == 40
    assert "too many" in refused["error"]["message"]
    assert login(served.url, *ALICE)["error"]["code"] == 40  # the address is refused too
    # token auth and API keys are refused from that address as well
    key_auth = {"apiKey": "nope", "v": "1.16.1", "c": "pytest", "f": "json"}
    r = httpx.get(f"{served.url}/rest/ping", params=key_auth)
    assert "too many" in failed(r, 40)


def test_a_few_typos_do_not_lock_out(served: Served) -> None:
    for i in range(MAX_FAILURES - 1):
        assert login(served.url, ALICE[0], f"typo{i}")["error"]["code"] == 40
    assert login(served.url, *ALICE)["status"] == "ok"


def test_behind_a_trusted_proxy_the_forwarded_address_counts(served: Served) -> None:
    """Loopback is a trusted proxy by default: X-Forwarded-For names the client, so one
    guesser behind the proxy does not lock out the others."""
    def login_from(address: str, user: str, password: str) -> dict[str, Any]:
        r = httpx.get(f"{served.url}/rest/ping", params={**AUTH, "u": user, "p": password},
                      headers={"X-Forwarded-For": address})
        return envelope(r)

    for i in range(MAX_FAILURES):
        assert login_from("198.51.100.20", f"nobody{i}", "x")["error"]["code"] == 40
    assert login_from("198.51.100.20", *ALICE)["error"]["code"] == 40  # that client is refused
    assert login_from("198.51.100.21", *ALICE)["status"] == "ok"  # another one is not
    assert login(served.url, *ALICE)["status"] == "ok"  # nor the proxy's own address


def test_failures_are_shared_by_every_server(served: Served, hostile_db: str,
                                             tmp_path_factory: pytest.TempPathFactory) -> None:
    """State lives in PostgreSQL: failures on one server (worker, replica) count on another."""
    with Served(hostile_db, tmp_path_factory.mktemp("replica"), **SETTINGS) as replica:
        for i in range(MAX_FAILURES):
            target = served if i % 2 else replica
            assert login(target.url, ALICE[0], f"wrong{i}")["error"]["code"] == 40
        assert login(served.url, *ALICE)["error"]["code"] == 40
        assert login(replica.url, *ALICE)["error"]["code"] == 40


# ------------------------------------------------------------------ the serve command


def test_serve_with_workers_uses_these_limits(fresh_db: str, tmp_path: Path) -> None:
    """`orbsonic serve --workers 2` runs orbsonic.http.server in each worker process: a 70 KB
    head gets the 431 envelope, a slow head the 408, and wrong passwords are limited."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    music = tmp_path / "music"
    music.mkdir()
    env = {**os.environ, "DATABASE_URL": fresh_db, "ORBSONIC_DATA_DIR": str(tmp_path / "data"),
           "ORBSONIC_SECRET_KEY": SECRET, "ORBSONIC_LOG_LEVEL": "warning",
           "ORBSONIC_ADMIN_PASSWORD": ADMIN[1],
           "ORBSONIC_HEADER_TIMEOUT": "1", "ORBSONIC_LOGIN_MAX_FAILURES": "3", "ORBSONIC_LOGIN_DELAY_MS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "orbsonic", "serve", str(music), "--host", "127.0.0.1",
                             "--port", str(port), "--no-scan", "--workers", "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, lambda: proc.poll() is None, lambda: proc.stdout.read() if proc.stdout else "", 60)
        answer = raw_request(port, get_head(MAX_HEAD_BYTES + 6 * 1024))
        assert answer.startswith(b"HTTP/1.1 431 ") and b'status="failed"' in answer, answer[:200]
        with socket.create_connection(("127.0.0.1", port)) as s:
            closed, said = trickle(s, b"GET /rest/ping?" + b"a" * 200, threading.Event())
        assert closed and said.startswith(b"HTTP/1.1 408 "), said[:200]
        for i in range(3):
            assert login(url, ADMIN[0], f"wrong{i}")["error"]["code"] == 40
        assert "too many" in login(url, *ADMIN)["error"]["message"]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
