"""One probe per endpoint that a round trip does not cover: reads and harmless writes.

``PROBES`` maps an endpoint to ``Probe(params, stable, accept, needs)``: ``params(fx)`` builds
the query from the fixtures (``conformance.fixtures``), ``needs`` names the fixtures it cannot
do without (the row is skipped, saying which, when one is missing), ``stable`` says whether two
calls must answer the same data (random lists, now-playing and scan progress do not), and
``accept`` lists error codes that are a correct answer for that probe (70 for a video id on a
music-only server, 0 for a jukebox that is switched off, 50 for a role the user lacks).
``run_probes(runner)`` runs them all through ``Runner.check``; ``probe_binary(runner)`` checks
the endpoints that answer bytes (cover art, avatar, captions, HLS, transcode decision/stream).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from conformance.client import parse_answer
from conformance.fixtures import unknown_id
from conformance.runner import Runner

__all__ = ["PROBES", "Probe", "probe_binary", "run_probes"]

Fx = dict[str, Any]


@dataclass(frozen=True)
class Probe:
    params: Callable[[Fx], dict[str, Any]]
    stable: bool = True
    accept: tuple[int, ...] = ()
    needs: tuple[str, ...] = ()


def _none(fx: Fx) -> dict[str, Any]:
    return {}


def _song(fx: Fx, i: int = 0) -> str:
    return fx["songs"][min(i, len(fx["songs"]) - 1)]["id"]


PROBES: dict[str, Probe] = {
    "ping": Probe(_none),
    "getLicense": Probe(_none),
    "getOpenSubsonicExtensions": Probe(_none),
    "getMusicFolders": Probe(_none),
    "getIndexes": Probe(_none),
    "getMusicDirectory": Probe(lambda fx: {"id": fx["dir"]}, needs=("dir",)),
    "getGenres": Probe(_none),
    "getArtists": Probe(_none),
    "getArtist": Probe(lambda fx: {"id": fx["artist"]}, needs=("artist",)),
    "getAlbum": Probe(lambda fx: {"id": fx["album"]}, needs=("album",)),
    "getSong": Probe(lambda fx: {"id": _song(fx)}, needs=("songs",)),
    "getVideos": Probe(_none),
    "getVideoInfo": Probe(lambda fx: {"id": _song(fx)}, accept=(70,), needs=("songs",)),
    "getArtistInfo": Probe(lambda fx: {"id": fx["dir"], "count": 5}, needs=("dir",)),
    "getArtistInfo2": Probe(lambda fx: {"id": fx["artist"], "count": 5}, needs=("artist",)),
    "getAlbumInfo": Probe(lambda fx: {"id": fx["album_dir"]}, needs=("album_dir",)),
    "getAlbumInfo2": Probe(lambda fx: {"id": fx["album"]}, needs=("album",)),
    # An instant mix is varied on each call (issue 11): compare nothing but the envelope.
    "getSimilarSongs": Probe(lambda fx: {"id": _song(fx), "count": 5}, stable=False, needs=("songs",)),
    "getSimilarSongs2": Probe(lambda fx: {"id": fx["artist"], "count": 5}, stable=False, needs=("artist",)),
    "getTopSongs": Probe(lambda fx: {"artist": fx["artist_name"], "count": 5}, needs=("artist_name",)),
    "getSonicSimilarTracks": Probe(lambda fx: {"id": _song(fx), "count": 3}, needs=("songs",)),
    "findSonicPath": Probe(lambda fx: {"startSongId": _song(fx), "endSongId": _song(fx, 3), "count": 4},
                           needs=("songs",)),
    "getAlbumList": Probe(lambda fx: {"type": "alphabeticalByName", "size": 5}),
    "getAlbumList2": Probe(lambda fx: {"type": "alphabeticalByName", "size": 5}),
    "getRandomSongs": Probe(lambda fx: {"size": 3}, stable=False),
    "getSongsByGenre": Probe(lambda fx: {"genre": fx["genre"], "count": 5}, needs=("genre",)),
    "getNowPlaying": Probe(_none, stable=False),
    "getStarred": Probe(_none),
    "getStarred2": Probe(_none),
    "search": Probe(lambda fx: {"any": fx["word"], "count": 5}, needs=("word",)),
    "search2": Probe(lambda fx: {"query": fx["word"]}, needs=("word",)),
    "search3": Probe(lambda fx: {"query": fx["word"]}, needs=("word",)),
    "getPlaylists": Probe(_none),
    "getLyrics": Probe(lambda fx: {"artist": fx["lyrics_song"]["artist"], "title": fx["lyrics_song"]["title"]},
                       needs=("lyrics_song",)),
    "getLyricsBySongId": Probe(lambda fx: {"id": fx["lyrics_song"]["id"]}, needs=("lyrics_song",)),
    "getShares": Probe(_none),
    "getPodcasts": Probe(lambda fx: {"includeEpisodes": "true"}),
    "getNewestPodcasts": Probe(lambda fx: {"count": 5}),
    "getPodcastEpisode": Probe(lambda fx: {"id": unknown_id(fx.get("song", {}).get("id"))}, accept=(70,)),
    "getInternetRadioStations": Probe(_none),
    "getChatMessages": Probe(_none, stable=False),
    "getUser": Probe(lambda fx: {"username": fx["user"]}),
    "getUsers": Probe(_none, accept=(50,)),
    "getBookmarks": Probe(_none),
    "getPlayQueue": Probe(_none),
    "getPlayQueueByIndex": Probe(_none),
    "getScanStatus": Probe(_none, stable=False),
    # Harmless writes: a scan, a podcast refresh, a now-playing scrobble, a stopped playback.
    "startScan": Probe(_none, stable=False, accept=(50,)),
    "refreshPodcasts": Probe(_none, accept=(50,)),
    "scrobble": Probe(lambda fx: {"id": _song(fx), "submission": "false"}, needs=("songs",)),
    "reportPlayback": Probe(lambda fx: {"mediaId": _song(fx), "mediaType": "song", "positionMs": 0,
                                        "state": "stopped", "ignoreScrobble": "true"}, stable=False,
                            needs=("songs",)),
    "jukeboxControl": Probe(lambda fx: {"action": "status"}, stable=False, accept=(0, 50)),
    "deletePodcastEpisode": Probe(lambda fx: {"id": unknown_id(None)}, accept=(70, 50)),
    "downloadPodcastEpisode": Probe(lambda fx: {"id": unknown_id(None)}, accept=(70, 50)),
    "deletePodcastChannel": Probe(lambda fx: {"id": unknown_id(None)}, accept=(70, 50)),
}


def run_probes(r: Runner) -> None:
    """Every probe through ``Runner.check`` (XML + JSON + .view + formPost)."""
    fx = r.fixtures
    for name, probe in PROBES.items():
        missing = [k for k in probe.needs if not fx.get(k)]
        if missing:
            r.skip(name, f"no fixture: {', '.join(missing)} (the library has none)")
            continue
        r.check(name, probe.params(fx), stable=probe.stable, accept=probe.accept)
    if r.server.api_key and "tokenInfo" in r.rows:
        r.check("tokenInfo", {}, auth="apikey")
    else:
        r.skip("tokenInfo", "needs --api-key")


def _binary(r: Runner, endpoint: str, params: dict[str, Any], kinds: tuple[str, ...],
            accept: tuple[int, ...] = (), url_method: str | None = None) -> None:
    answer = r.call(endpoint, params, fmt=None) if url_method is None else parse_answer(
        endpoint, r.server.http.get(f"{r.server.rest}/{url_method}",
                                    params=[*r.server.auth_params(), *params.items()]))
    if url_method is not None:
        for v in r.validate(endpoint, answer):
            r.fail(endpoint, v)
    if r.not_implemented(answer):
        r.row(endpoint).not_implemented = True
        return
    if answer.status == "failed":
        if answer.code in accept:
            r.ok(endpoint, f"error {answer.code} accepted")
        else:
            r.fail(endpoint, answer.describe())
        return
    if answer.http_status != 200 or not answer.media.startswith(kinds) or not answer.content:
        r.fail(endpoint, f"HTTP {answer.http_status} {answer.media or '-'} ({len(answer.content)} bytes); "
                         f"expected 200 {' or '.join(kinds)}")
        return
    r.ok(endpoint)


def probe_binary(r: Runner) -> None:
    """getCoverArt, getAvatar, getCaptions, hls, getTranscodeDecision + getTranscodeStream."""
    fx = r.fixtures
    if fx.get("cover"):
        _binary(r, "getCoverArt", {"id": fx["cover"]}, ("image/",))
        _binary(r, "getCoverArt", {"id": fx["cover"], "size": 64}, ("image/",))
        missing = r.call("getCoverArt", {"id": unknown_id(fx["cover"])}, fmt="json")
        if missing.status == "failed" and missing.code == 70:
            r.ok("getCoverArt")
        elif not r.not_implemented(missing):
            r.fail("getCoverArt", f"an unknown cover id answers {missing.describe()}, not error 70")
    else:
        r.skip("getCoverArt", "no fixture: cover")
    _binary(r, "getAvatar", {"username": fx["user"]}, ("image/",), accept=(70,))
    if not fx.get("songs"):
        for name in ("getCaptions", "hls", "getTranscodeDecision", "getTranscodeStream"):
            r.skip(name, "no fixture: songs")
        return
    _binary(r, "getCaptions", {"id": _song(fx)}, ("text/",), accept=(70,))
    _binary(r, "hls", {"id": _song(fx)}, ("application/vnd.apple.mpegurl", "application/x-mpegurl",
                                           "audio/mpegurl", "audio/x-mpegurl"), url_method="hls.m3u8")
    _transcode(r, _song(fx))


def _transcode(r: Runner, song: str) -> None:
    """getTranscodeDecision (POST, JSON ClientInfo body) then getTranscodeStream of its params."""
    info = {"name": "conformance", "platform": "python",
            "directPlayProfiles": [],
            "transcodingProfiles": [{"container": "mp3", "audioCodec": "mp3", "protocol": "http",
                                     "maxAudioChannels": 2}],
            "maxAudioBitrate": 128000, "maxTranscodingAudioBitrate": 128000}
    query = [*r.server.auth_params(), ("f", "json"), ("mediaId", song), ("mediaType", "song")]
    resp = r.server.http.post(f"{r.server.rest}/getTranscodeDecision", params=query,
                              content=json.dumps(info), headers={"content-type": "application/json"})
    answer = parse_answer("getTranscodeDecision", resp)
    if r.not_implemented(answer):
        r.row("getTranscodeDecision").not_implemented = True
        r.row("getTranscodeStream").not_implemented = True
        return
    for v in r.validate("getTranscodeDecision", answer):
        r.fail("getTranscodeDecision", v)
    if answer.status != "ok" or answer.envelope is None:
        r.fail("getTranscodeDecision", answer.describe())
        r.skip("getTranscodeStream", "no transcode decision")
        return
    decision = answer.envelope.get("transcodeDecision", {})
    r.ok("getTranscodeDecision")
    params = decision.get("transcodeParams")
    if not params:
        r.skip("getTranscodeStream", "the decision carries no transcodeParams")
        return
    stream = r.server.http.get(f"{r.server.rest}/getTranscodeStream",
                               params=[*r.server.auth_params(), ("mediaId", song), ("mediaType", "song"),
                                       ("transcodeParams", params)])
    ctype = stream.headers.get("content-type", "")
    if stream.status_code == 200 and ctype.startswith("audio/") and stream.content:
        r.ok("getTranscodeStream")
    else:
        r.fail("getTranscodeStream", f"HTTP {stream.status_code} {ctype} ({len(stream.content)} bytes)")
