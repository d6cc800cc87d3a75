"""What the benchmark asks a Subsonic server: id discovery, seeded annotations, scenarios.

Everything goes through the Subsonic API with legacy password auth (`p=enc:…`, which
supysonic 0.7.9 needs: it has no token auth) and `f=json`, so Orbsonic and the peer
are driven by the same client in the same way. Ids, genres, cover ids and search words
are read from the server itself (getAlbumList2, getIndexes, getMusicDirectory, getAlbum
…), never from a database.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from bench.load import Connection

API_VERSION = "1.12.0"  # supysonic 0.7.9 speaks 1.12.0; Orbsonic accepts any 1.x ≤ 1.16.1
PAGE = 50  # page size of the album/song lists (a client's grid page)
NOW_PLAYING = 4  # players seeded before getNowPlaying
CHUNK = 200  # song ids per createPlaylist / updatePlaylist call (keeps the URL short)
ALBUM_TYPES = (
    "random",
    "newest",
    "highest",
    "frequent",
    "recent",
    "alphabeticalByName",
    "alphabeticalByArtist",
    "starred",
    "byYear",
    "byGenre",
)
USER_TYPES = ("highest", "frequent", "recent", "starred")


def auth_query(user: str, password: str, client: str = "bench") -> str:
    return urlencode(
        {"u": user, "p": "enc:" + password.encode().hex(), "v": API_VERSION, "c": client, "f": "json"}
    )


@dataclass
class Library:
    """What discovery found on a server."""

    albums: list[dict[str, Any]] = field(default_factory=list)  # AlbumID3 objects
    artists: list[str] = field(default_factory=list)  # getArtists ids
    all_artists: int = 0  # search3 "" artist count
    index_dirs: list[str] = field(default_factory=list)  # getIndexes artist (folder) ids
    album_dirs: list[str] = field(default_factory=list)  # folder ids with songs
    songs: list[str] = field(default_factory=list)  # song ids (sample)
    playlists: list[str] = field(default_factory=list)  # ids of the playlists seed_reads made
    playlist_size: int = 0  # entries of that playlist
    genres: list[dict[str, Any]] = field(default_factory=list)  # getGenres entries
    words: list[str] = field(default_factory=list)  # text-search queries
    common: list[str] = field(default_factory=list)  # the most frequent words of album names, most first
    artist_names: list[str] = field(default_factory=list)  # album artists (getTopSongs artist=)
    tracks: int = 0
    list_counts: dict[str, int] = field(default_factory=dict)  # per-user album list sizes
    search_empty: bool = True  # search3 "" returns everything
    no_files: bool = False  # a library generated in SQL (bench/sqllib.py): no audio to stream

    @property
    def covers(self) -> list[str]:
        return [a["coverArt"] for a in self.albums if a.get("coverArt")]


class Api:
    """Sequential Subsonic calls over one keep-alive connection (discovery and seeding)."""

    def __init__(self, host: str, port: int, auth: str, prefix: str = "/rest") -> None:
        self.conn = Connection(host, port)
        self.auth, self.prefix = auth, prefix

    def path_as(self, client: str, method: str, **params: Any) -> str:
        """`path`, sent as another client (`c`): another player of the same user."""
        q = dict(parse_qsl(self.auth))
        q["c"] = client
        return Api(self.conn.host, self.conn.port, urlencode(q), self.prefix).path(method, **params)

    def path(self, method: str, **params: Any) -> str:
        q = []
        for k, v in params.items():
            for item in v if isinstance(v, (list, tuple)) else [v]:
                q.append(f"{k}={quote(str(item), safe='')}")
        return f"{self.prefix}/{method}.view?{self.auth}" + ("&" + "&".join(q) if q else "")

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        reply = await self.conn.get(self.path(method, **params))
        body = json.loads(reply.body)["subsonic-response"]
        if body.get("status") != "ok":
            raise RuntimeError(f"{method} {params}: {body.get('error')}")
        return body

    async def close(self) -> None:
        await self.conn.close()


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


async def discover(api: Api, seed: int = 1, song_albums: int = 300, dir_artists: int = 60) -> Library:
    rng = random.Random(f"orbsonic-bench:{seed}")
    lib = Library()
    offset = 0
    while True:
        page = _as_list(
            (await api.call("getAlbumList2", type="alphabeticalByName", size=500, offset=offset))
            .get("albumList2", {})
            .get("album")
        )
        lib.albums += page
        offset += len(page)
        if len(page) < 500:
            break
    lib.tracks = sum(int(a.get("songCount") or 0) for a in lib.albums)
    lib.genres = sorted(
        _as_list((await api.call("getGenres")).get("genres", {}).get("genre")),
        key=lambda g: (-int(g.get("albumCount") or 0), g.get("value", "")),
    )
    for index in _as_list((await api.call("getArtists")).get("artists", {}).get("index")):
        lib.artists += [a["id"] for a in _as_list(index.get("artist"))]
    for index in _as_list((await api.call("getIndexes")).get("indexes", {}).get("index")):
        lib.index_dirs += [a["id"] for a in _as_list(index.get("artist"))]
    for d in rng.sample(lib.index_dirs, min(dir_artists, len(lib.index_dirs))):
        children = _as_list((await api.call("getMusicDirectory", id=d)).get("directory", {}).get("child"))
        lib.album_dirs += [c["id"] for c in children if c.get("isDir")]
    for a in rng.sample(lib.albums, min(song_albums, len(lib.albums))):
        lib.songs += [
            s["id"] for s in _as_list((await api.call("getAlbum", id=a["id"])).get("album", {}).get("song"))
        ]
    rng.shuffle(lib.songs)
    words: set[str] = set()
    for a in lib.albums:
        for w in (a.get("name", "") + " " + a.get("artist", "")).split():
            w = "".join(c for c in w if c.isalnum())
            if len(w) >= 4:
                words.add(w.lower())
    lib.words = rng.sample(sorted(words), min(60, len(words)))
    # Issue 12's "common words": the most frequent words (3+ letters) of the album names,
    # whose matches a search must not sort whole.
    counts = Counter(w for a in lib.albums for w in
                     ("".join(c for c in w if c.isalnum()).lower() for w in a.get("name", "").split())
                     if len(w) >= 3 and w.isalpha())
    lib.common = [w for w, _ in counts.most_common(12)]
    lib.artist_names = sorted({a["artist"] for a in lib.albums if a.get("artist")})
    # Every artist with a song (search3 "" pages artists too), counted by paging.
    try:
        n = 0
        while True:
            page = _as_list(
                (
                    await api.call(
                        "search3", query='""', artistCount=500, artistOffset=n, albumCount=0, songCount=0
                    )
                )
                .get("searchResult3", {})
                .get("artist")
            )
            n += len(page)
            if len(page) < 500:
                break
        lib.all_artists = n
        lib.search_empty = n > 0
    except RuntimeError:
        lib.search_empty = False
    return lib


async def seed_annotations(api: Api, lib: Library, seed: int = 1) -> dict[str, Any]:
    """Stars, ratings and plays through the API, so that the starred, highest, frequent
    and recent lists and getStarred2 are not empty. Returns what was done; a call the
    server refuses (supysonic rates only songs) is counted under "refused"."""
    rng = random.Random(f"orbsonic-bench-annotations:{seed}")
    done: dict[str, Any] = {"refused": {}}

    async def each(label: str, calls: list[tuple[str, dict[str, Any]]]) -> None:
        ok = 0
        for method, params in calls:
            try:
                await api.call(method, **params)
                ok += 1
            except RuntimeError as exc:
                done["refused"].setdefault(label, str(exc)[:160])
        done[label] = ok

    albums = [a["id"] for a in lib.albums]
    starred = rng.sample(albums, min(500, len(albums) // 10 or 1))
    await each(
        "star_album_calls", [("star", {"albumId": starred[k : k + 50]}) for k in range(0, len(starred), 50)]
    )
    artists = rng.sample(lib.artists, min(100, len(lib.artists)))
    await each(
        "star_artist_calls", [("star", {"artistId": artists[k : k + 50]}) for k in range(0, len(artists), 50)]
    )
    songs = lib.songs[:300]
    await each("star_song_calls", [("star", {"id": songs[k : k + 50]}) for k in range(0, len(songs), 50)])
    rated = rng.sample(albums, min(300, len(albums) // 10 or 1))
    await each("album_ratings", [("setRating", {"id": a, "rating": 1 + n % 5}) for n, a in enumerate(rated)])
    await each(
        "song_ratings", [("setRating", {"id": s, "rating": 1 + n % 5}) for n, s in enumerate(songs[:100])]
    )
    await each("scrobbles", [("scrobble", {"id": s, "submission": "true"}) for s in lib.songs[-300:]])
    for kind in USER_TYPES:
        n = 0
        try:
            while True:
                page = _as_list(
                    (await api.call("getAlbumList2", type=kind, size=500, offset=n))
                    .get("albumList2", {})
                    .get("album")
                )
                n += len(page)
                if len(page) < 500:
                    break
            lib.list_counts[kind] = n
        except RuntimeError:
            lib.list_counts[kind] = -1  # type not supported
    # What getStarred2 lists after the seeding (artists + albums + songs): a peer that lists far
    # fewer answers a different question (bench/report.py marks it not comparable).
    try:
        starred = (await api.call("getStarred2")).get("starred2", {})
        lib.list_counts["starred2"] = sum(len(_as_list(starred.get(k))) for k in ("artist", "album", "song"))
    except RuntimeError:
        lib.list_counts["starred2"] = -1
    if not done["refused"]:
        del done["refused"]
    return done


@dataclass
class Scenario:
    """One measured request mix: a name, its paths (cycled), and how to run it."""

    name: str
    paths: list[str]
    group: str = "api"
    cold: bool = False  # every path once, no warmup (cold cover cache)
    expect: tuple[int, ...] = (200,)
    headers: dict[str, str] | None = None
    keep_body: bool = True
    # requested once, in order, right before the scenario is measured (state it reads that
    # would expire if seeded earlier: now-playing entries)
    setup: list[str] = field(default_factory=list)
    check: Any = None  # a reply check (bench.load.Check); None: a Subsonic envelope "ok" when JSON


def scenarios(api: Api, lib: Library, *, peer_set: bool = False, seed: int = 1) -> list[Scenario]:
    """The request mixes. `peer_set`: only those compared with the peer (the 10k run)."""
    rng = random.Random(f"orbsonic-bench-scenarios:{seed}")
    p = api.path
    out: list[Scenario] = [Scenario("ping", [p("ping")])]
    out += [Scenario("getArtists", [p("getArtists")]), Scenario("getIndexes", [p("getIndexes")])]
    if not peer_set:  # issue 12: a client that already has the index (a date after any change)
        out.append(Scenario("getIndexes ifModifiedSince", [p("getIndexes", ifModifiedSince=4102444800000)]))
    n_albums = len(lib.albums)
    genre = lib.genres[0]["value"] if lib.genres else "Rock"
    genre_albums = int(lib.genres[0].get("albumCount") or 0) if lib.genres else 0
    song_genre = (
        max(lib.genres, key=lambda g: int(g.get("songCount") or 0)) if lib.genres else {"value": genre}
    )
    for kind in ALBUM_TYPES:
        extra: dict[str, Any] = {}
        if kind == "byYear":
            extra = {"fromYear": 1900, "toYear": 2100}
        elif kind == "byGenre":
            extra = {"genre": genre}
        total = {"byGenre": genre_albums}.get(kind, lib.list_counts.get(kind, n_albums))
        offsets = [0] if kind == "random" or peer_set else [0, max(0, int(total * 0.9) - PAGE)]
        for off in offsets:
            label = f"getAlbumList2 {kind}" + (f" @{off}" if kind != "random" else "")
            out.append(Scenario(label, [p("getAlbumList2", type=kind, size=PAGE, offset=off, **extra)]))
    albums = [a["id"] for a in lib.albums]
    out.append(Scenario("getAlbum", [p("getAlbum", id=a) for a in rng.sample(albums, min(500, len(albums)))]))
    out.append(
        Scenario(
            "getArtist", [p("getArtist", id=a) for a in rng.sample(lib.artists, min(300, len(lib.artists)))]
        )
    )
    dirs = lib.album_dirs or lib.index_dirs
    out.append(Scenario("getMusicDirectory", [p("getMusicDirectory", id=d) for d in dirs[:500]]))
    out.append(Scenario("search3 text", [p("search3", query=w) for w in lib.words]))
    if lib.search_empty:
        n = lib.tracks
        song_offsets = [0, n // 2, int(n * 0.9)]  # 100k: 0, 50,000, 90,000; 1M: 0, 500,000, 900,000
        if peer_set:
            song_offsets = [0, int(n * 0.9) - 500]
        for off in song_offsets:
            out.append(
                Scenario(
                    f'search3 "" songs @{off}',
                    [p("search3", query='""', songCount=500, songOffset=off, albumCount=0, artistCount=0)],
                )
            )
        for off in [0, n_albums // 2, int(n_albums * 0.9)] if not peer_set else [0]:
            out.append(
                Scenario(
                    f'search3 "" albums @{off}',
                    [p("search3", query='""', albumCount=500, albumOffset=off, songCount=0, artistCount=0)],
                )
            )
        for off in [0, lib.all_artists // 2, int(lib.all_artists * 0.9)] if not peer_set else [0]:
            out.append(
                Scenario(
                    f'search3 "" artists @{off}',
                    [p("search3", query='""', artistCount=500, artistOffset=off, songCount=0, albumCount=0)],
                )
            )
    if not peer_set and lib.common:  # issue 12: common words, two of them, a one-letter prefix
        common = lib.common
        out.append(Scenario("search3 common word", [p("search3", query=w) for w in common[:10]]))
        out.append(Scenario("search3 two common words",
                            [p("search3", query=f"{a} {b}") for a, b in zip(common[:10], common[1:11])]))
        letters = list(dict.fromkeys(w[0] for w in common))[:6]
        out.append(Scenario("search3 one-letter prefix", [p("search3", query=c) for c in letters]))
    out.append(Scenario("getRandomSongs", [p("getRandomSongs", size=PAGE)]))
    if not peer_set:
        out.append(Scenario("getRandomSongs size=500", [p("getRandomSongs", size=500)]))
    # Issue 13's list: the small, frequent reads clients send most.
    out.append(Scenario("getSong", [p("getSong", id=s) for s in lib.songs[:500]]))
    out.append(Scenario("search3 no match", [p("search3", query="zzqxj nomatch")]))
    out.append(Scenario("getPlaylists", [p("getPlaylists")]))
    if lib.playlists:
        label = "getPlaylist" if peer_set else f"getPlaylist ({lib.playlist_size:,} entries)"
        out.append(Scenario(label, [p("getPlaylist", id=i) for i in lib.playlists]))
    out.append(Scenario("getPlayQueue", [p("getPlayQueue")]))
    g_songs = int(song_genre.get("songCount") or 0)
    for off in [0] if peer_set else [0, max(0, int(g_songs * 0.9) - PAGE)]:
        out.append(
            Scenario(
                f"getSongsByGenre @{off}",
                [p("getSongsByGenre", genre=song_genre["value"], count=PAGE, offset=off)],
            )
        )
    out.append(Scenario("getStarred2", [p("getStarred2")]))
    if not peer_set and len(lib.songs) >= 2:  # sonicSimilarity (OpenSubsonic): Orbsonic only
        out.append(Scenario("getSonicSimilarTracks", [p("getSonicSimilarTracks", id=s, count=10)
                                                      for s in lib.songs[:300]]))
        pairs = [(lib.songs[i], lib.songs[-1 - i]) for i in range(min(100, len(lib.songs) // 2))]
        out.append(Scenario("findSonicPath", [p("findSonicPath", startSongId=a, endSongId=b, count=25)
                                              for a, b in pairs]))
    if not peer_set and lib.songs:  # issue 11 discovery: instant mixes and top songs, local data only
        out.append(Scenario("getSimilarSongs",
                            [p("getSimilarSongs", id=s, count=50) for s in lib.songs[:100]]))
        some = rng.sample(lib.artists, min(100, len(lib.artists)))
        out.append(Scenario("getSimilarSongs2", [p("getSimilarSongs2", id=a, count=50) for a in some]))
        names = rng.sample(lib.artist_names, min(100, len(lib.artist_names)))
        out.append(Scenario("getTopSongs", [p("getTopSongs", artist=a, count=50) for a in names]))
    if not peer_set:  # playbackReport is an OpenSubsonic extension: Orbsonic only
        out.append(Scenario("reportPlayback", [p("reportPlayback", mediaId=s, mediaType="song", positionMs=0,
                                                 state="playing") for s in lib.songs[:100]]))
        # a few players listening now (scrobble submission=false, one client name each),
        # seeded right before: a notice expires after the song's remaining time + 5 minutes
        players = [api.path_as(f"bench-player-{k}", "scrobble", id=s, submission="false")
                   for k, s in enumerate(lib.songs[:NOW_PLAYING])]
        out.append(Scenario("getNowPlaying", [p("getNowPlaying")], setup=players))
    covers = lib.covers
    rng.shuffle(covers)
    if not covers:  # a library without covers (bench/sqllib.py): nothing to ask for
        return [sc for sc in out if sc.paths] + _streams(p, lib)
    if not peer_set:
        out.append(
            Scenario(
                "getCoverArt cold resize", [p("getCoverArt", id=c, size=200) for c in covers[:400]], cold=True
            )
        )
    out.append(Scenario("getCoverArt cached", [p("getCoverArt", id=c, size=200) for c in covers[:100]]))
    return out + _streams(p, lib)


def _streams(p: Any, lib: Library) -> list[Scenario]:
    if lib.no_files:
        return []
    return [Scenario("stream (whole track)", [p("stream", id=s) for s in lib.songs[:500]], group="stream",
                     keep_body=False)]


async def _song_ids(api: Api, lib: Library, n: int) -> list[str]:
    """`n` song ids: the discovered sample, then more from search3 "" pages (a server that
    does not list everything for "" repeats the sample: duplicates are allowed entries)."""
    ids = list(dict.fromkeys(lib.songs))
    offset = 0
    while len(ids) < n and lib.search_empty and offset < lib.tracks:
        page = _as_list((await api.call("search3", query='""', songCount=500, songOffset=offset, albumCount=0,
                                        artistCount=0)).get("searchResult3", {}).get("song"))
        if not page:
            break
        ids = list(dict.fromkeys(ids + [s["id"] for s in page]))
        offset += 500
    while ids and len(ids) < n:
        ids += ids[: n - len(ids)]
    return ids[:n]


async def seed_reads(api: Api, lib: Library, playlist_size: int = 50) -> dict[str, Any]:
    """A playlist of `playlist_size` songs (created through the API: createPlaylist, then
    updatePlaylist songIdToAdd in chunks) and a saved play queue of 50, so that getPlaylist
    and getPlayQueue read something. A server without one of the methods answers an error,
    recorded (and those scenarios then compare nothing: see the report's errors)."""
    out: dict[str, Any] = {}
    songs = lib.songs[:50]
    try:
        entries = await _song_ids(api, lib, playlist_size)
        await api.call("createPlaylist", name="bench playlist", songId=entries[:CHUNK])
        body = await api.call("getPlaylists")
        mine = [pl for pl in _as_list(body.get("playlists", {}).get("playlist")) if pl.get("name") == "bench playlist"]
        lib.playlists = [str(pl["id"]) for pl in mine][:1]
        for k in range(CHUNK, len(entries), CHUNK):
            await api.call("updatePlaylist", playlistId=lib.playlists[0], songIdToAdd=entries[k : k + CHUNK])
        got = await api.call("getPlaylist", id=lib.playlists[0])
        lib.playlist_size = int(got["playlist"].get("songCount") or 0)
        out["playlist"] = lib.playlist_size
    except (RuntimeError, ValueError, KeyError, IndexError) as exc:
        out["playlist"] = f"failed: {exc}"[:200]
    try:
        await api.call("savePlayQueue", id=songs, current=songs[0] if songs else "", position=0)
        out["queue"] = len(songs)
    except (RuntimeError, ValueError, KeyError) as exc:
        out["queue"] = f"failed: {exc}"[:200]
    return out
