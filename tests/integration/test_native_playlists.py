"""Native playlists and smart playlists (docs/native-api.md "Playlists") through the real app,
each test on a database of its own (a clone of the two-folder library); every JSON answer is
checked against the route's schema in the OpenAPI document; the Subsonic side reads the same rows."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.conftest import Subsonic
from tests.integration.native_client import Native, api_key_for
from tests.integration.test_playlists import add_user, folder_ids, ok_once, songs


class Checked(Native):
    """A Native client whose 2xx JSON answers are validated against the OpenAPI document."""

    doc: dict[str, Any] | None = None

    def ok(self, method: str, path: str, status: int = 200, *, route: str | None = None, **kw: Any) -> Any:
        body = super().ok(method, path, status, **kw)
        if body is not None:
            if Checked.doc is None:
                Checked.doc = self.http.get("/api/v1/openapi.json").json()
            op = Checked.doc["paths"]["/api/v1" + (route or path)][method.lower()]
            schema = op["responses"][str(status)]["content"]["application/json"]["schema"]
            Draft202012Validator({**schema, "components": Checked.doc["components"]}).validate(body)
        return body


def native(own: Subsonic, url: str, user: str = "admin") -> Checked:
    return Checked(own.http, api_key_for(url, user))


def tids(pl: dict[str, Any]) -> list[str]:
    return [e["track"]["id"] for e in pl["entries"]]


PL = "/playlists/{playlist_id}"


def test_create_read_list_and_subsonic_sees_it(own: Subsonic, own_db: str) -> None:
    n = native(own, own_db)
    a, b, c = (s["id"] for s in songs(own)[:3])
    pl = n.ok(
        "POST",
        "/playlists",
        201,
        route="/playlists",
        json={"name": "Road", "comment": "for driving", "trackIds": [a, b, a]},
    )
    assert pl["name"] == "Road" and pl["comment"] == "for driving" and pl["public"] is False
    assert tids(pl) == [a, b, a] and [e["position"] for e in pl["entries"]] == [0, 1, 2]
    assert pl["trackCount"] == 3 and pl["smart"] is False and pl["readOnly"] is False and pl["rules"] is None
    assert pl["durationMs"] == sum(e["track"]["durationMs"] for e in pl["entries"])
    again = n.ok("GET", f"/playlists/{pl['id']}", route=PL)
    assert tids(again) == [a, b, a]
    assert [p["id"] for p in n.ok("GET", "/playlists")] == [pl["id"]]
    sub = own.ok("getPlaylist", id=pl["id"])["playlist"]
    assert [e["id"] for e in sub["entry"]] == [a, b, a] and sub["comment"] == "for driving"
    # and a Subsonic write is read natively
    ok_once(own, "updatePlaylist", playlistId=pl["id"], songIdToAdd=c, name="Road 2")
    again = n.ok("GET", f"/playlists/{pl['id']}", route=PL)
    assert tids(again) == [a, b, a, c] and again["name"] == "Road 2"


def test_insert_remove_move_by_position(own: Subsonic, own_db: str) -> None:
    n = native(own, own_db)
    a, b, c, d = (s["id"] for s in songs(own)[:4])
    pid = n.ok("POST", "/playlists", 201, route="/playlists", json={"name": "P", "trackIds": [a, b]})["id"]
    path, ent = f"/playlists/{pid}", PL + "/entries"
    pl = n.ok("POST", f"{path}/entries", json={"trackIds": [c, c], "position": 1}, route=ent)
    assert tids(pl) == [a, c, c, b]
    pl = n.ok("POST", f"{path}/entries", json={"trackIds": [d]}, route=ent)
    assert tids(pl) == [a, c, c, b, d]
    pl = n.ok("POST", f"{path}/entries", json={"trackIds": [b], "position": 0}, route=ent)
    assert tids(pl) == [b, a, c, c, b, d]
    pl = n.ok("DELETE", f"{path}/entries/2", route=PL + "/entries/{position}")
    assert tids(pl) == [b, a, c, b, d]
    pl = n.ok("POST", f"{path}/move", json={"from": 0, "to": 4}, route=PL + "/move")
    assert tids(pl) == [a, c, b, d, b]
    pl = n.ok("POST", f"{path}/move", json={"from": 3, "to": 1}, route=PL + "/move")
    assert tids(pl) == [a, d, c, b, b]
    # many inserts at the same spot exhaust the gap between two entries: renumbered, order kept
    expect = tids(pl)
    for _ in range(12):
        pl = n.ok("POST", f"{path}/entries", json={"trackIds": [c], "position": 1}, route=ent)
        expect.insert(1, c)
        assert tids(pl) == expect
    assert [e["id"] for e in own.ok("getPlaylist", id=pid)["playlist"]["entry"]] == expect
    # bad positions and bodies
    assert n.problem("DELETE", f"{path}/entries/99", 400)["errors"][0]["field"] == "position"
    assert n.problem("DELETE", f"{path}/entries/x", 400)
    assert n.problem("POST", f"{path}/move", 400, json={"from": 0, "to": 99})["errors"][0]["field"] == "to"
    assert n.problem("POST", f"{path}/move", 422, json={"from": -1, "to": 0})["errors"][0]["field"] == "from"
    assert n.problem("POST", f"{path}/entries", 400, json={"trackIds": [a], "position": 999})
    assert n.problem("POST", f"{path}/entries", 400, json={"trackIds": ["al-1"]})
    assert n.problem("POST", f"{path}/entries", 404, json={"trackIds": ["tr-zzzzzz"]})
    assert n.problem("POST", f"{path}/entries", 422, json={"trackIds": []})
    assert n.problem("GET", "/playlists/nope", 400)
    assert tids(n.ok("GET", path, route=PL)) == expect  # nothing half-written


def test_patch_and_delete(own: Subsonic, own_db: str) -> None:
    n = native(own, own_db)
    pid = n.ok("POST", "/playlists", 201, route="/playlists", json={"name": "Old"})["id"]
    pl = n.ok("PATCH", f"/playlists/{pid}", json={"name": "New", "comment": "c", "public": True}, route=PL)
    assert (pl["name"], pl["comment"], pl["public"]) == ("New", "c", True)
    assert n.problem("PATCH", f"/playlists/{pid}", 422, json={"name": ""})
    assert n.problem("PATCH", f"/playlists/{pid}", 422, json={"owner": "x"})
    body = n.problem("PATCH", f"/playlists/{pid}", 422, json={"comment": "a\x00b"})
    assert body["errors"][0]["field"] == "comment"
    assert n.problem("POST", "/playlists", 422, json={"name": "\x00"})
    assert n.ok("DELETE", f"/playlists/{pid}", 204) is None
    assert n.problem("GET", f"/playlists/{pid}", 404)["code"] == "not-found"
    assert own.fail("getPlaylist", 70, id=pid)


def test_ownership_403_and_private_404(own: Subsonic, own_db: str) -> None:
    add_user(own_db, "carol", "carol-pass")
    add_user(own_db, "dave", "dave-pass", playlist_role=False)
    alice, carol, dave = (native(own, own_db, u) for u in ("alice", "carol", "dave"))
    a = songs(own)[0]["id"]
    private = alice.ok("POST", "/playlists", 201, route="/playlists", json={"name": "Mine", "trackIds": [a]})[
        "id"
    ]
    public = alice.ok(
        "POST", "/playlists", 201, route="/playlists", json={"name": "Ours", "trackIds": [a], "public": True}
    )["id"]
    assert carol.problem("GET", f"/playlists/{private}", 404)
    assert carol.problem("PATCH", f"/playlists/{private}", 404, json={"name": "x"})
    assert carol.problem("DELETE", f"/playlists/{private}", 404)
    seen = carol.ok("GET", f"/playlists/{public}", route=PL)
    assert seen["readOnly"] is True and seen["owner"] == "alice"
    assert carol.problem("PATCH", f"/playlists/{public}", 403, json={"name": "x"})["code"] == "forbidden"
    assert carol.problem("POST", f"/playlists/{public}/entries", 403, json={"trackIds": [a]})
    assert carol.problem("DELETE", f"/playlists/{public}/entries/0", 403)
    assert carol.problem("POST", f"/playlists/{public}/move", 403, json={"from": 0, "to": 0})
    assert carol.problem("DELETE", f"/playlists/{public}", 403)
    assert [p["id"] for p in carol.ok("GET", "/playlists")] == [public]
    assert dave.problem("POST", "/playlists", 403, json={"name": "no role"})["code"] == "forbidden"
    # an admin may edit anyone's
    admin = native(own, own_db)
    assert admin.ok("PATCH", f"/playlists/{private}", json={"name": "Renamed"}, route=PL)["name"] == "Renamed"


def test_folder_access_hides_entries(own: Subsonic, own_db: str) -> None:
    f1, f2 = folder_ids(own)
    add_user(own_db, "erin", "erin-pass", folders=[f1])
    one, two = songs(own, musicFolderId=f1)[0]["id"], songs(own, musicFolderId=f2)[0]["id"]
    admin, erin = native(own, own_db), native(own, own_db, "erin")
    pid = admin.ok(
        "POST",
        "/playlists",
        201,
        route="/playlists",
        json={"name": "Mixed", "public": True, "trackIds": [one, two, one]},
    )["id"]
    assert tids(erin.ok("GET", f"/playlists/{pid}", route=PL)) == [one, one]
    assert erin.problem("POST", "/playlists", 404, json={"name": "x", "trackIds": [two]})
    # admin removes position 2 (one) : erin still sees one entry; admin's view keeps [one, two]
    assert tids(admin.ok("DELETE", f"/playlists/{pid}/entries/2", route=PL + "/entries/{position}")) == [
        one,
        two,
    ]
    assert tids(erin.ok("GET", f"/playlists/{pid}", route=PL)) == [one]


def _db_tracks(url: str, where: str, args: tuple[Any, ...] = ()) -> set[int]:
    with psycopg.connect(url) as conn:
        return {r[0] for r in conn.execute(f"SELECT id FROM tracks t WHERE {where}", args or None).fetchall()}


def _ids(tracks: list[dict[str, Any]]) -> set[int]:
    from orbsonic.ids import parse_id

    return {parse_id(t["id"])[1] for t in tracks}


def preview(n: Native, rules: dict[str, Any], limit: int = 500) -> list[dict[str, Any]]:
    return n.ok("POST", "/smart-playlists/preview", json={"rules": rules, "limit": limit})


@pytest.mark.parametrize(
    "rule, where",
    [
        (
            {"field": "genre", "op": "is", "value": "electronic"},
            "EXISTS (SELECT 1 FROM track_genres tg JOIN genres g ON g.id = tg.genre_id"
            " WHERE tg.track_id = t.id"
            " AND lower(g.name) = 'electronic')",
        ),
        (
            {"field": "genre", "op": "isNot", "value": "Electronic"},
            "NOT EXISTS (SELECT 1 FROM track_genres tg JOIN genres g ON g.id = tg.genre_id"
            " WHERE tg.track_id = t.id"
            " AND lower(g.name) = 'electronic')",
        ),
        ({"field": "artist", "op": "contains", "value": "JÖR"}, "lower(artist_name) LIKE '%jör%'"),
        ({"field": "title", "op": "startsWith", "value": "q"}, "lower(title) LIKE 'q%'"),
        ({"field": "album", "op": "is", "value": "post extras"}, "lower(album_name) = 'post extras'"),
        ({"field": "format", "op": "isNot", "value": "FLAC"}, "lower(suffix) <> 'flac'"),
        ({"field": "year", "op": "gt", "value": 1990}, "year > 1990"),
        ({"field": "year", "op": "lt", "value": 1990}, "year < 1990"),
        ({"field": "year", "op": "isNot", "value": 1975}, "year IS DISTINCT FROM 1975"),
        ({"field": "bitDepth", "op": "is", "value": 16}, "bit_depth = 16"),
        ({"field": "sampleRate", "op": "gt", "value": 44100}, "sample_rate > 44100"),
        ({"field": "durationMs", "op": "lt", "value": 3000}, "duration_ms < 3000"),
        ({"field": "added", "op": "inTheLast", "value": 1}, "created_at >= now() - interval '1 day'"),
        ({"field": "added", "op": "lt", "value": "2000-01-01"}, "created_at < '2000-01-01'"),
        ({"field": "title", "op": "contains", "value": "%"}, "title LIKE '%\\%%'"),
    ],
)
def test_smart_rule_ops_match_sql(own: Subsonic, own_db: str, rule: dict[str, Any], where: str) -> None:
    n = native(own, own_db)
    got = preview(n, {"match": "all", "rules": [rule]})
    assert _ids(got) == _db_tracks(own_db, where)


def test_smart_annotation_rules_all_any_sort_limit(own: Subsonic, own_db: str) -> None:
    n = native(own, own_db)
    s = songs(own)
    a, b, c = s[0]["id"], s[1]["id"], s[2]["id"]
    ok_once(own, "star", id=[a, b])
    ok_once(own, "setRating", id=b, rating=4)
    ok_once(own, "scrobble", id=c, submission="true")
    assert {t["id"] for t in preview(n, {"rules": [{"field": "starred", "op": "is", "value": True}]})} == {
        a,
        b,
    }
    assert {t["id"] for t in preview(n, {"rules": [{"field": "rating", "op": "gt", "value": 3}]})} == {b}
    assert {t["id"] for t in preview(n, {"rules": [{"field": "playCount", "op": "is", "value": 1}]})} == {c}
    assert {
        t["id"] for t in preview(n, {"rules": [{"field": "lastPlayed", "op": "inTheLast", "value": 1}]})
    } == {c}
    unstarred = preview(n, {"rules": [{"field": "starred", "op": "isNot", "value": True}]})
    assert a not in {t["id"] for t in unstarred} and len(unstarred) == len(s) - 2
    unrated = preview(n, {"rules": [{"field": "rating", "op": "lt", "value": 1}]})
    assert b not in {t["id"] for t in unrated} and len(unrated) == len(s) - 1
    assert len(preview(n, {"rules": [{"field": "playCount", "op": "is", "value": 0}]})) == len(s) - 1
    both = {
        "match": "all",
        "rules": [
            {"field": "starred", "op": "is", "value": True},
            {"field": "rating", "op": "is", "value": 4},
        ],
    }
    assert [t["id"] for t in preview(n, both)] == [b]
    either = {
        "match": "any",
        "rules": [
            {"field": "rating", "op": "is", "value": 4},
            {"field": "playCount", "op": "gt", "value": 0},
        ],
    }
    assert {t["id"] for t in preview(n, either)} == {b, c}
    by_year = preview(n, {"rules": [], "sort": {"field": "year", "order": "desc"}, "limit": 5})
    years = [t["year"] for t in by_year]
    assert len(by_year) == 5 and years == sorted(years, key=lambda y: -(y or -1))
    assert len(preview(n, {"rules": []}, limit=3)) == 3
    # alice's annotations are hers: none starred
    assert (
        preview(native(own, own_db, "alice"), {"rules": [{"field": "starred", "op": "is", "value": True}]})
        == []
    )


@pytest.mark.parametrize(
    "rules, field",
    [
        ({"rules": [{"field": "year", "op": "contains", "value": "19"}]}, "rules.rules.0"),
        ({"rules": [{"field": "shoeSize", "op": "is", "value": 3}]}, "rules.rules.0.field"),
        ({"rules": [{"field": "year", "op": "is", "value": "x"}]}, "rules.rules.0"),
        ({"rules": [{"field": "starred", "op": "is", "value": 1}]}, "rules.rules.0"),
        ({"rules": [{"field": "added", "op": "gt", "value": "yesterday"}]}, "rules.rules.0"),
        ({"rules": [{"field": "added", "op": "inTheLast", "value": -2}]}, "rules.rules.0"),
        ({"rules": [], "match": "some"}, "rules.match"),
        ({"rules": [], "sort": {"field": "id; DROP TABLE tracks"}}, "rules.sort.field"),
        ({"rules": [], "limit": 0}, "rules.limit"),
        ({"rules": [{"field": "title", "op": "is", "value": "\x00"}]}, "rules.rules.0"),
    ],
)
def test_bad_rules_are_422_naming_the_field(
    own: Subsonic, own_db: str, rules: dict[str, Any], field: str
) -> None:
    body = native(own, own_db).problem("POST", "/smart-playlists/preview", 422, json={"rules": rules})
    assert body["errors"][0]["field"].startswith(field), body


def test_smart_playlist_native_and_subsonic(own: Subsonic, own_db: str) -> None:
    n = native(own, own_db)
    rules = {
        "match": "all",
        "rules": [{"field": "artist", "op": "is", "value": "Björk"}],
        "sort": {"field": "title", "order": "asc"},
    }
    pl = n.ok(
        "POST", "/playlists", 201, route="/playlists", json={"name": "Björk", "rules": rules, "public": True}
    )
    expect = [t["id"] for t in preview(n, rules)]
    assert (
        expect and tids(pl) == expect and pl["smart"] is True and pl["rules"]["rules"][0]["value"] == "Björk"
    )
    titles = [e["track"]["title"].lower() for e in pl["entries"]]
    assert titles == sorted(titles)
    listed = {p["id"]: p for p in own.ok("getPlaylists")["playlists"]["playlist"]}
    assert listed[pl["id"]]["songCount"] == len(expect) and listed[pl["id"]]["readonly"] is True
    sub = own.ok("getPlaylist", id=pl["id"])["playlist"]
    assert [e["id"] for e in sub["entry"]] == expect and sub["readonly"] is True
    assert sub["songCount"] == len(expect) and sub["duration"] == listed[pl["id"]]["duration"]
    # the reader's annotations reach its evaluated entries (a star, a rating)
    own.ok("star", id=expect[0])
    own.ok("setRating", id=expect[-1], rating=3)
    sub = own.ok("getPlaylist", id=pl["id"])["playlist"]["entry"]
    assert "starred" in sub[0] and sub[-1]["userRating"] == 3
    own.ok("unstar", id=expect[0])
    own.ok("setRating", id=expect[-1], rating=0)
    # its cover is the mosaic of its evaluated entries' albums
    assert any(e["track"]["coverArt"] for e in pl["entries"])
    r = own.raw("getCoverArt", fmt=None, id=listed[pl["id"]]["coverArt"])
    assert r.status_code == 200 and r.headers["content-type"].startswith("image/"), r.text[:200]
    err = own.fail("updatePlaylist", 50, playlistId=pl["id"], songIdToAdd=expect[0])
    assert "smart playlist" in err["message"]
    assert (
        "smart playlist" in own.fail("createPlaylist", 50, playlistId=pl["id"], songId=expect[0])["message"]
    )
    assert n.problem("POST", f"/playlists/{pl['id']}/entries", 409, json={"trackIds": [expect[0]]})
    # the library changing shows at once: a star turns into an entry of a starred-rule playlist
    fav = n.ok(
        "POST",
        "/playlists",
        201,
        route="/playlists",
        json={"name": "Favs", "rules": {"rules": [{"field": "starred", "op": "is", "value": True}]}},
    )
    assert tids(fav) == []
    ok_once(own, "star", id=expect[0])
    assert tids(n.ok("GET", f"/playlists/{fav['id']}", route=PL)) == [expect[0]]
    # rules changed, then made plain
    pl2 = n.ok(
        "PATCH",
        f"/playlists/{fav['id']}",
        route=PL,
        json={"rules": {"rules": [{"field": "year", "op": "is", "value": 1975}]}},
    )
    assert {e["track"]["year"] for e in pl2["entries"]} == {1975}
    plain = n.ok("PATCH", f"/playlists/{fav['id']}", route=PL, json={"rules": None})
    assert plain["smart"] is False and plain["entries"] == []
    assert n.problem("POST", "/playlists", 400, json={"name": "x", "rules": rules, "trackIds": [expect[0]]})
    ok_once(own, "deletePlaylist", id=pl["id"])
    assert n.problem("GET", f"/playlists/{pl['id']}", 404)


NSP = {
    "name": "Loud and loved",
    "comment": "from Navidrome",
    "all": [
        {"is": {"loved": True}},
        {"inTheRange": {"year": [1900, 2100]}},
        {"all": [{"gt": {"duration": 0.5}}]},
        {"notContains": {"title": "demo"}},
        {"is": {"mbz_album_id": "x"}},
        {"any": [{"is": {"genre": "Rock"}}]},
    ],
    "sort": "-year",
    "limit": 50,
}


def test_nsp_parse_maps_and_skips_with_reasons() -> None:
    from orbsonic.scanner import nsp

    name, comment, rules, skipped = nsp.parse(json.dumps(NSP), "x.nsp")
    assert name == "Loud and loved" and comment == "from Navidrome" and rules is not None
    got = [(r.field, r.op, r.value) for r in rules.rules]
    assert got == [
        ("starred", "is", True),
        ("year", "gt", 1899),
        ("year", "lt", 2101),
        ("durationMs", "gt", 500),
    ]
    assert (
        rules.sort is not None
        and (rules.sort.field, rules.sort.order) == ("year", "desc")
        and rules.limit == 50
    )
    assert len(skipped) == 3 and any("notContains" in s for s in skipped)
    assert any("mbz_album_id" in s for s in skipped) and any("nested 'any'" in s for s in skipped)
    assert nsp.parse(json.dumps({"any": [{"endsWith": {"title": "x"}}]}))[2] is None
    for bad in ("[]", "{}", '{"all": 3}', "not json"):
        with pytest.raises(ValueError):
            nsp.parse(bad)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
        lambda kids: (
            st.lists(kids, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "all",
                        "any",
                        "is",
                        "gt",
                        "inTheRange",
                        "year",
                        "title",
                        "loved",
                        "sort",
                        "limit",
                        "name",
                        "duration",
                        "x",
                    ]
                ),
                kids,
                max_size=4,
            )
        ),
        max_leaves=20,
    )
)
def test_nsp_parse_never_fails_otherwise(data: Any) -> None:
    from orbsonic.scanner import nsp

    with contextlib.suppress(ValueError):  # the one error parse may raise
        nsp.parse(json.dumps(data))


def test_nsp_files_are_imported_at_scan(fresh_db: str, tmp_path: Any, test_library: tuple[Any, Any]) -> None:
    import shutil

    from orbsonic.scanner.scanner import scan
    from tests.conftest import add_users, make_app
    from starlette.testclient import TestClient

    music = tmp_path / "music"
    (music / "lists").mkdir(parents=True)
    for n, src in enumerate(sorted(test_library[0].rglob("*.flac"))[:3]):
        shutil.copy(src, music / f"{n}.flac")
    rules = {"all": [{"gt": {"year": 0}}, {"endsWith": {"title": "x"}}], "sort": "title"}
    (music / "lists" / "By Title.nsp").write_text(json.dumps(rules))
    (music / "lists" / "Broken.nsp").write_text("{not json")
    (music / "lists" / "Nothing.nsp").write_text(json.dumps({"all": [{"inPlaylist": {"id": "x"}}]}))
    add_users(fresh_db, tmp_path)
    report = scan(fresh_db, [music], workers=1)
    assert report.added == 3
    with TestClient(make_app(fresh_db, tmp_path / "data", (music,))) as http:
        sub = Subsonic(http)
        n = Checked(http, api_key_for(fresh_db, "admin"))
        lists = n.ok("GET", "/playlists")
        assert [p["name"] for p in lists] == ["By Title"] and lists[0]["smart"] and lists[0]["public"]
        pl = n.ok("GET", f"/playlists/{lists[0]['id']}", route=PL)
        titles = [e["track"]["title"] for e in pl["entries"]]
        with psycopg.connect(fresh_db) as conn:
            expect = conn.execute("SELECT count(*) FROM tracks WHERE year > 0").fetchone()[0]
        assert len(titles) == expect and [t.lower() for t in titles] == sorted(t.lower() for t in titles)
        assert pl["rules"]["rules"] == [{"field": "year", "op": "gt", "value": 0}]
        sub_pl = sub.ok("getPlaylist", id=pl["id"])["playlist"]
        assert len(sub_pl.get("entry", [])) == expect and sub_pl["readonly"] is True
        # a rescan with the file unchanged keeps the playlist; a changed file updates its rules
        scan(fresh_db, [music], workers=1)
        assert len(n.ok("GET", "/playlists")) == 1
        (music / "lists" / "By Title.nsp").write_text(json.dumps({"all": [{"lt": {"year": 0}}]}) + " ")
        scan(fresh_db, [music], workers=1)
        pl = n.ok("GET", f"/playlists/{lists[0]['id']}", route=PL)
        assert pl["entries"] == [] and pl["rules"]["rules"][0]["op"] == "lt"
