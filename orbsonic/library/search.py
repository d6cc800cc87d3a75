"""Text search over artists, albums and tracks (search2/search3, native search).

Each table keeps `search_text` (accent-folded, lower-case) with two GIN indexes: a
`simple` tsvector for word-prefix matches ("beat" finds "Beatles") and a trigram index
for typos ("beatels"). A query matches when every word is a prefix of a word in the
text, or when it is word-similar (pg_trgm `<%`). Ranking: prefix matches first, then
names starting with the query, then the sort key and the id — a total order, so pages
never overlap.

An empty query (missing, "", or the two-quote literal `""` that Symfonium sends) is not
a search: callers page everything in id order instead (client-compat §4.5 #1).

Limits (issue 6 §2: 50,000 words made a tsquery PostgreSQL refused as StatementTooComplex):
a query is cut to MAX_QUERY_CHARS characters and only its first MAX_WORDS distinct words
are matched; the rest is ignored, not an error.
"""

from __future__ import annotations

import re

from psycopg import AsyncConnection

from orbsonic.ids import fold
from orbsonic.library.filters import Folders, folder_list

_WORD = re.compile(r"\w+")
MAX_QUERY_CHARS = 256  # longer than any title; bounds the LIKE and trigram work per row
MAX_WORDS = 12  # each word is one `&` operand of the tsquery and one index probe
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


async def search_ids(conn: AsyncConnection, table: str, query: str, offset: int, limit: int,
                     folders: Folders = None) -> list[int]:
    """A page of ids of `table` ("tracks", "albums" or "artists") in `folders` (None =
    all) matching a normalized, non-empty query. Returns [] when the query has no word
    characters. Only the first MAX_WORDS distinct words of the first MAX_QUERY_CHARS
    characters are used."""
    sort_col, folder_col = _TABLES[table]
    query = query[:MAX_QUERY_CHARS]
    words = query_words(query)
    if not words or limit <= 0:
        return []
    folder = f" AND {folder_col}" if folders is not None else ""
    args = {"tsq": _tsquery(words), "q": query, "prefix": query.replace("\\", "\\\\").replace("%", "\\%")
            .replace("_", "\\_") + "%", "folders": folder_list(folders), "offset": offset, "limit": limit}
    # Prefix (tsvector) matches rank before fuzzy (trigram) ones, so the page is taken from
    # them alone while they last: the costly trigram recheck of every candidate row runs
    # only for pages that reach past the prefix matches (a common word in 100k tracks:
    # 76 ms → a few ms).
    prefix = "tsv @@ to_tsquery('simple', %(tsq)s)"
    order = f"ORDER BY (search_text LIKE %(prefix)s) DESC, {sort_col}, id"
    cur = await conn.execute(f"SELECT id FROM {table} WHERE {prefix} {folder} {order} "
                             "OFFSET %(offset)s LIMIT %(limit)s", args)
    ids = [r[0] for r in await cur.fetchall()]
    if len(ids) == limit or len(query) < 3:
        return ids
    if ids or offset == 0:
        n_prefix = offset + len(ids)
    else:
        cur = await conn.execute(f"SELECT count(*) FROM {table} WHERE {prefix} {folder}", args)
        row = await cur.fetchone()
        n_prefix = row[0] if row else 0
    args.update(offset=max(0, offset - n_prefix), limit=limit - len(ids))
    fuzzy = f"%(q)s <%% search_text AND NOT ({prefix})"
    cur = await conn.execute(f"SELECT id FROM {table} WHERE {fuzzy} {folder} {order} "
                             "OFFSET %(offset)s LIMIT %(limit)s", args)
    return ids + [r[0] for r in await cur.fetchall()]
