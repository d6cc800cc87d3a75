"""Play history, play counts derived from it, now playing (scrobble submission=false,
reportPlayback, getNowPlaying). Every test writes, so each gets its own clone of the
two-folder library (`own`, `own_db`: tests/integration/conftest.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from tests.calls import album, fail_once, ok_once
from tests.conftest import Subsonic, users_sql
from tests.integration.conftest import serve

T0 = 1_700_000_000_000  # ms


def song(client: Subsonic, song_id: str) -> dict[str, Any]:
    return client.ok("getSong", id=song_id)["song"]


def sql(url: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query, params)
        return cur.fetchall() if cur.description else []


def internal(public: str) -> int:
    from orbsonic.ids import parse_id

    return parse_id(public)[1]


def alice(client: Subsonic) -> Subsonic:
    return client.as_user("alice", "alice-pass")


def player(client: Subsonic, name: str) -> Subsonic:
    """The same user on another client (`c`): another player."""
    return Subsonic(client.http, client.user, client.password, client=name)


# ---------------------------------------------------------------------------- play history


def test_a_resent_batch_counts_once(own, own_db):
    s1, s2, _ = album(own, "Vespertine")["song"]
    batch = {"id": [s1["id"], s2["id"]], "time": [T0, T0 + 200_000]}
    ok_once(own, "scrobble", **batch)
    ok_once(own, "scrobble", **batch)  # the client re-sends its offline batch
    assert song(own, s1["id"])["playCount"] == 1 and song(own, s2["id"])["playCount"] == 1
    assert album(own, "Vespertine")["playCount"] == 2
    rows = sql(own_db, "SELECT track_id, played_at, client FROM play_history ORDER BY played_at")
    assert rows == [(internal(s1["id"]), datetime.fromtimestamp(T0 / 1000, UTC), "pytest"),
                    (internal(s2["id"]), datetime.fromtimestamp((T0 + 200_000) / 1000, UTC), "pytest")]
    # the same song at another time is another play; the same time in seconds is the same play
    ok_once(own, "scrobble", id=s1["id"], time=T0 + 400_000)
    ok_once(own, "scrobble", id=s1["id"], time=T0 // 1000)
    assert song(own, s1["id"])["playCount"] == 2
    assert len(sql(own_db, "SELECT 1 FROM play_history")) == 3


def test_a_batch_with_unknown_ids_records_the_others(own, own_db):
    ves = album(own, "Vespertine")
    s1, s2, _ = ves["song"]
    ok_once(own, "scrobble", id=[s1["id"], "tr-zzzzzzzzzz", ves["id"], s2["id"]],
            time=[T0, T0 + 1000, T0 + 2000, T0 + 3000])
    assert song(own, s1["id"])["playCount"] == 1 and song(own, s2["id"])["playCount"] == 1
    assert sorted(r[0] for r in sql(own_db, "SELECT track_id FROM play_history")) == sorted(
        [internal(s1["id"]), internal(s2["id"])])
    # s2 was played at the time at ITS position (the 4th), not the 2nd
    assert parse(song(own, s2["id"])["played"]) == datetime.fromtimestamp((T0 + 3000) / 1000, UTC)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_lists_derive_from_history_per_user(own):
    ves, abbey = album(own, "Vespertine"), album(own, "Abbey Road")
    # admin: Vespertine three times (one of them re-sent), Abbey Road once, later
    ok_once(own, "scrobble", id=[s["id"] for s in ves["song"]], time=[T0, T0 + 1, T0 + 2])
    ok_once(own, "scrobble", id=ves["song"][0]["id"], time=T0)
    ok_once(own, "scrobble", id=abbey["song"][0]["id"], time=T0 + 86_400_000)
    # alice: Abbey Road twice
    a = alice(own)
    ok_once(a, "scrobble", id=[abbey["song"][0]["id"], abbey["song"][1]["id"]], time=[T0, T0 + 5])
    def ids(c: Subsonic, t: str) -> list[str]:
        return [x["id"] for x in c.ok("getAlbumList2", type=t, size=50)["albumList2"].get("album", [])]

    assert ids(own, "frequent") == [ves["id"], abbey["id"]]
    assert ids(own, "recent") == [abbey["id"], ves["id"]]
    assert ids(a, "frequent") == [abbey["id"]] and ids(a, "recent") == [abbey["id"]]
    assert album(own, "Vespertine")["playCount"] == 3 and album(a, "Vespertine")["playCount"] == 0
    assert album(a, "Abbey Road")["playCount"] == 2 and album(own, "Abbey Road")["playCount"] == 1


def test_folder_plays_in_get_music_directory(own):
    ves = album(own, "Vespertine")
    s1 = ves["song"][0]
    folder_id = s1["parent"]
    ok_once(own, "scrobble", id=[s1["id"], ves["song"][1]["id"]], time=[T0, T0 + 1])
    folder = own.ok("getMusicDirectory", id=folder_id)["directory"]
    assert folder["playCount"] == 2
    parent = own.ok("getMusicDirectory", id=folder["parent"])["directory"]
    entry = next(c for c in parent["child"] if c["id"] == folder_id)
    assert entry["isDir"] and entry["playCount"] == 2
    other = alice(own).ok("getMusicDirectory", id=folder["parent"])["directory"]
    assert next(c for c in other["child"] if c["id"] == folder_id)["playCount"] == 0


def second_folder(url: str) -> int:
    return sql(url, "SELECT id FROM music_folders WHERE path LIKE '%%/extra'")[0][0]


def test_scrobbles_respect_folder_access(own, own_db):
    extra = second_folder(own_db)
    users_sql(own_db, "UPDATE users SET folder_ids = %s WHERE username = 'alice'", ([extra],))
    a = alice(own)
    ves = album(own, "Vespertine")  # folder 1: not alice's
    mine = a.ok("getRandomSongs", size=50)["randomSongs"]["song"]
    assert mine and all(s["title"] in ("Isobel Demo", "Quuxtone Closing", "Quuxtone Opening") for s in mine)
    fail_once(a, "scrobble", 70, id=ves["song"][0]["id"])
    fail_once(a, "scrobble", 70, id=ves["song"][0]["id"], submission=False)
    fail_once(a, "reportPlayback", 70, mediaId=ves["song"][0]["id"], mediaType="song", positionMs=0,
              state="playing")
    ok_once(a, "scrobble", id=[ves["song"][0]["id"], mine[0]["id"]], time=[T0, T0])
    assert [r[0] for r in sql(own_db, "SELECT track_id FROM play_history")] == [internal(mine[0]["id"])]


def test_scrobble_needs_no_scrobbling_role(own, own_db):
    """scrobblingEnabled=false is about external services; the user's own plays still count."""
    users_sql(own_db, "UPDATE users SET can_scrobble = false WHERE username = 'alice'")
    s1 = album(own, "Vespertine")["song"][0]
    ok_once(alice(own), "scrobble", id=s1["id"], time=T0)
    assert song(alice(own), s1["id"])["playCount"] == 1


# ---------------------------------------------------------------------------- now playing


def now_playing(client: Subsonic) -> list[dict[str, Any]]:
    return client.ok("getNowPlaying")["nowPlaying"].get("entry", [])


def test_scrobble_notice_feeds_now_playing(own, own_db):
    s1, s2, _ = album(own, "Vespertine")["song"]
    assert now_playing(own) == []
    ok_once(player(own, "PhoneA"), "scrobble", id=s1["id"], submission=False)
    (entry,) = now_playing(alice(own))  # every user sees it
    assert entry["id"] == s1["id"] and entry["username"] == "admin" and entry["playerName"] == "PhoneA"
    assert entry["minutesAgo"] == 0 and isinstance(entry["playerId"], int) and entry["state"] == "playing"
    assert song(own, s1["id"])["playCount"] == 0  # a notice is not a play
    # the same player moves on: one entry; another player of the same user: two
    ok_once(player(own, "PhoneA"), "scrobble", id=s2["id"], submission=False)
    assert [e["id"] for e in now_playing(own)] == [s2["id"]]
    ok_once(player(own, "Desktop"), "scrobble", id=s1["id"], submission=False)
    got = now_playing(own)
    assert {(e["playerName"], e["id"]) for e in got} == {("PhoneA", s2["id"]), ("Desktop", s1["id"])}
    assert len({e["playerId"] for e in got}) == 2
    assert not sql(own_db, "SELECT 1 FROM play_history")
    # a player silent for more than a week is forgotten at its user's next report
    sql(own_db, "UPDATE now_playing SET expires_at = now() - interval '8 days' WHERE client = 'Desktop'")
    ok_once(player(own, "PhoneA"), "scrobble", id=s1["id"], submission=False)
    assert sql(own_db, "SELECT client FROM now_playing") == [("PhoneA",)]


def test_now_playing_for_legacy_clients(own):
    s1 = album(own, "Vespertine")["song"][0]
    ok_once(own, "reportPlayback", mediaId=s1["id"], mediaType="song", positionMs=1000, state="playing")
    legacy = Subsonic(own.http, client="DSub", version="1.2.0")  # validated against the plain XSD
    xml = legacy.raw("getNowPlaying", fmt="xml")
    assert b'status="ok"' in xml.content and b"<entry " in xml.content and b"positionMs" not in xml.content


def test_report_playback_states(own, own_db):
    s1 = album(own, "Vespertine")["song"][0]
    feishin = player(own, "Feishin")
    rp = lambda state, pos, **kw: ok_once(feishin, "reportPlayback", mediaId=s1["id"], mediaType="song",  # noqa: E731
                                          positionMs=pos, state=state, **kw)
    rp("starting", 0)
    assert now_playing(own)[0]["state"] == "starting"
    rp("playing", 500, playbackRate="1.5")
    (entry,) = now_playing(own)
    assert entry["state"] == "playing" and entry["playbackRate"] == 1.5 and entry["positionMs"] >= 500
    assert entry["positionMs"] <= max(500, round(s1["duration"] * 1000) + 1000)
    rp("paused", 700)
    (entry,) = now_playing(own)
    assert entry["state"] == "paused" and entry["positionMs"] == 700
    rp("stopped", 800)
    assert now_playing(own) == []


def test_an_older_report_is_ignored(own, own_db):
    s1, s2, _ = album(own, "Vespertine")["song"]
    ok_once(own, "reportPlayback", mediaId=s1["id"], mediaType="song", positionMs=100, state="playing")
    # the stored report is newer than any request that starts now (a slow request overtaken)
    sql(own_db, "UPDATE now_playing SET reported_at = now() + interval '1 minute'")
    ok_once(own, "reportPlayback", mediaId=s2["id"], mediaType="song", positionMs=5, state="paused")
    ok_once(own, "scrobble", id=s2["id"], submission=False)
    stored = sql(own_db, "SELECT track_id, state, position_ms FROM now_playing")
    assert stored == [(internal(s1["id"]), "playing", 100)]


def test_entries_expire_after_the_remaining_time_plus_a_margin(own, own_db):
    s1 = album(own, "Vespertine")["song"][0]
    dur = sql(own_db, "SELECT duration_ms FROM tracks WHERE id = %s", (internal(s1["id"]),))[0][0]
    ok_once(own, "reportPlayback", mediaId=s1["id"], mediaType="song", positionMs=0, state="playing")
    ((left,),) = sql(own_db, "SELECT expires_at - reported_at FROM now_playing")
    assert left == timedelta(minutes=30, milliseconds=dur)
    ok_once(own, "reportPlayback", mediaId=s1["id"], mediaType="song", positionMs=dur // 2, state="playing",
            playbackRate=2)
    ((left,),) = sql(own_db, "SELECT expires_at - reported_at FROM now_playing")
    assert left == timedelta(minutes=30, milliseconds=(dur - dur // 2) / 2)
    assert len(now_playing(own)) == 1
    sql(own_db, "UPDATE now_playing SET expires_at = now() - interval '1 second'")
    assert now_playing(own) == []


def test_a_stopped_session_counts_a_play(own, own_db):
    s1, s2, _ = album(own, "Vespertine")["song"]
    # a five-minute song (the test files are short); 4 minutes or half of it counts
    sql(own_db, "UPDATE tracks SET duration_ms = 300000 WHERE id = ANY(%s)",
        ([internal(s1["id"]), internal(s2["id"])],))
    rp = lambda sid, state, pos, **kw: ok_once(own, "reportPlayback", mediaId=sid, mediaType="song",  # noqa: E731
                                               positionMs=pos, state=state, **kw)
    rp(s1["id"], "starting", 0)
    rp(s1["id"], "playing", 0)
    sql(own_db, "UPDATE now_playing SET reported_at = reported_at - interval '100 seconds'")  # 100 s pass
    rp(s1["id"], "stopped", 100_000)
    assert song(own, s1["id"])["playCount"] == 0  # 100 s < 150 s
    rp(s1["id"], "starting", 0)
    rp(s1["id"], "playing", 0)
    sql(own_db, "UPDATE now_playing SET reported_at = reported_at - interval '90 seconds'")
    rp(s1["id"], "paused", 90_000)
    sql(own_db, "UPDATE now_playing SET reported_at = reported_at - interval '1 hour'")  # paused: no count
    rp(s1["id"], "playing", 90_000)
    sql(own_db, "UPDATE now_playing SET reported_at = reported_at - interval '70 seconds'")
    rp(s1["id"], "stopped", 160_000)
    rp(s1["id"], "stopped", 160_000)  # repeated: still one play
    assert song(own, s1["id"])["playCount"] == 1
    ((start,),) = sql(own_db, "SELECT session_start FROM now_playing")
    assert sql(own_db, "SELECT played_at FROM play_history") == [(start,)]
    # ignoreScrobble: the state only
    rp(s2["id"], "playing", 0, ignoreScrobble=True)
    sql(own_db, "UPDATE now_playing SET reported_at = reported_at - interval '200 seconds'")
    rp(s2["id"], "stopped", 200_000, ignoreScrobble=True)
    assert song(own, s2["id"])["playCount"] == 0
    # moving on to another song without `stopped` finishes the previous session
    rp(s2["id"], "playing", 0)
    sql(own_db, "UPDATE now_playing SET reported_at = reported_at - interval '200 seconds'")
    rp(s1["id"], "starting", 0)
    assert song(own, s2["id"])["playCount"] == 1


def test_report_playback_bad_input_writes_nothing(own, own_db):
    s1 = album(own, "Vespertine")["song"][0]
    base = {"mediaId": s1["id"], "mediaType": "song", "positionMs": 10, "state": "playing"}
    for missing in base:
        fail_once(own, "reportPlayback", 10, **{k: v for k, v in base.items() if k != missing})
    for bad in ({"state": "rewinding"}, {"mediaType": "video"}, {"positionMs": -1}, {"positionMs": "x"},
                {"playbackRate": "fast"}, {"playbackRate": "nan"}, {"playbackRate": 0},
                {"ignoreScrobble": "maybe"}):
        err = fail_once(own, "reportPlayback", 0, **{**base, **bad})
        assert next(iter(bad)) in err["message"]
    for unknown in ({"mediaId": "tr-zzzzzzzzzz"}, {"mediaId": "al-1"}, {"mediaType": "podcast"}):
        fail_once(own, "reportPlayback", 70, **{**base, **unknown})
    assert not sql(own_db, "SELECT 1 FROM now_playing")
    fail_once(own, "scrobble", 70, id="tr-zzzzzzzzzz", submission=False)
    assert not sql(own_db, "SELECT 1 FROM now_playing")


def test_now_playing_is_shared_by_app_instances(own_db, two_folder_template, tmp_path: Path):
    """Two app instances (two workers or replicas) on one database see the same players."""
    folders = two_folder_template[1]
    with serve(own_db, folders, tmp_path / "a") as one, serve(own_db, folders, tmp_path / "b") as two:
        s1 = album(one, "Vespertine")["song"][0]
        ok_once(player(one, "Symfonium"), "reportPlayback", mediaId=s1["id"], mediaType="song", positionMs=0,
                state="playing")
        (entry,) = now_playing(two)
        assert entry["id"] == s1["id"] and entry["playerName"] == "Symfonium"
        ok_once(player(two, "Symfonium"), "reportPlayback", mediaId=s1["id"], mediaType="song", positionMs=5,
                state="stopped")
        assert now_playing(one) == []


def test_now_playing_hides_songs_outside_the_viewers_folders(own, own_db):
    extra = second_folder(own_db)
    ves = album(own, "Vespertine")
    ok_once(own, "scrobble", id=ves["song"][0]["id"], submission=False)
    assert len(now_playing(alice(own))) == 1
    users_sql(own_db, "UPDATE users SET folder_ids = %s WHERE username = 'alice'", ([extra],))
    assert now_playing(alice(own)) == []


def test_extension_is_advertised(api):
    exts = {e["name"]: e["versions"] for e in api.ok("getOpenSubsonicExtensions")["openSubsonicExtensions"]}
    assert exts["playbackReport"] == [1]


def test_concurrent_resends_count_once(own, own_db, two_folder_template, tmp_path: Path):
    """Eight copies of one offline batch at once (a client retrying on a flaky network), over
    real HTTP: the history's key makes them one set of plays, and the counters agree."""
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlencode

    import httpx

    from tests.conftest import LiveServer, make_app

    songs = album(own, "Vespertine")["song"]
    params = [*own.auth().items(), ("f", "json")]
    params += [("id", s["id"]) for s in songs] + [("time", str(T0 + n)) for n in range(len(songs))]
    with LiveServer(make_app(own_db, tmp_path, two_folder_template[1])) as server:
        def send(_: int) -> str:
            r = httpx.post(f"{server.url}/rest/scrobble", content=urlencode(params), timeout=30,
                           headers={"content-type": "application/x-www-form-urlencoded"})
            return r.json()["subsonic-response"]["status"]

        with ThreadPoolExecutor(8) as pool:
            assert list(pool.map(send, range(8))) == ["ok"] * 8
    assert [song(own, s["id"])["playCount"] for s in songs] == [1] * len(songs)
    assert album(own, "Vespertine")["playCount"] == len(songs)
    assert len(sql(own_db, "SELECT 1 FROM play_history")) == len(songs)
