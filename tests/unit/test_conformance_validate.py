"""Tests for conformance.validate: the XSD / OpenAPI checks the API tests rely on.

Positive JSON samples are the upstream documentation examples (schemas/opensubsonic/doc-examples.json)
that are real responses; negatives are mutations of them. XML samples are written here in the form the
extended XSD documents (objects as elements with scalar attributes, arrays as repeated elements).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from conformance import (
    KNOWN_SCHEMA_SLIPS,
    LEGACY_RELAXATIONS,
    ConformanceError,
    validate_json,
    validate_response,
    validate_xml,
)
from conformance import validate as v

DOC_EXAMPLES = v.SCHEMA_DIR / "opensubsonic" / "doc-examples.json"
NS = 'xmlns="http://subsonic.org/restapi"'
OS_ROOT = f'{NS} status="ok" version="1.16.1" type="orbsonic" serverVersion="0.1.0" openSubsonic="true"'
LEGACY_ROOT = f'{NS} status="ok" version="1.16.1"'


# ------------------------------------------------------------------------------------------------
# Doc examples
# ------------------------------------------------------------------------------------------------

# Upstream documentation examples that are themselves wrong (checked against the XSD): they must be
# rejected, which also shows that nested $refs are enforced. Key: (doc file stem, tab, index in file).
BAD_DOC_EXAMPLES: dict[tuple[str, str, int], str] = {
    ("createplaylist", "OpenSubsonic", 2): "pre-1.14 empty answer; since 1.14.0 the playlist is returned",
    ("createplaylist", "Subsonic", 3): "pre-1.14 empty answer; since 1.14.0 the playlist is returned",
    ("getindexes", "OpenSubsonic", 0): "numbers and booleans written as strings; index.artist not an array",
    (
        "getindexes",
        "Subsonic (JSON)",
        2,
    ): "numbers and booleans written as strings; index.artist not an array",
    ("getnewestpodcasts", "OpenSubsonic", 0): "numbers and booleans written as strings",
    ("getnewestpodcasts", "Subsonic", 1): "numbers and booleans written as strings",
    ("getpodcastepisode", "OpenSubsonic", 0): "numbers and booleans written as strings",
    ("getpodcasts", "OpenSubsonic", 0): "channel shaped like an episode: no url",
    ("getuser", "OpenSubsonic", 0): "booleans written as strings; videoConversionRole missing",
    ("getuser", "Subsonic", 1): "booleans written as strings; videoConversionRole missing",
    ("getusers", "OpenSubsonic", 0): "booleans written as strings; videoConversionRole missing",
    ("getusers", "Subsonic", 1): "booleans written as strings; videoConversionRole missing",
}


def _endpoint_names() -> dict[str, str]:
    return {p.stem.lower(): p.stem for p in (v.OPENAPI_DIR / "endpoints").glob("*.json")}


def _doc_responses() -> list[tuple[str, str, int, str, bool]]:
    """(endpoint, tab, index, text, legacy) for every parseable full-response doc example."""
    names = _endpoint_names()
    examples = json.loads(DOC_EXAMPLES.read_text(encoding="utf-8"))["examples"]
    out = []
    for path, tabs in examples.items():
        if "/Endpoints/" not in path:
            continue
        endpoint = names[Path(path).stem.lower()]
        for index, tab in enumerate(tabs):
            if tab["lang"] != "json" or not tab.get("json_valid"):
                continue
            if "subsonic-response" not in json.loads(tab["text"]):
                continue  # request bodies, fragments
            out.append((endpoint, tab["tab"], index, tab["text"], tab["tab"].startswith("Subsonic")))
    return out


DOC_RESPONSES = _doc_responses()


def _doc(endpoint: str, tab: str = "OpenSubsonic") -> dict[str, Any]:
    for name, tab_name, _, text, _ in DOC_RESPONSES:
        if name == endpoint and tab_name == tab:
            return json.loads(text)  # type: ignore[no-any-return]
    raise LookupError((endpoint, tab))


def _is_bad(endpoint: str, tab: str, index: int) -> bool:
    return (endpoint.lower(), tab, index) in BAD_DOC_EXAMPLES


def test_doc_examples_are_found() -> None:
    assert len(DOC_RESPONSES) > 130
    found = {(e.lower(), t, i) for e, t, i, _, _ in DOC_RESPONSES}
    assert set(BAD_DOC_EXAMPLES) <= found


@pytest.mark.parametrize(
    ("endpoint", "tab", "index", "text", "legacy"),
    [d for d in DOC_RESPONSES if not _is_bad(*d[:3])],
    ids=[f"{d[0]}-{d[1]}-{d[2]}" for d in DOC_RESPONSES if not _is_bad(*d[:3])],
)
def test_doc_examples_validate(endpoint: str, tab: str, index: int, text: str, legacy: bool) -> None:
    validate_json(endpoint, text.encode(), legacy=legacy)


@pytest.mark.parametrize(
    ("endpoint", "tab", "index", "text", "legacy"),
    [d for d in DOC_RESPONSES if _is_bad(*d[:3])],
    ids=[f"{d[0]}-{d[1]}-{d[2]}" for d in DOC_RESPONSES if _is_bad(*d[:3])],
)
def test_broken_doc_examples_are_rejected(
    endpoint: str, tab: str, index: int, text: str, legacy: bool
) -> None:
    with pytest.raises(ConformanceError):
        validate_json(endpoint, text.encode(), legacy=legacy)


def test_legacy_examples_fail_without_legacy() -> None:
    with pytest.raises(ConformanceError) as info:
        validate_json("ping", _doc("ping", "Subsonic"))
    text = str(info.value)
    for key in ("type", "serverVersion", "openSubsonic"):
        assert f"$.subsonic-response.{key}: OpenSubsonic envelope field missing" in text


# ------------------------------------------------------------------------------------------------
# JSON negatives (mutations)
# ------------------------------------------------------------------------------------------------


def _violations(endpoint: str, body: Any, *, legacy: bool = False) -> list[str]:
    with pytest.raises(ConformanceError) as info:
        validate_json(endpoint, body if isinstance(body, bytes) else json.dumps(body).encode(), legacy=legacy)
    return list(info.value.violations)


def _album() -> dict[str, Any]:
    return copy.deepcopy(_doc("getAlbum"))


def test_nested_child_required_is_enforced() -> None:
    body = _album()
    del body["subsonic-response"]["album"]["song"][1]["isDir"]
    assert _violations("getAlbum", body) == [
        "$.subsonic-response.album.song[1]: 'isDir' is a required property"
    ]


def test_nested_child_type_is_enforced() -> None:
    body = _album()
    body["subsonic-response"]["album"]["song"][0]["duration"] = "103"
    body["subsonic-response"]["album"]["song"][0]["isDir"] = "false"
    assert _violations("getAlbum", body) == [
        "$.subsonic-response.album.song[0].duration: '103' is not of type 'integer'",
        "$.subsonic-response.album.song[0].isDir: 'false' is not of type 'boolean'",
    ]


def test_refs_three_files_deep_are_enforced() -> None:
    # AlbumID3WithSongs -> Child -> Contributor -> ArtistID3, each a separate file.
    body = _album()
    song = body["subsonic-response"]["album"]["song"][0]
    song["contributors"] = [{"role": "composer", "artist": {"id": "ar-1"}}]
    song["replayGain"] = {"trackPeak": -1}
    song["genres"] = [{"name": 5}]
    assert _violations("getAlbum", body) == [
        "$.subsonic-response.album.song[0].contributors[0].artist: 'name' is a required property",
        "$.subsonic-response.album.song[0].genres[0].name: 5 is not of type 'string'",
        "$.subsonic-response.album.song[0].replayGain.trackPeak: -1 is less than the minimum of 0",
    ]


def test_album_required_field_dropped() -> None:
    body = _album()
    del body["subsonic-response"]["album"]["songCount"]
    assert _violations("getAlbum", body) == ["$.subsonic-response.album: 'songCount' is a required property"]


def test_numeric_id_is_rejected() -> None:
    body = _album()
    body["subsonic-response"]["album"]["song"][0]["id"] = 300000116
    body["subsonic-response"]["album"]["coverArt"] = 7
    found = _violations("getAlbum", body)
    assert "$.subsonic-response.album.song[0].id: id 300000116 must be a string, not a JSON number" in found
    assert "$.subsonic-response.album.coverArt: id 7 must be a string, not a JSON number" in found
    assert "$.subsonic-response.album.song[0].id: 300000116 is not of type 'string'" in found


def test_numeric_music_folder_id_and_user_folder_are_fine() -> None:
    validate_json("getMusicFolders", _doc("getMusicFolders"))
    body = copy.deepcopy(_doc("getMusicFolders"))
    body["subsonic-response"]["musicFolders"]["musicFolder"][0]["id"] = "1"
    assert _violations("getMusicFolders", body) == [
        "$.subsonic-response.musicFolders.musicFolder[0].id: '1' is not of type 'integer'"
    ]


def test_null_anywhere_is_rejected() -> None:
    body = _album()
    body["subsonic-response"]["album"]["genres"] = None
    body["subsonic-response"]["album"]["song"][0]["moods"] = [None]
    found = _violations("getAlbum", body)
    assert (
        "$.subsonic-response.album.genres: null is not allowed (clients crash on null lists: tempus #540)"
        in (found)
    )
    assert any(f.startswith("$.subsonic-response.album.song[0].moods[0]: null is not allowed") for f in found)


def test_envelope_rules() -> None:
    body = {"subsonic-response": {"status": "fine", "version": "1.16", "type": "x", "serverVersion": "1"}}
    body["extra"] = {}
    assert _violations("ping", body) == [
        "$.extra: unexpected root key (only 'subsonic-response')",
        "$.subsonic-response.status: must be 'ok' or 'failed', got 'fine'",
        "$.subsonic-response.version: must match ^\\d+\\.\\d+\\.\\d+$, got '1.16'",
        "$.subsonic-response.openSubsonic: OpenSubsonic envelope field missing",
    ]
    assert _violations("ping", {"response": {}}) == [
        "$: root must be an object with the single key 'subsonic-response'"
    ]
    ping = _doc("ping")
    ping["subsonic-response"]["openSubsonic"] = False
    assert _violations("ping", ping) == ["$.subsonic-response.openSubsonic: must be true, got False"]


def test_payload_keys_are_checked() -> None:
    ping = _doc("ping")
    ping["subsonic-response"]["album"] = _album()["subsonic-response"]["album"]
    assert _violations("ping", ping) == ["$.subsonic-response.album: not a ping payload key (expected: none)"]
    body = _album()
    del body["subsonic-response"]["album"]
    assert _violations("getAlbum", body) == ["$.subsonic-response: 'album' is a required property"]


def test_failed_response() -> None:
    failed = {
        "subsonic-response": {
            "status": "failed",
            "version": "1.16.1",
            "type": "orbsonic",
            "serverVersion": "0.1.0",
            "openSubsonic": True,
            "error": {"code": 70, "message": "Album not found", "helpUrl": "https://x/"},
        }
    }
    validate_json("getAlbum", failed)
    validate_json("stream", failed)  # binary endpoints send the error envelope
    wrong = copy.deepcopy(failed)
    wrong["subsonic-response"]["error"] = {"code": "70", "message": 1}
    assert _violations("getAlbum", wrong) == [
        "$.subsonic-response.error.code: '70' is not of type 'integer'",
        "$.subsonic-response.error.code: '70' is not one of [0, 10, 20, 30, 40, 41, 42, 43, 44, 50, 60, 70]",
        "$.subsonic-response.error.message: 1 is not of type 'string'",
    ]
    no_error = copy.deepcopy(failed)
    del no_error["subsonic-response"]["error"]
    no_error["subsonic-response"]["album"] = {}
    assert _violations("getAlbum", no_error) == [
        "$.subsonic-response: 'error' is a required property",
        "$.subsonic-response.album: a failed response carries only `error`",
    ]


def test_binary_endpoint_ok_json_is_rejected() -> None:
    assert _violations("stream", _doc("ping")) == [
        "$.subsonic-response: stream returns binary data on success, not a JSON ok envelope"
    ]


def test_json_parse_problems() -> None:
    assert _violations("ping", b'{"subsonic-response": {"status": NaN}}')[0].startswith("$: NaN is not JSON")
    dup = b'{"subsonic-response": {"status": "ok", "status": "ok"}}'
    assert _violations("ping", dup) == ["$: duplicate key 'status'"]
    assert _violations("ping", b"\xff")[0].startswith("$: 'utf-8' codec can't decode")


def test_unknown_endpoint_and_view_suffix() -> None:
    with pytest.raises(ValueError, match="unknown Subsonic endpoint"):
        validate_json("getAlbumz", _album())
    with pytest.raises(ValueError, match="unknown Subsonic endpoint"):
        validate_json("../schemas/Child", _album())
    validate_json("getAlbum.view", _album())


# ------------------------------------------------------------------------------------------------
# Patched schema slips
# ------------------------------------------------------------------------------------------------


def test_every_slip_applies_and_has_a_reason() -> None:
    for legacy in (False, True):
        api = v._openapi(legacy)
        for slip in KNOWN_SCHEMA_SLIPS + (LEGACY_RELAXATIONS if legacy else ()):
            assert slip.reason and slip.change
            if slip.replace is not None:
                assert slip.file != "*" and slip.pointer is not None
                api.document(v._BASE_URI + slip.file)  # raises RuntimeError when stale
    raw = json.loads((v.OPENAPI_DIR / "schemas" / "JukeboxStatus.json").read_text())
    assert "volume" in raw["properties"], "the vendored file itself stays unchanged"


def test_stale_slip_fails_loudly() -> None:
    slip = v.SchemaSlip("schemas/NowPlaying.json", "/required", "x", "y", v._drop_required("nobody"))
    with pytest.raises(RuntimeError, match="no longer applies"):
        v.apply_slips("schemas/NowPlaying.json", {"required": ["entry"]}, (slip,))


def test_empty_lists_may_be_left_out() -> None:
    album = _album()
    del album["subsonic-response"]["album"]["song"]
    validate_json("getAlbum", album)
    artist = copy.deepcopy(_doc("getArtist"))
    del artist["subsonic-response"]["artist"]["album"]
    validate_json("getArtist", artist)
    now_playing = _doc("ping")
    now_playing["subsonic-response"]["nowPlaying"] = {}
    validate_json("getNowPlaying", now_playing)


def test_album_id3_lists_carry_no_songs() -> None:
    body = copy.deepcopy(_doc("getAlbumList2"))
    body["subsonic-response"]["albumList2"]["album"][0]["song"] = []
    found = _violations("getAlbumList2", body)
    assert found == ["$.subsonic-response.albumList2.album[0].song: [] should not be valid under {}"]


def test_jukebox_gain() -> None:
    body = copy.deepcopy(_doc("jukeboxControl", "OpenSubsonic (Status)"))
    validate_json("jukeboxControl", body)
    body["subsonic-response"]["jukeboxStatus"]["gain"] = "loud"
    assert _violations("jukeboxControl", body) == [
        "$.subsonic-response.jukeboxStatus.gain: 'loud' is not of type 'number'"
    ]
    del body["subsonic-response"]["jukeboxStatus"]["gain"]
    assert _violations("jukeboxControl", body) == [
        "$.subsonic-response.jukeboxStatus: 'gain' is a required property"
    ]


def test_transcode_decision_is_checked_inside_the_envelope() -> None:
    body = copy.deepcopy(_doc("getTranscodeDecision"))
    validate_json("getTranscodeDecision", body)
    del body["subsonic-response"]["transcodeDecision"]["canDirectPlay"]
    body["subsonic-response"]["transcodeDecision"]["sourceStream"]["protocol"] = "ftp"
    assert _violations("getTranscodeDecision", body) == [
        "$.subsonic-response.transcodeDecision: 'canDirectPlay' is a required property",
        "$.subsonic-response.transcodeDecision.sourceStream.protocol: 'ftp' is not one of ['http', 'hls']",
    ]


def test_legacy_relaxations() -> None:
    body = copy.deepcopy(_doc("getPlayQueue", "Subsonic"))
    body["subsonic-response"]["playQueue"]["current"] = 1234
    validate_json("getPlayQueue", body, legacy=True)
    body["subsonic-response"].update(type="x", serverVersion="1", openSubsonic=True)
    assert _violations("getPlayQueue", body) == [
        "$.subsonic-response.playQueue.current: 1234 is not of type 'string'"
    ]


def test_legacy_json_may_carry_the_namespace() -> None:
    ping = _doc("ping", "Subsonic")
    ping["subsonic-response"]["xmlns"] = "http://subsonic.org/restapi"
    validate_json("ping", ping, legacy=True)


def test_retrieve_stays_inside_the_vendored_tree() -> None:
    api = v._openapi(False)
    with pytest.raises(LookupError, match="not in the vendored OpenAPI tree"):
        api.document(v._BASE_URI + "../../../etc/passwd")
    with pytest.raises(LookupError, match="not in the vendored OpenAPI tree"):
        api.document("https://example.org/schemas/Child.json")
    assert api.document(v._BASE_URI + "schemas/Child.json")["required"] == ["id", "isDir", "title"]


def test_nullable_and_integer_semantics() -> None:
    schema = {
        "properties": {"a": {"type": "string", "nullable": True, "enum": ["x"]}, "b": {"nullable": False}}
    }
    assert v._openapi30_to_draft4(schema) == {
        "properties": {"a": {"type": ["string", "null"], "enum": ["x", None]}, "b": {}}
    }
    body = _album()
    body["subsonic-response"]["album"]["duration"] = 4248.0
    body["subsonic-response"]["album"]["song"][0]["size"] = 2**40  # xs:long
    assert _violations("getAlbum", body) == [
        "$.subsonic-response.album.duration: 4248.0 is not of type 'integer'"
    ]


def test_format_is_not_asserted() -> None:
    body = _album()
    body["subsonic-response"]["album"]["created"] = "2021-07-22T02:09:31"  # xs:dateTime without a zone
    validate_json("getAlbum", body)


# ------------------------------------------------------------------------------------------------
# XML
# ------------------------------------------------------------------------------------------------

ALBUM_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<subsonic-response {OS_ROOT}>
  <album id="al-1" name="Forget and Remember" artist="Comfort Fit" artistId="ar-1" coverArt="al-1"
         songCount="2" duration="461" created="2021-07-22T02:09:31Z" year="2005" genre="Hip-Hop">
    <song id="tr-1" parent="al-1" isDir="false" title="Can I Help U?" album="Forget and Remember"
          artist="Comfort Fit" track="1" year="2005" size="2811819" contentType="audio/mpeg" suffix="mp3"
          duration="103" bitRate="216" isVideo="false" type="music" albumId="al-1" artistId="ar-1"/>
    <song id="tr-2" parent="al-1" isDir="false" title="Planetary Picknick" duration="358" type="music"/>
  </album>
</subsonic-response>"""

OS_SONG_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<subsonic-response {OS_ROOT}>
  <song id="tr-1" isDir="false" title="Song" bpm="120" comment="" sortName="song" musicBrainzId="mb-1"
        displayArtist="A &amp; B" displayAlbumArtist="A" displayComposer="C" explicitStatus="clean"
        bitDepth="24" samplingRate="96000" channelCount="2" mediaType="song" played="2024-01-01T00:00:00Z">
    <isrc>USRC17607839</isrc>
    <genres name="Rock"/>
    <genres name="Pop"/>
    <artists id="ar-1" name="A"/>
    <artists id="ar-2" name="B"/>
    <albumArtists id="ar-1" name="A"/>
    <contributors role="performer" subRole="bass"><artist id="ar-3" name="C"/></contributors>
    <moods>happy</moods>
    <replayGain trackGain="-6.5" albumGain="-7" trackPeak="0.98" albumPeak="1"/>
    <works name="Symphony"/>
    <movements name="Allegro" number="1" count="4"/>
    <groupings>g</groupings>
  </song>
</subsonic-response>"""


def _xml_violations(body: str | bytes, **kwargs: Any) -> list[str]:
    with pytest.raises(ConformanceError) as info:
        validate_xml(body.encode() if isinstance(body, str) else body, **kwargs)
    return list(info.value.violations)


def test_xml_ping_and_error_envelopes() -> None:
    validate_xml(f"<subsonic-response {OS_ROOT}/>".encode(), endpoint="ping")
    validate_xml(f"<subsonic-response {LEGACY_ROOT}/>".encode(), legacy=True, endpoint="ping")
    error = '<error code="40" message="Wrong username or password" helpUrl="https://x/"/>'
    validate_xml(f"<subsonic-response {OS_ROOT.replace('ok', 'failed')}>{error}</subsonic-response>".encode())
    legacy_error = '<error code="40" message="Wrong username or password"/>'
    failed_root = LEGACY_ROOT.replace("ok", "failed")
    validate_xml(f"<subsonic-response {failed_root}>{legacy_error}</subsonic-response>".encode(), legacy=True)


def test_xml_album_and_opensubsonic_child() -> None:
    validate_xml(ALBUM_XML.encode(), endpoint="getAlbum")
    validate_xml(OS_SONG_XML.encode(), endpoint="getSong")
    validate_response("getSong", OS_SONG_XML.encode(), "application/xml")
    validate_response("getAlbum", ALBUM_XML.encode(), "text/xml; charset=utf-8")


def test_xml_legacy_rejects_opensubsonic_attributes() -> None:
    found = _xml_violations(f"<subsonic-response {OS_ROOT}/>", legacy=True)
    root = "{http://subsonic.org/restapi}subsonic-response"
    assert found == [
        f"line 1: Element '{root}', attribute '{a}': The attribute '{a}' is not allowed."
        for a in ("type", "serverVersion", "openSubsonic")
    ]
    song = f'<subsonic-response {LEGACY_ROOT}>\n<song id="1" isDir="false" title="t" bpm="120"/>'
    song += "</subsonic-response>"
    bpm = "line 2: Element '{http://subsonic.org/restapi}song', attribute 'bpm': The attribute 'bpm' is"
    assert _xml_violations(song, legacy=True) == [f"{bpm} not allowed."]
    validate_xml(song.replace(LEGACY_ROOT, OS_ROOT).encode())


def test_xml_invalid_samples() -> None:
    bad_rating = ALBUM_XML.replace('title="Planetary Picknick"', 'title="Planetary Picknick" userRating="0"')
    found = _xml_violations(bad_rating)
    assert len(found) == 1 and found[0].startswith("line 8: Element '{http://subsonic.org/restapi}song'")
    no_title = ALBUM_XML.replace(' title="Planetary Picknick"', "")
    assert _xml_violations(no_title) == [
        "line 8: Element '{http://subsonic.org/restapi}song': The attribute 'title' is required but missing."
    ]
    bad_gain = OS_SONG_XML.replace('trackPeak="0.98"', 'trackPeak="-1"')
    assert _xml_violations(bad_gain)[0].startswith(
        "line 14: Element '{http://subsonic.org/restapi}replayGain'"
    )
    nested = OS_SONG_XML.replace('<artist id="ar-3" name="C"/>', '<artist name="C"/>')
    assert "The attribute 'id' is required but missing." in _xml_violations(nested)[0]
    wrong_ns = f"<subsonic-response {OS_ROOT.replace('http://', 'https://')}/>"
    assert "No matching global declaration" in _xml_violations(wrong_ns)[0]


def test_xml_envelope_rules() -> None:
    found = _xml_violations(f"<subsonic-response {LEGACY_ROOT}/>")
    assert found == [
        "line 1: OpenSubsonic attribute 'type' missing on subsonic-response",
        "line 1: OpenSubsonic attribute 'serverVersion' missing on subsonic-response",
        "line 1: OpenSubsonic attribute 'openSubsonic' missing on subsonic-response",
    ]
    failed_without_error = f"<subsonic-response {OS_ROOT.replace('ok', 'failed')}/>"
    assert _xml_violations(failed_without_error) == [
        'line 1: status="failed" needs exactly one <error> child, got []'
    ]
    assert _xml_violations(ALBUM_XML, endpoint="ping") == [
        "line 4: <album> is not a ping payload (no payload)"
    ]
    assert _xml_violations(f"<subsonic-response {OS_ROOT}/>", endpoint="getAlbum") == [
        "line 1: getAlbum response lacks its <album> payload"
    ]


def test_xml_is_parsed_safely() -> None:
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        f"<subsonic-response {OS_ROOT}><error code='0' message='&x;'/></subsonic-response>"
    )
    assert _xml_violations(xxe) == ["line 1: Attribute references external entity 'x', line 1, column 246"]
    doctype = f'<?xml version="1.0"?><!DOCTYPE subsonic-response><subsonic-response {OS_ROOT}/>'
    assert _xml_violations(doctype) == [
        "line 1: DOCTYPE not allowed in a Subsonic response: <!DOCTYPE subsonic-response>"
    ]
    assert _xml_violations(b"<subsonic-response")[0].startswith("line 1: ")
    latin = f'<?xml version="1.0" encoding="ISO-8859-1"?><subsonic-response {OS_ROOT}/>'.encode("latin-1")
    assert _xml_violations(latin) == ["line 1: encoding must be UTF-8, not ISO-8859-1"]


def _doc_xml_responses() -> list[tuple[str, str, str]]:
    """(doc file stem, tab, text) of the doc XML examples that are whole responses.

    The docs leave out the namespace; it is added here as every real response carries it.
    """
    examples = json.loads(DOC_EXAMPLES.read_text(encoding="utf-8"))["examples"]
    return [
        (
            Path(path).stem,
            tab["tab"],
            tab["text"].replace("<subsonic-response ", f"<subsonic-response {NS} ", 1),
        )
        for path, tabs in examples.items()
        for tab in tabs
        if tab["lang"] == "xml" and tab["text"].lstrip().startswith("<subsonic-response ")
    ]


@pytest.mark.parametrize(("stem", "tab", "text"), _doc_xml_responses())
def test_doc_xml_examples(stem: str, tab: str, text: str) -> None:
    if tab.startswith("Subsonic"):
        # The "Subsonic (XML)" getIndexes example carries the OpenSubsonic `type` attribute.
        assert (
            "attribute 'type': The attribute 'type' is not allowed." in _xml_violations(text, legacy=True)[0]
        )
    else:
        validate_xml(text.encode())


def test_xml_schema_is_cached() -> None:
    assert v._xml_schema(False) is v._xml_schema(False)
    assert v._xml_schema(True) is not v._xml_schema(False)


# ------------------------------------------------------------------------------------------------
# validate_response: content-type dispatch
# ------------------------------------------------------------------------------------------------


def test_validate_response_dispatch() -> None:
    ping = json.dumps(_doc("ping")).encode()
    validate_response("ping", ping, "application/json")
    validate_response("ping", b"cb(" + ping + b")", "application/javascript")
    validate_response("ping", b"jQuery.cb_1(" + ping + b");\n", "text/javascript; charset=UTF-8")
    with pytest.raises(ConformanceError, match="callback"):
        validate_response("ping", b"1cb(" + ping + b")", "application/javascript")
    bad = copy.deepcopy(_doc("ping"))
    bad["subsonic-response"]["status"] = "bad"
    with pytest.raises(ConformanceError, match="status"):
        validate_response("ping", b"cb(" + json.dumps(bad).encode() + b")", "text/javascript")
    with pytest.raises(ConformanceError, match="not a Subsonic"):
        validate_response("ping", ping, "text/html")
    with pytest.raises(ConformanceError, match="charset"):
        validate_response("ping", ping, "application/json; charset=iso-8859-1")
    with pytest.raises(ConformanceError, match="is not a ping payload"):
        validate_response("ping", ALBUM_XML.encode(), "text/xml")
