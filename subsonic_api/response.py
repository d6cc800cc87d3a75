"""One response tree, rendered as XML, JSON or JSONP.

The tree is plain Python data in the JSON shape of the Subsonic/OpenSubsonic spec
(docs/subsonic-spec.md §2.6), which makes JSON a single `orjson.dumps`:

* a scalar value (str, int, float, bool) is an XML **attribute**;
* a dict is a child **element** named by its key;
* a list is a **repeated** element (of dicts, or of scalars as text elements);
* the key ``"value"`` is the element's **text** (Genre, Lyrics, line …);
* a `Text` (a str subclass) is a child element holding text (AlbumInfo.notes …).

None never appears: builders leave optional attributes out. Empty lists stay `[]` in
JSON (never null, Tempus #540) and vanish in XML. Strings are scrubbed of characters
XML 1.0 forbids (a NUL byte hangs Symfonium; airsonic-pulse JAXBWriterControlCharTest).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.responses import Response

from orbsonic import SERVER_NAME, __version__
from subsonic_api.fragments import SongChild

API_VERSION = "1.16.1"
XMLNS = "http://subsonic.org/restapi"
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_JSONP_CALLBACK = re.compile(r"[A-Za-z_$][A-Za-z0-9_$.]{0,127}")


class Text(str):
    """A string rendered as a child element with text content in XML, a plain string in JSON."""


def clean_text(text: str) -> str:
    """Remove characters that XML 1.0 forbids (C0 controls but tab/LF/CR, surrogates, FFFE/FFFF)."""
    return _ILLEGAL_XML.sub("", text)


@dataclass(frozen=True, slots=True)
class Payload:
    """A successful response: `key` is the payload element ("album", "searchResult3" …),
    `value` its tree; key None means an empty success (ping, star …). A list value (the
    OpenSubsonic root arrays openSubsonicExtensions and sonicMatch) repeats at the root."""

    key: str | None = None
    value: Any = None


@dataclass(frozen=True, slots=True)
class Failure:
    """A failed response: Subsonic error `code` and `message` (docs/subsonic-spec.md §2.5)."""

    code: int
    message: str
    help_url: str | None = None


# Optional Child attributes a `minimal` client profile goes without (orbsonic/clients.py): none
# is needed to browse or play, and none is required by the XSD in any type extending Child.
MINIMAL_DROP = frozenset({"path", "playCount", "created", "isVideo", "averageRating", "bookmarkPosition",
                          "originalWidth", "originalHeight", "transcodedContentType", "transcodedSuffix"})
# Keys under which the tree holds Child objects (song lists, directory children, playlist and
# queue entries, podcast episodes). `album` is not one: in albumList2 it is an AlbumID3.
_CHILD_KEYS = frozenset({"song", "child", "entry", "episode"})


def minimal(tree: Any) -> Any:
    """A copy of a response tree with MINIMAL_DROP removed from every Child."""
    if isinstance(tree, dict):
        return {k: ([_slim(i) for i in v] if isinstance(v, list) else _slim(v)) if k in _CHILD_KEYS
                else minimal(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [minimal(v) for v in tree]
    return tree


def _slim(child: Any) -> Any:
    if not isinstance(child, dict):
        return child
    return {k: minimal(v) for k, v in child.items() if k not in MINIMAL_DROP}


def envelope(result: Payload | Failure, *, opensubsonic: bool = True,
             version: str | None = None) -> dict[str, Any]:
    """The inner `subsonic-response` object for a result.

    With opensubsonic=False (legacy client profile, e.g. DSub) the OpenSubsonic root
    attributes are left out so that the document validates against the plain 1.16.1 XSD.
    `type` is never "subsonic": DSub would take us for Madsonic (client-compat §4.5 #6).
    `version`: the protocol version reported (a client profile's api_version; default ours).
    """
    root: dict[str, Any] = {"status": "ok" if isinstance(result, Payload) else "failed",
                            "version": version or API_VERSION}
    if opensubsonic:
        root.update(type=SERVER_NAME, serverVersion=__version__, openSubsonic=True)
    if isinstance(result, Failure):
        err: dict[str, Any] = {"code": result.code, "message": result.message}
        if result.help_url and opensubsonic:
            err["helpUrl"] = result.help_url
        root["error"] = err
    elif result.key is not None:
        root[result.key] = result.value
    return root


# ---------------------------------------------------------------- XML
# A getPlaylist of 5,000 songs renders ~250,000 attributes, so the per-value work is kept
# to what each type needs: `str.translate` with an escape table costs ~2.7 µs on a 50-character
# path and the per-value scrub regex ~1.5 µs, where the `in`/`replace` chain below is ~0.3 µs
# and the scrub runs once over the encoded document (bytes.translate, a few ms for 4 MB).
# Escaping first and scrubbing after gives the same text as the other way round: the escapes
# add only characters XML allows.

_C0_ILLEGAL = bytes(c for c in range(32) if c not in (9, 10, 13))  # as UTF-8: single bytes


def _escape_attr(v: str) -> str:
    """An attribute value's escapes (quotes, and line breaks and tabs as references, which
    attribute-value normalisation would otherwise turn into spaces)."""
    if "&" in v:
        v = v.replace("&", "&amp;")
    if "<" in v:
        v = v.replace("<", "&lt;")
    if ">" in v:
        v = v.replace(">", "&gt;")
    if '"' in v:
        v = v.replace('"', "&quot;")
    if "\n" in v:
        v = v.replace("\n", "&#10;")
    if "\r" in v:
        v = v.replace("\r", "&#13;")
    if "\t" in v:
        v = v.replace("\t", "&#9;")
    return v


def _escape_text(v: str) -> str:
    """Text content's escapes (a CR as a reference: parsers turn a raw one into LF)."""
    if "&" in v:
        v = v.replace("&", "&amp;")
    if "<" in v:
        v = v.replace("<", "&lt;")
    if ">" in v:
        v = v.replace(">", "&gt;")
    if "\r" in v:
        v = v.replace("\r", "&#13;")
    return v


def _lexical(value: Any) -> str:
    """A scalar in XSD lexical form (booleans true/false, floats as repr), not yet escaped."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def element_text(name: str, value: Any) -> str:
    """One element `name` for a tree value, as to_xml writes it (before the document scrub)."""
    out: list[str] = []
    _element(out, name, value)
    return "".join(out)


def _element(out: list[str], name: str, value: Any) -> None:
    append = out.append
    if type(value) is SongChild:  # a cached song: written from its fragments (fragments.py)
        append(value.to_xml(name))
        return
    if type(value) is not dict and not isinstance(value, dict):
        # a scalar in a list (moods, isrc …) or a Text
        append(f"<{name}>{_escape_text(_lexical(value))}</{name}>")
        return
    append("<" + name)
    children: list[tuple[str, Any]] | None = None
    has_text = "value" in value
    for key, v in value.items():
        t = type(v)
        if has_text and key == "value":
            continue
        if t is str:
            append(f' {key}="{_escape_attr(v)}"')
        elif t is int:
            append(f' {key}="{v}"')
        elif t is bool:
            append(f' {key}="true"' if v else f' {key}="false"')
        elif t is dict or t is list or isinstance(v, (dict, list, Text)):
            if children is None:
                children = []
            children.append((key, v))
        elif v is not None:
            append(f' {key}="{_escape_attr(_lexical(v))}"')
    text = value["value"] if has_text else None
    if children is None and text is None:
        append("/>")
        return
    append(">")
    if text is not None:
        append(_escape_text(_lexical(text)))
    for key, v in children or ():
        if type(v) is list:
            for item in v:
                _element(out, key, item)
        elif isinstance(v, list):
            for item in v:
                _element(out, key, item)
        else:
            _element(out, key, v)
    append(f"</{name}>")


def to_xml(root: dict[str, Any]) -> bytes:
    """Serialise an envelope (from `envelope`) as a UTF-8 XML document in the Subsonic
    namespace, without the characters XML 1.0 forbids."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n']
    _element(out, "subsonic-response", {"xmlns": XMLNS, **root})
    doc = "".join(out)
    if "\ufffe" in doc or "\uffff" in doc:
        doc = _ILLEGAL_XML.sub("", doc)
    try:
        data = doc.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (never valid in XML)
        data = _ILLEGAL_XML.sub("", doc).encode("utf-8")
    return data.translate(None, _C0_ILLEGAL)


# ---------------------------------------------------------------- JSON


def to_json(root: dict[str, Any]) -> bytes:
    """Serialise an envelope as `{"subsonic-response": {...}}` with orjson.

    Text is not scrubbed here: everything stored is cleaned where it enters (the tag
    reader, API writes), so both formats carry the same text without a per-response walk.
    """
    return orjson.dumps({"subsonic-response": root}, default=_json_default,
                        option=orjson.OPT_PASSTHROUGH_SUBCLASS)


def _json_default(value: Any) -> Any:
    """Subclasses in the tree (passed through to here): a SongChild as its cached JSON
    (fragments.py), the others (Text …) as their base type, as orjson would write them."""
    if type(value) is SongChild:
        return value.to_json()
    for base in (str, bool, int, float, dict, list, tuple):
        if isinstance(value, base):
            return base(value)
    raise TypeError(f"not serialisable: {type(value).__name__}")


def valid_callback(name: str | None) -> bool:
    """JSONP callbacks must be plain JS identifiers (dotted paths allowed), like Navidrome."""
    return bool(name) and _JSONP_CALLBACK.fullmatch(name or "") is not None


def render(result: Payload | Failure, fmt: str, *, callback: str | None = None,
           opensubsonic: bool = True, status_code: int = 200, version: str | None = None,
           slim: bool = False) -> Response:
    """Build the HTTP response for a result in format `fmt` ("xml", "json" or "jsonp").

    Unknown formats fall back to XML (the Subsonic default). A JSONP request with a
    missing or unsafe callback gets a JSON error, never script text that could inject.
    Errors are HTTP 200 with status="failed": clients rely on it (spec §2.4) and DSub
    retries anything ≥ 500 five times. `version` and `slim` (MINIMAL_DROP left out) come
    from the client profile (orbsonic/clients.py).
    """
    if slim and isinstance(result, Payload) and result.key is not None:
        result = Payload(result.key, minimal(result.value))
    root = envelope(result, opensubsonic=opensubsonic, version=version)
    if fmt == "json":
        return Response(to_json(root), status_code, media_type="application/json")
    if fmt == "jsonp":
        if not valid_callback(callback):
            bad = envelope(Failure(10 if not callback else 0,
                                   "required parameter 'callback' is missing" if not callback
                                   else "invalid JSONP callback name"), opensubsonic=opensubsonic,
                           version=version)
            return Response(to_json(bad), status_code, media_type="application/json")
        body = f"{callback}(".encode() + to_json(root) + b");"
        return Response(body, status_code, media_type="application/javascript")
    return Response(to_xml(root), status_code, media_type="text/xml; charset=utf-8")
