"""Digits that are not ASCII ("²", "١٢٣", "５") pass str.isdigit() but break int() or mean
nothing to us: tag parsers, dates and share positions must treat them as no number."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbsonic.scanner.rows import _year
from orbsonic.scanner.tagvalues import parse_advisory, year_of
from subsonic_api.shapes import _item_date

NOT_ASCII = ["²", "١٢٣", "５", "²²²²", "１９９９"]


@pytest.mark.parametrize("text", NOT_ASCII)
def test_non_ascii_digits_are_no_number(text: str) -> None:
    assert parse_advisory(text) == ""
    assert year_of(text) is None and year_of(text + "-01-01") is None
    assert _year(text) is None
    assert _item_date(text) == {}


@given(st.text(max_size=12))
def test_parsers_never_raise(text: str) -> None:
    parse_advisory(text)
    year_of(text)
    _year(text)
    _item_date(text)


def test_ascii_numbers_still_parse() -> None:
    assert parse_advisory("1") == "explicit" and parse_advisory("2") == "clean"
    assert year_of("1999-05-01") == 1999 and _year("2001") == 2001
    assert _item_date("2001-02-03") == {"year": 2001, "month": 2, "day": 3}
