"""Known slips of the upstream OpenAPI schemas, and the patches that correct them.

``KNOWN_SCHEMA_SLIPS`` lists every deliberate deviation from the vendored OpenSubsonic OpenAPI
tree (a JSON-pointer patch of one file, or a rule of the whole tree that is handled by how we
validate); ``LEGACY_RELAXATIONS`` adds those of plain Subsonic 1.16.1 servers (``legacy``).
``conformance.openapi`` applies them to its in-memory copy; the vendored files are never edited.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.common import OPENSUBSONIC_KEYS, ROOT_KEY

__all__ = ["KNOWN_SCHEMA_SLIPS", "LEGACY_RELAXATIONS", "SchemaSlip", "drop_required"]


@dataclass(frozen=True)
class SchemaSlip:
    """One deliberate deviation from the vendored OpenAPI tree.

    ``file`` is relative to ``openapi/`` (``"*"``: a rule for the whole tree that is handled by
    how we validate, not by a patch). ``pointer`` is the JSON pointer of the node that
    ``replace`` (old node -> new node) rewrites in the loaded copy; ``replace`` raises
    ``LookupError`` when the upstream text no longer has the slip. ``change`` says what we do
    and ``reason`` why the upstream schema would misjudge a correct response.
    """

    file: str
    pointer: str | None
    change: str
    reason: str
    replace: Callable[[Any], Any] | None = None


def drop_required(*names: str) -> Callable[[Any], Any]:
    def replace(required: Any) -> Any:
        missing = [n for n in names if n not in required]
        if missing:
            raise LookupError(f"{missing} not in required {required}")
        return [n for n in required if n not in names]

    return replace


def _without_property(name: str) -> Callable[[Any], Any]:
    def replace(properties: Any) -> Any:
        if name not in properties:
            raise LookupError(f"no property {name!r}")
        return {k: v for k, v in properties.items() if k != name}

    return replace


def _forbid_album_song(items: Any) -> Any:
    if items != {"$ref": "./AlbumID3.json"}:
        raise LookupError(f"expected a $ref to AlbumID3.json, got {items}")
    return {"allOf": [items, {"properties": {"song": {"not": {}}}}]}


def _jukebox_gain_properties(properties: Any) -> Any:
    if "volume" not in properties or "gain" in properties:
        raise LookupError("JukeboxStatus no longer declares volume instead of gain")
    fixed = {k: v for k, v in properties.items() if k != "volume"}
    fixed["gain"] = {"type": "number", "description": "xs:float gain (0.0-1.0), as in the XSD"}
    return fixed


def _jukebox_gain_required(required: Any) -> Any:
    if "volume" not in required:
        raise LookupError("JukeboxStatus no longer requires volume")
    return ["gain" if n == "volume" else n for n in required]


def _wrap_transcode_decision(schema: Any) -> Any:
    if "subsonic-response" in json.dumps(schema):
        raise LookupError("TranscodeDecisionResponse already has the subsonic-response envelope")
    payload = {
        "type": "object",
        "properties": {"transcodeDecision": {"$ref": "./TranscodeDecision.json"}},
        "required": ["transcodeDecision"],
    }
    return {
        "type": "object",
        "properties": {
            ROOT_KEY: {
                "oneOf": [
                    {"allOf": [{"$ref": "./SubsonicResponse/SubsonicSuccessResponse.json"}, payload]},
                    {"$ref": "./SubsonicResponse/SubsonicFailureResponse.json"},
                ]
            }
        },
    }


def _legacy_base_required(required: Any) -> Any:
    return drop_required(*OPENSUBSONIC_KEYS)(required)


def _legacy_play_queue_current(current: Any) -> Any:
    if current.get("type") != "string":
        raise LookupError(f"PlayQueue.current is no longer a string: {current}")
    return {**current, "type": ["string", "integer"]}


_SONG_IN_ALBUMID3 = (
    "the XSD AlbumID3 has no song child (only AlbumWithSongsID3 has), but upstream AlbumID3.json "
    "declares `song`, so an album list carrying songs would pass"
)

KNOWN_SCHEMA_SLIPS: tuple[SchemaSlip, ...] = (
    SchemaSlip(
        "schemas/AlbumID3WithSongs.json",
        "/allOf/1/required",
        "`song` is optional",
        "XSD song minOccurs=0 and empty legacy lists are left out: an album without songs has no `song`",
        drop_required("song"),
    ),
    SchemaSlip(
        "schemas/ArtistWithAlbumsID3.json",
        "/allOf/1/required",
        "`album` is optional",
        "XSD album minOccurs=0 and empty legacy lists are left out: an artist without albums has no `album`",
        drop_required("album"),
    ),
    SchemaSlip(
        "schemas/NowPlaying.json",
        "/required",
        "`entry` is optional",
        'XSD entry minOccurs=0: nobody playing is `"nowPlaying": {}`',
        drop_required("entry"),
    ),
    SchemaSlip(
        "schemas/JukeboxStatus.json",
        "/properties",
        "`volume` (integer, format float) becomes `gain` (number)",
        'the XSD attribute is `gain` xs:float (and the upstream docs example sends "gain": 0.9); '
        "an integer volume rejects every fractional gain",
        _jukebox_gain_properties,
    ),
    SchemaSlip(
        "schemas/JukeboxStatus.json",
        "/required",
        "require `gain` instead of `volume`",
        "XSD JukeboxStatus@gain is use=required and there is no volume attribute",
        _jukebox_gain_required,
    ),
    SchemaSlip(
        "schemas/AlbumID3.json",
        "/properties",
        "drop the `song` property",
        _SONG_IN_ALBUMID3,
        _without_property("song"),
    ),
    SchemaSlip(
        "schemas/AlbumList2.json",
        "/properties/album/items",
        "AlbumID3 items must not carry `song`",
        _SONG_IN_ALBUMID3,
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/SearchResult3.json",
        "/properties/album/items",
        "AlbumID3 items must not carry `song`",
        _SONG_IN_ALBUMID3,
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/Starred2.json",
        "/properties/album/items",
        "AlbumID3 items must not carry `song` (starred2 albums are AlbumID3 as in the XSD, not Child)",
        _SONG_IN_ALBUMID3 + "; the starred2 docs table calls them Child, the XSD and OpenAPI say AlbumID3",
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/ArtistWithAlbumsID3.json",
        "/allOf/1/properties/album/items",
        "AlbumID3 items must not carry `song`",
        _SONG_IN_ALBUMID3,
        _forbid_album_song,
    ),
    SchemaSlip(
        "schemas/TranscodeDecisionResponse.json",
        "/content/application~1json/schema",
        "wrap `transcodeDecision` in the subsonic-response success/failure envelope",
        "upstream puts `transcodeDecision` at the top level, so it checks nothing of a real "
        '`{"subsonic-response": {..., "transcodeDecision": {...}}}` (see its docs example)',
        _wrap_transcode_decision,
    ),
    SchemaSlip(
        "*",
        None,
        "`format` is an annotation only (no FormatChecker)",
        "format date-time is RFC 3339 but xs:dateTime also allows no zone; `format: float` sits on integers",
    ),
    SchemaSlip(
        "*",
        None,
        "read as JSON Schema draft 4: `integer` is any JSON integer without a fraction",
        "OpenAPI 3.0 has no long: Python ints are unbounded so xs:long fits; 1.0 is rejected as xs:int is",
    ),
    SchemaSlip(
        "*",
        None,
        "OpenAPI 3.0 `nullable: true` becomes a `null` type (the tree has none today)",
        "draft 4 ignores `nullable`; nulls are rejected anyway by the envelope rule (tempus #540)",
    ),
    SchemaSlip(
        "*",
        None,
        "the root key `subsonic-response` is checked by the envelope rules",
        "no *Response.json lists `subsonic-response` as required, so `{}` would pass",
    ),
    SchemaSlip(
        "*",
        None,
        "binary endpoints (stream, download, getCoverArt, getAvatar, getCaptions, hls, "
        "getTranscodeStream) accept only a failed JSON envelope",
        "their 200 response has no application/json schema; on error they send the error document",
    ),
)

LEGACY_RELAXATIONS: tuple[SchemaSlip, ...] = (
    SchemaSlip(
        "schemas/SubsonicResponse/SubsonicBaseResponse.json",
        "/required",
        "`type`, `serverVersion`, `openSubsonic` are optional",
        "a plain Subsonic 1.16.1 server does not send the OpenSubsonic attributes",
        _legacy_base_required,
    ),
    SchemaSlip(
        "schemas/PlayQueue.json",
        "/properties/current",
        "`current` may be an integer",
        "the official XSD has PlayQueue@current xs:int; the string form is an OpenSubsonic erratum",
        _legacy_play_queue_current,
    ),
)

