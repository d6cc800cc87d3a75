"""Do the XML and the JSON answer of one call carry the same data? And two JSON answers?

Both sides are brought to one neutral form (``normal_xml``, ``normal_json``): an object maps each
key to a list of values (an XML attribute, child element or a JSON key, single values and arrays
alike), scalars become canonical strings (``true``/``false``, numbers without trailing ``.0``),
element text is the ``value`` key (the Subsonic JSON mapping, subsonic-spec §5: ``<line
start="0">x</line>`` is ``{"start": 0, "value": "x"}``), and *default* values — ``""``, ``0``,
``false``, ``[]``, ``{}`` — are dropped, because OpenSubsonic JSON must send empty fields that
XML leaves out (spec §5 rule 7). ``differences(a, b)`` lists where two normal forms differ.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

__all__ = ["differences", "normal_json", "normal_xml"]

_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_DEFAULTS = frozenset({"", "0", "false"})
# The envelope is the same data in both, but JSON drops the XML namespace declaration.
_IGNORED_KEYS = frozenset({"xmlns"})


def _canon(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _number(float(value))
    text = str(value)
    if _NUMBER.fullmatch(text.strip()) and len(text) < 25:
        return _number(float(text))
    return text


def _number(x: float) -> str:
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)


def _empty(node: Any) -> bool:
    return (isinstance(node, str) and node in _DEFAULTS) or (isinstance(node, dict) and not node)


def _prune(out: dict[str, list[Any]]) -> Any:
    pruned: dict[str, list[Any]] = {}
    for key, values in out.items():
        kept = [v for v in values if not _empty(v)]
        if kept and key not in _IGNORED_KEYS:
            pruned[key] = kept
    if list(pruned) == ["value"] and len(pruned["value"]) == 1:
        # `<line>text</line>` (no attribute) is "text" in XML and {"value": "text"} in JSON.
        return pruned["value"][0]
    return pruned


def normal_xml(elem: Any) -> Any:
    """The neutral form of an XML element (attributes, children, text as ``value``)."""
    out: dict[str, list[Any]] = {}
    for key, value in elem.attrib.items():
        out.setdefault(etree.QName(key).localname, []).append(_canon(value))
    children = [c for c in elem if isinstance(c.tag, str)]
    text = (elem.text or "").strip()
    if not children and not elem.attrib:
        return _canon(text) if text else {}
    for child in children:
        out.setdefault(etree.QName(child).localname, []).append(normal_xml(child))
    if text and not children:
        out["value"] = [_canon(text)]
    return _prune(out)


def normal_json(node: Any) -> Any:
    """The neutral form of a decoded JSON value."""
    if isinstance(node, dict):
        out: dict[str, list[Any]] = {}
        for key, value in node.items():
            items = value if isinstance(value, list) else [value]
            out[key] = [normal_json(v) for v in items]
        return _prune(out)
    if isinstance(node, list):  # only reached for nested arrays, which Subsonic has none of
        return [normal_json(v) for v in node]
    if isinstance(node, str):
        return _canon(node.strip())
    return _canon(node)


def differences(a: Any, b: Any, path: str = "$", limit: int = 5) -> list[str]:
    """Up to ``limit`` paths where the normal forms ``a`` (XML or first) and ``b`` differ."""
    out: list[str] = []
    _diff(a, b, path, out, limit)
    return out


def _short(x: Any) -> str:
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _diff(a: Any, b: Any, path: str, out: list[str], limit: int) -> None:
    if len(out) >= limit:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a:
                out.append(f"{path}.{key}: only in the second ({_short(b[key])})")
            elif key not in b:
                out.append(f"{path}.{key}: only in the first ({_short(a[key])})")
            else:
                va, vb = a[key], b[key]
                if len(va) != len(vb):
                    out.append(f"{path}.{key}: {len(va)} value(s) vs {len(vb)}")
                else:
                    for i, (x, y) in enumerate(zip(va, vb)):
                        _diff(x, y, f"{path}.{key}[{i}]" if len(va) > 1 else f"{path}.{key}", out, limit)
            if len(out) >= limit:
                return
    elif a != b:
        out.append(f"{path}: {_short(a)} vs {_short(b)}")
