"""Set-based database writes of a scan, on one session with temporary tables.

Per batch: COPY the staging rows (orbsonic.scanner.rows), claim moved files (a new path
whose fingerprint — the audio-stream checksum, so a retag in between does not matter —
matches a track that vanished keeps that track's id, so its stars and plays stay), then
UPDATE changed tracks, INSERT new ones, rebuild their link rows and upsert artists, albums and genres. Each batch commits, so the API sees progress and
a crash loses at most one batch. At the end `finish` removes what vanished and refreshes
the aggregates of what was touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from psycopg import Connection, ServerCursor

from orbsonic.scanner.rows import (
    ALBUM_COLUMNS,
    ARTIST_COLUMNS,
    GENRE_COLUMNS,
    LYRICS_COLUMNS,
    TRACK_COLUMNS,
    Batch,
)

_LINKS = (("artist_ids", "artist"), ("albumartist_ids", "albumartist"), ("composer_ids", "composer"))
# tag_pid is staging only: the tag fingerprint, matched against tracks scanned before pids
# became audio checksums (their pid is still the tag one until the file is read again).
_TRACK_DATA = [c for c, _ in TRACK_COLUMNS
               if c not in ("id", "created_at", "tag_pid") and not c.endswith("_ids")]


def _ddl(name: str, columns: Iterable[tuple[str, str]]) -> str:
    cols = ", ".join(f"{c} {t}" for c, t in columns)
    return f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols})"


def setup(conn: Connection) -> None:
    """Create the session's temporary tables (idempotent)."""
    for sql in (
        _ddl("stage_tracks", TRACK_COLUMNS), _ddl("stage_artists", ARTIST_COLUMNS),
        _ddl("stage_albums", ALBUM_COLUMNS), _ddl("stage_genres", GENRE_COLUMNS),
        _ddl("stage_lyrics", LYRICS_COLUMNS),
        "CREATE TEMP TABLE IF NOT EXISTS scan_sidecars (path text PRIMARY KEY, sig text NOT NULL)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_files (path text, dir_path text, size bigint, mtime_ns bigint)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_read (id bigint, path text, dir_path text, size bigint,"
        " mtime_ns bigint, sig text)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_dirs (id bigint, parent_id bigint, path text, name text,"
        " sort_key text, mtime_ns bigint, cover_path text, cover_mtime bigint)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_missing (id bigint PRIMARY KEY, pid text, album_id bigint)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_touched (album_id bigint PRIMARY KEY)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_touched_dirs (dir_id bigint PRIMARY KEY)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_moves (old_folder integer, old_path text, new_folder integer,"
        " new_path text)",
        "CREATE TEMP TABLE IF NOT EXISTS scan_album_moves (old_id bigint, new_id bigint)",
    ):
        conn.execute(sql)


def _copy(conn: Connection, table: str, columns: Iterable[tuple[str, str]], rows: Iterable[tuple[Any, ...]]) -> None:
    names = ", ".join(c for c, _ in columns)
    with conn.cursor() as cur:
        with cur.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)


def load_sidecars(conn: Connection, rows: Iterable[tuple[str, str]]) -> None:
    """COPY (audio path, sidecar signature) of the folder's tracks that have lyrics sidecars."""
    conn.execute("TRUNCATE scan_sidecars")
    _copy(conn, "scan_sidecars", (("path", ""), ("sig", "")), rows)


def load_walk(conn: Connection, files: Iterable[tuple[str, str, int, int]]) -> None:
    """COPY the walked files (path, dir_path, size, mtime_ns) of one music folder."""
    conn.execute("TRUNCATE scan_files")
    _copy(conn, "scan_files", (("path", ""), ("dir_path", ""), ("size", ""), ("mtime_ns", "")), files)
    conn.execute("ANALYZE scan_files")


def copy_escape(text: str) -> str:
    """`text` as a field of PostgreSQL's COPY text format (backslash, tab, newline and
    carriage return escaped)."""
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def walk_copy_text(dirs: Iterable[tuple[str, list[tuple[str, int, int]]]]) -> Iterator[str]:
    """COPY text of scan_files for `walk.walk_dirs` output: one chunk per directory, one
    line (path, dir_path, size, mtime_ns) per file. Formatting the lines here instead of
    handing psycopg a row per file is most of what a no-change rescan of 1M files saves."""
    for rel, files in dirs:
        d = copy_escape(rel)
        prefix = f"{d}/" if rel else ""
        yield "".join([f"{prefix}{copy_escape(name)}\t{d}\t{size}\t{mtime}\n" for name, size, mtime in files])


def load_walk_text(conn: Connection, chunks: Iterable[str]) -> None:
    """COPY scan_files from `walk_copy_text` chunks (written ~1 MB at a time)."""
    conn.execute("TRUNCATE scan_files")
    with conn.cursor() as cur:
        with cur.copy("COPY scan_files (path, dir_path, size, mtime_ns) FROM STDIN") as copy:
            buf: list[str] = []
            size = 0
            for chunk in chunks:
                buf.append(chunk)
                size += len(chunk)
                if size >= 1 << 20:
                    copy.write("".join(buf))
                    buf, size = [], 0
            if buf:
                copy.write("".join(buf))
    conn.execute("ANALYZE scan_files")


# A known track is read again when its file or its lyrics sidecars changed.
_TO_READ = """
    FROM scan_files f
    LEFT JOIN tracks t ON t.folder_id = %(folder)s AND t.path = f.path
    LEFT JOIN unreadable_files u ON u.folder_id = %(folder)s AND u.path = f.path
    LEFT JOIN scan_sidecars sc ON sc.path = f.path
   WHERE %(full)s
      OR ((u.path IS NULL OR u.size <> f.size OR u.mtime_ns <> f.mtime_ns)
          AND (t.id IS NULL OR t.size <> f.size OR t.mtime_ns <> f.mtime_ns))
      OR (t.id IS NOT NULL AND t.lyrics_sig IS DISTINCT FROM sc.sig)"""


_KEPT = """NOT EXISTS (SELECT 1 FROM unnest(%(keep)s::text[]) k(p)
                      WHERE k.p = '' OR {0} = k.p OR starts_with({0}, k.p || '/'))"""


def diff(conn: Connection, folder_id: int, full: bool, keep: Sequence[str] = ()) -> tuple[int, int]:
    """Compare the walk with the library. Fills scan_missing with tracks whose file is
    gone, forgets unreadable files that are gone, and returns (files to read, files
    seen). Files known to be unreadable with the same size and mtime are not read again.
    `keep`: relative paths the walk could not read; nothing at or below them is missing."""
    args = {"folder": folder_id, "keep": list(keep)}
    # Both passes hash-join the walk with the folder's tracks: at 1M files the default 4 MB
    # spills them to 16–32 batches on disk; 128 MB keeps each a single in-memory hash.
    conn.execute("SET LOCAL work_mem = '128MB'")
    conn.execute(
        """INSERT INTO scan_missing (id, pid, album_id)
           SELECT t.id, t.pid, t.album_id FROM tracks t
            WHERE t.folder_id = %(folder)s AND NOT EXISTS (SELECT 1 FROM scan_files f WHERE f.path = t.path)
              AND """ + _KEPT.format("t.path") + """
           ON CONFLICT DO NOTHING""", args)
    conn.execute("""DELETE FROM unreadable_files u WHERE u.folder_id = %(folder)s
                     AND NOT EXISTS (SELECT 1 FROM scan_files f WHERE f.path = u.path)
                     AND """ + _KEPT.format("u.path"), args)
    # The files to read are computed once, into scan_read: counted here, streamed by open_to_read.
    conn.execute("TRUNCATE scan_read")
    cur = conn.execute("INSERT INTO scan_read SELECT t.id, f.path, f.dir_path, f.size, f.mtime_ns, sc.sig "
                       + _TO_READ, {"folder": folder_id, "full": full})
    to_read = cur.rowcount
    cur = conn.execute("SELECT count(*) FROM scan_files")
    seen = cur.fetchone()
    return to_read, (seen[0] if seen else 0)


def open_to_read(conn: Connection) -> ServerCursor[Any]:
    """A server-side cursor (WITH HOLD, so it survives the per-batch commits) over
    (existing track id or None, path, dir_path, size, mtime_ns, lyrics sidecar signature or
    None) of the files `diff` found to read, in path order (a folder's files land in one
    batch). Close it when done."""
    cur = conn.cursor(name="scan_to_read", withhold=True)
    cur.execute("SELECT id, path, dir_path, size, mtime_ns, sig FROM scan_read ORDER BY path")
    return cur


def record_unreadable(conn: Connection, folder_id: int, rows: Iterable[tuple[str, int, int, str]]) -> None:
    """Remember (path, size, mtime_ns, reason) of files that could not be read."""
    conn.cursor().executemany(
        """INSERT INTO unreadable_files (folder_id, path, size, mtime_ns, reason) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (folder_id, path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
               reason = excluded.reason, seen_at = now()""",
        [(folder_id, *r) for r in rows])


def pair_moves(candidates: Iterable[tuple[int, str, int, str]]) -> list[tuple[int, int, str]]:
    """One-to-one (track id, folder, new path) claims from (missing id, old path, folder,
    new path) candidates sharing a fingerprint. Identical audio in several files (a test
    tone, a duplicate) gives several candidates per track: a new path with the old file
    name wins, then path order, so each vanished track and each new path is used once."""
    ranked = sorted(candidates, key=lambda c: (c[1].rpartition("/")[2] != c[3].rpartition("/")[2],
                                               c[3], c[0]))
    used_ids: set[int] = set()
    used_paths: set[tuple[int, str]] = set()
    out = []
    for track_id, _old, folder, new in ranked:
        if track_id in used_ids or (folder, new) in used_paths:
            continue
        used_ids.add(track_id)
        used_paths.add((folder, new))
        out.append((track_id, folder, new))
    return out


def _claim_moves(conn: Connection) -> None:
    cur = conn.execute("""SELECT m.id, t.path, s.folder_id, s.path
                            FROM stage_tracks s JOIN scan_missing m ON m.pid IN (s.pid, s.tag_pid)
                            JOIN tracks t ON t.id = m.id
                           WHERE s.id IS NULL""")
    claims = pair_moves(cur.fetchall())
    if claims:
        conn.cursor().executemany(
            "UPDATE stage_tracks SET id = %s WHERE id IS NULL AND folder_id = %s AND path = %s", claims)


def write_batch(conn: Connection, batch: Batch) -> tuple[int, int]:
    """Write one batch in the current transaction. Returns (inserted, updated)."""
    for table in ("stage_tracks", "stage_artists", "stage_albums", "stage_genres", "stage_lyrics"):
        conn.execute(f"TRUNCATE {table}")
    _copy(conn, "stage_tracks", TRACK_COLUMNS, batch.tracks)
    _copy(conn, "stage_artists", ARTIST_COLUMNS, batch.artists.values())
    _copy(conn, "stage_albums", ALBUM_COLUMNS, batch.albums.values())
    _copy(conn, "stage_genres", GENRE_COLUMNS, batch.genres.values())
    _copy(conn, "stage_lyrics", LYRICS_COLUMNS, batch.lyrics)
    # Moved files: a new path with the fingerprint of a vanished track takes over its id.
    _claim_moves(conn)
    conn.execute("DELETE FROM scan_missing m USING stage_tracks s WHERE s.id = m.id")
    conn.execute("""DELETE FROM unreadable_files u USING stage_tracks s
                     WHERE u.folder_id = s.folder_id AND u.path = s.path""")
    conn.execute("""INSERT INTO scan_touched SELECT DISTINCT t.album_id FROM tracks t
                     JOIN stage_tracks s ON s.id = t.id ON CONFLICT DO NOTHING""")
    conn.execute("INSERT INTO scan_touched SELECT DISTINCT album_id FROM stage_tracks ON CONFLICT DO NOTHING")
    conn.execute("""INSERT INTO scan_touched_dirs SELECT DISTINCT directory_id FROM stage_tracks
                    ON CONFLICT DO NOTHING""")

    conn.execute(
        """INSERT INTO genres (id, name) SELECT id, name FROM stage_genres ON CONFLICT (id) DO NOTHING""")
    conn.execute(
        """INSERT INTO artists (id, name, sort_name, sort_key, index_letter, mbid, search_text)
           SELECT id, name, sort_name, sort_key, index_letter, mbid, search_text FROM stage_artists
           ON CONFLICT (id) DO UPDATE SET
               sort_name = CASE WHEN excluded.sort_name <> excluded.name THEN excluded.sort_name
                                ELSE artists.sort_name END,
               sort_key = CASE WHEN excluded.sort_name <> excluded.name THEN excluded.sort_key
                               ELSE artists.sort_key END,
               index_letter = CASE WHEN excluded.sort_name <> excluded.name THEN excluded.index_letter
                                   ELSE artists.index_letter END,
               mbid = coalesce(excluded.mbid, artists.mbid)""")
    album_cols = [c for c, _ in ALBUM_COLUMNS if c != "artist_ids"]
    names = ", ".join(album_cols)
    updates = ", ".join(f"{c} = excluded.{c}" for c in album_cols if c not in ("id", "folder_id"))
    conn.execute(
        f"""INSERT INTO albums ({names}, created_at) SELECT {names}, now() FROM stage_albums
            ON CONFLICT (id) DO UPDATE SET {updates}, updated_at = now()""")
    conn.execute("DELETE FROM album_artists WHERE album_id IN (SELECT id FROM stage_albums)")
    conn.execute(
        """INSERT INTO album_artists (album_id, position, artist_id)
           SELECT s.id, u.ord, u.aid FROM stage_albums s, unnest(s.artist_ids) WITH ORDINALITY u(aid, ord)""")

    # Tracks that changed path (moves claimed above, or a re-added file): directory stars follow
    # them at the end of the scan (orbsonic.scanner.moves).
    conn.execute("""INSERT INTO scan_moves SELECT t.folder_id, t.path, s.folder_id, s.path
                      FROM stage_tracks s JOIN tracks t ON t.id = s.id
                     WHERE (t.folder_id, t.path) IS DISTINCT FROM (s.folder_id, s.path)""")
    conn.execute("""INSERT INTO scan_album_moves SELECT t.album_id, s.album_id
                      FROM stage_tracks s JOIN tracks t ON t.id = s.id WHERE t.album_id <> s.album_id""")
    sets = ", ".join(f"{c} = s.{c}" for c in _TRACK_DATA)
    cur = conn.execute(f"UPDATE tracks t SET {sets}, updated_at = now() FROM stage_tracks s WHERE t.id = s.id")
    updated = cur.rowcount
    cols = ", ".join(_TRACK_DATA)
    cur = conn.execute(
        f"INSERT INTO tracks ({cols}, created_at) SELECT {cols}, created_at FROM stage_tracks WHERE id IS NULL")
    inserted = cur.rowcount
    conn.execute("""UPDATE stage_tracks s SET id = t.id FROM tracks t
                     WHERE s.id IS NULL AND t.folder_id = s.folder_id AND t.path = s.path""")
    conn.execute("DELETE FROM track_artists WHERE track_id IN (SELECT id FROM stage_tracks)")
    conn.execute("DELETE FROM track_genres WHERE track_id IN (SELECT id FROM stage_tracks)")
    unions = " UNION ALL ".join(
        f"SELECT s.id, '{role}', u.ord, u.aid FROM stage_tracks s, unnest(s.{col}) WITH ORDINALITY u(aid, ord)"
        for col, role in _LINKS)
    conn.execute(f"INSERT INTO track_artists (track_id, role, position, artist_id) {unions}")
    conn.execute(
        """INSERT INTO track_genres (track_id, position, genre_id)
           SELECT s.id, u.ord, u.gid FROM stage_tracks s, unnest(s.genre_ids) WITH ORDINALITY u(gid, ord)""")
    conn.execute("DELETE FROM track_lyrics WHERE track_id IN (SELECT id FROM stage_tracks)")
    conn.execute(
        """INSERT INTO track_lyrics (track_id, position, source, lang, synced, display_artist, display_title,
                                     lines)
           SELECT s.id, l.position, l.source, l.lang, l.synced, l.display_artist, l.display_title, l.lines
             FROM stage_lyrics l JOIN stage_tracks s ON s.folder_id = l.folder_id AND s.path = l.path""")
    return inserted, updated


def write_dirs(conn: Connection, folder_id: int, prune: bool, rows: Iterable[tuple[Any, ...]]) -> None:
    """Upsert the folder's music directories (id, parent_id, path, name, sort_key, mtime_ns,
    cover_path, cover_mtime) and, with `prune`, drop the ones that are gone. Directories whose folder
    image changed are marked so their albums' covers are refreshed."""
    conn.execute("TRUNCATE scan_dirs")
    _copy(conn, "scan_dirs", (("id", ""), ("parent_id", ""), ("path", ""), ("name", ""), ("sort_key", ""),
                              ("mtime_ns", ""), ("cover_path", ""), ("cover_mtime", "")), rows)
    conn.execute(
        """INSERT INTO scan_touched_dirs
           SELECT s.id FROM scan_dirs s LEFT JOIN directories d ON d.id = s.id
            WHERE d.id IS NULL OR (d.cover_kind = 1) <> (s.cover_path IS NOT NULL)
               OR (s.cover_path IS NOT NULL AND (d.cover_path, d.cover_mtime) IS DISTINCT FROM
                                                (s.cover_path, s.cover_mtime))
           ON CONFLICT DO NOTHING""")
    conn.execute(
        """INSERT INTO directories (id, folder_id, parent_id, path, name, sort_key, mtime_ns,
                                    cover_kind, cover_path, cover_mtime)
           SELECT id, %s, parent_id, path, name, sort_key, mtime_ns,
                  CASE WHEN s.cover_path IS NULL THEN 0 ELSE 1 END, s.cover_path, s.cover_mtime FROM scan_dirs s
            WHERE NOT EXISTS (  -- unchanged directories are not rewritten (81k rows at 1M tracks)
                  SELECT 1 FROM directories d
                   WHERE d.id = s.id AND d.folder_id = %s AND d.parent_id IS NOT DISTINCT FROM s.parent_id
                     AND d.name = s.name AND d.sort_key = s.sort_key AND d.mtime_ns = s.mtime_ns
                     AND CASE WHEN s.cover_path IS NOT NULL
                              THEN d.cover_kind = 1 AND d.cover_path = s.cover_path
                                   AND d.cover_mtime IS NOT DISTINCT FROM s.cover_mtime
                              ELSE d.cover_kind <> 1 END)
           ON CONFLICT (id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name,
               sort_key = excluded.sort_key, mtime_ns = excluded.mtime_ns,
               cover_kind = CASE WHEN excluded.cover_kind = 1 THEN 1
                                 WHEN directories.cover_kind = 1 THEN 0 ELSE directories.cover_kind END,
               cover_path = CASE WHEN excluded.cover_kind = 1 THEN excluded.cover_path
                                 WHEN directories.cover_kind = 1 THEN NULL ELSE directories.cover_path END,
               cover_mtime = CASE WHEN excluded.cover_kind = 1 THEN excluded.cover_mtime
                                  WHEN directories.cover_kind = 1 THEN NULL ELSE directories.cover_mtime END""",
        (folder_id, folder_id))
    # Albums in a touched folder, or in a subfolder of one (disc folders use their parent's image).
    conn.execute("""INSERT INTO scan_touched
                    SELECT a.id FROM albums a JOIN scan_touched_dirs d ON d.dir_id = a.directory_id
                    UNION
                    SELECT a.id FROM albums a JOIN directories x ON x.id = a.directory_id
                      JOIN scan_touched_dirs d ON d.dir_id = x.parent_id
                    ON CONFLICT DO NOTHING""")
    if prune:
        conn.execute("""DELETE FROM directories d WHERE d.folder_id = %s
                         AND NOT EXISTS (SELECT 1 FROM scan_dirs s WHERE s.id = d.id)""", (folder_id,))
