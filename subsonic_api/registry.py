"""The Subsonic method table: which methods we serve, which we know but do not serve.

`ALL_METHODS` is the 87 methods of Subsonic 1.16.1 + OpenSubsonic (docs/subsonic-spec.md
§3). Handlers register with `@endpoint("name")`; every other known method answers with
an error envelope (never plain text or a 5xx: SubMusic #98, DSub retries ≥ 500) and is
listed in the README (tests/unit/test_registry.py keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from psycopg import AsyncConnection
from starlette.requests import Request
from starlette.responses import Response

from orbsonic.auth.users import ROLE_ATTRS, User
from orbsonic.clients import DEFAULT_PROFILE, ClientProfile
from orbsonic.state import AppState
from subsonic_api.params import Params
from subsonic_api.response import Payload

ALL_METHODS = frozenset("""
ping getLicense getOpenSubsonicExtensions tokenInfo
getMusicFolders getIndexes getMusicDirectory getGenres getArtists getArtist getAlbum getSong
getVideos getVideoInfo getArtistInfo getArtistInfo2 getAlbumInfo getAlbumInfo2 getSimilarSongs
getSimilarSongs2 getTopSongs getSonicSimilarTracks findSonicPath
getAlbumList getAlbumList2 getRandomSongs getSongsByGenre getNowPlaying getStarred getStarred2
search search2 search3
getPlaylists getPlaylist createPlaylist updatePlaylist deletePlaylist
stream download hls getCaptions getCoverArt getLyrics getAvatar getLyricsBySongId
getTranscodeDecision getTranscodeStream
star unstar setRating scrobble reportPlayback
getShares createShare updateShare deleteShare
getPodcasts getNewestPodcasts refreshPodcasts createPodcastChannel deletePodcastChannel
deletePodcastEpisode downloadPodcastEpisode getPodcastEpisode
jukeboxControl
getInternetRadioStations createInternetRadioStation updateInternetRadioStation
deleteInternetRadioStation
getChatMessages addChatMessage
getUser getUsers createUser updateUser deleteUser changePassword
getBookmarks createBookmark deleteBookmark getPlayQueue savePlayQueue getPlayQueueByIndex
savePlayQueueByIndex
getScanStatus startScan
""".split())


@dataclass(frozen=True, slots=True)
class Ctx:
    """Everything a handler may use. `conn` is one pooled connection for the request;
    `os` is False for legacy clients (no OpenSubsonic fields); `profile` is the client's
    profile (orbsonic/clients.py: transcoding defaults, legacy, reported version)."""

    request: Request
    params: Params
    user: User
    conn: AsyncConnection
    state: AppState
    os: bool
    profile: ClientProfile = DEFAULT_PROFILE


@dataclass(frozen=True, slots=True)
class AfterRelease:
    """A handler's answer that is built once the request's pooled connection is back in the
    pool: `build()` → the Response (its exceptions become error envelopes as a handler's
    do). For answers that wait on something else first — a transcoding slot and ffmpeg's
    first bytes — so that waiting clients do not hold connections the slot's own store
    (orbsonic.kv.semaphore.PgSemaphore) and every other request need. Honoured for
    handlers that are not `readonly`."""

    build: Callable[[], Awaitable[Response]]


Handler = Callable[[Ctx], Awaitable[Payload | Response | AfterRelease]]


@dataclass(frozen=True, slots=True)
class FastCtx:
    """What a fast path (`endpoint(fast=…)`) may use: no database connection. `user` comes
    from the credential cache (orbsonic.auth.cache), already checked."""

    request: Request
    params: Params
    user: User
    state: AppState


# A fast path answers from what the process already holds (a cache file, a cached user) — a
# Response, or a Payload the dispatcher renders as it renders the handler's — or returns
# None, and the request takes the ordinary path (one pooled connection, the handler).
FastHandler = Callable[[FastCtx], Awaitable[Response | Payload | None]]


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    handler: Handler
    auth: bool = True
    admin: bool = False
    role: str | None = None
    readonly: bool = False
    fast: FastHandler | None = None


ENDPOINTS: dict[str, Endpoint] = {}


def endpoint(name: str, *, auth: bool = True, admin: bool = False,
             role: str | None = None, readonly: bool = False,
             fast: FastHandler | None = None) -> Callable[[Handler], Handler]:
    """Register a handler for Subsonic method `name` (served at /rest/name and name.view).

    `admin=True`: only admins (others get error 50). `role`: a Subsonic role the user must
    hold (`"stream"`, `"playlist"`, … — orbsonic.auth.users.ROLE_ATTRS), checked by the
    dispatcher before the handler runs, so no handler repeats the check (error 50).
    `readonly=True`: the handler only reads (or writes with single statements that need no
    atomicity with another), so it runs in autocommit — no BEGIN and COMMIT round trips
    (issue 13). Each statement then sees its own snapshot: a handler whose statements must
    agree (an album and its songs) reads them in one statement.
    `fast`: tried first, before any pooled connection is taken, when the request's
    credentials are in the credential cache and the roles allow the method; it answers
    (a Response or a Payload) or declines (None) and the handler runs as usual (issue 13: a cached cover
    with no database round trip). It must give the same answer the handler would.
    """
    if name not in ALL_METHODS:
        raise ValueError(f"{name} is not a Subsonic method")
    if role is not None and role not in ROLE_ATTRS:
        raise ValueError(f"{role} is not a Subsonic role")

    def register(fn: Handler) -> Handler:
        if name in ENDPOINTS:
            raise ValueError(f"{name} registered twice")
        ENDPOINTS[name] = Endpoint(name, fn, auth, admin, role, readonly, fast)
        return fn

    return register


def not_implemented() -> list[str]:
    """Known methods without a handler, sorted (the README lists exactly these)."""
    return sorted(ALL_METHODS - ENDPOINTS.keys())
