"""Internet radio stations and chat through the validating client (XML and JSON checked
against the XSD and the OpenAPI schemas). Each test writes, so each gets its own clone
of the two-folder library (the `own` fixture)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import Subsonic


def write(client: Subsonic, method: str, fmt: str = "json", **params: Any) -> None:
    """One call (not idempotent: not the XML + JSON pair of `ok`), validated, that must succeed."""
    r = client.raw(method, fmt=fmt, **params)
    ok = b'status="ok"' in r.content if fmt == "xml" else r.json()["subsonic-response"]["status"] == "ok"
    assert ok, r.text[:300]


def stations(client: Subsonic) -> list[dict[str, Any]]:
    return client.ok("getInternetRadioStations")["internetRadioStations"].get("internetRadioStation", [])


def test_radio_station_write_then_read(own: Subsonic) -> None:
    write(own, "createInternetRadioStation", name="Zeta FM", streamUrl="https://zeta.example/stream.mp3",
           homepageUrl="https://zeta.example/")
    write(own, "createInternetRadioStation", "xml", name="alpha radio", streamUrl="http://alpha.example:8000/live")
    got = stations(own)
    assert [s["name"] for s in got] == ["alpha radio", "Zeta FM"]  # by name, case-insensitive
    alpha, zeta = got
    assert zeta["streamUrl"] == "https://zeta.example/stream.mp3"
    assert zeta["homePageUrl"] == "https://zeta.example/"  # the response spells it homePageUrl
    assert "homePageUrl" not in alpha
    # every user reads the list
    assert stations(own.as_user("alice", "alice-pass")) == got

    own.ok("updateInternetRadioStation", id=alpha["id"], name="Alpha Radio",
           streamUrl="https://alpha.example/aac", homepageUrl="http://alpha.example")
    alpha2 = next(s for s in stations(own) if s["id"] == alpha["id"])
    assert alpha2 == {"id": alpha["id"], "name": "Alpha Radio", "streamUrl": "https://alpha.example/aac",
                      "homePageUrl": "http://alpha.example"}
    write(own, "deleteInternetRadioStation", id=zeta["id"])
    assert [s["id"] for s in stations(own)] == [alpha["id"]]
    own.fail("deleteInternetRadioStation", 70, id=zeta["id"])
    own.fail("updateInternetRadioStation", 70, id=zeta["id"], name="x", streamUrl="http://x.example/")


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", "ftp://x.example/a",
                                 "/relative/stream", "http://", "https://x.example/a b",
                                 "http://x.example:99999/", "https://x.example/" + "a" * 2100])
def test_radio_station_urls_must_be_http(own: Subsonic, url: str) -> None:
    err = own.fail("createInternetRadioStation", 0, name="Bad", streamUrl=url)
    assert "streamUrl" in err["message"]
    err = own.fail("createInternetRadioStation", 0, name="Bad", streamUrl="http://ok.example/",
                   homepageUrl=url)
    assert "homepageUrl" in err["message"]
    assert stations(own) == []


def test_radio_station_bad_input(own: Subsonic) -> None:
    own.fail("createInternetRadioStation", 10, streamUrl="http://x.example/")
    own.fail("createInternetRadioStation", 10, name="No URL")
    own.fail("createInternetRadioStation", 0, name="x" * 201, streamUrl="http://x.example/")
    own.fail("updateInternetRadioStation", 10, name="x", streamUrl="http://x.example/")
    own.fail("deleteInternetRadioStation", 70, id="nope")
    own.fail("deleteInternetRadioStation", 10)
    alice = own.as_user("alice", "alice-pass")
    alice.fail("createInternetRadioStation", 50, name="Mine", streamUrl="http://x.example/")
    write(own, "createInternetRadioStation", name="Kept", streamUrl="http://kept.example/")
    (kept,) = stations(own)
    alice.fail("updateInternetRadioStation", 50, id=kept["id"], name="Taken", streamUrl="http://x.example/")
    alice.fail("deleteInternetRadioStation", 50, id=kept["id"])
    assert stations(own) == [kept]


def chat(client: Subsonic, **params: Any) -> list[dict[str, Any]]:
    return client.ok("getChatMessages", **params)["chatMessages"].get("chatMessage", [])


def test_chat_write_then_read(own: Subsonic) -> None:
    before = int(time.time() * 1000) - 5000
    alice = own.as_user("alice", "alice-pass")
    write(own, "addChatMessage", "xml", message="hello <everyone> & \"all\"")  # one call: not idempotent
    write(alice, "addChatMessage", message="hi admin — ünïcode ✓")
    got = chat(own)
    assert [(m["username"], m["message"]) for m in got] == [
        ("alice", "hi admin — ünïcode ✓"), ("admin", "hello <everyone> & \"all\"")]  # newest first
    assert all(isinstance(m["time"], int) and m["time"] > before for m in got)
    assert chat(alice) == got
    # since: only messages posted after the given time; the newest time seen repeats nothing
    assert chat(own, since=got[0]["time"]) == []
    assert chat(own, since=got[1]["time"] - 1)[-1] == got[1]
    assert chat(own, since=before) == got
    xml = own.raw("getChatMessages", fmt="xml").text
    assert "hello &lt;everyone&gt; &amp;" in xml


def test_chat_bad_input(own: Subsonic) -> None:
    own.fail("addChatMessage", 10)
    own.fail("addChatMessage", 10, message="")
    own.fail("addChatMessage", 0, message="   ")
    own.fail("addChatMessage", 0, message="x" * 2001)
    own.fail("getChatMessages", 0, since="yesterday")
    assert chat(own, since=2**63 - 1) == [] and chat(own, since=-5) == []  # clamped, not a 500
    assert chat(own) == []
    write(own, "addChatMessage", message="x" * 2000)
    assert len(chat(own)[0]["message"]) == 2000
