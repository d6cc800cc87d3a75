"""Local fakes of Last.fm, MusicBrainz and ListenBrainz on loopback, for the provider tests.

One `FakeService` is a real HTTP server (http.server in a thread) on 127.0.0.1:<free port>
whose answers are set per test: `routes` maps a key (the Last.fm `method`, or the URL path)
to a JSON object or bytes; `mode` makes every answer fail as an outside service does:
`"down"` (HTTP 503), `"slow"` (waits `slow_s` before answering), `"garbage"` (not JSON), or
`fail_next` answers 503 that many times and then recovers. Every request is recorded
(`requests`: method, path, query/form, JSON body, headers) so tests check what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    """One request the fake received."""

    method: str
    path: str
    params: dict[str, str]
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 0  # what the fake answered


class FakeService:
    """A fake HTTP service; use as a context manager (`with FakeService() as fake`)."""

    def __init__(self) -> None:
        self.routes: dict[str, Any] = {}
        self.mode = "up"
        self.slow_s = 3.0
        self.fail_next = 0
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_GET(self) -> None:  # noqa: N802
                fake._answer(self, None)

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                fake._answer(self, self.rfile.read(n))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FakeService:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def seen(self, key: str | None = None) -> list[Seen]:
        """Requests received (only those whose route key is `key`)."""
        with self._lock:
            return [r for r in self.requests if key is None or self._key(r) == key]

    @staticmethod
    def _key(r: Seen) -> str:
        return r.params.get("method") or r.path

    def _answer(self, h: BaseHTTPRequestHandler, raw: bytes | None) -> None:
        split = urlsplit(h.path)
        params = {k: v[0] for k, v in parse_qs(split.query).items()}
        body: Any = None
        if raw:
            ctype = h.headers.get("Content-Type", "")
            if "json" in ctype:
                body = json.loads(raw)
            else:
                params.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        seen = Seen(h.command, split.path, params, body, dict(h.headers))
        with self._lock:
            self.requests.append(seen)
            failing = self.fail_next > 0
            if failing:
                self.fail_next -= 1
        if self.mode == "slow":
            time.sleep(self.slow_s)
        if self.mode == "down" or failing:
            return self._send(h, seen, 503, b'{"error": "down"}', "application/json")
        if self.mode == "garbage":
            return self._send(h, seen, 200, b"<html>\x00\xff not json", "application/json")
        answer = self.routes.get(self._key(seen))
        if answer is None:
            return self._send(h, seen, 404, b'{"error": 6, "message": "not found"}', "application/json")
        if callable(answer):
            answer = answer(seen)
        if isinstance(answer, bytes):
            return self._send(h, seen, 200, answer, "application/octet-stream")
        return self._send(h, seen, 200, json.dumps(answer).encode(), "application/json")

    def _send(self, h: BaseHTTPRequestHandler, seen: Seen, status: int, data: bytes, ctype: str) -> None:
        with self._lock:
            seen.status = status
        try:
            h.send_response(status)
            h.send_header("Content-Type", ctype)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout)
            pass
