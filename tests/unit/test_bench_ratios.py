"""bench/report.py's comparability rule for the maneki table: a list the peer answers with far
fewer entries (maneki's getStarred2) is "n/c", not a ratio."""

from __future__ import annotations

from typing import Any

from bench.report import maneki_section, ratio_rows


def _side(rps: float, starred: int) -> dict[str, Any]:
    run = {"errors": 0, "rps": rps, "p50_ms": 1.0, "p95_ms": 2.0}
    return {"scenarios": {"getStarred2": {"c1": run, "c16": run}, "getAlbum": {"c1": run, "c16": run}},
            "library": {"list_counts": {"starred2": starred}}}


def test_a_far_shorter_starred_list_is_not_comparable() -> None:
    peer = {"orbsonic": _side(100.0, 700), "maneki": _side(200.0, 12), "tracks": 10_000}
    ratios = dict(ratio_rows(peer, "maneki"))
    assert ratios["getStarred2"] == {"c1": None, "c16": None}
    assert ratios["getAlbum"] == {"c1": 0.5, "c16": 0.5}
    table = "\n".join(maneki_section(peer))
    assert "| getStarred2 |" in table and "n/c" in table.split("| getStarred2 |")[1].split("\n")[0]


def test_an_equally_long_starred_list_gets_its_ratio() -> None:
    peer = {"orbsonic": _side(300.0, 700), "maneki": _side(100.0, 690), "tracks": 10_000}
    assert dict(ratio_rows(peer, "maneki"))["getStarred2"] == {"c1": 3.0, "c16": 3.0}
