"""Authorization, table-driven: every implemented endpoint as four users.

The library has two music folders (the test library = folder 1, a small second folder =
folder 2). The principals:

* `admin` — every role, every folder;
* `anna` (plain user A) — folder 1 only, the usual roles of a listener;
* `bert` (user B) — folder 2 only, no role at all;
* `cleo` — folder 2 only, every role but admin (so that role-guarded endpoints such as
  stream and download reach their folder check: 70, where bert gets 50).

Before their folders and roles were narrowed (with updateUser, as an admin would), every
principal starred, rated and scrobbled items in BOTH folders, so the per-user lists
(starred, frequent, recent, highest) have something to leak.

Each Case names a method and its parameters. A case that takes an item (`items=True`)
is run twice per principal: with items of the principal's own folder and with items of the
other folder. Expected: 50 when the method is admin-only or needs a role the principal
lacks; else 70 for a foreign item of a folder-restricted principal; else ok (a 200 file
for binary methods). Every ok JSON response of a restricted principal must not contain
the id of any track, album, directory or artist outside their folders, and list cases
(`nonempty=True`) must not be empty (so a filter that drops everything fails).

To cover a new endpoint, append a Case to CASES (and `role=` if it needs one);
test_every_implemented_endpoint_has_a_case keeps the table complete.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from orbsonic.auth.users import ROLE_ATTRS
from orbsonic.ids import public_id
from subsonic_api.registry import ENDPOINTS
from tests.conftest import ADMIN, Subsonic, add_users, clone_db
from tests.integration.conftest import EXTRA_ARTIST, serve, write_extra_folder

ALL_ROLES = frozenset(ROLE_ATTRS)
_PUBLIC = re.compile(r"(tr|al|ar|dr)-[0-9a-z]{1,13}")


@dataclass(frozen=True)
class Principal:
    name: str
    password: str
    folder: int | None  # 1 or 2 (the folder number, not its id); None = all folders
    roles: frozenset[str]

    @property
    def admin(self) -> bool:
        return "admin" in self.roles

    @property
    def own(self) -> int:
        """The folder number whose items are "own" items (admins: folder 1)."""
        return self.folder or 1


PRINCIPALS = (
    Principal(ADMIN[0], ADMIN[1], None, ALL_ROLES),
    Principal("anna", "anna-pass", 1, frozenset({"settings", "stream", "download", "playlist", "coverArt",
                                                 "scrobbling"})),
    Principal("bert", "bert-pass", 2, frozenset()),
    Principal("cleo", "cleo-pass", 2, ALL_ROLES - {"admin"}),
)


@dataclass(frozen=True)
class Items:
    """Public ids of items of one music folder (all with a cover image)."""

    folder_id: int
    track: str
    album: str
    artist: str  # an artist with tracks in this folder only
    directory: str  # the album's directory
    playlist: str = ""  # a public playlist of the admin's holding `track`
    share: str = ""  # a share of the admin's holding `track`


@dataclass(frozen=True)
class Call:
    """What a Case's params function gets: the items to use and who is calling."""

    items: Items
    who: Principal


@dataclass(frozen=True)
class Case:
    method: str
    params: Callable[[Call], dict[str, Any]] = lambda c: {}
    label: str = ""
    role: str | None = None  # the role the method needs
    admin: bool = False  # admin-only
    items: bool = False  # params name items: run with own and foreign items
    binary: bool = False  # ok = a 200 file, not an envelope
    nonempty: bool = False  # an ok answer must list at least one item
    skip_admin: bool = False  # not run as admin (side effects covered elsewhere)
    once: bool = False  # not idempotent: one (JSON) call, not the XML + JSON pair
    owner_only: bool = False  # acts on the admin's item: others with the role get 70 (not theirs)
    http_errors: bool = False  # a binary method whose "not found" is HTTP 404, not an envelope

    @property
    def name(self) -> str:
        return self.method + (f" {self.label}" if self.label else "")


def _list(method: str, label: str = "", **params: Any) -> Case:
    return Case(method, lambda c: dict(params), label=label, nonempty=True)


def _in_folder(method: str, label: str, **params: Any) -> Case:
    """A list asked for one music folder: the foreign folder is 70 for restricted users."""
    return Case(method, lambda c: {**params, "musicFolderId": c.items.folder_id}, label=label, items=True,
                nonempty=True)


ALBUM_TYPES = ("random", "newest", "alphabeticalByName", "alphabeticalByArtist", "starred", "frequent",
               "recent", "highest")

CASES: list[Case] = [
    # system
    Case("ping"), Case("getLicense"), Case("getOpenSubsonicExtensions"), Case("getScanStatus"),
    Case("tokenInfo"),
    Case("startScan", admin=True, skip_admin=True),  # admin run: test_users (audited scan)
    # browsing
    Case("getMusicFolders"), _list("getIndexes"), _list("getArtists"), _list("getGenres"),
    _in_folder("getIndexes", "musicFolderId"), _in_folder("getArtists", "musicFolderId"),
    Case("getMusicDirectory", lambda c: {"id": c.items.directory}, "dr", items=True),
    Case("getMusicDirectory", lambda c: {"id": c.items.album}, "al", items=True),
    Case("getMusicDirectory", lambda c: {"id": c.items.artist}, "ar", items=True),
    Case("getArtist", lambda c: {"id": c.items.artist}, items=True),
    Case("getAlbum", lambda c: {"id": c.items.album}, items=True),
    Case("getSong", lambda c: {"id": c.items.track}, items=True),
    # lists
    *[_list("getAlbumList2", t, type=t, size=500) for t in ALBUM_TYPES],
    *[_list("getAlbumList", t, type=t, size=500) for t in ("newest", "starred", "frequent")],
    _list("getAlbumList2", "byYear", type="byYear", fromYear=1900, toYear=2100, size=500),
    _list("getAlbumList2", "byGenre", type="byGenre", genre="Rock", size=500),
    _in_folder("getAlbumList2", "newest musicFolderId", type="newest", size=500),
    _list("getRandomSongs", size=500), _in_folder("getRandomSongs", "musicFolderId", size=500),
    _list("getSongsByGenre", genre="Rock", count=500),
    _list("getStarred"), _list("getStarred2"), _in_folder("getStarred2", "musicFolderId"),
    # search
    *[_list(m, "empty", query="", songCount=500, albumCount=500, artistCount=500)
      for m in ("search2", "search3")],
    _list("search3", "text", query="bjork", songCount=500, albumCount=500, artistCount=500),
    _in_folder("search3", "empty musicFolderId", query="", songCount=500),
    # media
    Case("stream", lambda c: {"id": c.items.track}, role="stream", items=True, binary=True),
    Case("download", lambda c: {"id": c.items.track}, role="download", items=True, binary=True),
    *[Case("getCoverArt", lambda c, k=k: {"id": getattr(c.items, k), "size": 64}, k, items=True, binary=True)
      for k in ("album", "artist", "directory")],
    Case("getCoverArt", lambda c: {"id": c.items.track}, "track", items=True, binary=True),
    # annotation
    Case("star", lambda c: {"id": c.items.track, "albumId": c.items.album}, items=True),
    Case("unstar", lambda c: {"artistId": c.items.artist}, items=True),
    Case("setRating", lambda c: {"id": c.items.album, "rating": 4}, items=True),
    Case("scrobble", lambda c: {"id": c.items.track}, items=True),
    # users
    Case("getUser", lambda c: {"username": c.who.name}, "self"),
    Case("getUser", lambda c: {"username": "target"}, "other", admin=True),
    Case("getUsers", admin=True),
    Case("createUser",
         lambda c: {"username": f"made-by-{c.who.name}", "password": "pw-1", "email": "m@x.org"},
         admin=True, once=True),
    Case("updateUser", lambda c: {"username": "target", "email": f"{c.who.name}@x.org"}, admin=True),
    Case("deleteUser", lambda c: {"username": "doomed"}, admin=True, once=True),
    Case("changePassword", lambda c: {"username": c.who.name, "password": c.who.password}, "own"),
    Case("changePassword", lambda c: {"username": "target", "password": "target-pass"}, "other", admin=True),
    # playlists (the admin's public playlist of the folder: readable by all, written by its owner)
    Case("getPlaylists"),
    Case("getPlaylist", lambda c: {"id": c.items.playlist}),
    Case("createPlaylist", lambda c: {"name": f"made by {c.who.name}", "songId": c.items.track},
         role="playlist", items=True, once=True),
    Case("updatePlaylist", lambda c: {"playlistId": c.items.playlist, "comment": f"by {c.who.name}"},
         "others'", admin=True),
    Case("deletePlaylist", lambda c: {"id": c.items.playlist}, "others'", admin=True, skip_admin=True),
    # play queue and bookmarks (each user's own)
    Case("savePlayQueue", lambda c: {"id": c.items.track, "current": c.items.track, "position": 1000},
         items=True),
    Case("savePlayQueueByIndex", lambda c: {"id": c.items.track, "currentIndex": 0}, items=True),
    Case("getPlayQueue"), Case("getPlayQueueByIndex"),
    Case("createBookmark", lambda c: {"id": c.items.track, "position": 5000}, items=True),
    Case("getBookmarks"),
    Case("deleteBookmark", lambda c: {"id": c.items.track}, once=True),
    # transcoding (getTranscodeDecision takes a JSON body: test_transcode_decision_access)
    Case("hls", lambda c: {"id": c.items.track, "bitRate": 64}, role="stream", items=True, binary=True),
    Case("getTranscodeStream", lambda c: {"mediaId": c.items.track, "mediaType": "song",
                                          "transcodeParams": "direct"},
         role="stream", items=True, binary=True, http_errors=True),
    # lyrics (getLyrics finds by name: a foreign song is simply not found, an empty answer)
    Case("getLyricsBySongId", lambda c: {"id": c.items.track}, items=True),
    Case("getSonicSimilarTracks", lambda c: {"id": c.items.track, "count": 500}, items=True),
    Case("findSonicPath", lambda c: {"startSongId": c.items.track, "endSongId": c.items.track}, items=True),
    Case("getLyrics", lambda c: {"title": "no such title"}),
    # now playing
    Case("reportPlayback", lambda c: {"mediaId": c.items.track, "mediaType": "song", "state": "playing",
                                      "positionMs": 1000}, items=True),
    Case("getNowPlaying"),
    # shares (the admin's share of the folder's track: managed by its owner and admins only)
    Case("getShares", role="share"),
    Case("createShare", lambda c: {"id": c.items.track, "description": f"by {c.who.name}"},
         role="share", items=True, once=True),
    Case("updateShare", lambda c: {"id": c.items.share, "description": f"by {c.who.name}"},
         "others'", role="share", owner_only=True),
    Case("deleteShare", lambda c: {"id": c.items.share}, "others'", role="share", owner_only=True,
         skip_admin=True),
    # internet radio (admins manage; their own runs: tests/integration/test_radio_chat.py) and chat
    Case("getInternetRadioStations"),
    Case("createInternetRadioStation", lambda c: {"name": f"by {c.who.name}", "streamUrl": "http://r.example/"},
         admin=True, once=True),
    Case("updateInternetRadioStation", lambda c: {"id": "1", "name": "x", "streamUrl": "http://r.example/"},
         admin=True, skip_admin=True),
    Case("deleteInternetRadioStation", lambda c: {"id": "1"}, admin=True, skip_admin=True),
    Case("getChatMessages"),
    Case("addChatMessage", lambda c: {"message": f"hello from {c.who.name}"}, once=True),
    # search v1 (songs only; its folder filter is what this checks)
    Case("search", lambda c: {"any": "bjork", "count": 500}),
    Case("search", lambda c: {"title": "a", "count": 500}, "title"),
    # videos: none in a music library
    Case("getVideos"),
    # avatars: everyone sees everyone's
    Case("getAvatar", lambda c: {"username": ADMIN[0]}, binary=True),
    # podcasts: one server-wide list everyone reads; writes need the podcast role (rows made by
    # _add_podcasts; feeds are never fetched here: tests/integration/test_podcasts.py does that)
    Case("getPodcasts"), Case("getNewestPodcasts"),
    Case("getPodcasts", lambda c: {"id": PODCASTS["channel"]}, "id"),
    Case("getPodcastEpisode", lambda c: {"id": PODCASTS["episode"]}),
    Case("stream", lambda c: {"id": PODCASTS["episode"]}, "podcast episode", role="stream", binary=True),
    Case("download", lambda c: {"id": PODCASTS["episode"]}, "podcast episode", role="download", binary=True),
    Case("getCoverArt", lambda c: {"id": PODCASTS["cover"], "size": 32}, "podcast channel", binary=True),
    Case("refreshPodcasts", role="podcast"),
    Case("createPodcastChannel", lambda c: {"url": f"http://{c.who.name}.invalid/feed.xml"}, role="podcast",
         once=True),
    Case("downloadPodcastEpisode", lambda c: {"id": PODCASTS["other_episode"]}, role="podcast"),
    Case("deletePodcastEpisode", lambda c: {"id": PODCASTS["other_episode"]}, role="podcast"),
    Case("deletePodcastChannel", lambda c: {"id": PODCASTS["doomed"]}, role="podcast", once=True,
         skip_admin=True),
    # discovery: similar artists, mixes and top songs only name items of the reader's folders
    Case("getArtistInfo", lambda c: {"id": c.items.artist, "includeNotPresent": "true"}, items=True),
    Case("getArtistInfo", lambda c: {"id": c.items.track}, "tr", items=True),
    Case("getArtistInfo2", lambda c: {"id": c.items.artist, "includeNotPresent": "true"}, items=True),
    Case("getAlbumInfo", lambda c: {"id": c.items.album}, items=True),
    Case("getAlbumInfo2", lambda c: {"id": c.items.album}, items=True),
    Case("getAlbumInfo", lambda c: {"id": c.items.track}, "tr", items=True),
    Case("getAlbumInfo", lambda c: {"id": c.items.directory}, "dr", items=True),
    Case("getArtistInfo", lambda c: {"id": c.items.directory}, "dr", items=True),
    Case("getSimilarSongs", lambda c: {"id": c.items.track, "count": 500}, items=True),
    Case("getSimilarSongs", lambda c: {"id": c.items.album, "count": 500}, "al", items=True),
    Case("getSimilarSongs2", lambda c: {"id": c.items.artist, "count": 500}, items=True, nonempty=True),
    Case("getTopSongs", lambda c: {"id": c.items.artist}, items=True),
]
# Public ids of the podcast rows _add_podcasts makes (filled by the `world` fixture).
PODCASTS: dict[str, str] = {}


# ---------------------------------------------------------------------------- fixtures


def ok_once(client: Subsonic, method: str, **params: Any) -> dict[str, Any]:
    """One validated JSON call that must succeed (for calls that cannot be repeated)."""
    body = client.raw(method, **params).json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body


@pytest.fixture(scope="module")
def access_db(pg: Any, template_url: str, test_library: tuple[Path, Any],
              tmp_path_factory: pytest.TempPathFactory) -> tuple[str, tuple[Path, Path]]:
    """The test library (folder 1) plus the small second folder, with a cover image there."""
    from PIL import Image

    from orbsonic.scanner.scanner import scan

    extra = tmp_path_factory.mktemp("access-extra") / "extra"
    write_extra_folder(extra)
    Image.new("RGB", (16, 16), "red").save(extra / EXTRA_ARTIST / "1975 - Quuxtone Live" / "cover.jpg")
    url = clone_db(pg, template_url)
    report = scan(url, [test_library[0], extra], workers=2)
    assert report.added > 0 and not report.errors, report
    add_users(url, tmp_path_factory.mktemp("access-users"))
    return url, (test_library[0], extra)


def _items(conn: psycopg.Connection[Any], folder_id: int, album_name: str | None) -> Items:
    """An album with a cover in the folder whose artist has tracks only there."""
    row = conn.execute(
        """SELECT al.id, al.artist_id, al.directory_id,
                  (SELECT t.id FROM tracks t WHERE t.album_id = al.id ORDER BY t.id LIMIT 1)
             FROM albums al
            WHERE al.folder_id = %(f)s AND al.cover_kind > 0
              AND (%(name)s::text IS NULL OR al.name = %(name)s)
              AND NOT EXISTS (SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                               WHERE ta.artist_id = al.artist_id AND t.folder_id <> %(f)s)
              AND NOT EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = al.id AND t.folder_id <> %(f)s)
              AND EXISTS (SELECT 1 FROM directories d WHERE d.id = al.directory_id AND d.cover_kind > 0)
              AND EXISTS (SELECT 1 FROM artists ar JOIN albums ca ON ca.id = ar.cover_album_id
                           WHERE ar.id = al.artist_id AND ca.cover_kind > 0)
            ORDER BY al.id LIMIT 1""", {"f": folder_id, "name": album_name}).fetchone()
    assert row is not None, f"no suitable album in folder {folder_id}"
    return Items(folder_id, public_id("tr", row[3]), public_id("al", row[0]), public_id("ar", row[1]),
                 public_id("dr", row[2]))


def _seed_sonic(conn: psycopg.Connection[Any]) -> None:
    """Feature vectors for every track (seeded random), so that sonic neighbours and paths
    cross the folders and the leak check below bites (the analysis itself: test_sonic.py)."""
    import numpy as np

    from orbsonic.analysis.features import ALGO_VERSION, DIM

    rng = np.random.default_rng(11)
    for track_id, size, mtime in conn.execute("SELECT id, size, mtime_ns FROM tracks ORDER BY id").fetchall():
        conn.execute("INSERT INTO track_sonic (track_id, version, vec) VALUES (%s, %s, %s)",
                     (track_id, f"{ALGO_VERSION}:{size}:{mtime}", rng.normal(size=DIM).astype("<f4").tobytes()))
    conn.execute("UPDATE sonic_state SET version = version + 1")
    conn.commit()


def _set_avatar(conn: psycopg.Connection[Any], username: str) -> None:
    """An avatar for getAvatar (the CLI's way of setting one: tests/integration/test_avatar.py)."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), "green").save(buf, "PNG")
    conn.execute("""INSERT INTO user_avatars (user_id, content_type, data)
                    SELECT id, 'image/png', %s FROM users WHERE username = %s""", (buf.getvalue(), username))


def _add_podcasts(conn: psycopg.Connection[Any], data_dir: Path) -> None:
    """Two podcast channels as the jobs leave them: one with a stored cover, a downloaded episode
    and one not downloaded; one for deletePodcastChannel (the one principal with the podcast
    role that runs that case, cleo, deletes it; the admin's run is skipped)."""
    import io

    from PIL import Image

    from orbsonic.ids import cover_id

    buf = io.BytesIO()
    Image.new("RGB", (40, 40), "blue").save(buf, "PNG")
    (data_dir / "podcasts" / "1").mkdir(parents=True)
    (data_dir / "podcasts" / "1" / "cover.png").write_bytes(buf.getvalue())
    (data_dir / "podcasts" / "1" / "1.mp3").write_bytes(b"\xff\xfb" + b"\0" * 4000)
    conn.execute("""INSERT INTO podcast_channels (id, url, title, status, image_key, image_version)
                    OVERRIDING SYSTEM VALUE VALUES (1, 'http://127.0.0.1:9/show.xml', 'Show', 'completed',
                                                    '1/cover.png', 1700000000),
                                                   (2, 'http://127.0.0.1:9/doomed.xml', 'Doomed', 'new',
                                                    NULL, NULL)""")
    conn.execute("""INSERT INTO podcast_episodes (id, channel_id, guid, title, audio_url, status, file_key, size,
                                                  content_type, suffix, publish_date)
                    OVERRIDING SYSTEM VALUE VALUES
                    (1, 1, 'a', 'Downloaded', 'http://127.0.0.1:9/a.mp3', 'completed', '1/1.mp3', 4002,
                     'audio/mpeg', 'mp3', now()),
                    (2, 1, 'b', 'Not yet', 'http://pod.invalid/b.mp3', 'new', NULL, NULL, NULL, NULL, now())""")
    conn.execute("SELECT setval(pg_get_serial_sequence('podcast_channels', 'id'), 100)")
    conn.execute("SELECT setval(pg_get_serial_sequence('podcast_episodes', 'id'), 100)")
    PODCASTS.update(channel=public_id("pc", 1), episode=public_id("pe", 1), other_episode=public_id("pe", 2),
                    cover=cover_id("pc", 1, 1700000000), doomed=public_id("pc", 2))


@dataclass
class World:
    admin: Subsonic
    items: dict[int, Items]  # folder number → items
    outside: dict[int, set[str]]  # folder number → public ids of items with nothing in that folder

    def client(self, p: Principal) -> Subsonic:
        return self.admin.as_user(p.name, p.password)


@pytest.fixture(scope="module")
def world(access_db: tuple[str, tuple[Path, Path]],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    url, (root, extra) = access_db
    with psycopg.connect(url) as conn:
        fids = dict(conn.execute("SELECT path, id FROM music_folders").fetchall())
        f1, f2 = fids[str(root)], fids[str(extra)]
        items = {1: _items(conn, f1, None), 2: _items(conn, f2, "Quuxtone Live")}
        outside: dict[int, set[str]] = {}
        for n, fid in ((1, f1), (2, f2)):
            ids = set()
            for kind, table in (("tr", "tracks"), ("al", "albums"), ("dr", "directories")):
                rows = conn.execute(f"SELECT id FROM {table} WHERE folder_id <> %s", (fid,))
                ids |= {public_id(kind, i) for (i,) in rows}
            ids |= {public_id("ar", i) for (i,) in conn.execute(
                """SELECT ar.id FROM artists ar WHERE NOT EXISTS (
                       SELECT 1 FROM track_artists ta JOIN tracks t ON t.id = ta.track_id
                        WHERE ta.artist_id = ar.id AND t.folder_id = %s)""", (fid,))}
            outside[n] = ids
        _set_avatar(conn, ADMIN[0])
        app_data = tmp_path_factory.mktemp("access-app")
        _add_podcasts(conn, app_data)
        _seed_sonic(conn)
    with serve(url, (root, extra), app_data) as admin:
        folder_ids = {1: f1, 2: f2}
        for p in PRINCIPALS[1:]:
            # Everyone starts with every folder and the roles to annotate...
            ok_once(admin, "createUser", username=p.name, password=p.password, email=f"{p.name}@example.org",
                     streamRole=True, scrobblingEnabled=True)
        for p in PRINCIPALS:
            me = admin.as_user(p.name, p.password)
            for its in items.values():
                me.ok("star", id=its.track, albumId=its.album, artistId=its.artist)
                me.ok("setRating", id=its.album, rating=5)
                me.ok("scrobble", id=its.track)
        for p in PRINCIPALS[1:]:
            # ... then an admin narrows them to their folder and roles.
            flags = {("scrobblingEnabled" if r == "scrobbling" else f"{r}Role"): r in p.roles
                     for r in ALL_ROLES}
            admin.ok("updateUser", username=p.name, musicFolderId=folder_ids[p.folder], **flags)
        for n, its in items.items():
            made = ok_once(admin, "createPlaylist", name=f"folder {n}", songId=its.track)
            items[n] = dataclasses.replace(its, playlist=made["playlist"]["id"])
            admin.ok("updatePlaylist", playlistId=items[n].playlist, public=True)
            shared = ok_once(admin, "createShare", id=its.track)
            items[n] = dataclasses.replace(items[n], share=shared["shares"]["share"][0]["id"])
        ok_once(admin, "createUser", username="target", password="target-pass", email="t@example.org")
        ok_once(admin, "createUser", username="doomed", password="doomed-pass", email="d@example.org")
        yield World(admin, items, outside)


# ---------------------------------------------------------------------------- the table


def _expected(case: Case, who: Principal, foreign: bool) -> int | None:
    """The error code `who` must get (None: success)."""
    if case.admin and not who.admin:
        return 50
    if case.role is not None and case.role not in who.roles and not who.admin:
        return 50
    if case.owner_only and not who.admin:
        return 70
    if foreign and who.folder is not None:
        return 70
    return None


def _public_ids(value: Any) -> Iterator[str]:
    """Every public id in a JSON body (cover ids without their version)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from _public_ids(v)
    elif isinstance(value, list):
        for v in value:
            yield from _public_ids(v)
    elif isinstance(value, str):
        m = _PUBLIC.match(value)
        if m and (len(value) == m.end() or value[m.end()] == "_"):
            yield m.group(0)


RUNS = [(c, p, foreign) for c in CASES for p in PRINCIPALS
        for foreign in ((False, True) if c.items else (False,)) if not (c.skip_admin and p.admin)]


@pytest.mark.parametrize(("case", "who", "foreign"), RUNS,
                         ids=[f"{c.name}-{p.name}" + ("-foreign" if f else "") for c, p, f in RUNS])
def test_access(world: World, case: Case, who: Principal, foreign: bool) -> None:
    folder = (2 if who.own == 1 else 1) if foreign else who.own
    params = case.params(Call(world.items[folder], who))
    client = world.client(who)
    code = _expected(case, who, foreign)
    if code == 70 and case.http_errors:
        r = client.raw(case.method, **params)
        assert r.status_code == 404, (r.status_code, r.text[:300])
        return
    if code is not None:
        client.fail(case.method, code, **params)
        return
    if case.binary:
        r = client.raw(case.method, **params)
        assert r.status_code == 200, r.text[:300]
        assert not r.headers["content-type"].startswith(("application/json", "text/xml")), r.text[:300]
        assert r.content
        return
    body = ok_once(client, case.method, **params) if case.once else client.ok(case.method, **params)
    seen = set(_public_ids(body))
    if who.folder is not None:
        leaked = seen & world.outside[who.folder]
        assert not leaked, f"{who.name} sees items outside folder {who.folder}: {sorted(leaked)[:10]}"
    if case.nonempty:
        assert seen or (case.method == "getGenres" and body["genres"].get("genre")), body


# Methods whose access rules are tested by their own test below (a JSON body the table cannot send).
OWN_TESTS = {"getTranscodeDecision", "getVideoInfo", "getCaptions", "jukeboxControl"}


@pytest.mark.parametrize("who", PRINCIPALS, ids=[p.name for p in PRINCIPALS])
def test_jukebox_access(world: World, who: Principal) -> None:
    """The jukebox role is checked before anything else: without it 50; with it, on this
    server (jukebox off), the "not enabled" error. Playing: tests/integration/test_jukebox.py."""
    code = _expected(Case("jukeboxControl", role="jukebox"), who, False)
    err = world.client(who).fail("jukeboxControl", 0 if code is None else code, action="status")
    if code is None:
        assert err["message"] == "jukebox is not enabled on this server"


@pytest.mark.parametrize("who", PRINCIPALS, ids=[p.name for p in PRINCIPALS])
def test_video_info_and_captions_are_not_found_for_everyone(world: World, who: Principal) -> None:
    """No video exists: any id is 70 for every principal (no role guards these methods)."""
    client = world.client(who)
    for method in ("getVideoInfo", "getCaptions"):
        client.fail(method, 70, id=world.items[who.own].track)
        client.fail(method, 10)


@pytest.mark.parametrize("who", PRINCIPALS, ids=[p.name for p in PRINCIPALS])
@pytest.mark.parametrize("foreign", [False, True], ids=["own", "foreign"])
def test_transcode_decision_access(world: World, who: Principal, foreign: bool) -> None:
    import json

    folder = (2 if who.own == 1 else 1) if foreign else who.own
    client = world.client(who)
    body = {"name": "t", "platform": "t", "maxAudioBitrate": 320000,
            "directPlayProfiles": [{"containers": ["mp3"], "audioCodecs": ["mp3"], "protocols": ["http"]}],
            "transcodingProfiles": [{"container": "mp3", "audioCodec": "mp3", "protocol": "http"}]}
    r = client.http.post("/rest/getTranscodeDecision", content=json.dumps(body).encode(),
                         params={**client.auth(), "f": "json", "mediaId": world.items[folder].track,
                                 "mediaType": "song"}, headers={"Content-Type": "application/json"})
    answer = r.json()["subsonic-response"]
    code = _expected(Case("getTranscodeDecision", role="stream", items=True), who, foreign)
    if code is None:
        assert answer["status"] == "ok", answer
    else:
        assert answer["status"] == "failed" and answer["error"]["code"] == code, answer


def test_every_implemented_endpoint_has_a_case() -> None:
    """A new endpoint must be added to the table (or fail here)."""
    missing = sorted(set(ENDPOINTS) - {c.method for c in CASES} - OWN_TESTS)
    assert not missing, f"add these endpoints to tests/integration/test_access.py CASES: {missing}"


def test_the_principals_are_what_the_table_assumes(world: World) -> None:
    """getUser shows the roles and folders set with updateUser (the table's premise)."""
    folders = {int(f["id"]) for f in world.admin.ok("getMusicFolders")["musicFolders"]["musicFolder"]}
    assert {world.items[1].folder_id, world.items[2].folder_id} == folders
    for p in PRINCIPALS:
        user = world.client(p).ok("getUser", username=p.name)["user"]
        for role in ALL_ROLES:
            attr = "scrobblingEnabled" if role == "scrobbling" else f"{role}Role"
            assert user[attr] is (role in p.roles), (p.name, attr)
        want = folders if p.folder is None else {world.items[p.folder].folder_id}
        assert set(user["folder"]) == want, p.name


def test_music_folders_and_genres_are_per_user(world: World) -> None:
    bert = world.client(PRINCIPALS[2])
    mine = bert.ok("getMusicFolders")["musicFolders"]["musicFolder"]
    assert [f["id"] for f in mine] == [world.items[2].folder_id]
    all_genres = {g["value"]: g for g in world.admin.ok("getGenres")["genres"]["genre"]}
    genres = {g["value"]: g for g in bert.ok("getGenres")["genres"]["genre"]}
    # folder 2 holds two Rock/Krautrock tracks (one album) and one Electronic track.
    assert set(genres) == {"Rock", "Krautrock", "Electronic"}
    assert (genres["Krautrock"]["songCount"], genres["Krautrock"]["albumCount"]) == (2, 1)
    assert genres["Rock"]["songCount"] == 2 < all_genres["Rock"]["songCount"]


def test_per_user_lists_show_only_own_folder_items(world: World) -> None:
    """bert starred, rated and played one album in each folder: his lists name only folder 2's."""
    bert = world.client(PRINCIPALS[2])
    own, other = world.items[2], world.items[1]
    bert.ok("star", artistId=own.artist)  # the table's unstar case may have run before
    for t in ("starred", "frequent", "recent", "highest"):
        albums = [a["id"] for a in bert.ok("getAlbumList2", type=t)["albumList2"].get("album", [])]
        assert own.album in albums and other.album not in albums, (t, albums)
    starred = bert.ok("getStarred2")["starred2"]
    assert [s["id"] for s in starred.get("song", [])] == [own.track]
    assert [a["id"] for a in starred.get("artist", [])] == [own.artist]
    # The admin, unrestricted, sees both folders' items in the same lists.
    admin_starred = world.admin.ok("getStarred2")["starred2"]
    assert {own.track, other.track} <= {s["id"] for s in admin_starred["song"]}


def test_stream_outside_folders_is_not_found_even_with_the_role(world: World) -> None:
    cleo = world.client(PRINCIPALS[3])
    assert cleo.raw("stream", id=world.items[2].track).status_code == 200
    err = cleo.fail("stream", 70, id=world.items[1].track)
    assert "not found" in err["message"]
    bert = world.client(PRINCIPALS[2])
    assert "stream role" in bert.fail("stream", 50, id=world.items[2].track)["message"]
