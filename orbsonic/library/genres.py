"""Genres: the counted list (getGenres) and name → id resolution."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from orbsonic.ids import fold, key_id


def genre_id(name: str) -> int:
    """The id of a genre name; the same derivation the scanner uses, so no lookup is needed.
    Case and accents do not matter ("Rock", "rock" and "Röck" are one genre)."""
    return key_id("genre", fold(name))


async def list_all(conn: AsyncConnection) -> list[dict[str, Any]]:
    """Every genre with songs: name, song_count, album_count; by name."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("""SELECT name, song_count, album_count FROM genres
                              WHERE song_count > 0 ORDER BY lower(name), id""")
        return await cur.fetchall()
