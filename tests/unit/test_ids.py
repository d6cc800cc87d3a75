"""Public ids: opaque, never containing ';', stable, round-tripping; natural-key ids stable."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbsonic.errors import BadParam
from orbsonic.ids import cover_id, fold, key_id, parse_cover_id, parse_id, public_id

KINDS = ["tr", "al", "ar", "dr", "pl"]


@given(st.sampled_from(KINDS), st.integers(0, (1 << 63) - 1))
def test_public_id_round_trip(kind, n):
    text = public_id(kind, n)
    assert ";" not in text and text.isascii()
    assert parse_id(text) == (kind, n)
    assert parse_id(text, kind) == (kind, n)


@given(st.text())
def test_parse_id_rejects_or_parses(text):
    try:
        kind, n = parse_id(text)
    except BadParam:
        return
    assert public_id(kind, n) == text.strip()


def test_wrong_kind_rejected():
    with pytest.raises(BadParam):
        parse_id("al-1", "tr")


@given(st.sampled_from(["al", "ar", "dr", "tr"]), st.integers(1, (1 << 63) - 1), st.integers(0, 1 << 40))
def test_cover_ids(kind, n, version):
    text = cover_id(kind, n, version)
    k, m, canonical = parse_cover_id(text)
    assert (k, m, canonical) == (kind, n, text)


def test_key_ids_are_stable_and_positive():
    a = key_id("album", "björk", "homogenic")
    assert a == key_id("album", "björk", "homogenic") and 0 < a < 1 << 63
    assert a != key_id("album", "bjork", "homogenic")


def test_fold():
    assert fold("Björk") == "bjork"
    assert fold("  Sigur   Rós ") == "sigur ros"
    assert fold("STRASSE") == fold("straße")
    assert fold(None) == ""
