"""A benchmark library written straight into the real schema, without audio files:
`python -m bench.sqllib URL --tracks 1000000 [--seed 1] [--folder DIR]`, or
`generate(url, n, folder)` (bench/run.py --sql-tracks N).

For the API figures at sizes no file library reaches here (issue 7: getRandomSongs at 1M
tracks; issue 12: "a 1M-row library generated in SQL for the API figures"). The plan is
bench.libgen's (`plan_library`: the same albums, artists, genres, dates, formats, compilations
and multi-disc albums as a file library of that size and seed), so the two kinds of library
look alike to the API; the albums, artists, genres and folders (≈ n/14 rows) are computed in
Python with the scanner's own key, sort and fold functions and COPYed, and the tracks and
their artist and genre links (≈ 3n rows) are made by INSERT … SELECT from generate_series
inside PostgreSQL, with titles, guests, second genres and ReplayGain drawn from hashes of
the track id (deterministic, no round trip per row). The derived data — album counts,
durations, years, album_genres, artist and genre counters — is then computed by the
scanner's end-of-scan SQL (orbsonic.scanner.refresh) over every album, as after a cold scan.

Speed: the secondary indexes of the library tables are dropped first and rebuilt at the end
(CREATE INDEX on a full table is several times faster than maintaining four trigram and a
full-text GIN index row by row), triggers are off for the load (the native API's change log
would record a million inserts) and the load commits once. The music folder exists but is
empty: streams and covers are not part of a SQL library's figures.

Stats: seconds per step, so a small run extrapolates to a big one (`Stats.summary`).

Cache (`cached_database`): a generated library is kept as a template database
`bench_sql_<n>_cache` in the bench cluster, its database comment holding the generation
stats, a hash of the generator's sources (n, seed and the modules that decide the rows) and
the checksum of every migration it was built with. The next run with the same key clones it
(CREATE DATABASE … TEMPLATE, a file copy: a minute at 1M tracks instead of the generation)
and migrates the clone forward, as an upgrade would; a changed generator or a changed
migration regenerates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.libgen import VARIOUS, AlbumPlan, plan_library
from bench.tagwrite import _ADJ, _NOUN, _UNI, FEAT_SEPARATORS, GENRES
from orbsonic.ids import fold, key_id
from orbsonic.library.indexing import index_letter, sort_key
from orbsonic.scanner import refresh, writer
from orbsonic.scanner.rows import album_id, artist_id
from orbsonic.scanner.scanner import dir_id

# The tables the library fills: their secondary indexes are rebuilt after the load.
TABLES = ("tracks", "track_artists", "track_genres", "albums", "album_artists", "album_genres",
          "artists", "genres", "directories")
TRACK_TABLES = ("tracks", "track_artists", "track_genres", "directories")
# bench.templates format → (suffix, content type, codec, sample rate, bit depth, kbps)
FORMAT_ROWS: dict[str, tuple[str, str, str, int, int | None, int]] = {
    "flac16": ("flac", "audio/flac", "flac", 44100, 16, 880),
    "flac24_96": ("flac", "audio/flac", "flac", 96000, 24, 2900),
    "flac24_192": ("flac", "audio/flac", "flac", 192000, 24, 5600),
    "mp3_v23": ("mp3", "audio/mpeg", "mp3", 44100, None, 128),
    "mp3_v24": ("mp3", "audio/mpeg", "mp3", 44100, None, 192),
    "ogg": ("ogg", "audio/ogg", "vorbis", 44100, None, 112),
    "opus": ("opus", "audio/ogg", "opus", 48000, None, 96),
    "m4a_aac": ("m4a", "audio/mp4", "aac", 44100, None, 128),
    "m4a_alac": ("m4a", "audio/mp4", "alac", 44100, 16, 850),
    "wav": ("wav", "audio/wav", "pcm", 44100, 16, 1411),
}
EPOCH = "2024-01-01 00:00:00+00"  # created_at of the first album (then one minute per album)


@dataclass
class Stats:
    """What `generate` did: row counts and seconds per step."""

    tracks: int = 0
    albums: int = 0
    artists: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    # CPU seconds of the database (every backend and worker of its cluster) and of this
    # process: on a loaded machine the wall time says little, the CPU time extrapolates.
    db_cpu_s: float | None = None
    python_cpu_s: float = 0.0

    @property
    def total_s(self) -> float:
        return round(sum(self.seconds.values()), 2)

    def summary(self) -> str:
        steps = ", ".join(f"{k} {v:.1f}" for k, v in self.seconds.items())
        cpu = f"; CPU: database {self.db_cpu_s:.1f} s, Python {self.python_cpu_s:.1f} s" if self.db_cpu_s else ""
        return (f"{self.tracks:,} tracks, {self.albums:,} albums, {self.artists:,} artists in "
                f"{self.total_s:.1f} s ({steps}{cpu})")

    def as_dict(self) -> dict[str, Any]:
        return {"tracks": self.tracks, "albums": self.albums, "artists": self.artists,
                "seconds": self.seconds, "total_s": self.total_s, "db_cpu_s": self.db_cpu_s,
                "python_cpu_s": self.python_cpu_s}


def _cluster_cpu(conn: psycopg.Connection) -> float | None:
    """CPU seconds so far of the cluster behind `conn` when it runs on this machine: its
    postmaster with the children it reaped (cutime, cstime: finished parallel workers)
    and the live children. None when /proc does not show it (a remote database)."""
    from bench.load import children, cpu_seconds

    row = conn.execute("SELECT pg_backend_pid()").fetchone()
    try:
        with open(f"/proc/{row[0] if row else 0}/stat") as fh:
            postmaster = int(fh.read().rsplit(")", 1)[1].split()[1])
        with open(f"/proc/{postmaster}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError, ValueError):
        return None
    reaped = sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return reaped + cpu_seconds(children(postmaster))


@contextmanager
def _step(stats: Stats, name: str) -> Iterator[None]:
    t0 = time.perf_counter()
    yield
    stats.seconds[name] = round(time.perf_counter() - t0, 2)


def _copy(conn: psycopg.Connection, table: str, columns: str, rows: Any) -> None:
    with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _plan_rows(albums: list[AlbumPlan], artists: list[str], folder_id: int
               ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], dict[str, int], list[tuple[Any, ...]]]:
    """(album plan rows, disc plan rows, artist name → id, directory rows) for the COPYs."""
    plan, discs, dirs = [], [], {}
    artist_ids = {name: artist_id(name) for name in [*artists, VARIOUS]}
    root = dir_id(folder_id, "")
    dirs[""] = (root, None, "", "SQL library")
    first = 1
    taken: set[int] = set()
    for k, a in enumerate(albums):
        title, n = a.title, 2
        # one artist's two albums of the same title (other years) would be one album to the
        # scanner (keyed by album artist and name): keep them two, as the plan meant
        while (al_id := album_id(a.mbid_album, a.artist, title)) in taken:
            title, n = f"{a.title} ({n})", n + 1
        taken.add(al_id)
        parent_path = a.dir.rsplit("/", 1)[0]
        if parent_path not in dirs:
            dirs[parent_path] = (dir_id(folder_id, parent_path), root, parent_path, parent_path)
        own = dir_id(folder_id, a.dir)
        dirs[a.dir] = (own, dirs[parent_path][0], a.dir, a.dir.rsplit("/", 1)[1])
        suffix, ctype, codec, rate, depth, kbps = FORMAT_ROWS[a.fmt]
        size = sum(a.discs)
        disc_tag = len(a.discs) > 1 or (a.seed % 10) < 6  # as libgen: 60 % of one-disc albums tag it
        year = int(a.date[:4])
        plan.append((k, al_id, own, artist_ids[a.artist], a.artist,
                     fold(a.artist), a.compilation, title, fold(title), year, a.date, a.original_date,
                     a.genre, key_id("genre", fold(a.genre)), suffix, ctype, codec, rate, depth, kbps,
                     size, len(a.discs), disc_tag, (a.seed >> 8) % 2 == 0, a.mbid_album, a.dir))
        for d, count in enumerate(a.discs, 1):
            discs.append((k, d, count, first))
            first += count
    dir_rows = [(i, folder_id, parent, path, name, sort_key(name)) for i, parent, path, name in dirs.values()]
    return plan, discs, artist_ids, dir_rows


_PLAN_DDL = """
CREATE TEMP TABLE plan_albums (k integer PRIMARY KEY, album_id bigint, dir_id bigint, artist_id bigint,
    artist text, artist_f text, compilation boolean, title text, title_f text, year integer, date text,
    original_date text, genre text, genre_id bigint, suffix text, content_type text, codec text,
    sample_rate integer, bit_depth integer, bitrate integer, size integer, n_discs integer,
    disc_tag boolean, rg boolean, mbid text, dir text);
CREATE TEMP TABLE plan_discs (k integer, disc integer, n integer, first_id bigint);
CREATE TEMP TABLE plan_artists (idx integer PRIMARY KEY, id bigint, name text, name_f text);
CREATE TEMP TABLE plan_genres (idx integer PRIMARY KEY, id bigint, name text);
-- u(x, salt): a uniform [0, 1) number from a hash of x (immutable: the same library every run)
CREATE FUNCTION pg_temp.u(x bigint, salt integer) RETURNS double precision
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (hashint8extended(x, salt) & 2147483647)::double precision / 2147483648.0 $$;
"""

# Tracks, one INSERT: per (album, disc) row, generate_series over its tracks. Title words,
# guests (10 %), a second genre (10 %) and the ReplayGain values come from pg_temp.u of the
# track id and a salt; the word arrays are parameters, folded copies alongside (search_text
# is the scanner's fold of "title artist album").
_TRACKS = """
INSERT INTO tracks (id, folder_id, directory_id, path, size, mtime_ns, suffix, content_type, codec,
    bit_depth, sample_rate, channels, bitrate, duration_ms, title, sort_title, album_id, album_name,
    artist_id, artist_name, album_artist_name, composer_name, track_no, track_total, disc_no, disc_total,
    year, date, original_date, compilation, genre, rg_track_gain, rg_track_peak, rg_album_gain,
    rg_album_peak, mbid_recording, mbid_album, has_picture, pid, search_text, created_at, r128_version,
    cover_checked)
SELECT x.id, %(folder)s, a.dir_id,
       a.dir || '/' || d.disc || '-' || lpad(x.n::text, 2, '0') || ' ' || x.title || '.' || a.suffix,
       x.size, x.mtime, a.suffix, a.content_type, a.codec, a.bit_depth,
       a.sample_rate, 2, a.bitrate, x.dur, x.title, x.title, a.album_id, a.title,
       x.artist_id, x.display, a.artist, '', x.n, d.n,
       CASE WHEN a.disc_tag THEN d.disc END, CASE WHEN a.disc_tag THEN a.n_discs END,
       a.year, a.date, a.original_date, a.compilation, a.genre,
       CASE WHEN a.rg THEN round((-12 + 14 * pg_temp.u(x.id, 5))::numeric, 2) END,
       CASE WHEN a.rg THEN 0.95 END,
       CASE WHEN a.rg THEN round((-12 + 14 * pg_temp.u(a.k, 6))::numeric, 2) END,
       CASE WHEN a.rg THEN 0.99 END,
       CASE WHEN a.mbid IS NOT NULL THEN md5(x.id::text || 'recording')::uuid::text END, a.mbid,
       false, md5(x.id::text), x.title_f || ' ' || x.display_f || ' ' || a.title_f,
       x.created, x.size || ':' || x.mtime, x.size || ':' || x.mtime
  FROM plan_discs d JOIN plan_albums a ON a.k = d.k
 CROSS JOIN LATERAL (
   SELECT t.id, t.n, w.title, w.title_f, t.dur, t.created, t.dur / 1000 * a.bitrate * 125 + 4096 AS size,
          (extract(epoch FROM t.created) * 1000000000)::bigint AS mtime,
          coalesce(c.id, a.artist_id) AS artist_id,
          coalesce(c.name, a.artist)
              || CASE WHEN g.id IS NULL OR g.id = coalesce(c.id, a.artist_id) THEN ''
                      ELSE (%(seps)s::text[])[1 + t.id %% 5] || g.name END AS display,
          coalesce(c.name_f, a.artist_f)
              || CASE WHEN g.id IS NULL OR g.id = coalesce(c.id, a.artist_id) THEN ''
                      ELSE (%(seps_f)s::text[])[1 + t.id %% 5] || g.name_f END AS display_f
     FROM (SELECT d.first_id + s.n - 1 AS id, s.n,
                  (150000 + 270000 * pg_temp.u(d.first_id + s.n - 1, 1))::bigint AS dur,
                  %(epoch)s::timestamptz + make_interval(secs => a.k * 60 + d.disc * 30 + s.n) AS created
             FROM generate_series(1, d.n) AS s(n)) t
     LEFT JOIN plan_artists c ON a.compilation AND c.idx = floor(pg_temp.u(t.id, 2) * %(pool)s)::integer
     LEFT JOIN plan_artists g ON pg_temp.u(t.id, 3) < 0.10
                             AND g.idx = floor(pg_temp.u(t.id, 4) * %(pool)s)::integer
     CROSS JOIN LATERAL (
       SELECT CASE WHEN r < 0.45 THEN adj || ' ' || noun WHEN r < 0.60 THEN noun
                   WHEN r < 0.80 THEN noun || ' of the ' || adj || ' ' || noun2
                   WHEN r < 0.93 THEN 'The ' || noun ELSE uni || ' ' || noun END AS title,
              CASE WHEN r < 0.45 THEN lower(adj || ' ' || noun) WHEN r < 0.60 THEN lower(noun)
                   WHEN r < 0.80 THEN lower(noun || ' of the ' || adj || ' ' || noun2)
                   WHEN r < 0.93 THEN 'the ' || lower(noun) ELSE uni_f || ' ' || lower(noun) END AS title_f
         FROM (SELECT pg_temp.u(t.id, 7) AS r,
                      (%(adj)s::text[])[1 + floor(pg_temp.u(t.id, 8) * %(n_adj)s)::integer] AS adj,
                      (%(noun)s::text[])[1 + floor(pg_temp.u(t.id, 9) * %(n_noun)s)::integer] AS noun,
                      (%(noun)s::text[])[1 + floor(pg_temp.u(t.id, 10) * %(n_noun)s)::integer] AS noun2,
                      (%(uni)s::text[])[1 + floor(pg_temp.u(t.id, 11) * %(n_uni)s)::integer] AS uni,
                      (%(uni_f)s::text[])[1 + floor(pg_temp.u(t.id, 11) * %(n_uni)s)::integer] AS uni_f) r) w
 ) x
"""
# The links of the tracks just inserted, drawn with the same hashes: the track artist (a
# compilation's drawn from the pool, any other album's its album artist), a guest for 10 %,
# the album artist; the album's genre and for 10 % a second one.
_LINKS = """
INSERT INTO track_artists (track_id, role, position, artist_id)
SELECT t.id, 'artist', 0, t.artist_id FROM tracks t
UNION ALL
SELECT t.id, 'artist', 1, g.id FROM tracks t
  JOIN plan_artists g ON pg_temp.u(t.id, 3) < 0.10 AND g.idx = floor(pg_temp.u(t.id, 4) * %(pool)s)::integer
 WHERE g.id <> t.artist_id
UNION ALL
SELECT t.id, 'albumartist', 0, a.artist_id FROM tracks t JOIN plan_albums a ON a.album_id = t.album_id;
INSERT INTO track_genres (track_id, position, genre_id)
SELECT t.id, 0, a.genre_id FROM tracks t JOIN plan_albums a ON a.album_id = t.album_id
UNION ALL
SELECT t.id, 1, g.id FROM tracks t JOIN plan_albums a ON a.album_id = t.album_id
  JOIN plan_genres g ON pg_temp.u(t.id, 12) < 0.10 AND g.idx = floor(pg_temp.u(t.id, 13) * %(n_genres)s)::integer
 WHERE g.id <> a.genre_id;
"""


def _secondary_indexes(conn: psycopg.Connection) -> list[tuple[str, str, str]]:
    """(name, CREATE INDEX statement, table) of every index on TABLES that no constraint owns."""
    cur = conn.execute(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid), t.relname FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_namespace n ON n.oid = t.relnamespace
            WHERE n.nspname = current_schema() AND t.relname = ANY(%s)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
            ORDER BY c.relname""", (list(TABLES),))
    return [(r[0], r[1], r[2]) for r in cur.fetchall()]


def generate(url: str, n_tracks: int, folder: Path, *, seed: int = 1, log: Any = None) -> Stats:
    """Fill the (migrated, empty) database at `url` with a library of `n_tracks` tracks in
    one music folder at `folder` (created, left empty). Raises RuntimeError when the
    database already has tracks."""
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    stats = Stats()
    cpu0 = time.process_time()
    folder.mkdir(parents=True, exist_ok=True)
    with _step(stats, "plan"):
        albums, artists = plan_library(n_tracks, seed, covers=False)
        # plan_library's artist pool: the first half are album artists, all of it guests
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT EXISTS (SELECT 1 FROM tracks)").fetchone() != (False,):
            raise RuntimeError("the database already has tracks: generate into a fresh one")
        db0 = _cluster_cpu(conn)
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET work_mem = '64MB'")
        conn.execute("SET synchronous_commit = off")
        row = conn.execute("INSERT INTO music_folders (name, path) VALUES ('SQL library', %s) RETURNING id",
                           (str(folder.resolve()),)).fetchone()
        assert row is not None
        folder_id = int(row[0])
        with _step(stats, "rows"):
            plan, discs, artist_ids, dir_rows = _plan_rows(albums, artists, folder_id)
        with _step(stats, "drop_indexes"):
            indexes = _secondary_indexes(conn)
            for name, _, _ in indexes:
                conn.execute(f'DROP INDEX "{name}"')
            for table in ("tracks", "albums", "artists"):
                conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        with _step(stats, "copy_plan"):
            conn.execute(_PLAN_DDL)
            _copy(conn, "plan_albums", "k, album_id, dir_id, artist_id, artist, artist_f, compilation, title, "
                  "title_f, year, date, original_date, genre, genre_id, suffix, content_type, codec, sample_rate, "
                  "bit_depth, bitrate, size, n_discs, disc_tag, rg, mbid, dir", plan)
            _copy(conn, "plan_discs", "k, disc, n, first_id", discs)
            pool = [(i, artist_ids[name], name, fold(name)) for i, name in enumerate(artists)]
            _copy(conn, "plan_artists", "idx, id, name, name_f", pool)
            _copy(conn, "plan_genres", "idx, id, name",
                  [(i, key_id("genre", fold(g)), g) for i, g in enumerate(GENRES)])
            conn.execute("ANALYZE plan_albums; ANALYZE plan_discs; ANALYZE plan_artists; ANALYZE plan_genres")
            _copy(conn, "artists", "id, name, sort_name, sort_key, index_letter, search_text",
                  [(i, name, name, sort_key(name), index_letter(sort_key(name)), fold(name))
                   for name, i in artist_ids.items()])
            _copy(conn, "genres", "id, name", [(key_id("genre", fold(g)), g) for g in GENRES])
            _copy(conn, "directories", "id, folder_id, parent_id, path, name, sort_key", dir_rows)
            _copy(conn, "albums", "id, folder_id, name, sort_name, sort_key, artist_id, artist_name, "
                  "artist_sort_key, compilation, mbid, original_date, original_year, search_text, created_at",
                  [(p[1], folder_id, p[7], p[7], sort_key(p[7]), p[3], p[4], sort_key(p[4]), p[6], p[24],
                    p[11], int(p[11][:4]) if p[11] else None, fold(f"{p[7]} {p[4]}"), EPOCH) for p in plan])
            _copy(conn, "album_artists", "album_id, position, artist_id", [(p[1], 0, p[3]) for p in plan])
        # search_text is fold("title artist album"): the separators inside it keep their spaces
        words = {"adj": list(_ADJ), "noun": list(_NOUN), "uni": list(_UNI), "uni_f": [fold(w) for w in _UNI],
                 "n_adj": len(_ADJ), "n_noun": len(_NOUN), "n_uni": len(_UNI),
                 "seps": list(FEAT_SEPARATORS), "seps_f": [s.lower() for s in FEAT_SEPARATORS],
                 "pool": len(artists), "n_genres": len(GENRES), "folder": folder_id, "epoch": EPOCH}
        with _step(stats, "tracks"):
            conn.execute(_TRACKS, words)
        with _step(stats, "links"):
            for statement in _LINKS.split(";"):
                if statement.strip():
                    conn.execute(statement, words)
            conn.execute("SELECT setval(pg_get_serial_sequence('tracks', 'id'), (SELECT max(id) FROM tracks))")
            # what the (disabled) track_id_blocks triggers would have counted (schema/0036)
            if conn.execute("SELECT to_regclass('track_id_blocks') IS NOT NULL").fetchone() == (True,):
                conn.execute("DELETE FROM track_id_blocks")
                conn.execute("INSERT INTO track_id_blocks (block, folder_id, n)"
                             " SELECT id >> 10, folder_id, count(*) FROM tracks GROUP BY 1, 2")
        # The track tables' indexes first: the aggregate queries read tracks by album (a
        # lateral lookup per album); the album tables' after, so that their updates do not
        # maintain them.
        with _step(stats, "track_indexes"):
            for name, statement, table in indexes:
                if table in TRACK_TABLES:
                    conn.execute(statement)
        with _step(stats, "aggregates"):  # the scanner's end-of-scan SQL, over every album
            writer.setup(conn)
            conn.execute("INSERT INTO scan_touched SELECT id FROM albums")
            conn.execute("ANALYZE tracks; ANALYZE track_artists; ANALYZE track_genres; ANALYZE albums;"
                         " ANALYZE directories; ANALYZE album_artists")
            refresh.refresh_albums(conn)
            refresh.refresh_artists_and_genres(conn)
            refresh.mark_changed(conn)
            conn.execute("TRUNCATE scan_touched")
        with _step(stats, "album_indexes"):
            for table in ("tracks", "albums", "artists"):
                conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            for name, statement, table in indexes:
                if table not in TRACK_TABLES:
                    conn.execute(statement)
        conn.commit()
        conn.autocommit = True
        with _step(stats, "analyze"):
            conn.execute("VACUUM (ANALYZE) " + ", ".join(TABLES))
        counts = conn.execute("SELECT (SELECT count(*) FROM tracks), (SELECT count(*) FROM albums),"
                              " (SELECT count(*) FROM artists)").fetchone()
        assert counts is not None
        stats.tracks, stats.albums, stats.artists = (int(c) for c in counts)
        db1 = _cluster_cpu(conn)
        if db0 is not None and db1 is not None:
            stats.db_cpu_s = round(db1 - db0, 1)
    stats.python_cpu_s = round(time.process_time() - cpu0, 1)
    say(f"  SQL library: {stats.summary()}")
    return stats


# The modules whose code decides the generated rows: a change to any regenerates the cache.
_SOURCES = ("bench/sqllib.py", "bench/libgen.py", "bench/tagwrite.py", "orbsonic/scanner/refresh.py",
            "orbsonic/scanner/writer.py", "orbsonic/scanner/rows.py", "orbsonic/library/indexing.py",
            "orbsonic/ids.py")
_ROOT = Path(__file__).resolve().parent.parent


def _migration_sums() -> dict[str, str]:
    """version → sha256 of every migration file in schema/."""
    return {p.name.split("_", 1)[0]: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((_ROOT / "schema").glob("[0-9]*.sql"))}


def _generator_key(n_tracks: int, seed: int) -> str:
    h = hashlib.sha256(f"{n_tracks}:{seed}".encode())
    for rel in _SOURCES:
        h.update((_ROOT / rel).read_bytes())
    return h.hexdigest()


def _admin(url: str) -> str:
    return url.rsplit("/", 1)[0] + "/postgres"


def _clone(admin: str, source: str, target: str) -> None:
    """DROP `target`, CREATE it as a file copy of `source` (no WAL of every page)."""
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(target)))
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
            sql.Identifier(target), sql.Identifier(source)))


def cached_database(url: str, n_tracks: int, folder: Path, *, seed: int = 1, migrate: Any,
                    log: Any = None) -> tuple[dict[str, Any], bool]:
    """Make the (existing) database at `url` a library of `n_tracks` tracks: a clone of the
    cached one when its key matches (then `migrate(url)` brings it to the current schema),
    else `migrate(url)` + `generate` and a new cache from the result. Returns (the
    generation stats as `Stats.as_dict`, True when they are the cache's)."""
    say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    admin, target = _admin(url), url.rsplit("/", 1)[1]
    cache = f"bench_sql_{n_tracks}_cache"
    key, sums = _generator_key(n_tracks, seed), _migration_sums()
    with psycopg.connect(admin, autocommit=True) as conn:
        row = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
                           (cache,)).fetchone()
    meta: dict[str, Any] | None = None
    if row and row[0]:
        try:
            meta = json.loads(row[0])
        except ValueError:
            meta = None
    if (meta and meta.get("key") == key and meta.get("folder") == str(folder.resolve())
            and all(sums.get(v) == h for v, h in meta.get("migrations", {}).items())):
        t0 = time.perf_counter()
        _clone(admin, cache, target)
        migrate(url)
        folder.mkdir(parents=True, exist_ok=True)
        say(f"  SQL library of {n_tracks:,} tracks: cloned from {cache} in {time.perf_counter() - t0:.1f} s")
        return dict(meta["stats"]), True
    why = "none yet" if meta is None else "its key or migrations differ"
    say(f"  no usable cache {cache} ({why}): generating")
    migrate(url)
    stats = generate(url, n_tracks, folder, seed=seed, log=log).as_dict()
    t0 = time.perf_counter()
    _clone(admin, target, cache)
    note = json.dumps({"key": key, "folder": str(folder.resolve()), "migrations": sums, "stats": stats})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(cache), sql.Literal(note)))
    say(f"  cached as {cache} in {time.perf_counter() - t0:.1f} s")
    return stats, False


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.sqllib", description=__doc__.split("\n\n")[0])
    p.add_argument("url", help="a migrated, empty Orbsonic database (orbsonic migrate)")
    p.add_argument("--tracks", type=int, required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--folder", type=Path, default=Path("sql-library"),
                   help="the (empty) music folder to register (default ./sql-library)")
    args = p.parse_args(argv)
    stats = generate(args.url, args.tracks, args.folder, seed=args.seed)
    print(stats.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
