"""subsonic_api.params: typed getters over the merged GET/POST multi-dict."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbsonic.errors import BadParam, MissingParam, NotFound
from orbsonic.ids import KINDS, public_id
from subsonic_api.params import Params, parse_int

PROPS = settings(max_examples=200, deadline=None)
keys = st.sampled_from(["id", "songId", "size", "x", "u"])
values = st.text(st.characters(exclude_characters="\x00"), max_size=12)  # NUL: see below


@PROPS
@given(n=st.integers(), lo=st.integers(-1000, 1000), span=st.integers(0, 1000))
def test_int_clamps_into_range(n: int, lo: int, span: int) -> None:
    hi = lo + span
    p = Params([("size", str(n))])
    assert p.int("size", lo=lo, hi=hi) == min(max(n, lo), hi)
    if lo <= n <= hi:
        assert p.int("size", lo=lo, hi=hi, clamp=False) == n
    else:
        with pytest.raises(BadParam):
            p.int("size", lo=lo, hi=hi, clamp=False)


INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)


@PROPS
@given(n=INT64, pad=st.sampled_from(["", " ", "  ", "\t"]))
def test_int_round_trips_and_ignores_surrounding_space(n: int, pad: str) -> None:
    assert Params([("n", f"{pad}{n}{pad}")]).int("n") == n
    assert Params([("n", str(n))]).opt_int("n") == n


@PROPS
@given(n=st.integers(min_value=2**63, max_value=10**40 - 1) | st.integers(min_value=-(10**40) + 1,
                                                                      max_value=-(2**63) - 1))
def test_int_beyond_64_bits_is_clamped_to_bigint(n: int) -> None:
    """offset=99999999999999999999 must not reach PostgreSQL (NumericValueOutOfRange)."""
    expected = 2**63 - 1 if n > 0 else -(2**63)
    assert Params([("offset", str(n))]).int("offset") == expected
    assert Params([("offset", str(n))]).int("offset", 0, lo=0) == (expected if n > 0 else 0)
    assert Params([("offset", str(n))]).opt_int("offset") == expected
    with pytest.raises(BadParam):
        Params([("offset", str(n))]).int("offset", clamp=False)


ASCII_INTEGER = re.compile(r"[+-]?[0-9]{1,40}", re.ASCII)


@PROPS
@given(text=st.text(min_size=1).filter(lambda t: t.strip() != ""))
def test_int_rejects_non_integers(text: str) -> None:
    """Only an optional sign and 1–40 ASCII digits are an integer; anything else is
    BadParam, never another exception (`int()` raises on "²", takes "١٢" and "1_0")."""
    if ASCII_INTEGER.fullmatch(text.strip()):
        assert Params([("n", text)]).int("n") == max(min(int(text.strip()), 2**63 - 1), -(2**63))
    else:
        with pytest.raises(BadParam):
            Params([("n", text)]).int("n")
        assert parse_int(text) is None


DIGIT_LOOKALIKES = st.sampled_from(["²", "³", "¹", "١", "٣", "۴", "५", "๓", "１", "𝟓", "⑤", "_", "Ⅳ"])


@PROPS
@given(n=st.integers(0, 10**12), odd=DIGIT_LOOKALIKES, at=st.integers(0, 14))
def test_int_rejects_non_ascii_digits(n: int, odd: str, at: int) -> None:
    """`"²".isdigit()` is true and int("١٢") == 12: neither is a Subsonic number."""
    text = str(n)
    text = text[:at] + odd + text[at:]
    with pytest.raises(BadParam):
        Params([("size", text)]).int("size", 10, lo=0, hi=500)
    with pytest.raises(BadParam):
        Params([("size", text)]).opt_int("size")
    assert parse_int(text) is None


@PROPS
@given(extra=st.integers(41, 20_000), digit=st.sampled_from("0129"))
def test_int_rejects_overlong_digit_strings_quickly(extra: int, digit: str) -> None:
    """More than 40 digits is not a number anyone means; 4,301 of them made int() raise
    ValueError (issue 6 §2). The error message quotes only the start of the value."""
    text = digit * extra
    with pytest.raises(BadParam) as exc:
        Params([("offset", text)]).int("offset", 0, lo=0)
    assert len(str(exc.value)) < 200
    assert parse_int(text) is None


@PROPS
@given(text=st.text(max_size=60))
def test_parse_int_never_raises_and_agrees_with_the_grammar(text: str) -> None:
    value = parse_int(text)
    if ASCII_INTEGER.fullmatch(text.strip()):
        assert value == int(text.strip())
    else:
        assert value is None


def test_int_missing_and_empty() -> None:
    with pytest.raises(MissingParam):
        Params([]).int("size")
    with pytest.raises(MissingParam):
        Params([("size", "")]).int("size")
    assert Params([("size", "")]).int("size", 10) == 10
    assert Params([]).int("size", 10) == 10
    assert Params([]).opt_int("size") is None and Params([("size", "")]).opt_int("size") is None
    with pytest.raises(BadParam):
        Params([("size", "ten")]).int("size", 10)


@pytest.mark.parametrize("text, value", [("true", True), ("TRUE", True), ("True", True), ("1", True),
                                         ("yes", True), ("on", True), (" true ", True), ("false", False),
                                         ("False", False), ("0", False), ("no", False), ("off", False)])
def test_bool_values(text: str, value: bool) -> None:
    assert Params([("b", text)]).bool("b") is value
    assert Params([("b", text)]).bool("b", not value) is value


@PROPS
@given(default=st.booleans(), present=st.sampled_from([None, "", "  "]))
def test_bool_default_when_absent_or_empty(default: bool, present: str | None) -> None:
    p = Params([] if present is None else [("b", present)])
    assert p.bool("b", default) is default


@PROPS
@given(text=st.text(min_size=1).filter(lambda t: t.strip().lower() not in
                                       {"", "true", "false", "1", "0", "yes", "no", "on", "off"}))
def test_bool_rejects_other_text(text: str) -> None:
    with pytest.raises(BadParam):
        Params([("b", text)]).bool("b")


@PROPS
@given(items=st.lists(st.tuples(keys, values), max_size=20))
def test_repeated_params_keep_every_value_in_order(items: list[tuple[str, str]]) -> None:
    p = Params(items)
    for key in {k for k, _ in items}:
        sent = [v for k, v in items if k == key]
        assert p.list(key) == [v for v in sent if v != ""]
        assert p.get(key) == sent[0]
        assert key in p
        assert p.has(key) is (sent[0] != "")
        if sent[0] != "":
            assert p.str(key) == sent[0]
    assert p.list("absent") == [] and p.get("absent") is None and p.get("absent", "d") == "d"
    assert "absent" not in p and not p.has("absent")


def test_nul_characters_are_bad_params() -> None:
    """PostgreSQL text cannot hold NUL: a query with one would fail as an internal error."""
    p = Params([("username", "a\x00b"), ("genre", "Rock"), ("genre", "Po\x00p")])
    with pytest.raises(BadParam):
        p.str("username")
    with pytest.raises(BadParam):
        p.list("genre")
    assert p.get("username") == "a\x00b"  # raw access is unchanged
    with pytest.raises(NotFound):  # a NUL in an id: it names nothing (70)
        Params([("id", "al-1\x00")]).id("id")
    with pytest.raises(NotFound):
        Params([("id", "al-1"), ("id", "\x00")]).ids("id")


def test_str_missing_empty_default() -> None:
    with pytest.raises(MissingParam) as exc:
        Params([]).str("u")
    assert exc.value.name == "u"
    with pytest.raises(MissingParam):
        Params([("u", "")]).str("u")
    assert Params([("u", "")]).str("u", "dflt") == "dflt"
    assert Params([("u", "")]).get("u") == ""


@PROPS
@given(kind=st.sampled_from(sorted(KINDS)), n=st.integers(0, 2**63 - 1))
def test_id_round_trips_public_ids(kind: str, n: int) -> None:
    text = public_id(kind, n)
    assert Params([("id", text)]).id("id") == (kind, n)
    assert Params([("id", text)]).id("id", kind) == (kind, n)
    assert Params([("id", text), ("id", text)]).ids("id", kind) == [(kind, n), (kind, n)]
    other = next(k for k in sorted(KINDS) if k != kind)
    with pytest.raises(NotFound):  # an id of another kind names nothing of this kind
        Params([("id", text)]).id("id", other)


@PROPS
@given(text=st.text(min_size=1).filter(lambda t: t.strip() != ""))
def test_malformed_ids_raise_not_found(text: str) -> None:
    """Anything that is not `<kind>-<base36>` is NotFound (70), never BadParam or a crash."""
    p = Params([("id", text)])
    try:
        kind, n = p.id("id")
    except NotFound:
        assert not re.fullmatch(r"(tr|al|ar|dr|pl)-[0-9a-z]{1,12}", text.strip())
    else:  # the text happened to be a well-formed public id
        assert re.fullmatch(r"(tr|al|ar|dr|pl)-[0-9a-z]{1,13}", text.strip())
        assert int(text.strip()[3:], 36) == n and text.strip()[:2] == kind


@pytest.mark.parametrize("text", ["garbage", "al-", "al-ZZ", "xx-12", "al-1;al-2", "12", "al-" + "z" * 14,
                                  "al-zzzzzzzzzzzzz", "-1", "al--1", "al-1 2"])
def test_malformed_id_examples_raise_not_found(text: str) -> None:
    with pytest.raises(NotFound):
        Params([("id", text)]).id("id", "al")
    with pytest.raises(NotFound):
        Params([("id", "al-1"), ("id", text)]).ids("id", "al")


def test_id_missing_is_missing_param() -> None:
    with pytest.raises(MissingParam):
        Params([]).id("id", "al")
    with pytest.raises(MissingParam):
        Params([("id", "")]).id("id", "al")
    assert Params([]).ids("id", "al") == [] and Params([("id", "")]).ids("id") == []
