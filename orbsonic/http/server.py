"""The HTTP server: uvicorn with a parser and limits chosen on purpose (issue 6 §2, issue 13).

* Parser: httptools (llhttp, C), chosen by measurement (bench/RESULTS.md "Request path
  profile": h11, pure Python, cost ~0.4 ms of CPU per request more), through
  `OrbsonicHttpToolsProtocol`, which adds the head limit uvicorn's httptools protocol lacks.
  `OrbsonicH11Protocol` keeps the same limits over h11 (`http="h11"`); both answer every
  request below the same way, so the choice is not visible to a client.
* Event loop: uvloop where installed (uvicorn's `loop="auto"`; a dependency except on
  Windows). Measured on a minimal ASGI app, server CPU per keep-alive request: h11 + asyncio
  ~220–260 µs, h11 + uvloop ~185, httptools + asyncio ~115–130, httptools + uvloop ~70–90.
* Head limit: MAX_HEAD_BYTES (64 KiB) for request line plus headers. A longer head is
  answered `431 Request Header Fields Too Large` with a Subsonic error envelope (XML) as its
  body; any other unparsable head `400 Bad Request`, the same way. The connection is then
  half-closed and drained for LINGER_S before it is closed, so that the client reads the
  answer instead of a reset (the server closing a socket with unread data sends RST, which
  made the answer to a long head "sometimes 400, sometimes a reset").
* Header timeout (`header_timeout`): from the connection's start, or the first byte of a
  further request on a kept-alive connection, to a complete request head. A slower client
  (slowloris) gets `408` and the connection is closed. Idle keep-alive connections close after KEEP_ALIVE_S.
* Body timeout (`body_timeout`): from the end of the head to the end of the body. Past it
  the client gets `408` (if no answer has started) and the connection is closed; the app
  sees a disconnect.
* Forwarded headers: `X-Forwarded-For`/`-Proto` are believed only from `trusted_proxies`
  (login rate limits count per client address).
"""

from __future__ import annotations

import asyncio
import gc
import inspect
import logging
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from orbsonic import logs
from orbsonic.config import Settings

log = logging.getLogger("orbsonic.http")

MAX_HEAD_BYTES = 64 * 1024  # a GET with ~2,000 ids; longer lists go in a formPost body
KEEP_ALIVE_S = 5  # uvicorn's default, stated
LINGER_S = 2.0  # how long an error answer waits for the client to stop sending


class ServerConfig(uvicorn.Config):
    """uvicorn's Config plus Orbsonic's timeouts (seconds). A module-level class, so that it
    pickles into `--workers` processes like uvicorn's own."""

    def __init__(self, app: Any, *, header_timeout: float = 10, body_timeout: float = 60,
                 **kwargs: Any) -> None:
        protocol = kwargs.pop("http", "httptools")
        kwargs["http"] = {"httptools": OrbsonicHttpToolsProtocol, "h11": OrbsonicH11Protocol}.get(
            protocol, protocol)
        kwargs.setdefault("h11_max_incomplete_event_size", MAX_HEAD_BYTES)
        kwargs.setdefault("timeout_keep_alive", KEEP_ALIVE_S)
        super().__init__(app, **kwargs)
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        self.freeze_gc = False  # set by `run` (a serving process of its own), never in tests

    def load(self) -> None:
        super().load()
        if self.freeze_gc:
            self.loaded_app = FreezeAfterStartup(self.loaded_app)


# Containers allocated (net) before a young collection in a serving process (FreezeAfterStartup).
GC_YOUNG = 20_000


class FreezeAfterStartup:
    """ASGI wrapper: when the lifespan's startup is complete, collect once and `gc.freeze()`
    what is alive (modules, the app, its pools and settings — objects that live as long as
    the process), so that later collections no longer walk them.

    Why: with 200 concurrent streams a full collection took 20–90 ms of wall time on these
    cores, all other requests waiting (py-spy, issue 12's time to first byte p99 ≤ 100 ms);
    frozen, the p99 went from 116–138 to 83–107 ms in interleaved runs. Only for a process
    that serves alone (`run`): in the test suite many apps come and go in one process, and
    what is frozen is never collected.

    Then the youngest generation's threshold is raised from CPython's 700 to GC_YOUNG: a
    large answer allocates tens of thousands of containers that live until it is written (a
    5,000-entry getPlaylist: a Child dict and a mark tuple per entry), so at 700 each answer
    ran ~15 young collections that promoted its objects, whose middle collections then set off
    full ones walking every cached song (the song and answer caches: hundreds of
    thousands of objects). Counted with gc.callbacks over 10 s of getPlaylist (5,000 entries)
    at 100k tracks: 1,680 young collections (0.54 ms each), 152 middle (3.6 ms), 8 full
    (77 ms each), ~18 ms per answer; at 20,000: 19 young, 1 middle, 0 full. The songs of
    that answer took 24–26 ms at 700 and 13 ms at 20,000 (the same as with no collector).
    Reference cycles (asyncio's futures, exceptions with tracebacks) still go: only later,
    after 20,000 net new containers (a few MB)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "lifespan":
            return await self.app(scope, receive, send)

        async def send_and_freeze(message: Any) -> None:
            if message.get("type") == "lifespan.startup.complete":
                gc.collect()
                gc.freeze()
                _, middle, oldest = gc.get_threshold()
                gc.set_threshold(GC_YOUNG, middle, oldest)
            await send(message)
        return await self.app(scope, receive, send_and_freeze)


def server_config(app: Any, settings: Settings, **kwargs: Any) -> ServerConfig:
    """The uvicorn configuration for `settings` (host, port, workers, timeouts, proxies).
    `app` is an ASGI app or an import string; `kwargs` override uvicorn options."""
    options: dict[str, Any] = dict(
        host=settings.host, port=settings.port, workers=settings.workers if settings.workers > 1 else None,
        log_level=settings.log_level.lower(), access_log=settings.log_level == "DEBUG",
        log_config=logs.uvicorn_log_config(settings.log_level),
        proxy_headers=True, forwarded_allow_ips=settings.trusted_proxies,
        header_timeout=settings.header_timeout, body_timeout=settings.body_timeout)
    options.update(kwargs)
    return ServerConfig(app, **options)


def run(config: ServerConfig) -> None:
    """Serve until shut down (SIGINT/SIGTERM), in this process or in `config.workers`
    processes sharing one socket — what `uvicorn.run` does, with our Config."""
    from uvicorn.supervisors import Multiprocess

    config.freeze_gc = True  # pickled into the worker processes with the rest of the config
    server = uvicorn.Server(config)
    if config.workers > 1:
        sockets = [config.bind_socket()]
        if "target" in inspect.signature(Multiprocess).parameters:  # older uvicorn
            Multiprocess(config, target=server.run, sockets=sockets).run()  # type: ignore[call-arg]
        else:
            Multiprocess(config, sockets=sockets).run()
    else:
        server.run()


def _error_page(status: int, message: str) -> bytes:
    """A complete HTTP/1.1 response with a Subsonic XML error envelope (code 0) as body."""
    from subsonic_api.response import Failure, render

    body = bytes(render(Failure(0, message), "xml").body)
    phrase = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large"}[status]
    head = (f"HTTP/1.1 {status} {phrase}\r\ncontent-type: text/xml; charset=utf-8\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


class _Connection(h11.Connection):
    """h11's server connection, telling the protocol about each event it parses."""

    def __init__(self, protocol: OrbsonicH11Protocol, max_head: int) -> None:
        super().__init__(h11.SERVER, max_incomplete_event_size=max_head)
        self._protocol = protocol
        self._max_head = max_head

    def next_event(self) -> Any:
        try:
            event = super().next_event()
            if isinstance(event, h11.Request) and _head_size(event) > self._max_head:
                # h11 limits only a head still incomplete in its buffer: one that arrived in
                # a single read would pass at any size, so the answer depended on how the
                # network cut the bytes. Judge the parsed head instead.
                raise h11.RemoteProtocolError("request head too long", error_status_hint=431)
        except h11.RemoteProtocolError as exc:
            self._protocol.parse_error = exc
            raise
        self._protocol.on_event(event)
        return event


def _head_size(event: h11.Request) -> int:
    """Bytes of a request head as sent (request line, `name: value` lines, blank line)."""
    size = len(event.method) + len(event.target) + 13
    return size + sum(len(name) + len(value) + 4 for name, value in event.headers.raw_items())


class _Limits:
    """Timers and error answers shared by both protocols: the subclass provides `loop`,
    `transport`, `cycle`, `client` (uvicorn's) and `_idle()` (no request under way)."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    cycle: Any
    client: Any

    def _init_limits(self, config: uvicorn.Config) -> None:
        self.header_timeout = float(getattr(config, "header_timeout", 10))
        self.body_timeout = float(getattr(config, "body_timeout", 60))
        self._timer: asyncio.TimerHandle | None = None
        self._draining = False

    def _idle(self) -> bool:
        raise NotImplementedError

    # -- timers
    def _arm(self, seconds: float, callback: Any) -> None:
        self._disarm()
        if seconds > 0:
            self._timer = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if self._idle():
            self.transport.close()  # nothing sent: nobody to tell
        else:
            log.debug("closing %s: request head not complete after %.0f s", self.client, self.header_timeout)
            self._answer_and_close(408, f"request head not complete after {self.header_timeout:.0f} s")

    def _body_timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        log.debug("closing %s: request body not complete after %.0f s", self.client, self.body_timeout)
        if self.cycle is not None and not self.cycle.response_started:
            self._answer_and_close(408, f"request body not complete after {self.body_timeout:.0f} s")
        else:
            self.transport.close()

    # -- error answers
    def _refuse_head(self, status: int, detail: object) -> None:
        """431 for a head over MAX_HEAD_BYTES, else 400; never a plain-text page or a reset."""
        if status == 431:
            message = (f"request head larger than {MAX_HEAD_BYTES // 1024} KB: "
                       "send long parameter lists as a POST form")
        else:
            message = "malformed HTTP request"
        log.debug("answering %s with %d: %s", self.client, status, detail)
        self._answer_and_close(status, message)

    def _answer_and_close(self, status: int, message: str) -> None:
        """Write an error page, stop writing, and discard what the client still sends for up
        to LINGER_S (a lingering close) before closing."""
        self._disarm()
        if self.cycle is not None and self.cycle.response_started and not self.cycle.response_complete:
            # Bad bytes in the body of a request being answered: an error page now would land
            # in the middle of that answer.
            self.transport.close()
            return
        self.transport.write(_error_page(status, message))
        self._draining = True
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.transport.resume_reading()
        self._timer = self.loop.call_later(LINGER_S, self.transport.close)
        if self.cycle is not None and not self.cycle.response_complete:
            # Tell an app waiting for the body that nobody will read its answer.
            self.cycle.disconnected = True
            self.cycle.message_event.set()


class OrbsonicH11Protocol(_Limits, H11Protocol):
    """uvicorn's h11 protocol with a header timeout, a body timeout and clean error answers
    (see the module docstring). Relies on H11Protocol's `conn`, `cycle`, `transport` and
    `send_400_response`, which its tests exercise (tests/integration/test_hostile.py)."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self.conn = _Connection(self, config.h11_max_incomplete_event_size or MAX_HEAD_BYTES)
        self._init_limits(config)
        self.parse_error: h11.RemoteProtocolError | None = None

    def _idle(self) -> bool:
        return self.conn.their_state is h11.IDLE and not self.conn.trailing_data[0]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_event(self, event: Any) -> None:
        """Called by _Connection for every parsed event: a head stops the header timer and
        starts the body timer; the end of the body stops it."""
        if isinstance(event, h11.Request):
            self._arm(self.body_timeout, self._body_timed_out)
        elif isinstance(event, h11.EndOfMessage):
            self._disarm()

    def send_400_response(self, msg: str) -> None:
        """uvicorn calls this for a head h11 cannot parse: 431 for one over MAX_HEAD_BYTES
        (h11's status hint), else 400."""
        exc, self.parse_error = self.parse_error, None
        status = exc.error_status_hint if exc is not None and exc.error_status_hint in (400, 431) else 400
        self._refuse_head(status, exc)

    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of a refused request
        if self._timer is None and self.conn.their_state is h11.IDLE:
            # The first bytes of a further request on a kept-alive connection: its head must
            # arrive in time too (uvicorn's keep-alive timer stops at this first byte).
            self._arm(self.header_timeout, self._head_timed_out)
        super().data_received(data)

    def eof_received(self) -> bool | None:
        if self._draining:
            self.transport.close()  # the client has read our answer and hung up
        return None


class _HeadTooLong(Exception):
    """Raised from a parser callback: httptools wraps it in HttpParserCallbackError."""


class OrbsonicHttpToolsProtocol(_Limits, HttpToolsProtocol):
    """uvicorn's httptools protocol with the same limits as OrbsonicH11Protocol: the head
    limit (llhttp has none: a header line is buffered whatever its length), the header and
    body timeouts and the error envelopes. A head is judged by its parsed size when complete
    (request line + `name: value` lines, as `_head_size`), and while incomplete by the bytes
    received since the request began — so a head over the limit is refused whether it came
    in one read or in many."""

    def __init__(self, config: uvicorn.Config, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        self._init_limits(config)
        self._state = "idle"  # idle → head → body → idle
        self._head_bytes = 0  # bytes received while the current head is incomplete
        self._head_size = 0  # parsed size of the current head
        self._too_long = False

    def _idle(self) -> bool:
        return self._state == "idle" and self._head_bytes == 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    # -- parser callbacks
    def on_message_begin(self) -> None:
        self._state = "head"
        self._head_size = 13  # " " + " HTTP/1.1\r\n" + final "\r\n"
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._head_size + len(self.parser.get_method()) > MAX_HEAD_BYTES:
            self._too_long = True
            raise _HeadTooLong()
        self._state, self._head_bytes = "body", 0
        self._arm(self.body_timeout, self._body_timed_out)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._state = "idle"
        self._disarm()
        super().on_message_complete()

    # -- transport events
    def data_received(self, data: bytes) -> None:
        if self._draining:
            return  # the rest of a refused request
        if self._state == "idle":
            if self._timer is None:
                # The first bytes of a further request on a kept-alive connection: its head
                # must arrive in time too (uvicorn's keep-alive timer stops at this byte).
                self._arm(self.header_timeout, self._head_timed_out)
            self._head_bytes += len(data)
        elif self._state == "head":
            self._head_bytes += len(data)
        super().data_received(data)
        if not self._draining and self._state != "body" and self._head_bytes > MAX_HEAD_BYTES:
            self._too_long = True
            self.send_400_response("request head too long")

    def send_400_response(self, msg: str) -> None:
        """uvicorn calls this for a head httptools cannot parse (and we for one too long)."""
        if self._draining:
            return
        self._refuse_head(431 if self._too_long else 400, msg)

    def eof_received(self) -> None:
        if self._draining:
            self.transport.close()  # the client has read our answer and hung up
