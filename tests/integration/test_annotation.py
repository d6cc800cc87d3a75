"""Media annotation: star / unstar, setRating, scrobble. Every test writes, so each gets a
database of its own (a clone of the scanned two-folder library, see test_lists).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from tests.calls import album, fail_once, ok_once, once
from tests.conftest import Subsonic


def artist(client: Subsonic, artist_id: str) -> dict[str, Any]:
    return client.ok("getArtist", id=artist_id)["artist"]


def song(client: Subsonic, song_id: str) -> dict[str, Any]:
    return client.ok("getSong", id=song_id)["song"]


def annotation_rows(url: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT user_id, kind, item_id, starred_at IS NOT NULL, rating, play_count, last_played"
                            " FROM annotations ORDER BY 1, 2, 3").fetchall()


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---------------------------------------------------------------------------- star / unstar


def test_star_and_unstar_every_kind(own):
    ves = album(own, "Vespertine")
    s1, s2, s3 = ves["song"]
    bjork = ves["artistId"]
    assert "starred" not in s1 and "starred" not in ves and "starred" not in artist(own, bjork)
    # id= takes songs, albums and artists; albumId= and artistId= their kind; all repeatable
    ok_once(own, "star", id=[s1["id"], s2["id"]])
    ok_once(own, "star", albumId=ves["id"])
    ok_once(own, "star", artistId=bjork)
    assert "starred" in song(own, s1["id"]) and "starred" in song(own, s2["id"])
    assert "starred" not in song(own, s3["id"])
    assert "starred" in album(own, "Vespertine") and "starred" in artist(own, bjork)
    assert sorted(x["id"] for x in own.ok("getStarred2")["starred2"]["song"]) == sorted([s1["id"], s2["id"]])
    # starring again keeps the first star time
    first = song(own, s1["id"])["starred"]
    ok_once(own, "star", id=s1["id"])
    assert song(own, s1["id"])["starred"] == first
    # the album and artist via id= too
    abbey = album(own, "Abbey Road")
    ok_once(own, "star", id=[abbey["id"], abbey["artistId"]])
    assert "starred" in album(own, "Abbey Road") and "starred" in artist(own, abbey["artistId"])
    # unstar each way
    ok_once(own, "unstar", id=[s1["id"], s2["id"], abbey["id"]])
    ok_once(own, "unstar", albumId=ves["id"], artistId=[bjork, abbey["artistId"]])
    assert "starred" not in song(own, s1["id"]) and "starred" not in song(own, s2["id"])
    assert "starred" not in album(own, "Vespertine") and "starred" not in album(own, "Abbey Road")
    assert "starred" not in artist(own, bjork)
    body = own.ok("getStarred2")["starred2"]
    assert not body.get("song") and not body.get("album") and not body.get("artist")
    ok_once(own, "unstar", id=s1["id"])  # unstarring what is not starred is fine


def test_star_repeated_ids(own):
    ves = album(own, "Vespertine")
    s1, s2, _ = ves["song"]
    ok_once(own, "star", id=[s1["id"], s1["id"], s2["id"], s1["id"]])
    ok_once(own, "star", albumId=[ves["id"], ves["id"]], artistId=[ves["artistId"], ves["artistId"]])
    starred = own.ok("getStarred2")["starred2"]
    assert sorted(x["id"] for x in starred["song"]) == sorted([s1["id"], s2["id"]])
    assert [x["id"] for x in starred["album"]] == [ves["id"]]
    assert [x["id"] for x in starred["artist"]] == [ves["artistId"]]
    ok_once(own, "unstar", id=[s1["id"], s1["id"]], albumId=[ves["id"], ves["id"]])
    starred = own.ok("getStarred2")["starred2"]
    assert [x["id"] for x in starred["song"]] == [s2["id"]] and not starred.get("album")


def test_star_folder(own):
    ix = own.ok("getIndexes")["indexes"]
    folder = ix["index"][0]["artist"][0]
    ok_once(own, "star", id=folder["id"])
    assert "starred" in own.ok("getMusicDirectory", id=folder["id"])["directory"]
    ix = own.ok("getIndexes")["indexes"]
    assert "starred" in ix["index"][0]["artist"][0]
    ok_once(own, "unstar", id=folder["id"])
    assert "starred" not in own.ok("getMusicDirectory", id=folder["id"])["directory"]


def test_star_unknown_id_is_atomic(own, own_db):
    ves = album(own, "Vespertine")
    before = annotation_rows(own_db)
    for params in ({"id": [ves["song"][0]["id"], "tr-zzzzzzzzzz"]},
                   {"id": ves["song"][0]["id"], "albumId": "al-zzzzzzzzzz"},
                   {"albumId": ves["id"], "artistId": "ar-zzzzzzzzzz"},
                   {"artistId": ves["artistId"], "id": "garbage"},
                   {"albumId": ves["song"][0]["id"]},  # a song id where an album id belongs
                   {"id": "pl-1"}):
        fail_once(own, "star", 70, **params)
        assert annotation_rows(own_db) == before, params
    assert "starred" not in song(own, ves["song"][0]["id"]) and "starred" not in album(own, "Vespertine")
    ok_once(own, "star", id=ves["song"][0]["id"])
    after = annotation_rows(own_db)
    fail_once(own, "unstar", 70, id=[ves["song"][0]["id"], "tr-zzzzzzzzzz"])
    assert annotation_rows(own_db) == after and "starred" in song(own, ves["song"][0]["id"])


def test_stars_are_per_user(own):
    ves = album(own, "Vespertine")
    alice = own.as_user("alice", "alice-pass")
    ok_once(alice, "star", albumId=ves["id"])
    assert "starred" in album(alice, "Vespertine") and "starred" not in album(own, "Vespertine")
    assert [a["id"] for a in alice.ok("getStarred2")["starred2"]["album"]] == [ves["id"]]
    assert not own.ok("getStarred2")["starred2"].get("album")


# ---------------------------------------------------------------------------- setRating


def test_set_rating(own, own_db):
    ves = album(own, "Vespertine")
    s = ves["song"][0]
    for rating in (1, 2, 3, 4, 5):
        ok_once(own, "setRating", id=s["id"], rating=rating)
        assert song(own, s["id"])["userRating"] == rating
    ok_once(own, "setRating", id=s["id"], rating=0)
    assert "userRating" not in song(own, s["id"]), "0 removes the rating"
    ok_once(own, "setRating", id=ves["id"], rating=4)
    assert album(own, "Vespertine")["userRating"] == 4
    ok_once(own, "setRating", id=ves["artistId"], rating=2)
    assert artist(own, ves["artistId"])["userRating"] == 2
    d = own.ok("getMusicDirectory", id=ves["id"])["directory"]
    assert d["userRating"] == 4
    before = annotation_rows(own_db)
    for bad in (6, -1, 100):
        err = fail_once(own, "setRating", 0, id=s["id"], rating=bad)
        assert "rating" in err["message"]
    fail_once(own, "setRating", 0, id=s["id"], rating="five")
    fail_once(own, "setRating", 10, id=s["id"])
    fail_once(own, "setRating", 10, rating=3)
    fail_once(own, "setRating", 70, id="tr-zzzzzzzzzz", rating=3)
    assert annotation_rows(own_db) == before
    assert album(own, "Vespertine")["userRating"] == 4
    assert "userRating" not in album(own.as_user("alice", "alice-pass"), "Vespertine")


# ---------------------------------------------------------------------------- scrobble


def artist_plays(url: str, public_artist_id: str) -> tuple[int, datetime | None]:
    from orbsonic.ids import parse_id

    _, ident = parse_id(public_artist_id)
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT play_count, last_played FROM annotations WHERE user_id = "
                           "(SELECT id FROM users WHERE username = 'admin') AND kind = 3 AND item_id = %s",
                           (ident,)).fetchone()
    return (row[0], row[1]) if row else (0, None)


def test_scrobble_counts_song_album_artist(own, own_db):
    ves = album(own, "Vespertine")
    s1, s2, _ = ves["song"]
    assert s1["playCount"] == 0 and "played" not in s1 and ves["playCount"] == 0
    t_ms = 1_700_000_000_123
    ok_once(own, "scrobble", id=s1["id"], time=t_ms)
    got = song(own, s1["id"])
    assert got["playCount"] == 1 and parse_iso(got["played"]) == datetime(2023, 11, 14, 22, 13, 20, 123000,
                                                                           tzinfo=UTC)
    a = album(own, "Vespertine")
    assert a["playCount"] == 1 and a["played"] == got["played"]
    assert artist_plays(own_db, ves["artistId"])[0] == 1
    # several ids, each with its time; the same id twice is two plays
    ok_once(own, "scrobble", id=[s1["id"], s2["id"], s1["id"]], time=[t_ms + 1000, t_ms + 2000, t_ms + 3000])
    assert song(own, s1["id"])["playCount"] == 3 and song(own, s2["id"])["playCount"] == 1
    assert album(own, "Vespertine")["playCount"] == 4
    count, last = artist_plays(own_db, ves["artistId"])
    assert count == 4 and last == datetime.fromtimestamp((t_ms + 3000) / 1000, UTC)
    # the featured artist of s2 (Thom Yorke) is counted on his own
    thom = next(x for x in s2["artists"] if x["name"] == "Thom Yorke")
    assert artist_plays(own_db, thom["id"])[0] == 1
    # an older scrobble does not move `played` back
    ok_once(own, "scrobble", id=s1["id"], time=t_ms - 86_400_000)
    got = song(own, s1["id"])
    assert got["playCount"] == 4 and parse_iso(got["played"]) == datetime.fromtimestamp((t_ms + 3000) / 1000,
                                                                                         UTC)
    # alice's plays are hers
    assert song(own.as_user("alice", "alice-pass"), s1["id"])["playCount"] == 0


def test_scrobble_time_units(own):
    ves = album(own, "Abbey Road")
    s1, s2, s3 = ves["song"]
    ok_once(own, "scrobble", id=s1["id"], time=1_600_000_000)  # seconds (SubMusic)
    assert parse_iso(song(own, s1["id"])["played"]) == datetime.fromtimestamp(1_600_000_000, UTC)
    ok_once(own, "scrobble", id=s2["id"], time=1_600_000_000_000)  # ms
    assert parse_iso(song(own, s2["id"])["played"]) == datetime.fromtimestamp(1_600_000_000, UTC)
    before = datetime.now(UTC)
    ok_once(own, "scrobble", id=s3["id"], time=4_000_000_000_000)  # the future: now
    played = parse_iso(song(own, s3["id"])["played"])
    assert abs((played - before).total_seconds()) < 60
    before = datetime.now(UTC)
    ok_once(own, "scrobble", id=s3["id"])  # no time: now
    assert song(own, s3["id"])["playCount"] == 2
    assert abs((parse_iso(song(own, s3["id"])["played"]) - before).total_seconds()) < 60


def test_scrobble_now_playing_counts_nothing(own, own_db):
    ves = album(own, "Vespertine")
    before = annotation_rows(own_db)
    ok_once(own, "scrobble", id=ves["song"][0]["id"], submission="false")
    ok_once(own, "scrobble", id=[ves["song"][0]["id"], ves["song"][1]["id"]], submission=False, time=1_700_000_000_000)
    assert annotation_rows(own_db) == before
    assert song(own, ves["song"][0]["id"])["playCount"] == 0 and album(own, "Vespertine")["playCount"] == 0


def test_scrobble_errors_write_nothing(own, own_db):
    ves = album(own, "Vespertine")
    before = annotation_rows(own_db)
    fail_once(own, "scrobble", 10)
    fail_once(own, "scrobble", 70, id="tr-zzzzzzzzzz")
    fail_once(own, "scrobble", 70, id=[ves["id"], "tr-zzzzzzzzzz"])  # an album is not a song
    fail_once(own, "scrobble", 0, id=ves["song"][0]["id"], time="yesterday")
    assert annotation_rows(own_db) == before


@pytest.mark.parametrize("method", ["star", "unstar"])
def test_star_without_ids(own, method):
    """No id at all: a request that names nothing. Either an error 10 or a no-op, never code 0."""
    body = once(own, method)
    assert body["status"] == "ok" or body["error"]["code"] == 10
