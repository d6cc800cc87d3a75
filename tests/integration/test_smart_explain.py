"""EXPLAIN checks for smart-playlist rules (orbsonic/library/smart.py): on the 100k-track library
of test_explain.py, a selective rule on each field is answered from an index (schema/0014), never
by a Seq Scan of tracks or annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orbsonic.library.smart import Rules, compile_rules
from tests.integration.test_explain import big_db, table_rows  # noqa: F401  (module fixtures)

RULES = [
    {"field": "year", "op": "is", "value": 1800},
    {"field": "year", "op": "gt", "value": 3000},
    {"field": "added", "op": "gt", "value": "2100-01-01"},
    {"field": "durationMs", "op": "lt", "value": 1},
    {"field": "bitDepth", "op": "is", "value": 64},
    {"field": "sampleRate", "op": "gt", "value": 10_000_000},
    {"field": "format", "op": "is", "value": "xyz"},
    {"field": "artist", "op": "contains", "value": "qqzzx"},
    {"field": "album", "op": "startsWith", "value": "qqzzx"},
    {"field": "title", "op": "is", "value": "qqzzx"},
    {"field": "genre", "op": "is", "value": "no such genre"},
    {"field": "starred", "op": "is", "value": True},
    {"field": "rating", "op": "is", "value": 5},
    {"field": "playCount", "op": "gt", "value": 100_000},
    {"field": "lastPlayed", "op": "gt", "value": "2100-01-01"},
]


def _seq_scans(plan: dict[str, Any]) -> list[str]:
    found = [plan["Relation Name"]] if plan.get("Node Type") == "Seq Scan" else []
    for child in plan.get("Plans", []):
        found += _seq_scans(child)
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r['field']}-{r['op']}")
def test_a_selective_rule_uses_an_index(big_db: tuple[str, Path], rule: dict[str, Any]) -> None:  # noqa: F811
    url = big_db[0]
    with psycopg.connect(url) as conn:
        owner = conn.execute("SELECT id FROM users WHERE is_admin ORDER BY id LIMIT 1").fetchone()[0]
        query, params = compile_rules(Rules.model_validate({"rules": [rule]}), owner, None)
        text = query.as_string(conn)
        row = conn.execute("EXPLAIN (FORMAT JSON) " + text, params).fetchone()
    plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
    scans = [r for r in _seq_scans(plan[0]["Plan"]) if r in ("tracks", "annotations", "track_genres")]
    assert not scans, (rule, json.dumps(plan)[:3000])
