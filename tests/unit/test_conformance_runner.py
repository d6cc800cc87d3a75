"""The conformance runner judges: XML vs JSON comparison, id shapes, and a broken fake server.

The fake server (http.server on loopback) is a tiny plain-Subsonic server with deliberate bugs:
the wrong password is accepted, an unknown album is error 0 instead of 70, getMusicFolders
answers XML and JSON with different data, and `stream` ignores Range. The suite must exit 1 and
name each of those, and report the methods the fake does not have as "n/i".
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from lxml import etree

from conformance.cli import main
from conformance.compare import differences, normal_json, normal_xml
from conformance.fixtures import unknown_id

NS = "http://subsonic.org/restapi"


def test_xml_and_json_of_the_same_data_compare_equal() -> None:
    xml = etree.fromstring(
        f'<subsonic-response xmlns="{NS}" status="ok" version="1.16.1"><album id="a1" name="X" songCount="2" '
        f'starred="2024-01-01T00:00:00Z"><song id="s1" title="One" duration="3" isDir="false"/>'
        f'<song id="s2" title="Two" duration="4" isDir="false"/></album></subsonic-response>'.encode())
    js = {"status": "ok", "version": "1.16.1", "album": {
        "id": "a1", "name": "X", "songCount": 2, "starred": "2024-01-01T00:00:00Z", "genres": [],
        "song": [{"id": "s1", "title": "One", "duration": 3, "isDir": False},
                 {"id": "s2", "title": "Two", "duration": 4, "isDir": False}]}}
    assert differences(normal_xml(xml), normal_json(js)) == []
    lyric = etree.fromstring(f'<lyrics xmlns="{NS}"><line>la</line><line start="5">di</line></lyrics>'.encode())
    assert differences(normal_xml(lyric), normal_json({"line": [{"value": "la"}, {"start": 5, "value": "di"}]})) == []


def test_a_difference_is_named_with_its_path() -> None:
    xml = etree.fromstring(f'<r xmlns="{NS}"><album id="a1" songCount="2"/></r>'.encode())
    diff = differences(normal_xml(xml), normal_json({"album": {"id": "a1", "songCount": 3}}))
    assert diff == ["$.album.songCount: '2' vs '3'"]


def test_unknown_ids_keep_the_shape_of_real_ones() -> None:
    assert unknown_id("al-12") == "al-987654321"
    assert unknown_id("3f2b9c1e-0d4a-4b6e-9f00-123456789abc") == "eeeeeeee-eeee-eeee-eeee-eeeeeeeeeeee"
    assert unknown_id(None) == "999999999"
    # CI once failed here: a cover id whose *version* ended in a digit had only its version
    # changed, and a stale version of a real album's cover rightly still serves the cover.
    assert unknown_id("al-1y2p_k3j2") == "al-zzzzzzzzzzzz_k3j2"
    assert unknown_id("al-1y2p_k3jb") == "al-zzzzzzzzzzzz_k3jb"


def _doc(fmt: str, payload_xml: str = "", payload_json: dict[str, Any] | None = None,
         error: tuple[int, str] | None = None) -> tuple[str, bytes]:
    if fmt == "json":
        body: dict[str, Any] = {"status": "failed" if error else "ok", "version": "1.16.1"}
        if error:
            body["error"] = {"code": error[0], "message": error[1]}
        body.update(payload_json or {})
        return "application/json", json.dumps({"subsonic-response": body}).encode()
    inner = f'<error code="{error[0]}" message="{error[1]}"/>' if error else payload_xml
    status = "failed" if error else "ok"
    return "text/xml", (f'<?xml version="1.0" encoding="UTF-8"?><subsonic-response xmlns="{NS}" '
                        f'status="{status}" version="1.16.1">{inner}</subsonic-response>').encode()


AUDIO = bytes(range(256)) * 8


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        method = url.path.rsplit("/", 1)[-1].removesuffix(".view")
        fmt = q.get("f", "xml")
        if method == "stream":  # ignores Range: always the whole file with 200
            self._send(200, "audio/mpeg", AUDIO)
            return
        if "p" not in q:
            self._send(200, *_doc(fmt, error=(10, "missing u/p")))
            return
        if method == "ping":
            self._send(200, *_doc(fmt))
        elif method == "getMusicFolders":  # XML and JSON disagree on the name
            self._send(200, *_doc(fmt, '<musicFolders><musicFolder id="1" name="Music"/></musicFolders>',
                                  {"musicFolders": {"musicFolder": [{"id": 1, "name": "Other"}]}}))
        elif method == "getAlbumList2":
            self._send(200, *_doc(fmt, '<albumList2><album id="a1" name="A" songCount="1" duration="1" '
                                       'created="2024-01-01T00:00:00"/></albumList2>',
                                  {"albumList2": {"album": [{"id": "a1", "name": "A", "songCount": 1,
                                                             "duration": 1, "created": "2024-01-01T00:00:00"}]}}))
        elif method == "getAlbum" and q.get("id") == "a1":
            song = {"id": "s1", "parent": "a1", "title": "Song", "isDir": False, "albumId": "a1"}
            attrs = " ".join(f'{k}="{str(v).lower() if isinstance(v, bool) else v}"' for k, v in song.items())
            self._send(200, *_doc(fmt, f'<album id="a1" name="A" songCount="1" duration="1" '
                                       f'created="2024-01-01T00:00:00"><song {attrs}/></album>',
                                  {"album": {"id": "a1", "name": "A", "songCount": 1, "duration": 1,
                                             "created": "2024-01-01T00:00:00", "song": [song]}}))
        elif method in ("getAlbum", "getSong"):
            code = 10 if "id" not in q else 0  # unknown ids: 0, not 70
            self._send(200, *_doc(fmt, error=(code, "no such thing")))
        else:
            self._send(200, *_doc(fmt, error=(0, f"Unknown method {method}")))

    def _send(self, status: int, ctype: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def fake_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        thread.join(5)


def test_a_broken_server_fails_with_the_reasons(fake_server: str, tmp_path: Any,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r.json"
    assert main([fake_server, "--user", "u", "--password", "p", "--json", str(report)]) == 1
    rows = {r["name"]: r for r in json.loads(report.read_text())["rows"]}
    assert rows["ping"]["status"] == "pass"
    assert rows["error 40: wrong credentials"]["status"] == "fail"
    assert "expected error 70" in rows["error 70: unknown id"]["reason"]
    assert "XML and JSON differ" in rows["getMusicFolders"]["reason"]
    assert "HTTP 200, expected 206" in rows["Range: stream"]["reason"]
    assert rows["getPodcasts"]["status"] == "n/i"
    assert rows["round trip: star"]["status"] == "n/i"
    out = capsys.readouterr().out
    assert out.strip().splitlines()[-1].startswith("FAIL: endpoints 87")
