"""Genres: the counted list (getGenres) and name → id resolution."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import dict_row

from orbsonic.ids import fold, key_id
from orbsonic.library.filters import Folders, folder_list


def genre_id(name: str) -> int:
    """The id of a genre name; the same derivation the scanner uses, so no lookup is needed.
    Case and accents do not matter ("Rock", "rock" and "Röck" are one genre)."""
    return key_id("genre", fold(name))


async def list_all(conn: AsyncConnection, folders: Folders = None) -> list[dict[str, Any]]:
    """Every genre with songs in `folders`: name, song_count, album_count; by name.

    Unrestricted (None), the counts the scanner keeps on `genres` are read. For a user
    limited to some music folders they are counted over those folders' tracks and albums
    (a GROUP BY over the folders' share of track_genres: fine for a getGenres call, which
    clients make once per sync).
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        if folders is None:
            await cur.execute("""SELECT name, song_count, album_count FROM genres
                                  WHERE song_count > 0 ORDER BY lower(name), id""")
        else:
            await cur.execute(
                """SELECT g.name, s.song_count, coalesce(a.album_count, 0) AS album_count
                     FROM (SELECT tg.genre_id, count(*) AS song_count FROM track_genres tg
                             JOIN tracks t ON t.id = tg.track_id
                            WHERE t.folder_id = ANY(%(folders)s) GROUP BY tg.genre_id) s
                     JOIN genres g ON g.id = s.genre_id
                     LEFT JOIN (SELECT ag.genre_id, count(*) AS album_count FROM album_genres ag
                                  JOIN albums al ON al.id = ag.album_id
                                 WHERE al.folder_id = ANY(%(folders)s) GROUP BY ag.genre_id) a
                       ON a.genre_id = s.genre_id
                    ORDER BY lower(g.name), g.id""", {"folders": folder_list(folders)})
        return await cur.fetchall()
