"""orbsonic.logs: the JSON and text formats, with and without a request id."""

from __future__ import annotations

import io
import json
import logging

from orbsonic import logs


def _emit(fmt: str, rid: str | None, exc: bool = False) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.formatter(fmt))
    logger = logging.getLogger("orbsonic.test.logs")
    logger.addHandler(handler)
    logger.propagate = False
    token = logs.request_id.set(rid)
    try:
        if exc:
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("failed %s", "here")
        else:
            logger.warning("hello %s", "wörld")
    finally:
        logs.request_id.reset(token)
        logger.removeHandler(handler)
    return out.getvalue()


def test_json_lines_have_the_fields_and_the_request_id() -> None:
    line = json.loads(_emit("json", "rid-1"))
    assert line["msg"] == "hello wörld" and line["level"] == "WARNING" and line["logger"] == "orbsonic.test.logs"
    assert line["request_id"] == "rid-1" and isinstance(line["pid"], int) and line["ts"].endswith("+00:00")
    assert "request_id" not in json.loads(_emit("json", None))
    failed = json.loads(_emit("json", None, exc=True))
    assert failed["msg"] == "failed here" and "ValueError: boom" in failed["exc"]


def test_text_lines_name_the_request_id_when_there_is_one() -> None:
    assert _emit("text", "rid-2").rstrip().endswith("orbsonic.test.logs: hello wörld [request_id=rid-2]")
    assert "request_id" not in _emit("text", None)
