"""Songs rendered once: each cached song's JSON and XML kept as text fragments, and a song list
assembled from them (issue 7: a getPlaylist of 5,000 entries spent ~20 ms of its ~52 ms in
rendering the 5 MB answer; issue 13: song-heavy lists).

A `SongChild` is an ordinary Child dict (the same keys and values `shapes.song` gives, so any
reader of the tree sees no difference) that also carries its cached `Fragments` and the
reader's mark (tracks.MARK_FIELDS). The renderers (subsonic_api/response.py) write it from the
fragments instead of walking its ~40 keys. Only the user-independent parts are cached (the
song_cache split: head … isVideo, mid discNumber … type, tail bpm …); the reader's playCount,
starred, userRating and played are spliced in per request at the places `shapes.song` puts
them, so the bytes equal the ordinary renderer's (tests/unit/test_fragments.py compares them).

Fragments live in the song cache's entries, so they are invalidated, dropped and bounded with
them (song_cache.py: NOTIFY on any library change, MAX_ENTRIES). A SongChild must not be
mutated: its fragments would no longer match its keys (the slim profile copies it to a plain
dict first, `response.minimal`).
"""

from __future__ import annotations

from typing import Any

import orjson

from subsonic_api import shapes


class Fragments:
    """The JSON and XML text of one song's user-independent parts, built on first use.

    `json`: (head up to `"playCount":`, `,mid…`, `,tail…}`) as bytes; `xml`: (head attributes,
    mid attributes, tail attributes, child elements) as str. Safe to share between requests
    and tasks: built from immutable inputs, assigned whole.
    """

    __slots__ = ("_head", "_mid", "_tail", "os", "json", "xml")

    def __init__(self, head: dict[str, Any], mid: dict[str, Any], tail: dict[str, Any], os: bool) -> None:
        self._head, self._mid, self._tail, self.os = head, mid, tail, os
        self.json: tuple[bytes, bytes, bytes] | None = None
        self.xml: tuple[str, str, str, str] | None = None

    def build_json(self) -> tuple[bytes, bytes, bytes]:
        """The three JSON pieces (see the class docstring)."""
        head = orjson.dumps(self._head)[:-1] + b',"playCount":'
        mid = b"," + orjson.dumps(self._mid)[1:-1]
        tail = (b"," + orjson.dumps(self._tail)[1:-1] if self.os and self._tail else b"") + b"}"
        self.json = (head, mid, tail)
        return self.json

    def build_xml(self) -> tuple[str, str, str, str]:
        """The XML pieces: attributes of head, mid and tail (each with a leading space) and the
        child elements of all three, as subsonic_api.response's element writer writes them."""
        from subsonic_api.response import element_text  # response imports this module

        attrs: list[str] = []
        children: list[str] = []
        for part in (self._head, self._mid, self._tail if self.os else {}):
            text = element_text("x", part)[2:]  # without "<x"
            if text.endswith("/>") and not text.endswith("</x>"):
                attrs.append(text[:-2])
                children.append("")
            else:
                start = text.index(">")  # escaped values hold no ">": the start tag ends here
                attrs.append(text[:start])
                children.append(text[start + 1:-4])
        self.xml = (attrs[0], attrs[1], attrs[2], "".join(children))
        return self.xml


class SongChild(dict):  # type: ignore[type-arg]
    """A Child dict with its `frag` (Fragments) and the reader's `mark` (MARK_FIELDS tuple)."""

    __slots__ = ("frag", "mark")

    def to_json(self) -> orjson.Fragment:
        """This Child as already-serialised JSON (orjson.Fragment)."""
        f = self.frag
        head, mid, tail = f.json or f.build_json()
        _, _, starred, rating, plays, played = self.mark
        out = head + orjson.dumps(plays) + mid
        if starred is not None:
            out += b',"starred":"' + shapes.iso(starred).encode() + b'"'
        if rating:
            out += b',"userRating":' + orjson.dumps(rating)
        if f.os and played is not None:
            out += b',"played":"' + shapes.iso(played).encode() + b'"'
        return orjson.Fragment(out + tail)

    def to_xml(self, name: str) -> str:
        """This Child as the XML element `name` (not yet scrubbed: to_xml scrubs the document)."""
        f = self.frag
        head, mid, tail, children = f.xml or f.build_xml()
        _, _, starred, rating, plays, played = self.mark
        out = f"<{name}{head}" if plays is None else f'<{name}{head} playCount="{plays}"'
        out += mid
        if starred is not None:
            out += f' starred="{shapes.iso(starred)}"'
        if rating:
            out += f' userRating="{rating}"'
        if f.os and played is not None:
            out += f' played="{shapes.iso(played)}"'
        if children:
            return f"{out}{tail}>{children}</{name}>"
        return f"{out}{tail}/>"
