"""Text search over artists, albums and tracks (search2/search3, native search).

Each table keeps `search_text` (accent-folded, lower-case) with two GIN indexes: a
`simple` tsvector for word-prefix matches ("beat" finds "Beatles") and a trigram index
for typos ("beatels"), and a btree on its first KEY_CHARS characters in "C" order for
names that start with the query (schema/0030_search_prefix.sql).

A query matches a row when every word is a prefix of a word in its text (the tsvector),
or when it is word-similar (pg_trgm `<%`). The matches are listed in three tiers, each
read from an index that returns it in its own order, so a page of a common word stops
after its rows instead of sorting every match (issue 12: "Track 7" at 100k sorted ~10k
rows, 190 ms):

1. "starts": word matches whose text starts with the whole query, in text order ("C"
   collation) then id — a range scan of the prefix btree;
2. "words": the other word matches, by the sort key then id — a walk of the sort index
   that filters on the tsvector when matches are common, a GIN bitmap and a sort of the
   few matches when they are rare (the planner's choice, from the tsvector statistics:
   every statement is planned with its own values, never a generic plan);
3. "fuzzy" (queries of 3+ characters): trigram matches that are not word matches, by
   the sort key then id.

Every tier has a unique tiebreak (id), so the concatenation is a total order and pages
never overlap. A tier is read only when the tiers before it do not fill the page; an
offset past a tier costs one count of it.

An empty query (missing, "", or the two-quote literal `""` that Symfonium sends) is not
a search: callers page everything in id order instead (client-compat §4.5 #1).

Limits (issue 6 §2: 50,000 words made a tsquery PostgreSQL refused as StatementTooComplex):
a query is cut to MAX_QUERY_CHARS characters and only its first MAX_WORDS distinct words
are matched; the rest is ignored, not an error.
"""

from __future__ import annotations

import bisect
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from orbsonic.ids import fold
from orbsonic.library.filters import Folders, folder_list

_WORD = re.compile(r"\w+")
MAX_QUERY_CHARS = 256  # longer than any title; bounds the LIKE and trigram work per row
KEY_CHARS = MAX_QUERY_CHARS  # the prefix btree's key: enough for any query, short enough for a btree entry
MAX_WORDS = 12  # each word is one `&` operand of the tsquery and one index probe
# The prefix btree's key, as written in the index definitions (schema/0030_search_prefix.sql).
KEY = f'(left(search_text, {KEY_CHARS}) COLLATE "C")'
# table → (sort column, music folder condition). Artists have no folder of their own:
# they are in a folder when one of their tracks (any role) is.
_TABLES = {
    "tracks": ("sort_title", "folder_id = ANY(%(folders)s)"),
    "albums": ("sort_key", "folder_id = ANY(%(folders)s)"),
    "artists": ("sort_key", """EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                                     WHERE ta.artist_id = artists.id AND t.folder_id = ANY(%(folders)s))"""),
}


def normalize_query(query: str | None) -> str:
    """Folded query text with wrapping quotes removed, at most MAX_QUERY_CHARS long;
    "" means "match everything"."""
    # Cut before and after folding: NFKD can expand a character into several.
    q = (query or "")[:MAX_QUERY_CHARS * 4]
    q = "".join(c for c in q if c >= " " or c in "\t\n").strip()  # no NUL etc. for PostgreSQL
    while len(q) >= 2 and q[0] == q[-1] and q[0] in "\"'":
        q = q[1:-1].strip()
    return _cut(fold(q))


def _cut(text: str) -> str:
    """At most MAX_QUERY_CHARS characters, without a word cut in half at the end."""
    if len(text) <= MAX_QUERY_CHARS:
        return text
    head = text[:MAX_QUERY_CHARS + 1]
    return (head.rsplit(" ", 1)[0] if " " in head else head[:MAX_QUERY_CHARS]).strip()


def query_words(query: str) -> list[str]:
    """The words of a normalized query that are matched: the first MAX_WORDS distinct runs of
    word characters in its first MAX_QUERY_CHARS characters."""
    return list(dict.fromkeys(_WORD.findall(query[:MAX_QUERY_CHARS])))[:MAX_WORDS]


def _tsquery(words: list[str]) -> str:
    return " & ".join(f"{w}:*" for w in words)


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """(lo, hi): in code point order ("C" collation), a text starts with the non-empty
    `prefix` exactly when lo <= text < hi (hi None: no upper bound). An explicit range
    rather than LIKE 'p%', whose index use depends on the pattern being a planning-time
    constant and the column's collation."""
    chars = list(prefix)
    while chars:
        nxt = ord(chars[-1]) + 1
        if 0xD800 <= nxt <= 0xDFFF:  # surrogates are not text in PostgreSQL
            nxt = 0xE000
        if nxt <= 0x10FFFF:
            chars[-1] = chr(nxt)
            return prefix, "".join(chars)
        chars.pop()  # U+10FFFF has no successor: bound on the text before it
    return prefix, None


# The "words" tier walks the sort index (stopping at the page) when its matches are
# common, and collects then sorts them (GIN bitmap) when they are rare. The density f of
# the matches — the product of each word's share of rows, from the tsvector's most-common
# elements in pg_stats, as the planner estimates it — decides: a walk visits about
# (offset + limit) / f rows, a collect f * rows, and a visited row costs about the same
# either way once the table outgrows memory (1M tracks; at 100k, in memory, a walked row
# costs ~5x a collected one, but both sides take a few ms there), so: walk when
# f^2 * rows >= WALK_FACTOR * (offset + limit). A walk reads at most WALK_BUDGET times
# the rows it expects (words that rarely occur together); falling short, the tier is
# collected instead. The planner's own choice is not used: it walks far too often (a word
# in 1 % of 100k tracks: a 20 ms walk instead of a 1 ms collect).
WALK_FACTOR = 1
WALK_BUDGET = 4
STATS_TTL_S = 60.0  # how long a process reuses a table's tsvector statistics


@dataclass(frozen=True)
class _WordStats:
    """A table's tsvector statistics: lexemes in code point order, the running sum of their
    row shares, the share below which a lexeme is not listed, and the table's row count."""

    lexemes: list[str]
    cumulative: list[float]  # cumulative[i] = sum of the shares of lexemes[:i]
    floor: float
    rows: float

    def density(self, words: list[str]) -> float:
        """Estimated share of rows in which every word is a prefix of a word."""
        f = 1.0
        for w in words:
            lo, hi = prefix_range(w)
            i = bisect.bisect_left(self.lexemes, lo)
            j = bisect.bisect_left(self.lexemes, hi) if hi is not None else len(self.lexemes)
            share = self.cumulative[j] - self.cumulative[i]
            f *= min(1.0, share) if share > 0 else self.floor / 2
        return f


# (host, port, database, table) → (statistics or None, when loaded). Only a speed hint: a
# stale or missing entry changes which plan a page uses, never its rows, so processes need
# not agree on it.
_STATS: dict[tuple[str, int, str, str], tuple[_WordStats | None, float]] = {}


async def word_stats(conn: AsyncConnection, table: str) -> _WordStats | None:
    """The tsvector statistics of `table` ("tracks", "albums", "artists"), reused for
    STATS_TTL_S; None before its first ANALYZE (every page is then collected)."""
    info = conn.info
    key = (info.host, info.port, info.dbname, table)
    now = time.monotonic()
    hit = _STATS.get(key)
    if hit is not None and now - hit[1] < STATS_TTL_S:
        return hit[0]
    cur = await conn.execute(
        """SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples
             FROM pg_class c LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = %(t)s
                                                AND s.attname = 'tsv'
            WHERE c.oid = %(t)s::regclass""", {"t": table})
    row = await cur.fetchone()
    stats = None
    if row is not None and row[0] and row[1] and row[2] and row[2] > 0:
        pairs = sorted(zip(row[0], row[1]))  # the shares array ends with min, max, null share
        cumulative = [0.0]
        for _, share in pairs:
            cumulative.append(cumulative[-1] + share)
        stats = _WordStats([e for e, _ in pairs], cumulative, float(row[1][len(row[0])]), float(row[2]))
    _STATS[key] = (stats, now)
    return stats


def clear_stats_cache() -> None:
    """Forget the cached statistics (tests; a process sees a new ANALYZE at once)."""
    _STATS.clear()


@dataclass(frozen=True)
class _Tier:
    """Part of the result: its condition, its order (SQL expressions; the last is `id`) and
    how it is read: "range" (a prefix btree range, in index order), "walk" (the first
    %(budget)s rows of the sort index, filtered) or "collect" (every match, then sorted)."""

    where: str
    order: tuple[str, ...]
    how: str


_WORDS = "tsv @@ to_tsquery('simple', %(tsq)s)"


def _tiers(sort_col: str, hi: str | None, walk: bool, fuzzy: bool) -> list[_Tier]:
    """The tiers of the module docstring. Rare words (`walk` False) read the first two as
    one collected statement in the same order: starting matches first, by text then id."""
    starts = f"{KEY} >= %(lo)s" + (f" AND {KEY} < %(hi)s" if hi is not None else "")
    if walk:
        tiers = [_Tier(f"{starts} AND {_WORDS}", (KEY, "id"), "range"),
                 _Tier(f"{_WORDS} AND NOT ({starts})", (sort_col, "id"), "walk")]
    else:
        tiers = [_Tier(_WORDS, (f"NOT ({starts})", f"CASE WHEN {starts} THEN {KEY} END",
                                f"CASE WHEN {starts} THEN id END", sort_col, "id"), "collect")]
    if fuzzy:
        tiers.append(_Tier(f"%(q)s <%% search_text AND NOT ({_WORDS})", (sort_col, "id"), "collect"))
    return tiers


def _page_sql(table: str, tier: _Tier, folder: str, how: str) -> str:
    """The statement of one tier's page, read `how` (see _Tier)."""
    where = f"{tier.where}{folder}"
    page = "OFFSET %(offset)s LIMIT %(limit)s"
    if how == "range":
        return f"SELECT id FROM {table} WHERE {where} ORDER BY {', '.join(tier.order)} {page}"
    if how == "walk":
        order = ", ".join(tier.order)
        return (f"SELECT id FROM (SELECT * FROM {table} ORDER BY {order} LIMIT %(budget)s) {table}"
                f" WHERE {where} ORDER BY {order} {page}")
    # MATERIALIZED: the matches are collected through the GIN indexes and sorted, never
    # found by walking the whole sort index through a filter.
    keys = ", ".join(f"{e} AS k{i}" for i, e in enumerate(tier.order[:-1]))
    order = ", ".join(f"k{i}" for i in range(len(tier.order) - 1))
    return (f"WITH m AS MATERIALIZED (SELECT id, {keys} FROM {table} WHERE {where}) "
            f"SELECT id FROM m ORDER BY {order}, id {page}")


async def _ids(conn: AsyncConnection, sql: str, args: dict[str, Any]) -> list[int]:
    # prepare=False: a prepared statement may fall back to a generic plan, blind to the
    # prefix range's bounds and to how common the words are.
    cur = await conn.execute(sql, args, prepare=False)
    return [r[0] for r in await cur.fetchall()]


async def search_ids(conn: AsyncConnection, table: str, query: str, offset: int, limit: int,
                     folders: Folders = None) -> list[int]:
    """A page of ids of `table` ("tracks", "albums" or "artists") in `folders` (None =
    all) matching a normalized, non-empty query, in tier order (module docstring).
    Returns [] when the query has no word characters. Only the first MAX_WORDS distinct
    words of the first MAX_QUERY_CHARS characters are used."""
    sort_col, folder_col = _TABLES[table]
    query = query[:MAX_QUERY_CHARS]
    words = query_words(query)
    if not words or limit <= 0:
        return []
    folder = f" AND {folder_col}" if folders is not None else ""
    lo, hi = prefix_range(query)
    args: dict[str, Any] = {"tsq": _tsquery(words), "q": query, "lo": lo, "hi": hi,
                            "folders": folder_list(folders)}
    stats = await word_stats(conn, table)
    f = stats.density(words) if stats is not None else 0.0
    walk = stats is not None and f * f * stats.rows >= WALK_FACTOR * (offset + limit)
    ids: list[int] = []
    skip = offset  # rows of the tiers not read yet that lie before the page
    for tier in _tiers(sort_col, hi, walk, fuzzy=len(query) >= 3):
        need = limit - len(ids)
        page_args = {**args, "offset": skip, "limit": need,
                     "budget": math.ceil(WALK_BUDGET * (skip + need) / f) if f > 0 else 0}
        page = await _ids(conn, _page_sql(table, tier, folder, tier.how), page_args)
        if tier.how == "walk" and len(page) < need:  # the budget ran out (or the tier did): collect it
            page = await _ids(conn, _page_sql(table, tier, folder, "collect"), page_args)
        ids += page
        if len(ids) == limit:
            break
        if page or skip == 0:
            skip = 0
        else:  # the page starts past this tier: how far past?
            cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE {tier.where}{folder}", args,
                                     prepare=False)
            row = await cur.fetchone()
            skip = max(0, skip - (row[0] if row else 0))
    return ids
