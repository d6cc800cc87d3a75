"""search (v1, deprecated since 1.4.0 but answered) over the scanned test library, checked
against bench.libgen's manifest; and the video methods of a music-only server."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import Subsonic


def v1(client: Subsonic, **params: Any) -> dict[str, Any]:
    r = client.ok("search", **params)["searchResult"]
    r.setdefault("match", [])  # an empty list may be left out
    return r


NONE = {"offset": 0, "totalHits": 0, "match": []}


def bjork_paths(test_library: Any) -> set[str]:
    return {e.path for e in test_library[1].files if e.readable and "Björk" in e.artists}


def test_search_v1_any_and_artist(api: Subsonic, test_library: Any) -> None:
    expected = bjork_paths(test_library)
    for params in ({"any": "bjork"}, {"artist": "Björk"}, {"any": "BJÖRK", "count": 100}):
        r = v1(api, **params)
        assert {m["path"] for m in r.get("match", [])} == expected, params
        assert r["totalHits"] == len(expected) and r["offset"] == 0


def test_search_v1_criteria_combine(api: Subsonic, test_library: Any) -> None:
    files = [e for e in test_library[1].files if e.readable and "Björk" in e.artists]
    one = files[0]
    r = v1(api, artist="bjork", title=one.title)
    assert one.path in {m["path"] for m in r["match"]}
    assert all("Björk" in m.get("artist", "") or one.title.lower() in m["title"].lower() for m in r["match"])
    assert v1(api, artist="bjork", album="nosuchalbumxyz") == NONE


def test_search_v1_paging_and_newer_than(api: Subsonic, test_library: Any) -> None:
    expected = bjork_paths(test_library)
    assert len(expected) >= 2
    pages = [v1(api, any="bjork", count=1, offset=i) for i in range(len(expected) + 1)]
    assert [len(p.get("match", [])) for p in pages] == [1] * len(expected) + [0]
    assert {p["match"][0]["path"] for p in pages[:-1]} == expected  # no overlap, no gap
    assert all(p["totalHits"] == len(expected) for p in pages)
    assert v1(api, any="bjork", count=0).get("match", []) == []
    future = int(time.time() * 1000) + 86_400_000
    assert v1(api, any="bjork", newerThan=future) == NONE
    assert v1(api, any="bjork", newerThan=0)["totalHits"] == len(expected)


def test_search_v1_bad_input(api: Subsonic) -> None:
    assert v1(api) == NONE  # no criteria: nothing, not everything
    api.fail("search", 0, any="bjork", count="many")
    api.fail("search", 0, any="bjork", newerThan="yesterday")
    api.fail("search", 70, any="bjork", musicFolderId=999)
    assert v1(api, any="bjork", newerThan=2**63 - 1) == NONE  # clamped, not a 500


def test_videos_of_a_music_library(api: Subsonic) -> None:
    assert api.ok("getVideos")["videos"].get("video", []) == []
    api.fail("getVideoInfo", 70, id="tr-1")
    api.fail("getVideoInfo", 10)
    api.fail("getCaptions", 70, id="vi-1", format="vtt")
    api.fail("getCaptions", 0, id="vi-1", format="ass")
    api.fail("getCaptions", 10)
