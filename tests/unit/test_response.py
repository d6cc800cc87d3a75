"""subsonic_api.response: one tree rendered as XML, JSON and JSONP (spec §2.4, §2.6).

The property tests feed arbitrary trees (attributes, text values, nested and repeated
elements, arbitrary text) to the renderers and check that the XML parses, that text
survives minus the characters XML 1.0 forbids, and that XML and JSON carry the same data:
the XML is turned back into the JSON shape by `xml_to_json`, a small converter that
follows the spec's XML ↔ JSON mapping (attributes → properties, repeated elements →
arrays, text content → "value", text-only elements → plain strings).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from orbsonic import SERVER_NAME, __version__
from subsonic_api.response import (
    API_VERSION,
    XMLNS,
    Failure,
    Payload,
    Text,
    clean_text,
    envelope,
    render,
    to_json,
    to_xml,
    valid_callback,
)

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What XML 1.0 allows (production [2] Char); everything else must be dropped from output.
_XML_CHAR = re.compile("[\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]*")


def parse(xml: bytes) -> Any:
    """Parse like a strict client would (no recovery, no entity expansion)."""
    return etree.fromstring(xml, etree.XMLParser(resolve_entities=False, recover=False))


def local(tag: str) -> str:
    assert tag.startswith("{" + XMLNS + "}"), f"element {tag} is not in the Subsonic namespace"
    return tag.split("}", 1)[1]


def scalar_from(text: str, like: Any) -> Any:
    """An XML attribute / text value back in the JSON type of `like`."""
    if isinstance(like, bool):
        assert text in ("true", "false"), text
        return text == "true"
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    return text


def xml_to_json(elem: Any, like: dict[str, Any]) -> dict[str, Any]:
    """Convert an XML element to the JSON mapping of spec §2.6.

    XML does not say whether an element may repeat or what type an attribute has, so the
    tree the renderers got (`like`) is used for exactly that and nothing else: which keys
    are arrays, which are single objects, which strings are text-only child elements, and
    the scalar types. Every attribute and child of `elem` must be accounted for.
    """
    out: dict[str, Any] = {}
    children: dict[str, list[Any]] = {}
    for child in elem:
        children.setdefault(local(child.tag), []).append(child)
    seen_attrs: set[str] = set()
    for key, guide in like.items():
        if key == "value":
            out[key] = scalar_from(elem.text or "", guide)
        elif isinstance(guide, list):
            items = children.pop(key, [])
            assert len(items) == len(guide), (key, len(items), len(guide))
            out[key] = [xml_to_json(c, g) if isinstance(g, dict) else scalar_from(c.text or "", g)
                        for c, g in zip(items, guide)]
        elif isinstance(guide, dict):
            (child,) = children.pop(key)
            out[key] = xml_to_json(child, guide)
        elif isinstance(guide, Text):
            (child,) = children.pop(key)
            assert len(child) == 0 and not child.attrib
            out[key] = child.text or ""
        else:
            assert key in elem.attrib, f"attribute {key} missing"
            seen_attrs.add(key)
            out[key] = scalar_from(elem.attrib[key], guide)
    assert not children, f"unexpected child elements {sorted(children)}"
    assert set(elem.attrib) == seen_attrs, f"unexpected attributes {set(elem.attrib) - seen_attrs}"
    if "value" not in like:
        assert not (elem.text or ""), f"unexpected text {elem.text!r}"
    return out


def cleaned(value: Any) -> Any:
    """The JSON data with XML-illegal characters removed from every string."""
    if isinstance(value, dict):
        return {k: cleaned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [cleaned(v) for v in value]
    if isinstance(value, str):
        return clean_text(value)
    return value


# ---------------------------------------------------------------- strategies

names = st.from_regex(r"[a-z][a-zA-Z0-9]{0,7}", fullmatch=True).filter(
    lambda k: k != "value" and not k.lower().startswith("xml"))
scalars = st.one_of(
    st.text(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _element(children: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """An element: scalar attributes, maybe a text "value", child elements of every kind."""
    child = st.one_of(
        children,                                   # single child object
        st.lists(children, max_size=3),             # repeated elements (maybe empty)
        st.lists(scalars, max_size=3),              # repeated text elements (moods, isrc …)
        st.text().map(Text),                        # text-only child (notes, biography …)
    )
    return st.tuples(
        st.dictionaries(names, scalars, max_size=4),
        st.dictionaries(names, child, max_size=3),
        st.one_of(st.none(), scalars),
    ).map(lambda t: {**t[0], **t[1], **({} if t[2] is None else {"value": t[2]})})


trees = st.recursive(
    st.tuples(st.dictionaries(names, scalars, max_size=4), st.one_of(st.none(), scalars)).map(
        lambda t: {**t[0], **({} if t[1] is None else {"value": t[1]})}),
    _element,
    max_leaves=25,
)


# ---------------------------------------------------------------- properties


@PROPS
@given(key=names, tree=trees)
def test_xml_parses_and_carries_the_same_data_as_json(key: str, tree: dict[str, Any]) -> None:
    root = envelope(Payload(key, tree))
    doc = parse(to_xml(root))
    assert local(doc.tag) == "subsonic-response"
    as_json = json.loads(to_json(root))["subsonic-response"]
    assert as_json == json.loads(json.dumps(root))  # JSON is the tree itself
    assert xml_to_json(doc, root) == cleaned(as_json)


@settings(PROPS, max_examples=50)
@given(items=st.lists(trees, max_size=3))
def test_root_arrays_repeat_at_the_root(items: list[dict[str, Any]]) -> None:
    """openSubsonicExtensions / sonicMatch: repeated elements under the root, an array in JSON."""
    root = envelope(Payload("openSubsonicExtensions", items))
    doc = parse(to_xml(root))
    as_json = json.loads(to_json(root))["subsonic-response"]
    assert as_json["openSubsonicExtensions"] == json.loads(json.dumps(items))
    assert xml_to_json(doc, root) == cleaned(as_json)


@PROPS
@given(text=st.text())
def test_arbitrary_text_round_trips_minus_illegal_characters(text: str) -> None:
    tree = {"attr": text, "single": {"value": text}, "notes": Text(text), "moods": [text, text],
            "nested": [{"deeper": [{"name": text}]}]}
    out = to_xml(envelope(Payload("payload", tree)))
    assert _XML_CHAR.fullmatch(out.decode("utf-8")), "XML-illegal character in output"
    payload = parse(out)[0]
    want = clean_text(text)
    ns = {"s": XMLNS}
    assert payload.get("attr") == want
    assert (payload.find("s:single", ns).text or "") == want
    assert (payload.find("s:notes", ns).text or "") == want
    assert [m.text or "" for m in payload.findall("s:moods", ns)] == [want, want]
    assert payload.find("s:nested/s:deeper", ns).get("name") == want
    assert json.loads(to_json(envelope(Payload("payload", tree))))["subsonic-response"]["payload"]["attr"] == text


@PROPS
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_clean_text_removes_exactly_the_illegal_characters(text: str) -> None:
    out = clean_text(text)
    assert _XML_CHAR.fullmatch(out)
    assert out == "".join(c for c in text if _XML_CHAR.fullmatch(c))


# ---------------------------------------------------------------- examples


def test_envelope_attributes_opensubsonic() -> None:
    doc = parse(to_xml(envelope(Payload())))
    assert doc.tag == "{http://subsonic.org/restapi}subsonic-response"
    assert dict(doc.attrib) == {"status": "ok", "version": "1.16.1", "type": "orbsonic",
                                "serverVersion": __version__, "openSubsonic": "true"}
    assert API_VERSION == "1.16.1" and SERVER_NAME == "orbsonic" and SERVER_NAME != "subsonic"
    body = json.loads(to_json(envelope(Payload())))
    assert body == {"subsonic-response": {"status": "ok", "version": "1.16.1", "type": "orbsonic",
                                          "serverVersion": __version__, "openSubsonic": True}}


def test_envelope_legacy_profile_has_no_opensubsonic_attributes() -> None:
    root = envelope(Failure(40, "Wrong username or password", "https://example.org/help"), opensubsonic=False)
    assert root == {"status": "failed", "version": "1.16.1",
                    "error": {"code": 40, "message": "Wrong username or password"}}
    doc = parse(to_xml(root))
    assert set(doc.attrib) == {"status", "version"}
    assert dict(doc[0].attrib) == {"code": "40", "message": "Wrong username or password"}


def test_failure_json_has_numeric_code_and_help_url() -> None:
    body = json.loads(to_json(envelope(Failure(44, "Invalid API key", "https://h.example/"))))
    assert body["subsonic-response"]["status"] == "failed"
    assert body["subsonic-response"]["error"] == {"code": 44, "message": "Invalid API key",
                                                  "helpUrl": "https://h.example/"}


def test_empty_lists_stay_lists_in_json_and_vanish_in_xml() -> None:
    root = envelope(Payload("searchResult3", {"artist": [], "album": [], "song": []}))
    assert json.loads(to_json(root))["subsonic-response"]["searchResult3"] == {"artist": [], "album": [],
                                                                                "song": []}
    doc = parse(to_xml(root))
    assert len(doc) == 1 and len(doc[0]) == 0 and local(doc[0].tag) == "searchResult3"


def test_value_text_and_typed_scalars() -> None:
    root = envelope(Payload("genres", {"genre": [{"songCount": 3, "albumCount": 1, "value": "Rock"}]}))
    assert b'<genre songCount="3" albumCount="1">Rock</genre>' in to_xml(root)
    root = envelope(Payload("x", {"flag": False, "n": 7, "gain": -6.5, "moods": ["a", "b"],
                                  "notes": Text("1 < 2 & 3")}))
    xml = to_xml(root)
    assert b'flag="false"' in xml and b'n="7"' in xml and b'gain="-6.5"' in xml
    assert b"<moods>a</moods><moods>b</moods>" in xml and b"<notes>1 &lt; 2 &amp; 3</notes>" in xml
    assert json.loads(to_json(root))["subsonic-response"]["x"] == {
        "flag": False, "n": 7, "gain": -6.5, "moods": ["a", "b"], "notes": "1 < 2 & 3"}


@pytest.mark.parametrize("value, text", [(True, "true"), (False, "false"), (3, "3"), (1.5, "1.5")])
def test_text_values_are_rendered_like_attributes(value: Any, text: str) -> None:
    """A typed "value" (xs:boolean, xs:int content) is written in XSD lexical form."""
    xml = to_xml(envelope(Payload("x", {"value": value, "items": [value]})))
    payload = parse(xml)[0]
    assert payload.text == text and payload[0].text == text


def test_whitespace_in_attributes_survives_parsing() -> None:
    doc = parse(to_xml(envelope(Payload("x", {"a": "l1\nl2\r\n\tend", "value": "t\r\n"}))))
    assert doc[0].get("a") == "l1\nl2\r\n\tend" and doc[0].text == "t\r\n"


# ---------------------------------------------------------------- render


def test_render_formats_and_content_types() -> None:
    ok = Payload("license", {"valid": True})
    xml = render(ok, "xml")
    assert xml.status_code == 200 and xml.media_type.startswith("text/xml")
    assert parse(xml.body)[0].get("valid") == "true"
    js = render(ok, "json")
    assert js.media_type == "application/json"
    assert json.loads(js.body)["subsonic-response"]["license"] == {"valid": True}
    unknown = render(ok, "yaml")
    assert unknown.media_type.startswith("text/xml") and unknown.body == xml.body


def test_render_jsonp_wraps_json_in_the_callback() -> None:
    r = render(Payload("license", {"valid": True}), "jsonp", callback="cb")
    assert r.media_type == "application/javascript"
    body = r.body.decode()
    assert body.startswith("cb(") and body.endswith(");")
    assert json.loads(body[3:-2]) == json.loads(render(Payload("license", {"valid": True}), "json").body)


@pytest.mark.parametrize("callback, code", [(None, 10), ("", 10), ("alert(1);x", 0), ("a b", 0),
                                            ("</script>", 0), ("x" * 500, 0), ("1abc", 0)])
def test_render_jsonp_bad_callback_is_a_json_error_never_script(callback: str | None, code: int) -> None:
    r = render(Payload(), "jsonp", callback=callback)
    assert r.media_type == "application/json"
    body = json.loads(r.body)["subsonic-response"]
    assert body["status"] == "failed" and body["error"]["code"] == code
    assert callback is None or callback == "" or callback.encode() not in r.body[:len(callback)]


@pytest.mark.parametrize("name", ["cb", "jQuery123_456", "$", "a.b.c", "_x"])
def test_valid_callbacks(name: str) -> None:
    assert valid_callback(name)


@PROPS
@given(name=st.text())
def test_valid_callback_never_accepts_script(name: str) -> None:
    if valid_callback(name):
        assert re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$.]*", name)


@pytest.mark.parametrize("bad", ["\x00", "\x0b", "\x1f", "\ud800", "\udfff", "\ufffe", "\uffff"])
def test_each_illegal_character_is_dropped_wherever_it_stands(bad: str) -> None:
    """The scrub runs once over the whole document (after escaping): a C0 control, a lone
    surrogate (the document would not even encode) or U+FFFE/U+FFFF goes from attributes,
    text values, text elements and list items alike, the text around it intact."""
    text = f"a{bad}<b> & \"c\"{bad}é"
    tree = {"attr": text, "single": {"value": text}, "notes": Text(text), "moods": [text], "n": 1}
    out = to_xml(envelope(Payload("payload", tree)))
    assert _XML_CHAR.fullmatch(out.decode("utf-8"))
    payload = parse(out)[0]
    ns = {"s": XMLNS}
    want = 'a<b> & "c"é'
    assert payload.get("attr") == want and payload.get("n") == "1"
    assert payload.find("s:single", ns).text == want and payload.find("s:notes", ns).text == want
    assert [m.text for m in payload.findall("s:moods", ns)] == [want]
