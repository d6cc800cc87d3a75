"""Native library routes (docs/native-api.md "Library", native_api/endpoints/library.py).

The module's own database: a clone of the two-folder library (tests/integration/conftest.py;
folder 1 = the generated test library, folder 2 = a small extra folder), because these tests
star, rate, scrobble and insert rows. Users: admin (all folders), alice (all folders), nora
(folder 2 only). Every JSON answer is validated against the route's schema in the served
OpenAPI document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from orbsonic.ids import public_id
from tests.conftest import ADMIN, ALICE, SECRET, Subsonic, make_app
from tests.integration.conftest import EXTRA_ARTIST, Library, clone_from
from tests.integration.native_client import Native, api_key_for

NORA = ("nora", "nora-pass")


class Checked(Native):
    """A Native client whose 200 JSON answers are validated against the OpenAPI document."""

    doc: dict[str, Any]

    def get(self, path: str, template: str | None = None, **params: Any) -> Any:
        body = self.ok("GET", path, params=params or None)
        op = self.doc["paths"]["/api/v1" + (template or path)]["get"]
        schema = op["responses"]["200"]["content"]["application/json"]["schema"]
        Draft202012Validator({**schema, "components": self.doc["components"]}).validate(body)
        return body

    def walk(self, path: str, limit: int = 3, **params: Any) -> list[dict[str, Any]]:
        """Every item of a cursor-paged list, page by page."""
        items: list[dict[str, Any]] = []
        cursor = None
        for _ in range(1000):
            page = self.get(path, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
            assert len(page["items"]) <= limit
            items += page["items"]
            cursor = page["next"]
            if cursor is None:
                return items
            assert len(page["items"]) == limit
        raise AssertionError("no last page")


@pytest.fixture(scope="module")
def lib(pg: Any, two_folder_template: Library) -> Iterator[tuple[str, list[int]]]:
    """(database URL, [folder 1 id, folder 2 id]) with nora restricted to folder 2."""
    from orbsonic.auth import users
    from orbsonic.auth.passwords import SecretKey

    url = clone_from(pg, two_folder_template[0])
    with psycopg.connect(url) as conn:
        fids = [r[0] for r in conn.execute("SELECT id FROM music_folders ORDER BY id")]

    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            await users.create_user(conn, SecretKey.from_text(SECRET), *NORA, folder_ids=[fids[1]])
            await conn.commit()

    asyncio.run(go())
    yield url, fids


@pytest.fixture(scope="module")
def http(lib: tuple[str, list[int]], two_folder_template: Library,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from starlette.testclient import TestClient

    with TestClient(make_app(lib[0], tmp_path_factory.mktemp("nlib"), two_folder_template[1])) as c:
        yield c


def _client(http: Any, url: str, user: str) -> Checked:
    c = Checked(http, api_key_for(url, user))
    c.doc = http.get("/api/v1/openapi.json").json()
    return c


@pytest.fixture(scope="module")
def admin(http: Any, lib: tuple[str, list[int]]) -> Checked:
    return _client(http, lib[0], ADMIN[0])


@pytest.fixture(scope="module")
def alice(http: Any, lib: tuple[str, list[int]]) -> Checked:
    return _client(http, lib[0], ALICE[0])


@pytest.fixture(scope="module")
def nora(http: Any, lib: tuple[str, list[int]]) -> Checked:
    return _client(http, lib[0], NORA[0])


def db_ids(url: str, sql: str, *args: Any) -> set[int]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(sql, args)}


def internal(public: str) -> int:
    return int(public.split("-", 1)[1], 36)


# ------------------------------------------------------------------------------ lists


def test_every_track_sort_lists_every_track_once(admin: Checked, lib: tuple[str, list[int]]) -> None:
    every = db_ids(lib[0], "SELECT id FROM tracks")
    for sort in ("title", "artist", "album", "year", "added"):
        for order in ("asc", "desc"):
            items = admin.walk("/tracks", limit=7, sort=sort, order=order)
            ids = [internal(t["id"]) for t in items]
            assert len(ids) == len(set(ids)) and set(ids) == every, (sort, order)
            if sort == "year":
                years = [t["year"] or 0 for t in items]
                assert years == sorted(years, reverse=order == "desc")
            if sort == "album":
                keys = [(t["album"], t["albumId"]) for t in items]
                # an album's tracks are contiguous
                seen: list[Any] = []
                for k in keys:
                    if not seen or seen[-1] != k:
                        assert k not in seen, (sort, order, k)
                        seen.append(k)
    titles = [t["title"] for t in admin.walk("/tracks", limit=50, sort="title")]
    assert titles.index("Cocoon") < titles.index("Hidden Place")


def test_every_album_and_artist_sort(admin: Checked, lib: tuple[str, list[int]]) -> None:
    every = db_ids(lib[0], "SELECT id FROM albums")
    for sort in ("name", "artist", "year", "added"):
        for order in ("asc", "desc"):
            items = admin.walk("/albums", limit=4, sort=sort, order=order)
            ids = [internal(a["id"]) for a in items]
            assert len(ids) == len(set(ids)) and set(ids) == every, (sort, order)
    years = [a["year"] or 0 for a in admin.walk("/albums", sort="year")]
    assert years == sorted(years)
    added = [a["added"] for a in admin.walk("/albums", sort="added")]
    assert added == sorted(added, reverse=True)  # default order of "added": newest first
    artists = db_ids(lib[0], "SELECT id FROM artists WHERE is_album_artist")
    for sort in ("name", "albums"):
        items = admin.walk("/artists", limit=2, sort=sort)
        assert {internal(a["id"]) for a in items} == artists and len(items) == len(artists)
    counts = [a["albumCount"] for a in admin.walk("/artists", sort="albums")]
    assert counts == sorted(counts, reverse=True)
    names = [a["name"] for a in admin.walk("/artists", sort="name", order="asc")]
    assert names.index("Björk") < names.index(EXTRA_ARTIST)


def test_track_filters(admin: Checked, lib: tuple[str, list[int]]) -> None:
    url, fids = lib
    rock = admin.walk("/tracks", genre="Electronic")
    assert rock and all("Electronic" in t["genres"] for t in rock)
    assert {internal(t["id"]) for t in rock} == db_ids(
        url, "SELECT tg.track_id FROM track_genres tg JOIN genres g ON g.id = tg.genre_id "
             "WHERE g.name = 'Electronic'")
    assert admin.walk("/tracks", genre="eLeCtRoNiC") == rock  # genres are case-insensitive
    assert admin.get("/tracks", genre="No Such Genre")["items"] == []
    years = admin.walk("/tracks", yearFrom=1990, yearTo=2001, sort="year")
    assert years and all(1990 <= t["year"] <= 2001 for t in years)
    assert {internal(t["id"]) for t in years} == db_ids(
        url, "SELECT id FROM tracks WHERE year BETWEEN 1990 AND 2001")
    assert all(t["year"] >= 2000 for t in admin.walk("/tracks", yearFrom=2000))
    flac = admin.walk("/tracks", format="FLAC")
    assert flac and all(t["container"] == "flac" or t["codec"] == "flac" for t in flac)
    assert all(t["seekIndexUrl"] and t["lossless"] and t["browserPlayable"]
               for t in flac if t["codec"] == "flac")
    second = admin.walk("/tracks", folder=fids[1])
    assert {internal(t["id"]) for t in second} == db_ids(
        url, "SELECT id FROM tracks WHERE folder_id = %s", fids[1])
    both = admin.walk("/tracks", folder=fids[1], format="mp3")
    assert [t["title"] for t in both] == ["Quuxtone Closing"]
    admin.problem("GET", "/tracks", 404, params={"folder": 999})


def test_album_filters(admin: Checked, lib: tuple[str, list[int]]) -> None:
    url, fids = lib
    electronic = admin.walk("/albums", genre="Electronic")
    assert electronic and all("Electronic" in a["genres"] for a in electronic)
    ranged = admin.walk("/albums", yearFrom=1995, yearTo=2001)
    assert ranged and all(1995 <= a["year"] <= 2001 for a in ranged)
    opus = admin.walk("/albums", format="opus")
    assert {internal(a["id"]) for a in opus} == db_ids(
        url, "SELECT album_id FROM tracks WHERE codec = 'opus'")
    mine = admin.walk("/albums", folder=fids[1])
    assert sorted(a["name"] for a in mine) == ["Post Extras", "Quuxtone Live"]


def test_unknown_sort_and_bad_filters_are_422_naming_the_field(admin: Checked) -> None:
    for path, params, field in [
        ("/tracks", {"sort": "colour"}, "sort"), ("/albums", {"sort": "title"}, "sort"),
        ("/artists", {"sort": "year"}, "sort"), ("/tracks", {"order": "up"}, "order"),
        ("/tracks", {"yearFrom": "soon"}, "yearFrom"), ("/albums", {"yearTo": "-5"}, "yearTo"),
        ("/tracks", {"starred": "maybe"}, "starred"), ("/tracks", {"limit": "0"}, "limit"),
        ("/albums", {"limit": "501"}, "limit"), ("/tracks", {"folder": "x"}, "folder"),
        ("/tracks", {"format": "fl ac"}, "format"), ("/lists/most-played", {"kind": "songs"}, "kind"),
        ("/search", {"limit": "1000"}, "limit"), ("/covers/al-1", {"size": "-1"}, "size"),
    ]:
        body = admin.problem("GET", path, 422, params=params)
        assert body["errors"][0]["field"] == field, (path, body)
    assert admin.problem("GET", "/tracks", 400, params={"yearFrom": 2001, "yearTo": 1990})


def test_cursors_are_tied_to_their_sort_and_refuse_garbage(admin: Checked) -> None:
    page = admin.get("/tracks", sort="title", limit=2)
    assert page["next"]
    admin.problem("GET", "/tracks", 400, params={"sort": "year", "cursor": page["next"]})
    admin.problem("GET", "/tracks", 400, params={"sort": "title", "order": "desc", "cursor": page["next"]})
    admin.problem("GET", "/albums", 400, params={"cursor": page["next"]})
    from native_api.pagination import encode_cursor

    for key in (["a", "not-an-int"], [1, 2], ["a\x00", 1], ["a", 2**63], ["a", True], ["a", 1.5]):
        admin.problem("GET", "/tracks", 400, params={"cursor": encode_cursor("title:asc", key)})
    admin.problem("GET", "/tracks", 400, params={"sort": "year",
                                                 "cursor": encode_cursor("year:asc", [2**40, 1])})
    admin.problem("GET", "/tracks", 400, params={"sort": "added",
                                                 "cursor": encode_cursor("added:desc", ["x", 1])})
    admin.problem("GET", "/tracks", 400, params={"cursor": "!!!"})


def test_cursor_pages_are_stable_under_concurrent_inserts(admin: Checked, lib: tuple[str, list[int]]) -> None:
    """Rows inserted between pages: before the cursor they never appear (nothing shifts, nothing
    repeats); after it they appear exactly once."""
    url = lib[0]
    before = [t["id"] for t in admin.walk("/tracks", limit=4, sort="title")]
    first = admin.get("/tracks", sort="title", limit=4)
    with psycopg.connect(url, autocommit=True) as conn:
        tmpl = conn.execute("SELECT folder_id, directory_id, album_id FROM tracks ORDER BY id LIMIT 1"
                            ).fetchone()
        assert tmpl is not None
        # Sort titles equal to the first and the last existing ones: with the larger (newer) id
        # as tiebreak, "early" lands inside the first page and "late" at the very end,
        # whatever the database's collation does with punctuation.
        lo, hi = conn.execute("SELECT min(sort_title), max(sort_title) FROM tracks").fetchone() or ("", "")
        new = {}
        for name, key in (("early", lo), ("late", hi)):
            row = conn.execute(
                """INSERT INTO tracks (folder_id, directory_id, path, size, mtime_ns, suffix, content_type,
                                       title, sort_title, album_id, pid, created_at)
                   VALUES (%s, %s, %s, 1, 1, 'mp3', 'audio/mpeg', %s, %s, %s, %s, now()) RETURNING id""",
                (tmpl[0], tmpl[1], f"inserted/{name}.mp3", name, key, tmpl[2], "pid " + name)).fetchone()
            assert row is not None
            new[name] = public_id("tr", row[0])
    try:
        rest: list[str] = []
        cursor = first["next"]
        while cursor:
            page = admin.get("/tracks", sort="title", limit=4, cursor=cursor)
            rest += [t["id"] for t in page["items"]]
            cursor = page["next"]
        seen = [t["id"] for t in first["items"]] + rest
        assert len(seen) == len(set(seen))
        assert seen == [*before, new["late"]]
        assert new["early"] in [t["id"] for t in admin.walk("/tracks", limit=4, sort="title")[:4]]
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM tracks WHERE path LIKE 'inserted/%%'")


_TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/tracks", "/albums", "/artists", "/lists/recently-added", "/search"]),
       params=st.dictionaries(st.sampled_from(["sort", "order", "genre", "yearFrom", "yearTo", "format",
                                               "folder", "starred", "cursor", "limit", "kind", "q"]),
                              st.one_of(_TEXT, st.integers(-2**70, 2**70).map(str),
                                        st.sampled_from(["title", "name", "desc", "true", "added", "1"])),
                              max_size=5))
def test_any_query_is_an_answer_or_a_problem_never_a_500(admin: Checked, path: str,
                                                         params: dict[str, str]) -> None:
    r = admin.call("GET", path, params=params)
    assert r.status_code in (200, 400, 404, 422), (path, params, r.status_code, r.text[:300])
    if r.status_code != 200:
        assert r.headers["content-type"].startswith("application/problem+json")


@settings(max_examples=40, deadline=None)
@given(key=st.lists(st.one_of(st.integers(-2**63, 2**64 - 1), _TEXT, st.none(), st.booleans(),
                              st.floats(allow_nan=False)), min_size=1, max_size=6),
       sort=st.sampled_from(["title:asc", "added:desc", "year:asc", "artist:desc", "played:desc"]))
def test_hand_made_cursors_never_reach_sql_as_a_500(admin: Checked, key: list[Any], sort: str) -> None:
    from native_api.pagination import encode_cursor

    name, order = sort.split(":")
    cursor = encode_cursor(sort, key)
    r = admin.call("GET", "/tracks", params={"sort": name, "order": order, "cursor": cursor})
    assert r.status_code in (200, 400), (key, sort, r.text[:300])


def test_newest_first_pages_skip_nothing_while_tracks_arrive(admin: Checked,
                                                             lib: tuple[str, list[int]]) -> None:
    """sort=added (newest first): tracks scanned while a client pages are before its cursor —
    later pages neither repeat an item nor skip one."""
    url = lib[0]
    before = [t["id"] for t in admin.walk("/tracks", limit=5, sort="added")]
    page = admin.get("/tracks", sort="added", limit=5)
    seen = [t["id"] for t in page["items"]]
    try:
        n = 0
        while page["next"]:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute(
                    """INSERT INTO tracks (folder_id, directory_id, path, size, mtime_ns, suffix,
                                           content_type, title, sort_title, album_id, pid, created_at)
                       SELECT folder_id, directory_id, %s, 1, 1, 'mp3', 'audio/mpeg', 'new', 'new',
                              album_id, %s, now() FROM tracks ORDER BY id LIMIT 1""",
                    (f"arrived/{n}.mp3", f"pid arrived {n}"))
            n += 1
            page = admin.get("/tracks", sort="added", limit=5, cursor=page["next"])
            seen += [t["id"] for t in page["items"]]
        assert seen == before and n > 1
        assert [t["title"] for t in admin.get("/tracks", sort="added", limit=n)["items"]] == ["new"] * n
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("DELETE FROM tracks WHERE path LIKE 'arrived/%%'")


# ------------------------------------------------------------------------------ detail


def test_track_detail_has_the_audio_properties(admin: Checked, lib: tuple[str, list[int]]) -> None:
    with psycopg.connect(lib[0]) as conn:
        row = conn.execute("""SELECT id, bit_depth, sample_rate, channels, total_samples, duration_ms, size
                                FROM tracks WHERE codec = 'flac' AND total_samples IS NOT NULL
                               ORDER BY id LIMIT 1""").fetchone()
        alac = conn.execute("SELECT id FROM tracks WHERE codec = 'alac' LIMIT 1").fetchone()
    assert row is not None
    tid = public_id("tr", row[0])
    t = admin.get(f"/tracks/{tid}", "/tracks/{track_id}")
    props = ("bitDepth", "sampleRate", "channels", "totalSamples", "durationMs", "size")
    assert tuple(t[k] for k in props) == row[1:]
    assert t["codec"] == "flac" and t["lossless"] and t["browserPlayable"]
    assert t["streamUrl"] == f"/api/v1/stream/{tid}"
    assert t["seekIndexUrl"] == f"/api/v1/tracks/{tid}/seek-index"
    assert t["waveformUrl"] == f"/api/v1/tracks/{tid}/waveform"
    if alac is not None:
        a = admin.get(f"/tracks/{public_id('tr', alac[0])}", "/tracks/{track_id}")
        assert a["lossless"] and not a["browserPlayable"] and a["seekIndexUrl"] is None
    hidden = next(x for x in admin.walk("/tracks", limit=100) if x["title"] == "Hidden Place")
    assert hidden["replayGain"]["trackGain"] == pytest.approx(-6.5)
    assert hidden["replayGain"]["albumPeak"] == pytest.approx(0.998)


def test_album_detail_has_discs_and_artist_detail_albums(admin: Checked) -> None:
    albums = admin.walk("/albums", limit=50)
    vesp = next(a for a in albums if a["name"] == "Vespertine")
    d = admin.get(f"/albums/{vesp['id']}", "/albums/{album_id}")
    assert [x["title"] for disc in d["discs"] for x in disc["tracks"]] == [
        "Hidden Place", "Cocoon", "It's Not Up to You"]
    assert d["trackCount"] == 3 and d["coverArt"] and d["artist"] == "Björk"
    multi = [a for a in albums if len(admin.get(f"/albums/{a['id']}", "/albums/{album_id}")["discs"]) > 1]
    assert multi, "the test library has a multi-disc album"
    discs = admin.get(f"/albums/{multi[0]['id']}", "/albums/{album_id}")["discs"]
    assert [x["disc"] for x in discs] == sorted(x["disc"] for x in discs)
    assert all(t["discNumber"] in (x["disc"], None) for x in discs for t in x["tracks"])
    artist = admin.get(f"/artists/{vesp['artistId']}", "/artists/{artist_id}")
    assert artist["name"] == "Björk" and "Vespertine" in [a["name"] for a in artist["albums"]]
    assert artist["albumCount"] >= 1


def test_unknown_malformed_and_foreign_ids_are_404(admin: Checked, nora: Checked) -> None:
    for path in ("/tracks/tr-zzzzzz", "/albums/al-1", "/artists/ar-1", "/tracks/al-1", "/albums/nonsense",
                 "/tracks/tr-" + "z" * 13):
        assert admin.problem("GET", path, 404)["code"] == "not-found"
    vesp = next(a for a in admin.walk("/albums", limit=50) if a["name"] == "Vespertine")
    track = admin.get(f"/albums/{vesp['id']}", "/albums/{album_id}")["discs"][0]["tracks"][0]
    for path in (f"/albums/{vesp['id']}", f"/tracks/{track['id']}"):
        nora.problem("GET", path, 404)
    for item in (vesp["id"], track["id"], "tr-zzzzzz", "pl-1"):
        nora.problem("PUT", f"/stars/{item}", 404)
        nora.problem("PUT", f"/ratings/{item}", 404, json={"rating": 3})
    nora.problem("GET", f"/covers/{vesp['coverArt']}", 404)


def test_folder_restricted_user_sees_only_their_folder(nora: Checked, lib: tuple[str, list[int]]) -> None:
    url, fids = lib
    tracks = nora.walk("/tracks")
    assert {internal(t["id"]) for t in tracks} == db_ids(
        url, "SELECT id FROM tracks WHERE folder_id = %s", fids[1])
    assert sorted(a["name"] for a in nora.walk("/albums")) == ["Post Extras", "Quuxtone Live"]
    assert {a["name"] for a in nora.walk("/artists")} == {"Björk", EXTRA_ARTIST}
    bjork = next(a for a in nora.walk("/artists") if a["name"] == "Björk")
    detail = nora.get(f"/artists/{bjork['id']}", "/artists/{artist_id}")
    assert [a["name"] for a in detail["albums"]] == ["Post Extras"]
    assert nora.get("/search", q="vesp") == {"artists": [], "albums": [], "tracks": []}
    assert [a["name"] for a in nora.get("/search", q="quux")["albums"]] == ["Quuxtone Live"]
    nora.problem("GET", "/tracks", 404, params={"folder": fids[0]})
    assert len(nora.walk("/tracks", folder=fids[1])) == len(tracks)


def test_lyrics_are_the_stored_sets(admin: Checked, nora: Checked, http: Any,
                                    lib: tuple[str, list[int]]) -> None:
    hidden = next(t for t in admin.walk("/tracks", limit=100) if t["title"] == "Hidden Place")
    sets = admin.get(f"/tracks/{hidden['id']}/lyrics", "/tracks/{track_id}/lyrics")
    assert [[ln["text"] for ln in s["lines"]] for s in sets] == [
        ["Through the warmth", "of the hidden place"]]
    assert sets[0]["synced"] is False and sets[0]["offsetMs"] == 0
    assert all(ln["startMs"] is None for ln in sets[0]["lines"])
    sub = Subsonic(http).raw("getLyricsBySongId", id=hidden["id"]).json()["subsonic-response"]
    assert [ln["value"] for ln in sub["lyricsList"]["structuredLyrics"][0]["line"]] == [
        ln["text"] for ln in sets[0]["lines"]]
    with psycopg.connect(lib[0], autocommit=True) as conn:
        conn.execute("""INSERT INTO track_lyrics (track_id, position, source, lang, synced, lines)
                        VALUES (%s, 99, 'lrc', 'eng', true, '[[10500, "Ten"], [20000, "Twenty"]]')""",
                     (internal(hidden["id"]),))
    try:
        synced = admin.get(f"/tracks/{hidden['id']}/lyrics", "/tracks/{track_id}/lyrics")[-1]
        assert synced == {"lang": "eng", "synced": True, "offsetMs": 0,
                          "lines": [{"startMs": 10500, "text": "Ten"}, {"startMs": 20000, "text": "Twenty"}]}
    finally:
        with psycopg.connect(lib[0], autocommit=True) as conn:
            conn.execute("DELETE FROM track_lyrics WHERE position = 99")
    quux = next(t for t in admin.walk("/tracks", limit=100) if t["title"] == "Quuxtone Opening")
    assert admin.get(f"/tracks/{quux['id']}/lyrics", "/tracks/{track_id}/lyrics") == []
    nora.problem("GET", f"/tracks/{hidden['id']}/lyrics", 404)
    admin.problem("GET", "/tracks/tr-zzzzzz/lyrics", 404)
    admin.problem("GET", "/tracks/al-1/lyrics", 404)


# ------------------------------------------------------------------------------ search, lists


def test_search_matches_prefixes_as_the_user_types(admin: Checked) -> None:
    for typed in ("v", "ve", "vesp", "vesper", "VESPERTINE"):
        body = admin.get("/search", q=typed)
        assert "Vespertine" in [a["name"] for a in body["albums"]], typed
    body = admin.get("/search", q="bjo")
    assert body["artists"][0]["name"] == "Björk"
    assert {t["title"] for t in admin.get("/search", q="hidden pl")["tracks"]} == {"Hidden Place"}
    assert admin.get("/search", q="") == {"artists": [], "albums": [], "tracks": []}
    assert len(admin.get("/search", q="o", limit=2)["tracks"]) <= 2


def test_recently_added_played_and_most_played(alice: Checked, http: Any) -> None:
    sub = Subsonic(http, *ALICE)
    added = alice.walk("/lists/recently-added", limit=5)
    assert [a["added"] for a in added] == sorted((a["added"] for a in added), reverse=True)
    every = alice.walk("/tracks", limit=50)
    assert len(alice.walk("/lists/recently-added", kind="tracks", limit=20)) == len(every)
    assert alice.get("/lists/recently-played", kind="tracks")["items"] == []
    songs = [t["id"] for t in alice.walk("/tracks", limit=50)][:3]
    for n, sid in enumerate(songs):  # song 0 once, 1 twice, 2 three times; 2 played last
        for i in range(n + 1):
            assert sub.raw("scrobble", id=sid, time=1_700_000_000_000 + n * 1000 + i).json()[
                "subsonic-response"]["status"] == "ok"
    recent = alice.walk("/lists/recently-played", kind="tracks", limit=2)
    assert [t["id"] for t in recent] == songs[::-1]
    most = alice.walk("/lists/most-played", kind="tracks", limit=2)
    assert [(t["id"], t["playCount"]) for t in most] == [(songs[2], 3), (songs[1], 2), (songs[0], 1)]
    assert [t["id"] for t in alice.walk("/tracks", sort="played")] == songs[::-1]
    albums = alice.walk("/lists/most-played", kind="albums")
    assert albums and all(a["playCount"] > 0 for a in albums)
    assert [a["id"] for a in alice.walk("/albums", sort="played")] == [
        a["id"] for a in alice.walk("/lists/recently-played")]


# ------------------------------------------------------------------------------ stars, ratings


def test_stars_and_ratings_are_the_subsonic_ones(alice: Checked, http: Any) -> None:
    sub = Subsonic(http, *ALICE)
    tracks = alice.walk("/tracks", limit=50)
    albums = alice.walk("/albums", limit=50)
    artists = alice.walk("/artists", limit=50)
    t, al, ar = tracks[0]["id"], albums[0]["id"], artists[0]["id"]
    for item in (t, al, ar):
        assert alice.ok("PUT", f"/stars/{item}", 204) is None
    starred = sub.ok("getStarred2")["starred2"]
    assert [s["id"] for s in starred["song"]] == [t]
    assert [s["id"] for s in starred["album"]] == [al] and [s["id"] for s in starred["artist"]] == [ar]
    assert [x["id"] for x in alice.walk("/tracks", starred="true")] == [t]
    assert t not in [x["id"] for x in alice.walk("/tracks", starred="false", limit=50)]
    assert [x["id"] for x in alice.walk("/albums", starred="true")] == [al]
    assert [x["id"] for x in alice.walk("/artists", starred="true")] == [ar]
    assert alice.get(f"/tracks/{t}", "/tracks/{track_id}")["starred"]
    # Subsonic → native
    other = tracks[1]["id"]
    assert sub.raw("star", id=other).json()["subsonic-response"]["status"] == "ok"
    assert sub.raw("unstar", id=t).json()["subsonic-response"]["status"] == "ok"
    assert [x["id"] for x in alice.walk("/tracks", starred="true")] == [other]
    assert alice.ok("DELETE", f"/stars/{other}", 204) is None
    assert alice.ok("DELETE", f"/stars/{other}", 204) is None  # idempotent
    assert "song" not in sub.ok("getStarred2")["starred2"] or not sub.ok("getStarred2")["starred2"]["song"]
    # ratings both ways
    alice.ok("PUT", f"/ratings/{al}", 204, json={"rating": 4})
    assert sub.ok("getAlbum", id=al)["album"]["userRating"] == 4
    assert [x["id"] for x in alice.walk("/albums", sort="rating")] == [al]
    assert sub.raw("setRating", id=t, rating=2).json()["subsonic-response"]["status"] == "ok"
    assert alice.get(f"/tracks/{t}", "/tracks/{track_id}")["rating"] == 2
    alice.ok("PUT", f"/ratings/{t}", 204, json={"rating": 0})
    assert "userRating" not in sub.ok("getSong", id=t)["song"]
    for bad in ({"rating": 6}, {"rating": "x"}, {}, {"rating": 1, "extra": 1}):
        alice.problem("PUT", f"/ratings/{t}", 422, json=bad)
    assert alice.ok("PUT", f"/ratings/{ar}", 204, json={"rating": 5}) is None
    assert alice.get(f"/albums/{al}", "/albums/{album_id}")["rating"] == 4


def test_star_honours_idempotency_keys(alice: Checked) -> None:
    t = alice.walk("/tracks", limit=50)[5]["id"]
    r1 = alice.call("PUT", f"/stars/{t}", headers={"Idempotency-Key": "star-once"})
    r2 = alice.call("PUT", f"/stars/{t}", headers={"Idempotency-Key": "star-once"})
    assert r1.status_code == r2.status_code == 204 and r2.headers.get("idempotent-replayed") == "true"
    alice.ok("DELETE", f"/stars/{t}", 204)


def test_roles_and_auth(http: Any) -> None:
    anon = Native(http, None)
    for path in ("/tracks", "/albums/al-1", "/search", "/covers/al-1"):
        assert anon.problem("GET", path, 401)["code"] == "unauthorized"


# ------------------------------------------------------------------------------ covers


def test_covers_etag_immutable_304_and_token(admin: Checked, http: Any) -> None:
    vesp = next(a for a in admin.walk("/albums", limit=50) if a["name"] == "Vespertine")
    cover = vesp["coverArt"]
    assert cover and "_" in cover  # versioned
    r = admin.call("GET", f"/covers/{cover}", params={"size": 32})
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/")
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    etag = r.headers["etag"]
    from io import BytesIO

    from PIL import Image

    assert max(Image.open(BytesIO(r.content)).size) == 32
    full = admin.call("GET", f"/covers/{cover}")
    assert full.status_code == 200 and full.headers["etag"] != etag and len(full.content) > 0
    again = admin.call("GET", f"/covers/{cover}", params={"size": 32}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    by_token = http.get(f"/api/v1/covers/{cover}", params={"token": admin.token, "size": 32})
    assert by_token.status_code == 200 and by_token.content == r.content
    assert http.get(f"/api/v1/covers/{cover}", params={"token": "wrong"}).status_code == 401
    # JSON routes take the credential from the header only
    assert http.get("/api/v1/tracks", params={"token": admin.token}).status_code == 401
    unversioned = cover.split("_")[0]
    u = admin.call("GET", f"/covers/{unversioned}", params={"size": 32})
    assert u.status_code == 200 and u.headers["etag"] == etag
    assert "immutable" not in u.headers["cache-control"]
    for bad in ("al-zzzzzz", "nonsense", "al-1_2"):
        admin.problem("GET", f"/covers/{bad}", 404)
    artist = admin.get(f"/artists/{vesp['artistId']}", "/artists/{artist_id}")
    assert admin.call("GET", f"/covers/{artist['coverArt']}").status_code == 200


def test_openapi_lists_the_library_routes(admin: Checked) -> None:
    paths = admin.doc["paths"]
    for p in ("/tracks", "/albums", "/artists", "/tracks/{track_id}", "/albums/{album_id}",
              "/artists/{artist_id}", "/search", "/lists/recently-added", "/lists/recently-played",
              "/lists/most-played",
              "/stars/{item_id}", "/ratings/{item_id}", "/covers/{cover_id}", "/tracks/{track_id}/lyrics"):
        assert "/api/v1" + p in paths, p
    for name in ("Track", "AlbumSummary", "ArtistSummary", "Disc", "ReplayGain"):
        Draft202012Validator.check_schema(admin.doc["components"]["schemas"][name])
    detail = paths["/api/v1/albums/{album_id}"]["get"]["responses"]["200"]["content"]["application/json"]
    assert "discs" in detail["schema"]["properties"]


# ------------------------------------------------------------------------------ EXPLAIN

# The big SQL-built library of test_explain.py (100k tracks, 8k albums, 3k artists, ~30k
# annotations of admin), its plan recorder and checker: every native list query, first page
# and a page after a cursor, walks an index (no Seq Scan on a library table, no Sort of most
# of one).
from tests.integration.test_explain import (  # noqa: E402  (fixtures, after the module's own tests)
    PLANS, _plan_text, big_db, problems, table_rows,
)
from tests.integration.test_explain import client as explain_client  # noqa: E402

_ = (big_db, table_rows, explain_client)  # fixtures used by name
NATIVE_CASES: list[tuple[str, dict[str, Any]]] = [
    *[("/tracks", {"sort": s, "order": o}) for s in ("title", "artist", "album", "year", "added", "played")
      for o in ("asc", "desc")],
    *[("/albums", {"sort": s, "order": o}) for s in ("name", "artist", "year", "added", "played", "rating")
      for o in ("asc", "desc")],
    *[("/artists", {"sort": s, "order": o}) for s in ("name", "albums") for o in ("asc", "desc")],
    ("/tracks", {"genre": "Genre 7"}), ("/tracks", {"yearFrom": 1970, "yearTo": 1980, "sort": "year"}),
    ("/tracks", {"format": "mp3"}), ("/tracks", {"folder": 1}), ("/tracks", {"starred": "true"}),
    ("/tracks", {"starred": "true", "sort": "added"}),
    ("/albums", {"genre": "Genre 7"}), ("/albums", {"yearFrom": 1970, "yearTo": 1980, "sort": "year"}),
    ("/albums", {"format": "mp3"}), ("/albums", {"folder": 1}), ("/albums", {"starred": "true"}),
    ("/artists", {"starred": "true"}),
    *[(f"/lists/{n}", {"kind": k}) for n in ("recently-added", "recently-played", "most-played")
      for k in ("albums", "tracks")],
]


@pytest.fixture(scope="module")
def explain_native(explain_client: Any, big_db: tuple[str, Path]) -> Native:
    """A client on the big library, whose "Genre 7" gets the id the scanner would derive
    (orbsonic.library.genres.genre_id; the SQL build numbers genres 1..40)."""
    from orbsonic.library.genres import genre_id

    gid = genre_id("Genre 7")
    with psycopg.connect(big_db[0], autocommit=True) as conn:
        conn.execute("UPDATE genres SET id = %s WHERE id = 7", (gid,))
        conn.execute("UPDATE track_genres SET genre_id = %s WHERE genre_id = 7", (gid,))
        conn.execute("UPDATE album_genres SET genre_id = %s WHERE genre_id = 7", (gid,))
        conn.execute("ANALYZE genres, track_genres, album_genres")
    return Native(explain_client, api_key_for(big_db[0], ADMIN[0]))


@pytest.mark.parametrize(("path", "params"), NATIVE_CASES, ids=[f"{p} {q}" for p, q in NATIVE_CASES])
def test_native_list_plans_use_indexes(explain_native: Native, table_rows: dict[str, float], path: str,
                                       params: dict[str, Any]) -> None:
    PLANS.clear()
    first = explain_native.ok("GET", path, params={**params, "limit": 50})
    assert first["items"] and first["next"], (path, params)
    explain_native.ok("GET", path, params={**params, "limit": 50, "cursor": first["next"]})
    assert PLANS
    bad = [f"{p}\n  in: {rec['sql'][:300]}\n" + _plan_text(rec["plan"])
           for rec in PLANS for p in problems(rec["plan"], table_rows)]
    assert not bad, f"{path} {params}:\n" + "\n\n".join(bad)


@pytest.fixture(scope="module")
def explain_restricted(explain_native: Native, explain_client: Any, big_db: tuple[str, Path]) -> Native:
    """alice on the big library, limited to music folder 1: every list query takes its
    folder filter (`folder_id = ANY(…)`, the artists' album probe)."""
    with psycopg.connect(big_db[0], autocommit=True) as conn:
        conn.execute("UPDATE users SET folder_ids = '{1}' WHERE username = %s", (ALICE[0],))
    return Native(explain_client, api_key_for(big_db[0], ALICE[0]))


@pytest.mark.parametrize(("path", "params"), NATIVE_CASES, ids=[f"{p} {q}" for p, q in NATIVE_CASES])
def test_native_list_plans_use_indexes_for_a_folder_restricted_user(
        explain_restricted: Native, table_rows: dict[str, float], path: str, params: dict[str, Any]) -> None:
    PLANS.clear()
    first = explain_restricted.ok("GET", path, params={**params, "limit": 50})
    if first["next"]:
        explain_restricted.ok("GET", path, params={**params, "limit": 50, "cursor": first["next"]})
    assert PLANS
    bad = [f"{p}\n  in: {rec['sql'][:300]}\n" + _plan_text(rec["plan"])
           for rec in PLANS for p in problems(rec["plan"], table_rows)]
    assert not bad, f"{path} {params}:\n" + "\n\n".join(bad)
