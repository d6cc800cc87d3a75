"""getRandomSongs' one-statement sample (tracks.marks_random, issue 7): a fresh uniform sample of
distinct tracks honouring genre, years and music folders, with the reader's marks, whether the
one statement answers or ids_random's exact path takes over; and the songs it lists are whole."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.integration.conftest import serve
from tests.integration.test_random_and_order import N_TRACKS, assert_uniform, bulk_db, draws, population, run

__all__ = ["bulk_db"]  # the module fixture, shared


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the calls that ids_random answered instead of the one statement."""
    from orbsonic.library import tracks

    calls: list[int] = []
    real = tracks.ids_random

    async def counted(*args, **kw):  # type: ignore[no-untyped-def]
        calls.append(1)
        return await real(*args, **kw)

    monkeypatch.setattr(tracks, "ids_random", counted)
    tracks._rates.clear()
    return calls


def _ids(samples: list[list[tuple]]) -> list[list[int]]:
    return [[m[0] for m in s] for s in samples]


def test_marks_are_a_uniform_fresh_sample_from_one_statement(bulk_db, fallbacks):
    from orbsonic.library import tracks

    universe = population(bulk_db, "SELECT id FROM tracks")
    assert len(universe) > N_TRACKS
    samples = draws(bulk_db, 400, lambda conn: tracks.marks_random(conn, 50, 1))
    assert all(len(s) == 50 for s in samples)
    ids = _ids(samples)
    assert_uniform(ids, universe)  # also: distinct within a call, neighbours vary
    assert len({tuple(s) for s in ids}) == len(ids)
    assert len(fallbacks) <= 4  # the one statement answered (only a rare short draw falls back)
    durations = dict(run(bulk_db, lambda conn: _all(conn, "SELECT id, duration_ms FROM tracks")))
    assert all(len(m) == len(tracks.MARK_FIELDS) and m[1] == durations[m[0]] for s in samples for m in s)


async def _all(conn: psycopg.AsyncConnection, query: str) -> list[tuple]:
    cur = await conn.execute(query)
    return await cur.fetchall()


def test_marks_honour_the_filters_uniformly(bulk_db, fallbacks):
    from orbsonic.library import tracks
    from orbsonic.library.filters import YearRange
    from orbsonic.library.genres import genre_id

    universe = population(bulk_db, """SELECT t.id FROM tracks t JOIN track_genres g ON g.track_id = t.id
                                       JOIN genres ge ON ge.id = g.genre_id
                                      WHERE ge.name = 'Bulk' AND t.year BETWEEN 1999 AND 2001""")
    samples = draws(bulk_db, 300, lambda conn: tracks.marks_random(conn, 40, 1, genre_id=genre_id("Bulk"),
                                                                   years=YearRange(1999, 2001)))
    assert all(len(s) == 40 for s in samples)
    assert_uniform(_ids(samples), universe)
    # a year range no track has: nothing, whichever path answers
    assert run(bulk_db, lambda conn: tracks.marks_random(conn, 10, 1, years=YearRange(1800, 1801))) == []
    # a small genre: the exact path answers with all of it
    rock = population(bulk_db, """SELECT g.track_id FROM track_genres g JOIN genres ge ON ge.id = g.genre_id
                                   WHERE ge.name = 'Rock'""")
    everything = run(bulk_db, lambda conn: tracks.marks_random(conn, 500, 1, genre_id=genre_id("Rock")))
    assert {m[0] for m in everything} == rock and len(everything) == len(rock)
    assert fallbacks


def test_marks_stay_inside_the_music_folders(bulk_db, fallbacks):
    from orbsonic.library import tracks

    folders = sorted(population(bulk_db, "SELECT id FROM music_folders"))
    assert len(folders) == 2
    for f in folders:
        inside = population(bulk_db, f"SELECT id FROM tracks WHERE folder_id = {f}")
        samples = draws(bulk_db, 200, lambda conn: tracks.marks_random(conn, 30, 1, folders=[f]))
        got = {m[0] for s in samples for m in s}
        assert got <= inside
        if len(inside) > N_TRACKS:  # the bulk folder: a uniform sample of it
            assert_uniform(_ids(samples), inside)
        else:  # a handful of tracks: each call all of them
            assert all({m[0] for m in s} == inside for s in samples)


def test_marks_size_bounds(bulk_db, fallbacks):
    from orbsonic.library import tracks

    assert run(bulk_db, lambda conn: tracks.marks_random(conn, 0, 1)) == []
    big = run(bulk_db, lambda conn: tracks.marks_random(conn, 500, 1))
    assert len(big) == 500 and len({m[0] for m in big}) == 500


def test_a_short_draw_falls_back_to_the_exact_sample(bulk_db, fallbacks, monkeypatch):
    from orbsonic.library import tracks

    monkeypatch.setattr(tracks, "FAST_MAX_PROBES", 0)  # never the one statement
    universe = population(bulk_db, "SELECT id FROM tracks")
    samples = draws(bulk_db, 200, lambda conn: tracks.marks_random(conn, 50, 1))
    assert len(fallbacks) == 200 and all(len(s) == 50 for s in samples)
    assert_uniform(_ids(samples), universe)


def test_random_songs_are_whole_songs_with_the_readers_marks(bulk_db, two_folder_template, tmp_path: Path):
    """Every Child equals getSong's (all its fields, the reader's star, rating, plays), from a
    cold and a warm song cache; every answer is validated against the XSD/OpenAPI schemas."""
    from tests.conftest import ADMIN

    with psycopg.connect(bulk_db, autocommit=True) as conn:  # before the app starts: nothing cached
        conn.execute("""INSERT INTO annotations (user_id, kind, item_id, starred_at, rating, play_count, last_played)
                        SELECT u.id, 1, t.id, CASE WHEN t.id %% 3 = 0 THEN now() END,
                               CASE WHEN t.id %% 3 = 1 THEN 1 + t.id %% 5 END, t.id %% 7, now()
                          FROM tracks t, users u WHERE u.username = %s AND t.id %% 2 = 0""", (ADMIN[0],))
    with serve(bulk_db, two_folder_template[1], tmp_path) as client:
        seen: set[str] = set()
        for _ in range(3):
            songs = client.ok("getRandomSongs", size=50)["randomSongs"]["song"]
            assert len(songs) == 50 and len({s["id"] for s in songs}) == 50
            for s in songs:
                assert s == client.ok("getSong", id=s["id"])["song"]
            seen |= {k for s in songs for k in s}
        assert {"starred", "userRating", "played", "playCount"} <= seen
        xml = client.raw("getRandomSongs", fmt="xml", size=20)  # the fragments' XML, validated
        assert xml.status_code == 200 and xml.text.count("<song ") == 20


def test_each_draw_is_one_primary_key_probe_whatever_the_filters(bulk_db):
    """The filters apply outside the probe: a year range inside it let the planner walk the
    tracks_year index over the whole range once per draw (5 ms at 10k tracks)."""
    from orbsonic.library import tracks
    from orbsonic.library.filters import YearRange
    from orbsonic.library.genres import genre_id

    def scans(node: dict) -> list[tuple[str, str]]:
        own = [(node["Node Type"], node.get("Index Name", ""))] if node.get("Relation Name") == "tracks" else []
        return own + [s for child in node.get("Plans", ()) for s in scans(child)]

    with psycopg.connect(bulk_db, autocommit=True) as conn:
        for kw in ({}, {"years": YearRange(1999, 2001)}, {"folders": [1]},
                   {"genre_id": genre_id("Bulk"), "years": YearRange(1990, 2010), "folders": [1, 2]}):
            query, args = tracks.random_marks_query(kw.get("genre_id"), kw.get("years"), kw.get("folders"))
            (plan,) = conn.execute("EXPLAIN (FORMAT JSON) " + query,
                                   {**args, "user": 1, "size": 50, "probes": 300}).fetchone()
            found = scans(plan[0]["Plan"])
            # min(id), max(id) and the probes: the primary key only, never a table scan
            assert found and all(index == "tracks_pkey" for _, index in found), (kw, found)


def test_the_song_cache_warm_up_serves_the_first_random_lists_without_hydrating(
        bulk_db, two_folder_template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """subsonic_api/song_cache.py warm_up (run by `serve` in the background): every song of a
    library smaller than a quarter of the cache is shaped once, so getRandomSongs' first answers need
    no second query; the kept parts carry no user's marks (each reader's are spliced in)."""
    import functools

    from orbsonic.library import tracks
    from subsonic_api.song_cache import warm_up
    from tests.conftest import ADMIN

    with psycopg.connect(bulk_db, autocommit=True) as conn:  # this reader's stars and ratings
        conn.execute("""INSERT INTO annotations (user_id, kind, item_id, starred_at, rating)
                        SELECT u.id, 1, t.id, now(), 4 FROM tracks t, users u
                         WHERE u.username = %s AND t.id %% 4 = 1 ON CONFLICT DO NOTHING""", (ADMIN[0],))
    with serve(bulk_db, two_folder_template[1], tmp_path) as client:
        state = client.http.app.state.orbsonic
        cache = state.answers.songs
        assert len(cache) == 0
        some = client.http.portal.call(functools.partial(warm_up, cache, state.pool, share=100 / cache.max_entries,
                                                         batch=30, pause_s=0))
        assert some == 100 and len(cache) == 100  # stops at its share of the cache
        shaped = client.http.portal.call(functools.partial(warm_up, cache, state.pool, batch=700, pause_s=0))
        with psycopg.connect(bulk_db) as conn:
            n = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
        assert len(cache) == n == shaped
        hydrated: list[int] = []
        real = tracks.hydrate

        async def counted(conn, ids, *a, **k):  # type: ignore[no-untyped-def]
            hydrated.extend(ids)
            return await real(conn, ids, *a, **k)
        monkeypatch.setattr(tracks, "hydrate", counted)
        songs = [s for _ in range(5) for s in client.ok("getRandomSongs", size=50)["randomSongs"]["song"]]
        assert hydrated == []
        monkeypatch.setattr(tracks, "hydrate", real)
        for s in songs[:60]:  # getSong's full path: the same Child with this reader's marks
            assert s == client.ok("getSong", id=s["id"])["song"]
        assert any("starred" in s or "userRating" in s for s in songs)
