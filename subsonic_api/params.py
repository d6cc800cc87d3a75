"""Typed access to Subsonic request parameters.

GET query and POST form body are merged into one multi-dict, keeping repeated keys
(`id=1&id=2`): the OpenSubsonic `formPost` extension and old DSub builds, which POST
with the parameters still in the URL (client-compat §4.1), need both.

Getter grammar (after gonic's params package): `str`, `int`, `bool`, `id`, each with a
default or required, and `list`/`ids` for repeated keys. Missing required values raise
MissingParam (error 10), malformed ones BadParam (error 0 with the reason).

Numbers are ASCII decimal digits only, at most MAX_DIGITS of them (`parse_int`). Python's
`int()` also takes Arabic-Indic digits and `1_000`, raises on `²` (which passes
`str.isdigit()`), and raises beyond 4,300 digits: `v=1.<4,301 nines>.0` and `scrobble
time=²` were internal errors (issue 6 §2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from orbsonic.errors import BadParam, MissingParam, NotFound
from orbsonic.ids import parse_id

_INT64 = (-(2**63), 2**63 - 1)  # PostgreSQL bigint: anything wider cannot reach a query
# Enough for any 64-bit value with leading zeros (clients send offset=0000…); longer text is
# not a number anyone means, and converting it would cost quadratic time.
MAX_DIGITS = 40
_INTEGER = re.compile(rf"[+-]?[0-9]{{1,{MAX_DIGITS}}}", re.ASCII)
_SHOWN = 40  # characters of a bad value quoted back in an error message
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})
_MISSING = object()


class Params:
    """Immutable multi-valued request parameters with typed getters."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        merged: dict[str, list[str]] = {}
        for key, value in items:
            merged.setdefault(key, []).append(value)
        self._items = merged

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def pairs(self) -> list[tuple[str, str]]:
        """Every (name, value) as sent, grouped by name."""
        return [(k, v) for k, values in self._items.items() for v in values]

    def has(self, name: str) -> bool:
        """True when the parameter is present with a non-empty first value."""
        values = self._items.get(name)
        return bool(values and values[0] != "")

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value as sent (may be ""), or `default` when absent."""
        values = self._items.get(name)
        return values[0] if values else default

    def str(self, name: str, default: object = _MISSING) -> str:
        """First non-empty value; `default` when absent or empty, else MissingParam.
        A NUL character (which PostgreSQL text cannot hold) is BadParam."""
        value = self.get(name)
        if value is None or value == "":
            if default is _MISSING:
                raise MissingParam(name)
            return default  # type: ignore[return-value]
        return _no_nul(name, value)

    def int(self, name: str, default: object = _MISSING, *, lo: int | None = None,
            hi: int | None = None, clamp: bool = True) -> int:
        """Integer value. Out of [lo, hi]: clamped (clamp=True, e.g. size=999999999 → 500;
        Aonsoku asks for that) or BadParam. Without bounds, the 64-bit range applies."""
        value = self.get(name)
        if value is None or value.strip() == "":
            if default is _MISSING:
                raise MissingParam(name)
            return default  # type: ignore[return-value]
        n = parse_int(value)
        if n is None:
            raise BadParam(name, f"{shown(value)} is not an integer")
        lo = _INT64[0] if lo is None else lo
        hi = _INT64[1] if hi is None else hi
        if n < lo:
            if not clamp:
                raise BadParam(name, f"must be at least {lo}")
            n = lo
        if n > hi:
            if not clamp:
                raise BadParam(name, f"must be at most {hi}")
            n = hi
        return n

    def opt_int(self, name: str) -> int | None:
        """Integer value or None when absent or empty."""
        return self.int(name, None) if self.has(name) else None

    def bool(self, name: str, default: bool = False) -> bool:
        """Subsonic booleans are "true"/"false"; 1/0 and yes/no are accepted too."""
        value = self.get(name)
        if value is None or value.strip() == "":
            return default
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
        raise BadParam(name, f"{shown(value)} is not a boolean")

    def list(self, name: str) -> list[str]:
        """Every non-empty value of a repeated parameter, in request order."""
        return [_no_nul(name, v) for v in self._items.get(name, ()) if v != ""]

    def id(self, name: str, *kinds: str) -> tuple[str, int]:
        """A required public id of one of `kinds`: (kind, internal id).

        An id that is malformed or of another kind names nothing we have, so it raises
        NotFound (error 70), as a well-formed id without a row does.
        """
        text = self.get(name)
        if not text:
            raise MissingParam(name)
        return _parse(text, kinds, name)

    def ids(self, name: str, *kinds: str) -> list[tuple[str, int]]:
        """Every value of a repeated id parameter, parsed (NotFound as in `id`)."""
        return [_parse(v, kinds, name) for v in self._items.get(name, ()) if v != ""]


def parse_int(text: str) -> int | None:
    """The integer a parameter value spells, or None: optional sign and 1..MAX_DIGITS ASCII
    digits, surrounding whitespace ignored. Never raises; the result is not range-checked."""
    text = text.strip()
    return int(text) if _INTEGER.fullmatch(text) else None


def shown(value: str) -> str:
    """A parameter value quoted for an error message, cut to a readable length."""
    return repr(value) if len(value) <= _SHOWN else repr(value[:_SHOWN]) + f"… ({len(value)} characters)"


def _no_nul(name: str, value: str) -> str:
    if "\x00" in value:
        raise BadParam(name, "contains a NUL character")
    return value


def _parse(text: str, kinds: tuple[str, ...], name: str) -> tuple[str, int]:
    try:
        return parse_id(text, *kinds, param=name)
    except BadParam:
        raise NotFound("item", text) from None
