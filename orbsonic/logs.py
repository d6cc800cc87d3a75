"""Log output: readable text or one JSON object per line, with the request id of the request being
handled (issue 12, Observability).

`request_id` is a context variable set by the HTTP middleware (orbsonic/http/metrics.py) for the
duration of a request; asyncio tasks and `to_thread`/anyio worker threads copy the context, so every
line logged while a request is handled carries its id — the handler's, the library's, uvicorn's
error lines for it. `configure` installs one handler on the root logger; uvicorn's own loggers are
made to propagate to it (`uvicorn_log_config`), so its lines have the same format.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

request_id: ContextVar[str | None] = ContextVar("orbsonic_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """The classic `time LEVEL logger: message` line, with ` [request_id=…]` while a request is
    handled."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = request_id.get()
        return f"{line} [request_id={rid}]" if rid else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `ts` (UTC, ISO 8601 with milliseconds), `level`, `logger`,
    `msg` (the formatted message), `pid`, `request_id` (only while a request is handled) and `exc`
    (the formatted traceback, only with exc_info)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "pid": record.process,
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        elif record.stack_info:
            entry["exc"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str) -> logging.Formatter:
    """The formatter for the `log_format` setting ("text" or "json")."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(level: str, log_format: str = "text", stream: Any = None) -> None:
    """Send every logger's records at `level` or above to `stream` (stderr) in `log_format`.
    Replaces the handlers a previous call installed, so a worker process may call it again."""
    root = logging.getLogger()
    for h in list(root.handlers):
        # ours from an earlier call, or logging.basicConfig's console handler
        if getattr(h, "_orbsonic", False) or type(h) is logging.StreamHandler:
            root.removeHandler(h)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    handler._orbsonic = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's `log_config`: its loggers keep their levels but no handlers of their own and
    propagate to the root logger that `configure` set up (so JSON mode covers them too)."""
    loggers = {name: {"handlers": [], "propagate": True, "level": level}
               for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    return {"version": 1, "disable_existing_loggers": False, "loggers": loggers}
