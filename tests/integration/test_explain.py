"""EXPLAIN checks: every paged list and every sort of the Subsonic API uses an index.

A library large enough for the planner to care (100k tracks, 8k albums, 3k artists, 10k
folders, 40 genres, ~30k annotations) is built directly in SQL in a database of its own,
then VACUUM ANALYZEd. Every list endpoint is driven through the real app; the pool's
cursors (`ExplainCursor`) EXPLAIN each SELECT before running it, with the same
parameters on the same connection, and the tests assert on the recorded plans:

* no Seq Scan on the library tables (tracks, albums, artists, the link tables,
  annotations, directories);
* no Sort whose input covers more than half of a large table it reads: sorting the
  matches of a text search or one genre's tracks is fine, sorting the whole table is not
  (client-compat §3.5: "give every sort mapping an index, and test it with EXPLAIN").
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import AsyncCursor, sql

from tests.conftest import ADMIN, ALICE, add_users, clone_db, make_settings

N_TRACKS, N_ALBUMS, N_ARTISTS, N_ALBUM_ARTISTS, N_GENRES = 100_000, 8_000, 3_000, 2_000, 40
CHECKED = ("tracks", "albums", "artists", "track_artists", "album_artists", "track_genres", "album_genres",
           "annotations", "directories")
ROOT_DIR, ARTIST_DIR0, ALBUM_DIR0 = 1, 100_000, 200_000

PLANS: list[dict[str, Any]] = []  # {"sql", "params", "plan"} of every SELECT, in order


class ExplainCursor(AsyncCursor):  # type: ignore[type-arg]
    """Runs EXPLAIN (FORMAT JSON) with the same parameters before every SELECT/WITH and
    records the plan in PLANS."""

    async def execute(self, query: Any, params: Any = None, **kw: Any) -> Any:  # type: ignore[override]
        text = query if isinstance(query, str) else query.as_string(self.connection)
        head = text.lstrip().lstrip("(").lstrip()[:6].upper()
        if head.startswith(("SELECT", "WITH")):
            async with AsyncCursor(self.connection) as cur:
                await cur.execute("EXPLAIN (FORMAT JSON) " + text, params)
                row = await cur.fetchone()
                assert row is not None
                plan = row[0] if not isinstance(row[0], str) else json.loads(row[0])
            PLANS.append({"sql": " ".join(text.split()), "params": params, "plan": plan[0]["Plan"]})
        return await super().execute(query, params, **kw)


BUILD = f"""
INSERT INTO music_folders (id, name, path) VALUES (1, 'music', @ROOT@);
INSERT INTO genres (id, name, song_count, album_count)
  SELECT g, 'Genre ' || g, {N_TRACKS // N_GENRES}, {N_ALBUMS // N_GENRES}
    FROM generate_series(1, {N_GENRES}) g;
INSERT INTO artists (id, name, sort_name, sort_key, index_letter, album_count, song_count, is_album_artist,
                     roles, cover_album_id, search_text)
  SELECT a, 'Artist ' || md5(a::text), 'Artist ' || md5(a::text), md5(a::text),
         upper(left(md5(a::text), 1)),
         CASE WHEN a <= {N_ALBUM_ARTISTS} THEN 4 ELSE 0 END, 30, a <= {N_ALBUM_ARTISTS},
         '{{artist}}', CASE WHEN a <= {N_ALBUM_ARTISTS} THEN a END, 'artist ' || md5(a::text)
    FROM generate_series(1, {N_ARTISTS}) a;
INSERT INTO directories (id, folder_id, parent_id, path, name, sort_key, cover_kind)
  VALUES ({ROOT_DIR}, 1, NULL, '', 'music', 'music', 0);
INSERT INTO directories (id, folder_id, parent_id, path, name, sort_key, cover_kind)
  SELECT {ARTIST_DIR0} + a, 1, {ROOT_DIR}, 'Artist ' || a, 'Artist ' || a, md5(a::text), 0
    FROM generate_series(1, {N_ALBUM_ARTISTS}) a;
INSERT INTO albums (id, folder_id, name, sort_name, sort_key, artist_id, artist_name, artist_sort_key, year,
                    genre, song_count, duration_ms, size, cover_kind, cover_path, cover_folder_id,
                    cover_mtime, directory_id, search_text, created_at)
  SELECT b, 1, 'Album ' || md5('al' || b), 'Album ' || md5('al' || b), md5('al' || b),
         (b % {N_ALBUM_ARTISTS}) + 1, 'Artist ' || md5(((b % {N_ALBUM_ARTISTS}) + 1)::text),
         md5(((b % {N_ALBUM_ARTISTS}) + 1)::text), 1950 + b % 75, 'Genre ' || (b % {N_GENRES} + 1),
         {N_TRACKS // N_ALBUMS}, 2400000, 40000000, 1, 'Artist/Album ' || b || '/cover.jpg', 1, 1700000000,
         {ALBUM_DIR0} + b, 'album ' || md5('al' || b), now() - b * interval '1 minute'
    FROM generate_series(1, {N_ALBUMS}) b;
INSERT INTO directories (id, folder_id, parent_id, path, name, sort_key, cover_kind, cover_path, cover_mtime)
  SELECT {ALBUM_DIR0} + b, 1, {ARTIST_DIR0} + (b % {N_ALBUM_ARTISTS}) + 1,
         'Artist ' || ((b % {N_ALBUM_ARTISTS}) + 1) || '/Album ' || b, 'Album ' || b, md5('al' || b), 1,
         'Artist/Album ' || b || '/cover.jpg', 1700000000
    FROM generate_series(1, {N_ALBUMS}) b;
INSERT INTO album_artists (album_id, position, artist_id)
  SELECT b, 1, (b % {N_ALBUM_ARTISTS}) + 1 FROM generate_series(1, {N_ALBUMS}) b;
INSERT INTO album_genres (album_id, genre_id, position, sort_key)
  SELECT b, b % {N_GENRES} + 1, 1, md5('al' || b) FROM generate_series(1, {N_ALBUMS}) b;
INSERT INTO tracks (id, folder_id, directory_id, path, size, mtime_ns, suffix, content_type, codec, bitrate,
                    duration_ms, title, sort_title, album_id, album_name, artist_id, artist_name,
                    album_artist_name, track_no, disc_no, year, genre, pid, search_text, created_at)
  SELECT t, 1, {ALBUM_DIR0} + (t % {N_ALBUMS}) + 1, 'Artist/Album/' || t || '.mp3', 4000000,
         1700000000000000000, 'mp3', 'audio/mpeg', 'mp3', 320, 200000, 'Song ' || md5('tr' || t),
         md5('tr' || t), (t % {N_ALBUMS}) + 1, 'Album ' || md5('al' || ((t % {N_ALBUMS}) + 1)),
         (t % {N_ARTISTS}) + 1, 'Artist ' || md5(((t % {N_ARTISTS}) + 1)::text),
         'Artist ' || md5((((t % {N_ALBUMS}) + 1) % {N_ALBUM_ARTISTS} + 1)::text), t / {N_ALBUMS} + 1, 1,
         1950 + ((t % {N_ALBUMS}) + 1) % 75, 'Genre ' || (((t % {N_ALBUMS}) + 1) % {N_GENRES} + 1),
         md5('pid' || t), 'song ' || md5('tr' || t), now() - t * interval '1 second'
    FROM generate_series(1, {N_TRACKS}) t;
SELECT setval(pg_get_serial_sequence('tracks', 'id'), {N_TRACKS});
INSERT INTO track_artists (track_id, role, position, artist_id)
  SELECT t, 'artist', 1, (t % {N_ARTISTS}) + 1 FROM generate_series(1, {N_TRACKS}) t
  UNION ALL
  SELECT t, 'albumartist', 1, ((t % {N_ALBUMS}) + 1) % {N_ALBUM_ARTISTS} + 1
    FROM generate_series(1, {N_TRACKS}) t
  UNION ALL
  SELECT t, 'artist', 2, ((t * 7) % {N_ARTISTS}) + 1 FROM generate_series(1, {N_TRACKS}, 10) t;
INSERT INTO track_genres (track_id, position, genre_id)
  SELECT t, 1, ((t % {N_ALBUMS}) + 1) % {N_GENRES} + 1 FROM generate_series(1, {N_TRACKS}) t
  UNION ALL
  SELECT t, 2, ((((t % {N_ALBUMS}) + 1) % {N_GENRES}) + 1) % {N_GENRES} + 1
    FROM generate_series(1, {N_TRACKS}, 10) t;
-- A heavy listener: plays on 20 % of the tracks (and their albums and artists), stars and
-- ratings on a few hundred items of each kind.
INSERT INTO annotations (user_id, kind, item_id, play_count, last_played)
  SELECT @USER@, 1, t, 1 + t % 17, now() - t * interval '1 minute' FROM generate_series(1, {N_TRACKS}, 5) t;
INSERT INTO annotations (user_id, kind, item_id, play_count, last_played, starred_at, rating)
  SELECT @USER@, 2, b, 1 + b % 23, now() - b * interval '1 hour',
         CASE WHEN b % 10 = 0 THEN now() - b * interval '1 day' END, CASE WHEN b % 7 = 0 THEN 1 + b % 5 END
    FROM generate_series(1, {N_ALBUMS}) b;
INSERT INTO annotations (user_id, kind, item_id, play_count, last_played, starred_at)
  SELECT @USER@, 3, a, 1 + a % 11, now() - a * interval '1 hour',
         CASE WHEN a % 20 = 0 THEN now() - a * interval '1 day' END FROM generate_series(1, {N_ARTISTS}) a;
UPDATE annotations SET starred_at = now() - item_id * interval '1 second'
 WHERE kind = 1 AND item_id % 200 = 1;
UPDATE annotations SET rating = 1 + item_id % 5 WHERE kind = 1 AND item_id % 100 = 1;
INSERT INTO annotations (user_id, kind, item_id, starred_at)
  SELECT @USER@, 4, {ALBUM_DIR0} + b, now() FROM generate_series(1, {N_ALBUMS}, 50) b;
-- A public playlist of 5,000 entries (the benchmark's size) and a play queue of 1,000.
INSERT INTO playlists (owner_id, name, public) VALUES (@USER@, 'big', true);
INSERT INTO playlist_entries (playlist_id, position, track_id)
  SELECT (SELECT max(id) FROM playlists), p * 1024, (p * 7919) % {N_TRACKS} + 1 FROM generate_series(1, 5000) p;
INSERT INTO play_queues (user_id, current_index) VALUES (@USER@, 0);
INSERT INTO play_queue_entries (user_id, idx, track_id)
  SELECT @USER@, i, (i * 104729) % {N_TRACKS} + 1 FROM generate_series(0, 999) i;
INSERT INTO server_state (key, value) VALUES ('library_changed_ms', '1700000000000'),
                                             ('track_count', '{N_TRACKS}')
  ON CONFLICT (key) DO UPDATE SET value = excluded.value;
"""


@pytest.fixture(scope="module")
def big_db(pg: Any, template_url: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """(url, music root) of the SQL-built library; one real file for stream and one cover."""
    url = clone_db(pg, template_url)
    data = tmp_path_factory.mktemp("explain-data")
    add_users(url, data)
    root = tmp_path_factory.mktemp("explain-music")
    (root / "Artist" / "Album").mkdir(parents=True)
    (root / "Artist" / "Album" / "1.mp3").write_bytes(b"\xff\xfb\x90\x00" + bytes(4096))
    with psycopg.connect(url, autocommit=True) as conn:
        user = conn.execute("SELECT id FROM users WHERE username = %s", (ADMIN[0],)).fetchone()
        assert user is not None
        with conn.transaction():
            build = BUILD.replace("@ROOT@", sql.Literal(str(root)).as_string(conn))
            conn.execute(build.replace("@USER@", str(int(user[0]))).encode())
        conn.execute("VACUUM ANALYZE")
    return url, data


@pytest.fixture(scope="module")
def client(big_db: tuple[str, Path]) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from orbsonic.app import create_app

    url, data = big_db
    app = create_app(make_settings(data), url, background=False,
                     pool_kwargs={"cursor_factory": ExplainCursor})
    with TestClient(app) as http:
        yield http


@pytest.fixture(scope="module")
def table_rows(big_db: tuple[str, Path]) -> dict[str, float]:
    with psycopg.connect(big_db[0]) as conn:
        rows = conn.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)",
                            (list(CHECKED),)).fetchall()
    return {name: float(n) for name, n in rows}


def _nodes(plan: dict[str, Any], divisor: float = 1.0) -> Iterator[tuple[dict[str, Any], float]]:
    """(node, parallel divisor) of every node: row estimates below a Gather are per
    process, so multiply them by the divisor (PostgreSQL's get_parallel_divisor)."""
    yield plan, divisor
    if plan["Node Type"] in ("Gather", "Gather Merge"):
        workers = plan.get("Workers Planned", 0)
        divisor = workers + max(0.0, 1.0 - 0.3 * workers)
    for child in plan.get("Plans", ()):
        yield from _nodes(child, divisor)


def _relations(plan: dict[str, Any]) -> set[str]:
    """Tables scanned anywhere below (and at) a plan node."""
    return {n["Relation Name"] for n, _ in _nodes(plan) if "Relation Name" in n}


def problems(plan: dict[str, Any], table_rows: dict[str, float]) -> list[str]:
    """What is wrong with one plan: seq scans of library tables, sorts of (most of) a table."""
    out = []
    for node, divisor in _nodes(plan):
        rel = node.get("Relation Name")
        if node["Node Type"] == "Seq Scan" and rel in CHECKED:
            out.append(f"Seq Scan on {rel}")
        if node["Node Type"] == "Sort":
            rows = divisor * sum(child["Plan Rows"] for child in node.get("Plans", ()))
            for rel in _relations(node) & set(CHECKED):
                if table_rows.get(rel, 0) >= 1000 and rows > table_rows[rel] / 2:
                    out.append(f"Sort of {rows:.0f} rows over {rel} ({table_rows[rel]:.0f} rows), "
                               f"key {node.get('Sort Key')}")
    return out


def whole_table_reads(plan: dict[str, Any], table_rows: dict[str, float]) -> list[str]:
    """Scans (of any kind: seq, index, index-only, bitmap) expected to read more than half of
    a large library table: wrong for a list whose length is its own (a playlist, a play
    queue), which must cost what the list holds, not what the library holds. Row estimates
    of a nested loop's inner side are per loop, so one probe per entry is not flagged."""
    out = []
    for node, divisor in _nodes(plan):
        rel = node.get("Relation Name")
        if rel in CHECKED and table_rows.get(rel, 0) >= 1000 and divisor * node["Plan Rows"] > table_rows[rel] / 2:
            out.append(f"{node['Node Type']} of {divisor * node['Plan Rows']:.0f} rows on {rel} "
                       f"({table_rows[rel]:.0f} rows)")
    return out


def _plan_text(plan: dict[str, Any], depth: int = 0) -> str:
    line = "  " * depth + plan["Node Type"]
    if "Relation Name" in plan:
        line += f" on {plan['Relation Name']}"
    if "Index Name" in plan:
        line += f" using {plan['Index Name']}"
    line += f" (rows={plan['Plan Rows']:.0f})"
    return "\n".join([line] + [_plan_text(c, depth + 1) for c in plan.get("Plans", ())])


def _pid(kind: str, n: int) -> str:
    from orbsonic.ids import public_id

    return public_id(kind, n)


# (label, method, params). Album ids are 1..8000, artists 1..3000 (1..2000 album artists),
# directories: root 1, artists 100001.., albums 200001..; tracks 1..100000.
DEEP_ALBUM = int(N_ALBUMS * 0.9)
CASES: list[tuple[str, str, dict[str, Any]]] = [
    *[(f"getAlbumList2 {t} @{o}", "getAlbumList2", {"type": t, "size": 50, "offset": o})
      for t in ("newest", "alphabeticalByName", "alphabeticalByArtist", "random")
      for o in (0, DEEP_ALBUM)],
    *[(f"getAlbumList2 {t} @{o}", "getAlbumList2", {"type": t, "size": 50, "offset": o})
      for t in ("starred", "frequent", "recent", "highest") for o in (0, 500)],
    ("getAlbumList2 byYear asc", "getAlbumList2", {"type": "byYear", "fromYear": 1960, "toYear": 2020,
                                                  "size": 50}),
    ("getAlbumList2 byYear asc deep", "getAlbumList2", {"type": "byYear", "fromYear": 1950, "toYear": 2030,
                                                       "size": 50, "offset": DEEP_ALBUM}),
    ("getAlbumList2 byYear desc", "getAlbumList2", {"type": "byYear", "fromYear": 2020, "toYear": 1960,
                                                   "size": 50}),
    ("getAlbumList2 byYear desc deep", "getAlbumList2", {"type": "byYear", "fromYear": 2030, "toYear": 1950,
                                                        "size": 50, "offset": DEEP_ALBUM}),
    ("getAlbumList2 byGenre", "getAlbumList2", {"type": "byGenre", "genre": "Genre 7", "size": 50}),
    ("getAlbumList2 byGenre deep", "getAlbumList2", {"type": "byGenre", "genre": "Genre 7", "size": 50,
                                                    "offset": 150}),
    ("getAlbumList2 newest folder", "getAlbumList2", {"type": "newest", "size": 50, "musicFolderId": 1}),
    ("getAlbumList2 byGenre folder", "getAlbumList2", {"type": "byGenre", "genre": "Genre 7", "size": 50,
                                                      "musicFolderId": 1}),
    *[(f"getAlbumList {t}", "getAlbumList", {"type": t, "size": 50, "offset": DEEP_ALBUM})
      for t in ("newest", "alphabeticalByName", "alphabeticalByArtist", "random", "frequent")],
    ("getAlbumList byYear", "getAlbumList", {"type": "byYear", "fromYear": 1970, "toYear": 1980, "size": 50}),
    *[(f"search3 empty @{o}", "search3", {"query": '""', "songCount": 500, "songOffset": o,
                                          "albumCount": 500, "albumOffset": min(o, DEEP_ALBUM),
                                          "artistCount": 500, "artistOffset": min(o, 2500)})
      for o in (0, 50_000, 90_000)],
    ("search3 empty folder deep", "search3", {"query": "", "songCount": 500, "songOffset": 90_000,
                                              "albumCount": 500, "albumOffset": DEEP_ALBUM,
                                              "artistCount": 0, "musicFolderId": 1}),
    ("search2 empty deep", "search2", {"query": '""', "songCount": 500, "songOffset": 90_000,
                                       "albumCount": 500, "albumOffset": DEEP_ALBUM, "artistCount": 500,
                                       "artistOffset": 2500}),
    ("search3 text", "search3", {"query": "c4ca", "songCount": 20, "albumCount": 20, "artistCount": 20}),
    ("search3 text two words", "search3", {"query": "song 45c4", "songCount": 20}),
    ("search2 text", "search2", {"query": "eccbc", "songCount": 20, "albumCount": 20, "artistCount": 20}),
    ("getRandomSongs", "getRandomSongs", {"size": 50}),
    ("getRandomSongs genre", "getRandomSongs", {"size": 50, "genre": "Genre 3"}),
    ("getRandomSongs years", "getRandomSongs", {"size": 50, "fromYear": 1990, "toYear": 2000}),
    ("getRandomSongs genre years folder", "getRandomSongs", {"size": 50, "genre": "Genre 3",
                                                             "fromYear": 1960, "toYear": 2000,
                                                             "musicFolderId": 1}),
    ("getSongsByGenre", "getSongsByGenre", {"genre": "Genre 5", "count": 50}),
    ("getSongsByGenre deep", "getSongsByGenre", {"genre": "Genre 5", "count": 50, "offset": 2000}),
    ("getSongsByGenre folder", "getSongsByGenre", {"genre": "Genre 5", "count": 50, "offset": 2000,
                                                   "musicFolderId": 1}),
    ("getArtists", "getArtists", {}),
    ("getArtists folder", "getArtists", {"musicFolderId": 1}),
    ("getIndexes", "getIndexes", {}),
    ("getIndexes folder", "getIndexes", {"musicFolderId": 1}),
    ("getArtist", "getArtist", {"id": _pid("ar", 17)}),
    ("getArtist featured only", "getArtist", {"id": _pid("ar", 2500)}),
    ("getAlbum", "getAlbum", {"id": _pid("al", 1234)}),
    ("getMusicDirectory folder", "getMusicDirectory", {"id": _pid("dr", ALBUM_DIR0 + 1234)}),
    ("getMusicDirectory artist folder", "getMusicDirectory", {"id": _pid("dr", ARTIST_DIR0 + 17)}),
    ("getMusicDirectory album id", "getMusicDirectory", {"id": _pid("al", 1234)}),
    ("getMusicDirectory artist id", "getMusicDirectory", {"id": _pid("ar", 17)}),
    ("getStarred2", "getStarred2", {}),
    ("getStarred", "getStarred", {}),
    ("getSong", "getSong", {"id": _pid("tr", 4321)}),
    ("getGenres", "getGenres", {}),
    ("stream", "stream", {"id": _pid("tr", 4321)}),
    ("getCoverArt album", "getCoverArt", {"id": _pid("al", 1234) + "_1", "size": 300}),
    ("getCoverArt track", "getCoverArt", {"id": _pid("tr", 4321), "size": 300}),
    ("getCoverArt artist", "getCoverArt", {"id": _pid("ar", 17), "size": 300}),
    ("getCoverArt folder", "getCoverArt", {"id": _pid("dr", ALBUM_DIR0 + 3), "size": 300}),
    # discovery: bounded index probes (orbsonic/library/similar.py)
    ("getArtistInfo2", "getArtistInfo2", {"id": _pid("ar", 17), "includeNotPresent": "true"}),
    ("getArtistInfo song", "getArtistInfo", {"id": _pid("tr", 4321), "count": 50}),
    ("getAlbumInfo2", "getAlbumInfo2", {"id": _pid("al", 1234)}),
    ("getSimilarSongs2", "getSimilarSongs2", {"id": _pid("ar", 17), "count": 50}),
    ("getSimilarSongs song", "getSimilarSongs", {"id": _pid("tr", 4321), "count": 50}),
    ("getSimilarSongs album", "getSimilarSongs", {"id": _pid("al", 1234), "count": 50}),
    ("getTopSongs", "getTopSongs", {"id": _pid("ar", 17), "count": 50}),
    ("getTopSongs name", "getTopSongs", {"artist": "Artist " + __import__("hashlib").md5(b"17").hexdigest()}),
]


@pytest.mark.parametrize(("label", "method", "params"), CASES, ids=[c[0] for c in CASES])
def test_plans_use_indexes(client: Any, table_rows: dict[str, float], label: str, method: str,
                           params: dict[str, Any]) -> None:
    _check_plans(client, table_rows, label, method, params, ADMIN)


@pytest.fixture(scope="module")
def restricted(big_db: tuple[str, Path]) -> tuple[str, str]:
    """alice, limited to music folder 1 (users.folder_ids): every query takes its
    folder-access filter (`folder_id = ANY(...)`, the artist EXISTS probes)."""
    with psycopg.connect(big_db[0], autocommit=True) as conn:
        conn.execute("UPDATE users SET folder_ids = '{1}' WHERE username = %s", (ALICE[0],))
    return ALICE


# getGenres of a folder-restricted user counts the songs and albums of its folders per genre
# (orbsonic.library.genres.list_all): an aggregate that reads every track of those folders
# by design — not a paged list, and called once per client sync.
RESTRICTED_CASES = [c for c in CASES if c[1] != "getGenres"]


@pytest.mark.parametrize(("label", "method", "params"), RESTRICTED_CASES,
                         ids=[c[0] for c in RESTRICTED_CASES])
def test_plans_use_indexes_for_a_folder_restricted_user(client: Any, table_rows: dict[str, float],
                                                        restricted: tuple[str, str], label: str, method: str,
                                                        params: dict[str, Any]) -> None:
    _check_plans(client, table_rows, label, method, params, restricted)


def _check_plans(client: Any, table_rows: dict[str, float], label: str, method: str, params: dict[str, Any],
                 user: tuple[str, str], extra: Any = None) -> None:
    PLANS.clear()
    r = client.get(f"/rest/{method}", params={"u": user[0], "p": user[1], "v": "1.16.1", "c": "explain",
                                              "f": "json", **params})
    assert r.status_code == 200
    if r.headers.get("content-type", "").startswith("application/json"):
        body = r.json()["subsonic-response"]
        if method not in ("getCoverArt", "stream"):  # no file behind most covers/tracks: 70 is fine
            assert body["status"] == "ok", body
    assert PLANS, "no SELECT recorded"
    bad = []
    for rec in PLANS:
        found = problems(rec["plan"], table_rows) + (extra(rec["plan"], table_rows) if extra else [])
        for problem in found:
            bad.append(f"{problem}\n  in: {rec['sql'][:300]}\n  params: {str(rec['params'])[:200]}\n"
                       + _plan_text(rec["plan"]))
    assert not bad, f"{label}:\n" + "\n\n".join(bad)


# Lists whose length is their own: a 5,000-entry playlist (getPlaylists counts it), a play queue.
BOUNDED_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("getPlaylist", "getPlaylist", {"id": "@PLAYLIST@"}),
    ("getPlaylists", "getPlaylists", {}),
    ("getPlayQueue", "getPlayQueue", {}),
    ("getPlayQueueByIndex", "getPlayQueueByIndex", {}),
]


@pytest.fixture(scope="module")
def big_playlist(big_db: tuple[str, Path]) -> str:
    with psycopg.connect(big_db[0]) as conn:
        row = conn.execute("SELECT max(id) FROM playlists WHERE name = 'big'").fetchone()
    assert row is not None and row[0] is not None
    return _pid("pl", int(row[0]))


@pytest.mark.parametrize("who", ["admin", "folder-restricted"])
@pytest.mark.parametrize(("label", "method", "params"), BOUNDED_CASES, ids=[c[0] for c in BOUNDED_CASES])
def test_entry_lists_read_only_their_entries(client: Any, table_rows: dict[str, float], big_db: tuple[str, Path],
                                             big_playlist: str, label: str, method: str, params: dict[str, Any],
                                             who: str) -> None:
    """A playlist or play queue reads one track per entry, never the whole tracks table (a
    hash join of every track made getPlaylist of 5,000 entries cost 105-150 ms at 1M tracks
    where the probes cost ~20), and its indexes as the lists above do."""
    if who == "admin":
        user = ADMIN
    else:
        with psycopg.connect(big_db[0], autocommit=True) as conn:
            conn.execute("UPDATE users SET folder_ids = '{1}' WHERE username = %s", (ALICE[0],))
        user = ALICE
    params = {k: big_playlist if v == "@PLAYLIST@" else v for k, v in params.items()}
    _check_plans(client, table_rows, label, method, params, user, extra=whole_table_reads)
    if method == "getPlaylist":
        assert any("playlist_entries" in rec["sql"] for rec in PLANS)


def test_the_whole_table_check_catches_a_hash_join(big_db: tuple[str, Path], table_rows: dict[str, float]) -> None:
    """The entries joined to tracks as a plain join (the former statement) is reported."""
    async def go() -> list[str]:
        async with await psycopg.AsyncConnection.connect(big_db[0], cursor_factory=ExplainCursor) as conn:
            PLANS.clear()
            await conn.execute("""SELECT count(*), sum(t.duration_ms) FROM playlist_entries e
                                    JOIN tracks t ON t.id = e.track_id
                                   WHERE e.playlist_id = (SELECT max(id) FROM playlists)""")
            return whole_table_reads(PLANS[-1]["plan"], table_rows)

    found = asyncio.run(go())
    assert any("on tracks" in p for p in found), found


def test_the_library_is_big_enough(table_rows: dict[str, float]) -> None:
    """The plans above are only meaningful when the planner sees a big library."""
    assert table_rows["tracks"] >= N_TRACKS * 0.9
    assert table_rows["albums"] >= N_ALBUMS * 0.9
    assert table_rows["annotations"] >= 20_000


def test_the_checker_catches_a_full_sort(big_db: tuple[str, Path], table_rows: dict[str, float]) -> None:
    """A query that sorts every track is reported (the check is not vacuous)."""
    async def go() -> list[str]:
        async with await psycopg.AsyncConnection.connect(big_db[0], cursor_factory=ExplainCursor) as conn:
            PLANS.clear()
            await conn.execute("SELECT id FROM tracks ORDER BY title LIMIT 10")
            return problems(PLANS[-1]["plan"], table_rows)

    found = asyncio.run(go())
    assert any(p.startswith("Seq Scan on tracks") for p in found), found
    assert any(p.startswith("Sort of") for p in found), found
