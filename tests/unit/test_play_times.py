"""Client times: scrobble `time` (orbsonic.library.plays.play_time) and share `expires`
(orbsonic.library.shares.expiry_from_ms), and the probe drawing of random samples."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orbsonic.errors import BadParam
from orbsonic.library.plays import play_time
from orbsonic.library.sampling import _draw
from orbsonic.library.shares import expiry_from_ms

NOW = 1_750_000_000.0  # s
PROPS = settings(max_examples=300, deadline=None)


@PROPS
@given(ms=st.integers(min_value=100_000_000_001, max_value=int(NOW * 1000)))
def test_ms_times_are_kept_to_the_millisecond(ms: int) -> None:
    got = play_time(ms, NOW)
    assert got.tzinfo is not None and abs(got.timestamp() * 1000 - ms) < 1


@PROPS
@given(s=st.integers(min_value=1, max_value=int(NOW)))
def test_second_times_are_scaled(s: int) -> None:
    """SubMusic sends seconds: anything below 1e11 cannot be ms of a real play (1973)."""
    assert play_time(s, NOW) == datetime.fromtimestamp(s, UTC)


@PROPS
@given(ms=st.one_of(st.none(), st.integers(max_value=0), st.integers(min_value=int(NOW * 1000) + 1,
                                                                     max_value=2**62)))
def test_missing_and_future_times_are_now(ms: int | None) -> None:
    assert play_time(ms, NOW) == datetime.fromtimestamp(NOW, UTC)


@PROPS
@given(ms=st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_share_expiry_never_raises_anything_but_bad_param(ms: int) -> None:
    try:
        got = expiry_from_ms(ms)
    except BadParam as exc:
        assert exc.name == "expires"
        return
    assert (got is None) == (ms == 0)
    if got is not None:
        assert got.tzinfo is not None


def test_share_expiry_units() -> None:
    assert expiry_from_ms(None) is None and expiry_from_ms(0) is None
    assert expiry_from_ms(1_800_000_000_000) == datetime.fromtimestamp(1_800_000_000, UTC)
    assert expiry_from_ms(1_800_000_000) == datetime.fromtimestamp(1_800_000_000, UTC)
    with pytest.raises(BadParam):
        expiry_from_ms(-1)


@PROPS
@given(lo=st.integers(-50, 50), span=st.integers(1, 300), k=st.integers(0, 400),
       taken=st.sets(st.integers(0, 299), max_size=100))
def test_draw_gives_distinct_unprobed_values_in_range(lo: int, span: int, k: int, taken: set[int]) -> None:
    hi = lo + span - 1
    probed = {lo + t for t in taken if t < span}
    got = _draw(lo, hi, k, probed)
    assert len(got) == len(set(got)) == min(k, span - len(probed))
    assert all(lo <= v <= hi and v not in probed for v in got)
