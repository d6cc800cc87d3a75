"""Text search tiers (orbsonic/library/search.py) on a library built in SQL.

The same query must give the same pages whichever way a tier is read: before ANALYZE
(no statistics: every page collected and sorted) and after it (common words: the prefix
btree range and a budgeted walk of the sort index). The order is checked against its
definition, computed here in Python: word matches whose text starts with the query first,
by text in code point order then id; then the other word matches by sort_title then id
(the database's collation: asked of PostgreSQL); then trigram matches.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import psycopg
import pytest
from psycopg import AsyncConnection

from orbsonic.library import search

N = 3000
WORDS = ["alpha", "beta", "gamma", "delta", "ember", "falcon", "garnet", "harbor", "indigo", "jasper", "kestrel"]
# track i: four title shapes around the common word "river" (its share ~3/4, so it is
# walked), a rare word (zephyr) on every 100th, identical titles (sort ties), and
# identical search texts (ties inside the starting tier).
BUILD = f"""
INSERT INTO tracks (id, folder_id, directory_id, path, size, mtime_ns, suffix, content_type, title, sort_title,
                    album_id, album_name, artist_name, pid, search_text, created_at)
SELECT i, 1, 1, 't/' || i || '.mp3', 1, 1, 'mp3', 'audio/mpeg', t.title, t.title, 1 + i %% 11,
       'Album ' || (i %% 11), 'Artist ' || (i %% 7), md5(i::text),
       lower(t.title) || ' artist ' || (i %% 7) || ' album ' || (i %% 11), now()
  FROM generate_series(1, {N}) i
 CROSS JOIN LATERAL (SELECT (%(words)s::text[])[1 + i %% {len(WORDS)}] AS w) w
 CROSS JOIN LATERAL (SELECT CASE WHEN i %% 100 = 0 THEN 'Zephyr ' || w.w
                                 WHEN i %% 4 = 0 THEN 'River ' || w.w
                                 WHEN i %% 4 = 1 THEN initcap(w.w) || ' river'
                                 WHEN i %% 4 = 2 THEN 'Rivers of ' || w.w
                                 ELSE initcap(w.w) END AS title) t;
"""
QUERIES = ["river", "riv", "r", "rivers of", "alpha river", "river alpha", "zephyr", "zeph", "rivr", "nomatchatall",
           "ember", "artist 3"]


@pytest.fixture
def library_url(fresh_db: str) -> str:
    with psycopg.connect(fresh_db, autocommit=True) as conn:
        conn.execute("INSERT INTO music_folders (id, name, path) VALUES (1, 'music', '/nonexistent')")
        conn.execute(BUILD, {"words": WORDS})
    return fresh_db


def analyze(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ANALYZE tracks")
    search.clear_stats_cache()


def expected(url: str, query: str) -> list[int]:
    """The whole result of `query`, from its definition."""
    q = search.normalize_query(query)
    words = search.query_words(q)
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, search_text FROM tracks").fetchall()
        word_ids = {r[0] for r in rows
                    if all(any(t.startswith(w) for t in re.findall(r"\w+", r[1])) for w in words)}
        text = {r[0]: r[1] for r in rows}
        starting = sorted((i for i in word_ids if text[i].startswith(q)), key=lambda i: (text[i], i))
        rest = [r[0] for r in conn.execute("SELECT id FROM tracks WHERE id = ANY(%s) ORDER BY sort_title, id",
                                           (sorted(word_ids - set(starting)),))]
        fuzzy: list[int] = []
        if len(q) >= 3:
            fuzzy = [r[0] for r in conn.execute(
                "SELECT id FROM tracks WHERE %s <%% search_text AND NOT id = ANY(%s) ORDER BY sort_title, id",
                (q, sorted(word_ids)))]
    return starting + rest + fuzzy


def pages(url: str, query: str, size: int, stop: int) -> list[int]:
    """search_ids pages of `size` from offset 0, concatenated, until a short page or `stop` ids."""
    async def go() -> list[int]:
        out: list[int] = []
        async with await AsyncConnection.connect(url) as conn:
            q = search.normalize_query(query)
            while len(out) < stop:
                page = await search.search_ids(conn, "tracks", q, len(out), size)
                out += page
                if len(page) < size:
                    break
        return out
    return asyncio.run(go())


def test_pages_follow_the_definition_with_and_without_statistics(library_url):
    before = {q: pages(library_url, q, 1000, 10_000) for q in QUERIES}
    analyze(library_url)
    for q in QUERIES:
        want = expected(library_url, q)
        assert before[q] == want, q
        for size in (1, 7):  # small pages: the first 42 ids (the walk's budget grows with the offset)
            assert pages(library_url, q, size, 42) == want[:42], (q, size)
        for size in (20, 500):
            assert pages(library_url, q, size, len(want) + 1) == want, (q, size)
    assert before["river"][:3] and before["zephyr"] and not before["nomatchatall"]


def test_common_words_are_walked_after_analyze(library_url):
    """The statistics the plan choice reads: "river" is common (walked), "zephyr" rare."""
    analyze(library_url)

    async def go() -> tuple[Any, Any]:
        async with await AsyncConnection.connect(library_url) as conn:
            stats = await search.word_stats(conn, "tracks")
            assert stats is not None
            return stats.density(["river"]), stats.density(["zephyr"])
    river, zephyr = asyncio.run(go())
    assert river * river * N >= search.WALK_FACTOR * 20 > zephyr * zephyr * N
    assert 0.6 < river <= 1.0


def test_starting_names_come_first_in_text_order(library_url):
    analyze(library_url)
    with psycopg.connect(library_url) as conn:
        text = dict(conn.execute("SELECT id, search_text FROM tracks").fetchall())
    ids = pages(library_url, "river", 100, 100)
    starts = [text[i].startswith("river") for i in ids]
    assert starts == sorted(starts, reverse=True) and all(starts)
    head = [(text[i], i) for i in ids]
    assert head == sorted(head)
    # far enough to reach the words that are not at the start ("Alpha river")
    more = pages(library_url, "river", 500, 3000)
    flags = [text[i].startswith("river") for i in more]
    assert flags == sorted(flags, reverse=True) and not flags[-1]


def test_prefix_tier_reads_the_prefix_index(library_url):
    """EXPLAIN of the starting tier's statement: a range of the prefix btree, in its order
    (no sort of the matches): the statement's key is the index's expression. 3,000 rows fit
    in a few pages, where the planner prefers scanning them all (and its estimate of the
    range is coarse here): those plans are ruled out, as a library of 100k tracks rules
    them out by its size (EXPLAIN at 100k and 1M shows this plan)."""
    analyze(library_url)
    q = "river"
    lo, hi = search.prefix_range(q)
    tier = search._tiers("sort_title", hi, walk=True, fuzzy=True)[0]
    sql = search._page_sql("tracks", tier, "", tier.how)
    args = {"tsq": "river:*", "q": q, "lo": lo, "hi": hi, "offset": 0, "limit": 20, "folders": None}
    with psycopg.connect(library_url) as conn:
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET enable_bitmapscan = off")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql, args).fetchall())
    assert "tracks_search_prefix" in plan and "Sort" not in plan, plan


@pytest.mark.parametrize("prefix, hi", [
    ("abc", "abd"), ("a", "b"), ("z", "{"), ("caf\u00e9", "caf\u00ea"), ("x\ud7ff", "x\ue000"),
    ("x\U0010ffff", "y"), ("\U0010ffff", None), ("ab\U0010ffff\U0010ffff", "ac"),
])
def test_prefix_range_bounds_exactly_the_texts_with_the_prefix(prefix, hi):
    lo, upper = search.prefix_range(prefix)
    assert (lo, upper) == (prefix, hi)
    for text in (prefix, prefix + "a", prefix + "\U0010ffff", prefix + " more"):
        assert lo <= text and (upper is None or text < upper)
    for text in (prefix[:-1], prefix[:-1] + chr(ord(prefix[-1]) - 1) + "zzz", (upper or "") + "a"):
        if text.startswith(prefix):
            continue
        assert not (lo <= text and (upper is None or text < upper)), text
