"""End of a scan: drop what vanished, then recompute derived data for what was touched.

Album aggregates, genres and covers are recomputed only for albums in scan_touched
(all of them on a cold scan, a handful on a 1 % rescan). Artist and genre counters are
recomputed in one grouped pass when anything changed; nothing runs on a no-change scan.
"""

from __future__ import annotations

import time

from psycopg import Connection

# Folder names of one disc of an album (PostgreSQL regex, case-insensitive match): "CD1",
# "cd 2", "Disc 1", "Disk 3 - Bonus". Such a folder without an image uses its parent's.
DISC_FOLDER = r"^(cd|dis[ck])[ _.-]*[0-9]+"


def remove_missing(conn: Connection) -> int:
    """Delete tracks whose files vanished and were not claimed by a move; their albums
    are marked touched. Returns the number removed. Annotations are kept (no FK)."""
    conn.execute("INSERT INTO scan_touched SELECT DISTINCT album_id FROM scan_missing ON CONFLICT DO NOTHING")
    cur = conn.execute("DELETE FROM tracks t USING scan_missing m WHERE t.id = m.id")
    conn.execute("TRUNCATE scan_missing")
    return cur.rowcount


def refresh_albums(conn: Connection) -> None:
    """Recompute counts, duration, year, genre, dates, covers and album_genres of touched
    albums; delete touched albums that have no track left."""
    conn.execute("""DELETE FROM albums a USING scan_touched s WHERE a.id = s.album_id
                     AND NOT EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = a.id)""")
    conn.execute(
        """UPDATE albums a SET song_count = s.n, duration_ms = s.dur, size = s.bytes, year = s.year,
                  genre = s.genre, created_at = s.created, directory_id = s.dir,
                  explicit_status = s.explicit, disc_titles = s.discs,
                  release_date = coalesce(a.release_date, s.date), updated_at = now()
             FROM (SELECT t.album_id, count(*) AS n, sum(t.duration_ms) AS dur, sum(t.size) AS bytes,
                          max(t.year) AS year, min(t.created_at) AS created,
                          (array_agg(t.genre ORDER BY t.disc_no, t.track_no, t.id)
                               FILTER (WHERE t.genre IS NOT NULL))[1] AS genre,
                          (array_agg(t.date ORDER BY t.disc_no, t.track_no, t.id)
                               FILTER (WHERE t.date IS NOT NULL))[1] AS date,
                          (array_agg(t.directory_id ORDER BY t.disc_no NULLS FIRST,
                                     t.track_no NULLS FIRST, t.id))[1] AS dir,
                          CASE WHEN bool_or(t.explicit_status = 'explicit') THEN 'explicit'
                               WHEN bool_or(t.explicit_status = 'clean') THEN 'clean' ELSE '' END AS explicit,
                          coalesce(jsonb_agg(DISTINCT jsonb_build_array(t.disc_no, t.disc_subtitle))
                                   FILTER (WHERE t.disc_subtitle IS NOT NULL AND t.disc_no IS NOT NULL),
                                   '[]') AS discs
                     FROM tracks t JOIN scan_touched st ON st.album_id = t.album_id
                    GROUP BY t.album_id) s
            WHERE a.id = s.album_id""")
    # Cover: the album folder's image (for a disc subfolder "CD1", "Disc 2" without one: its
    # parent's), else the first embedded picture of its tracks.
    conn.execute(
        """UPDATE albums a SET cover_kind = c.kind, cover_path = c.path, cover_folder_id = c.folder,
                  cover_mtime = c.mtime
             FROM (SELECT a2.id,
                          CASE WHEN d.cover_path IS NOT NULL THEN 1 WHEN e.path IS NOT NULL THEN 2 ELSE 0 END AS kind,
                          coalesce(d.cover_path, e.path) AS path,
                          CASE WHEN d.cover_path IS NOT NULL THEN d.folder_id ELSE e.folder_id END AS folder,
                          CASE WHEN d.cover_path IS NOT NULL THEN d.cover_mtime
                               ELSE e.mtime_ns / 1000000000 END AS mtime
                     FROM albums a2 JOIN scan_touched st ON st.album_id = a2.id
                     LEFT JOIN directories own ON own.id = a2.directory_id
                     LEFT JOIN LATERAL (SELECT x.cover_path, x.folder_id, x.cover_mtime FROM directories x
                                         WHERE x.cover_kind = 1
                                           AND (x.id = own.id OR (x.id = own.parent_id AND own.name ~* %s))
                                         ORDER BY x.id = own.id DESC LIMIT 1) d ON true
                     LEFT JOIN LATERAL (SELECT t.path, t.folder_id, t.mtime_ns FROM tracks t
                                         WHERE t.album_id = a2.id AND t.has_picture
                                         ORDER BY t.disc_no, t.track_no, t.id LIMIT 1) e ON true) c
            WHERE a.id = c.id""", (DISC_FOLDER,))
    conn.execute("DELETE FROM album_genres g USING scan_touched s WHERE g.album_id = s.album_id")
    conn.execute(
        """INSERT INTO album_genres (album_id, genre_id, position, sort_key)
           SELECT x.album_id, x.genre_id, row_number() OVER (PARTITION BY x.album_id ORDER BY x.first),
                  a.sort_key
             FROM (SELECT t.album_id, tg.genre_id,
                          min(coalesce(t.disc_no, 0) * 1000000 + coalesce(t.track_no, 0) * 100 + tg.position)
                              AS first
                     FROM tracks t JOIN scan_touched s ON s.album_id = t.album_id
                     JOIN track_genres tg ON tg.track_id = t.id
                    GROUP BY t.album_id, tg.genre_id) x
             JOIN albums a ON a.id = x.album_id""")


def refresh_directories(conn: Connection) -> None:
    """Folders without an image take the first embedded picture of their tracks (kind 2)."""
    conn.execute(
        """UPDATE directories d SET cover_kind = CASE WHEN e.path IS NULL THEN 0 ELSE 2 END,
                  cover_path = e.path, cover_mtime = e.mtime_ns / 1000000000
             FROM scan_touched_dirs s
             LEFT JOIN LATERAL (SELECT t.path, t.mtime_ns FROM tracks t
                                 WHERE t.directory_id = s.dir_id AND t.has_picture
                                 ORDER BY t.disc_no, t.track_no, t.id LIMIT 1) e ON true
            WHERE d.id = s.dir_id AND d.cover_kind <> 1""")
    conn.execute("TRUNCATE scan_touched_dirs")


def refresh_artists_and_genres(conn: Connection) -> None:
    """Recompute artist counters, roles and covers and genre counters; delete artists and
    genres nothing refers to any more (their stars stay, keyed by the stable id)."""
    conn.execute(
        """UPDATE artists ar SET song_count = coalesce(t.n, 0), roles = coalesce(t.roles, '{}'),
                  album_count = coalesce(aa.n, t.albums, 0), is_album_artist = aa.n IS NOT NULL
             FROM artists a0
             LEFT JOIN (SELECT ta.artist_id, count(DISTINCT ta.track_id) FILTER (WHERE ta.role = 'artist') AS n,
                               array_agg(DISTINCT ta.role ORDER BY ta.role) AS roles,
                               count(DISTINCT tr.album_id) AS albums
                          FROM track_artists ta JOIN tracks tr ON tr.id = ta.track_id
                         GROUP BY ta.artist_id) t ON t.artist_id = a0.id
             LEFT JOIN (SELECT artist_id, count(*) AS n FROM album_artists GROUP BY artist_id) aa
                    ON aa.artist_id = a0.id
            WHERE ar.id = a0.id
              AND (ar.song_count, ar.roles, ar.album_count, ar.is_album_artist) IS DISTINCT FROM
                  (coalesce(t.n, 0), coalesce(t.roles, '{}'), coalesce(aa.n, t.albums, 0), aa.n IS NOT NULL)""")
    conn.execute(
        """UPDATE artists ar SET cover_album_id = c.album_id
             FROM (SELECT DISTINCT ON (aa.artist_id) aa.artist_id, al.id AS album_id
                     FROM album_artists aa JOIN albums al ON al.id = aa.album_id
                    WHERE al.cover_kind > 0
                    ORDER BY aa.artist_id, al.year NULLS LAST, al.sort_key, al.id) c
            WHERE ar.id = c.artist_id AND ar.cover_album_id IS DISTINCT FROM c.album_id""")
    conn.execute(
        """DELETE FROM artists ar WHERE NOT EXISTS (SELECT 1 FROM track_artists ta WHERE ta.artist_id = ar.id)
              AND NOT EXISTS (SELECT 1 FROM album_artists aa WHERE aa.artist_id = ar.id)""")
    conn.execute(
        """UPDATE genres g SET song_count = coalesce(s.n, 0), album_count = coalesce(a.n, 0)
             FROM genres g0
             LEFT JOIN (SELECT genre_id, count(*) AS n FROM track_genres GROUP BY genre_id) s ON s.genre_id = g0.id
             LEFT JOIN (SELECT genre_id, count(*) AS n FROM album_genres GROUP BY genre_id) a ON a.genre_id = g0.id
            WHERE g.id = g0.id""")
    conn.execute("DELETE FROM genres WHERE song_count = 0")


def mark_changed(conn: Connection) -> None:
    """Record when the library last changed (getIndexes lastModified, ms) and how many
    tracks it has (getScanStatus count, so status polls never count the tracks table)."""
    conn.execute(
        """INSERT INTO server_state (key, value)
           VALUES ('library_changed_ms', %s), ('track_count', (SELECT count(*) FROM tracks)::text)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value""", (str(int(time.time() * 1000)),))
