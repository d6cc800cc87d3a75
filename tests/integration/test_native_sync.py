"""Delta sync (docs/native-api.md "Delta sync"; orbsonic/library/changes.py, schema/0015):
a rescan that removed and retagged files, stars and ratings made through Subsonic, playlists,
per-user visibility and folders, paging, commit order, pruning (410) and the prune job."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import mutagen
import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic import jobs
from orbsonic.ids import public_id
from orbsonic.jobs import worker
from orbsonic.library import changes
from orbsonic.scanner.scanner import scan
from tests.conftest import ADMIN, ALICE, Subsonic, add_users, make_app, users_sql
from tests.integration.native_client import Native, api_key_for


class Env:
    def __init__(self, url: str, root: Path, http: Any) -> None:
        self.url, self.root, self.http = url, root, http
        self.admin = Native(http, api_key_for(url, ADMIN[0]))
        self.alice = Native(http, api_key_for(url, ALICE[0]))
        self.sub = Subsonic(http)
        self.doc = http.get("/api/v1/openapi.json").json()

    def q(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, args).fetchall()

    def token(self, who: Native | None = None) -> str:
        return self.sync(who or self.admin)["token"]

    def sync(self, who: Native, **params: Any) -> dict[str, Any]:
        body = who.ok("GET", "/sync", params=params)
        schema = self.doc["paths"]["/api/v1/sync"]["get"]["responses"]["200"]["content"]["application/json"][
            "schema"]
        jsonschema.validate(body, {**schema, "components": self.doc["components"]})
        return body

    def all_since(self, who: Native, token: str, limit: int = 500) -> tuple[dict[tuple[str, str], str], str]:
        """{(kind, id): op} of every change after `token` (the latest op per item), following `more`."""
        seen: dict[tuple[str, str], str] = {}
        while True:
            page = self.sync(who, since=token, limit=limit)
            for c in page["changes"]:
                seen.pop((c["kind"], c["id"]), None)
                seen[(c["kind"], c["id"])] = c["op"]
            assert int(page["token"]) >= int(token)
            token = page["token"]
            if not page["more"]:
                return seen, token


@pytest.fixture
def env(fresh_db: str, test_library: tuple[Path, Any], tmp_path: Path) -> Iterator[Env]:
    root = tmp_path / "music"
    shutil.copytree(test_library[0], root)
    report = scan(fresh_db, [root], workers=2)
    assert report.added > 0
    data = tmp_path / "data"
    data.mkdir()
    add_users(fresh_db, data)
    with TestClient(make_app(fresh_db, data, (root,))) as http:
        yield Env(fresh_db, root, http)


def once(e: Env, method: str, **params: Any) -> dict[str, Any]:
    """A Subsonic call made once (Subsonic.ok calls in XML and JSON: a create would run twice)."""
    body = e.sub.raw(method, **params).json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body


def tid(e: Env, path: str) -> int:
    return e.q("SELECT id FROM tracks WHERE path = %s", path)[0][0]


def test_a_rescan_that_removed_and_retagged_files(env: Env) -> None:
    token = env.token()
    retagged = "Sigur Rós/1999 - Ágætis byrjun/02 Starálfur.ogg"
    removed = "Motörhead/1980 - Ace of Spades/03 Shoot You.mp3"
    t_re, t_rm = tid(env, retagged), tid(env, removed)
    kept_rows = env.q("SELECT id FROM tracks WHERE path LIKE 'Motörhead/%%' AND path <> %s", removed)
    ace_album = env.q("SELECT album_id FROM tracks WHERE id = %s", t_rm)[0][0]
    f = mutagen.File(env.root / retagged, easy=True)
    f["title"] = ["Starálfur (remaster)"]
    f.save()
    (env.root / removed).unlink()
    # A whole album folder goes: its tracks, album (and artist, if nothing else has it) are tombstones.
    gone_dir = env.q("SELECT path FROM directories WHERE path LIKE '%%/%%' AND path NOT LIKE 'Motörhead%%' "
                     "AND path NOT LIKE 'Sigur%%' ORDER BY path LIMIT 1")[0][0]
    gone_tracks = [r[0] for r in env.q("SELECT id FROM tracks WHERE path LIKE %s", gone_dir + "/%")]
    gone_albums = {r[0] for r in env.q("SELECT DISTINCT album_id FROM tracks WHERE path LIKE %s",
                                       gone_dir + "/%")}
    assert gone_tracks
    shutil.rmtree(env.root / gone_dir)
    report = scan(env.url, [env.root], workers=2)
    assert report.removed == 1 + len(gone_tracks) and report.updated >= 1

    seen, new_token = env.all_since(env.admin, token)
    assert int(new_token) > int(token)
    assert seen[("track", public_id("tr", t_re))] == "upsert"
    assert seen[("track", public_id("tr", t_rm))] == "delete"
    for t in gone_tracks:
        assert seen[("track", public_id("tr", t))] == "delete"
    for a in gone_albums:
        assert seen[("album", public_id("al", a))] == "delete"
    assert seen[("album", public_id("al", ace_album))] == "upsert"  # its song count changed
    untouched = {public_id("tr", r[0]) for r in kept_rows}
    assert not untouched & {i for k, i in seen if k == "track"}
    # Deleted albums are no longer in the library, upserted ones are.
    for (kind, ident), op in seen.items():
        if kind == "album":
            n = env.q("SELECT count(*) FROM albums WHERE id = %s", int(ident[3:], 36))[0][0]
            assert n == (1 if op == "upsert" else 0), (ident, op)
    # Nothing more after the new token.
    assert env.sync(env.admin, since=new_token)["changes"] == []


def test_stars_and_ratings_through_subsonic_are_per_user(env: Env) -> None:
    t = env.q("SELECT id FROM tracks ORDER BY id LIMIT 1")[0][0]
    al = env.q("SELECT id FROM albums ORDER BY id LIMIT 1")[0][0]
    admin_token, alice_token = env.token(), env.token(env.alice)
    env.sub.ok("star", id=public_id("tr", t), albumId=public_id("al", al))
    env.sub.ok("setRating", id=public_id("tr", t), rating=4)
    env.sub.ok("scrobble", id=public_id("tr", t))  # a play count is not a sync change
    seen, admin_token = env.all_since(env.admin, admin_token)
    assert seen == {("star", public_id("tr", t)): "upsert", ("star", public_id("al", al)): "upsert",
                    ("rating", public_id("tr", t)): "upsert"}
    assert env.all_since(env.alice, alice_token)[0] == {}
    env.sub.ok("unstar", id=public_id("tr", t))
    env.sub.ok("setRating", id=public_id("tr", t), rating=0)
    seen, _ = env.all_since(env.admin, admin_token)
    assert seen == {("star", public_id("tr", t)): "delete", ("rating", public_id("tr", t)): "delete"}


def test_playlists_through_subsonic_and_who_sees_them(env: Env) -> None:
    t = env.q("SELECT id FROM tracks ORDER BY id LIMIT 1")[0][0]
    admin_token, alice_token = env.token(), env.token(env.alice)
    pl = once(env, "createPlaylist", name="mine", songId=public_id("tr", t))["playlist"]["id"]
    seen, admin_token = env.all_since(env.admin, admin_token)
    assert seen == {("playlist", pl): "upsert"}
    seen, alice_token = env.all_since(env.alice, alice_token)
    assert seen == {}  # private to admin
    once(env, "updatePlaylist", playlistId=pl, songIndexToRemove=0)
    assert env.all_since(env.admin, admin_token)[0] == {("playlist", pl): "upsert"}
    once(env, "deletePlaylist", id=pl)
    seen, _ = env.all_since(env.admin, admin_token)
    assert seen == {("playlist", pl): "delete"}


def test_folder_access_hides_library_changes(env: Env) -> None:
    t = env.q("SELECT id FROM tracks ORDER BY id LIMIT 1")[0][0]
    token = env.token(env.alice)
    users_sql(env.url, "UPDATE users SET folder_ids = '{}' WHERE username = 'alice'")
    with psycopg.connect(env.url) as conn:
        conn.execute("UPDATE tracks SET comment = 'x' WHERE id = %s", (t,))
    assert env.all_since(env.alice, token)[0] == {}
    assert env.all_since(env.admin, token)[0] == {("track", public_id("tr", t)): "upsert"}


def test_pages_and_bad_tokens(env: Env) -> None:
    token = env.token()
    with psycopg.connect(env.url) as conn:
        conn.execute("UPDATE tracks SET comment = 'paged' WHERE id IN "
                     "(SELECT id FROM tracks ORDER BY id LIMIT 5)")
    page = env.sync(env.admin, since=token, limit=2)
    assert len(page["changes"]) == 2 and page["more"] is True
    seen, _ = env.all_since(env.admin, token, limit=2)
    assert len(seen) == 5
    for bad in ("abc", "-1", "1" * 30):
        body = env.admin.problem("GET", "/sync", 422, params={"since": bad})
        assert body["errors"][0]["field"] == "since"
    env.admin.problem("GET", "/sync", 422, params={"since": token, "limit": 0})
    future = str(int(token) + 10**6)
    assert env.admin.problem("GET", "/sync", 410, params={"since": future})["code"] == "full-resync-needed"
    assert Native(env.http, None).problem("GET", "/sync", 401)["code"] == "unauthorized"


def test_a_pruned_token_is_410_full_resync_needed(env: Env) -> None:
    old = env.token()
    with psycopg.connect(env.url) as conn:
        conn.execute("UPDATE tracks SET comment = 'a' WHERE id IN "
                     "(SELECT id FROM tracks ORDER BY id LIMIT 3)")

    async def prune() -> int:
        async with await psycopg.AsyncConnection.connect(env.url) as conn:
            return await changes.prune(conn, 30, 1)

    assert asyncio.run(prune()) > 0
    body = env.admin.problem("GET", "/sync", 410, params={"since": old})
    assert body["code"] == "full-resync-needed"
    fresh = env.token()  # a full load, then syncing from the new token works
    assert env.sync(env.admin, since=fresh)["changes"] == []


def test_the_prune_job_runs_in_the_worker(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    assert jobs.TASKS["sync.prune"].cron and "orbsonic.library.changes" in jobs.TASK_MODULES
    # first the jobs the scan queued (loudness, thumbnails): their track updates are changes too
    asyncio.run(worker.run(env.url, wait=False, install_signal_handlers=False))
    old = env.token()
    with psycopg.connect(env.url) as conn:
        conn.execute("UPDATE tracks SET comment = 'b' WHERE id IN "
                     "(SELECT id FROM tracks ORDER BY id LIMIT 3)")
    monkeypatch.setenv("ORBSONIC_SYNC_KEEP_ROWS", "1")

    async def go() -> None:
        app = jobs.make_app(env.url)
        async with app.open_async():
            await jobs.defer(app, "sync.prune", timestamp=0)

    asyncio.run(go())
    asyncio.run(worker.run(env.url, wait=False, install_signal_handlers=False))
    assert env.q("SELECT count(*) FROM changes")[0][0] == 1
    assert env.admin.problem("GET", "/sync", 410, params={"since": old})["code"] == "full-resync-needed"


def test_a_token_never_passes_an_uncommitted_change(env: Env) -> None:
    """Ids are handed out in call order: a transaction holding id N uncommitted while a later
    one commits N+1 must not let a token pass N."""
    ids = [r[0] for r in env.q("SELECT id FROM tracks ORDER BY id LIMIT 2")]
    token = env.token()
    slow = psycopg.connect(env.url)
    try:
        slow.execute("UPDATE tracks SET comment = 'slow' WHERE id = %s", (ids[0],))  # open transaction
        with psycopg.connect(env.url) as fast:
            fast.execute("UPDATE tracks SET comment = 'fast' WHERE id = %s", (ids[1],))
        page = env.sync(env.admin, since=token)
        assert page["changes"] == [] and page["token"] == token
        slow.commit()
    finally:
        slow.close()
    seen, _ = env.all_since(env.admin, token)
    assert seen == {("track", public_id("tr", i)): "upsert" for i in ids}


def test_concurrent_writers_and_readers_miss_nothing(env: Env) -> None:
    """Writers commit in random order while a reader follows the feed: every change arrives."""
    ids = [r[0] for r in env.q("SELECT id FROM tracks ORDER BY id LIMIT 40")]
    token = env.token()
    got: dict[tuple[str, str], str] = {}
    done = threading.Event()

    def write(part: list[int]) -> None:
        with psycopg.connect(env.url) as conn:
            for i in part:
                with conn.transaction():
                    conn.execute("UPDATE tracks SET comment = 'c' WHERE id = %s", (i,))

    threads = [threading.Thread(target=write, args=(ids[k::4],)) for k in range(4)]
    for th in threads:
        th.start()
    t = token
    while not done.is_set():
        if not any(th.is_alive() for th in threads):
            done.set()
        seen, t = env.all_since(env.admin, t)
        got.update(seen)
    assert set(got) == {("track", public_id("tr", i)) for i in ids}
