"""Text search over artists, albums and tracks (search2/search3, native search).

Each table keeps `search_text` (accent-folded, lower-case) with two GIN indexes: a
`simple` tsvector for word-prefix matches ("beat" finds "Beatles") and a trigram index
for typos ("beatels"). A query matches when every word is a prefix of a word in the
text, or when it is word-similar (pg_trgm `<%`). Ranking: prefix matches first, then
names starting with the query, then the sort key and the id — a total order, so pages
never overlap.

An empty query (missing, "", or the two-quote literal `""` that Symfonium sends) is not
a search: callers page everything in id order instead (client-compat §4.5 #1).
"""

from __future__ import annotations

import re

from psycopg import AsyncConnection

from orbsonic.ids import fold

_WORD = re.compile(r"\w+")
# table → (sort column, music folder condition). Artists have no folder of their own:
# they are in a folder when one of their tracks (any role) is.
_TABLES = {
    "tracks": ("sort_title", "folder_id = %(folder)s"),
    "albums": ("sort_key", "folder_id = %(folder)s"),
    "artists": ("sort_key", """EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                                     WHERE ta.artist_id = artists.id AND t.folder_id = %(folder)s)"""),
}


def normalize_query(query: str | None) -> str:
    """Folded query text with wrapping quotes removed; "" means "match everything"."""
    q = "".join(c for c in (query or "") if c >= " " or c in "\t\n").strip()  # no NUL etc. for PostgreSQL
    while len(q) >= 2 and q[0] == q[-1] and q[0] in "\"'":
        q = q[1:-1].strip()
    return fold(q)


def _tsquery(words: list[str]) -> str:
    return " & ".join(f"{w}:*" for w in words)


async def search_ids(conn: AsyncConnection, table: str, query: str, offset: int, limit: int,
                     folder_id: int | None = None) -> list[int]:
    """A page of ids of `table` ("tracks", "albums" or "artists") matching a normalized,
    non-empty query. Returns [] when the query has no word characters."""
    sort_col, folder_col = _TABLES[table]
    words = _WORD.findall(query)
    if not words or limit <= 0:
        return []
    match = "tsv @@ to_tsquery('simple', %(tsq)s)"
    if len(query) >= 3:
        match = f"({match} OR %(q)s <%% search_text)"
    folder = f" AND {folder_col}" if folder_id is not None else ""
    sql = f"""SELECT id FROM {table}
               WHERE {match} {folder}
               ORDER BY (tsv @@ to_tsquery('simple', %(tsq)s)) DESC,
                        (search_text LIKE %(prefix)s) DESC, {sort_col}, id
               OFFSET %(offset)s LIMIT %(limit)s"""
    cur = await conn.execute(sql, {
        "tsq": _tsquery(words), "q": query, "prefix": query.replace("\\", "\\\\").replace("%", "\\%")
        .replace("_", "\\_") + "%", "folder": folder_id, "offset": offset, "limit": limit})
    return [r[0] for r in await cur.fetchall()]
