"""Cross-cutting checks: every auth mode, the error codes, and HTTP Range on stream/download.

* ``check_auth``: ``ping`` and ``getMusicFolders`` with ``p=`` clear, ``p=enc:``, token + salt
  and (with ``--api-key``) ``apiKey``; a server that does not do token auth must say 41
  (OpenSubsonic: "token authentication not supported"), not something else; without any
  credentials ``getOpenSubsonicExtensions`` must still answer (OpenSubsonic requires it).
* ``check_errors``: a missing required parameter is 10, a wrong password 40, an unknown id 70
  (subsonic-spec §2 error table), each as an HTTP 200 error document in XML and in JSON.
* ``check_ranges``: ``stream`` (``format=raw``) and ``download``: the full body, ``bytes=0-99``
  (206, ``Content-Range: bytes 0-99/N``, exactly those bytes), a suffix range ``bytes=-100``,
  an open range, and an unsatisfiable one (416 with ``Content-Range: bytes */N``).
"""

from __future__ import annotations

from conformance.fixtures import unknown_id
from conformance.runner import Runner

__all__ = ["check_auth", "check_errors", "check_ranges"]


def check_auth(r: Runner) -> None:
    modes = ["password", "enc", "token"] + (["apikey"] if r.server.api_key else [])
    for mode in modes:
        name = f"auth: {_AUTH_LABEL[mode]}"
        for method in ("ping", "getMusicFolders"):
            answer = r.call(method, None, auth=mode)  # schema violations go to the endpoint's row
            if answer.status == "ok":
                r.ok(name)
            elif mode == "token" and answer.code == 41:
                r.row(name).not_implemented = True  # correctly refused: the server has no token auth
                r.row(name).notes.append("error 41: token auth not supported")
            else:
                r.fail(name, f"{method}: {answer.describe()}")
    if not r.server.api_key:
        r.skip("auth: apiKey", "needs --api-key")
    name = "auth: getOpenSubsonicExtensions without credentials"
    if r.legacy:
        r.skip(name, "not an OpenSubsonic server")
        return
    answer = r.call("getOpenSubsonicExtensions", None, auth="none", row=name)
    if answer.status == "ok":
        r.ok(name)
    else:
        r.fail(name, answer.describe())


_AUTH_LABEL = {"password": "password", "enc": "enc: password", "token": "token + salt", "apikey": "apiKey"}


def _expect_code(r: Runner, name: str, code: int, method: str, params: dict[str, str] | None,
                 auth: str = "password") -> None:
    for fmt in ("xml", "json"):
        answer = r.call(method, params, fmt=fmt, auth=auth)
        if answer.status == "failed" and answer.code == code:
            if answer.http_status != 200:
                r.fail(name, f"{method} ({fmt}): error {code} sent with HTTP {answer.http_status}, "
                             "Subsonic clients expect 200")
            else:
                r.ok(name)
        else:
            r.fail(name, f"{method} ({fmt}): {answer.describe()}, expected error {code}")


def check_errors(r: Runner) -> None:
    fx = r.fixtures
    _expect_code(r, "error 10: missing parameter", 10, "getAlbum", None)
    _expect_code(r, "error 10: missing parameter", 10, "getSong", None)
    _expect_code(r, "error 40: wrong credentials", 40, "ping", None, auth="wrong")
    _expect_code(r, "error 40: wrong credentials", 40, "getMusicFolders", None, auth="wrong")
    name = "error 70: unknown id"
    if fx.get("album"):
        _expect_code(r, name, 70, "getAlbum", {"id": unknown_id(fx["album"])})
    if fx.get("song"):
        _expect_code(r, name, 70, "getSong", {"id": unknown_id(fx["song"]["id"])})
    if not fx.get("album") and not fx.get("song"):
        r.skip(name, "no fixture: album or song")


def check_ranges(r: Runner) -> None:
    song = r.fixtures.get("song")
    for method, extra in (("stream", {"format": "raw"}), ("download", {})):
        name = f"Range: {method}"
        if not song:
            r.skip(name, "no fixture: song")
            r.skip(method, "no fixture: song")
            continue
        _range_checks(r, method, name, {"id": song["id"], **extra})


def _range_checks(r: Runner, method: str, name: str, params: dict[str, str]) -> None:
    full = r.call(method, params, fmt=None, row=name)
    if r.not_implemented(full):
        r.row(name).not_implemented = True
        return
    if full.status == "failed" or full.http_status != 200 or not full.content:
        reason = f"full GET answers {full.describe()}"
        r.fail(name, reason)
        r.fail(method, reason)
        return
    if not full.media.startswith(("audio/", "video/", "application/octet-stream", "application/ogg")):
        r.fail(method, f"content type {full.media!r} is not audio")
    else:
        r.ok(method)
    body, size = full.content, len(full.content)
    length = full.headers.get("content-length")
    if length is not None and int(length) != size:
        r.fail(name, f"Content-Length {length} but {size} bytes sent")
    first = min(99, size - 1)
    cases = [
        (f"bytes=0-{first}", 206, body[: first + 1], f"bytes 0-{first}/{size}"),
        (f"bytes=-{min(100, size)}", 206, body[-min(100, size):], f"bytes {size - min(100, size)}-{size - 1}/{size}"),
        (f"bytes={size // 2}-", 206, body[size // 2:], f"bytes {size // 2}-{size - 1}/{size}"),
        (f"bytes={size}-", 416, None, f"bytes */{size}"),
    ]
    for header, want_status, want_body, want_range in cases:
        answer = r.call(method, params, fmt=None, row=name, headers={"Range": header})
        got_range = answer.headers.get("content-range")
        problem = None
        if answer.http_status != want_status:
            problem = f"Range {header}: HTTP {answer.http_status}, expected {want_status}"
        elif got_range != want_range:
            problem = f"Range {header}: Content-Range {got_range!r}, expected {want_range!r}"
        elif want_body is not None and answer.content != want_body:
            problem = f"Range {header}: {len(answer.content)} bytes that are not the file's bytes"
        if problem:
            r.fail(name, problem)
        else:
            r.ok(name)
