"""Property tests for the parsers hostile input reaches first: the protocol version `v` and
the search query (issue 6 §2). Whatever the text, the answer is a domain error or a value,
never ValueError or a statement PostgreSQL refuses."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbsonic.errors import BadParam, MissingParam
from orbsonic.library.search import MAX_QUERY_CHARS, MAX_WORDS, normalize_query, query_words
from subsonic_api.auth import check_version
from subsonic_api.errors import ClientTooOld, ServerTooOld
from subsonic_api.params import Params

PROPS = settings(max_examples=300, deadline=None)
digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=8)
odd_digits = st.text(st.sampled_from("0129²³١٣۴५１𝟓_"), min_size=1, max_size=8)
parts = digits | odd_digits | st.text(st.sampled_from("9"), min_size=4000, max_size=4400)


@PROPS
@given(major=parts, minor=parts, patch=st.none() | parts, pad=st.sampled_from(["", " "]))
def test_check_version_never_crashes(major: str, minor: str, patch: str | None, pad: str) -> None:
    v = f"{pad}{major}.{minor}" + (f".{patch}" if patch is not None else "") + pad
    ascii_ok = all(p is None or (p.isascii() and p.isdigit() and len(p) <= 6) for p in (major, minor, patch))
    try:
        check_version(Params([("v", v), ("c", "pytest")]))
    except BadParam as exc:
        assert not ascii_ok and len(str(exc)) < 200
    except (ClientTooOld, ServerTooOld):
        assert ascii_ok
    else:
        assert ascii_ok and int(major) == 1 and int(minor) <= 16


@PROPS
@given(text=st.text(max_size=40))
def test_check_version_any_text(text: str) -> None:
    with contextlib.suppress(BadParam, MissingParam, ClientTooOld, ServerTooOld):
        check_version(Params([("v", text), ("c", "pytest")]))


@PROPS
@given(words=st.lists(st.text(min_size=1, max_size=12), max_size=200),
       sep=st.sampled_from([" ", "  ", "\t", "-"]))
def test_search_query_is_bounded(words: list[str], sep: str) -> None:
    query = normalize_query(sep.join(words))
    assert len(query) <= MAX_QUERY_CHARS
    used = query_words(query)
    assert len(used) <= MAX_WORDS and len(set(used)) == len(used)
    assert all(w in query for w in used)


def test_fifty_thousand_words() -> None:
    query = normalize_query(" ".join(f"w{i}" for i in range(50_000)))
    assert len(query) <= MAX_QUERY_CHARS and query_words(query) == [f"w{i}" for i in range(MAX_WORDS)]
    assert query_words(normalize_query("beat " * 50_000)) == ["beat"]


@pytest.mark.parametrize("text", ["é" * 10_000, "ﷺ" * 5_000, "\x00" * 10_000])
def test_expanding_and_control_characters(text: str) -> None:
    """NFKD can expand one character into many (ﷺ → 18): the cut is made after folding too."""
    assert len(normalize_query(text)) <= MAX_QUERY_CHARS
