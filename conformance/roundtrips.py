"""Write-then-read round trips, each undone afterwards: star, rating, playlist, play queue (and
by index), bookmark, share, internet radio station, user, podcast channel, chat.

Each ``_trip_*`` writes through one endpoint, reads the effect back through another and then
restores what was there (a song's rating, a starred item, the saved play queue), deleting what
it created even when a check in between failed. The only write that cannot be undone through
the API is a chat message (Subsonic has no deleteChatMessage); it says "conformance suite".
A trip that fails records the reason on its ``round trip: …`` row, and on the endpoint's row
when that endpoint answered an error.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from conformance.runner import Runner, Unexpected

__all__ = ["run_round_trips"]


def _list(node: Any) -> list[Any]:
    if node is None:
        return []
    return node if isinstance(node, list) else [node]


def _ids(items: Any) -> list[str]:
    return [str(x.get("id")) for x in _list(items)]


def run_round_trips(r: Runner) -> None:
    trips: list[tuple[str, Callable[[Runner], None], tuple[str, ...]]] = [
        ("star", _trip_star, ("songs",)),
        ("rating", _trip_rating, ("songs",)),
        ("playlist", _trip_playlist, ("songs",)),
        ("play queue", _trip_queue, ("songs",)),
        ("play queue by index", _trip_queue_index, ("songs",)),
        ("bookmark", _trip_bookmark, ("songs",)),
        ("share", _trip_share, ("songs",)),
        ("internet radio", _trip_radio, ()),
        ("user", _trip_user, ()),
        ("podcast channel", _trip_podcast, ()),
        ("chat", _trip_chat, ()),
    ]
    for label, trip, needs in trips:
        name = f"round trip: {label}"
        missing = [k for k in needs if not r.fixtures.get(k)]
        if missing:
            r.skip(name, f"no fixture: {', '.join(missing)}")
            continue
        try:
            trip(r)
        except Unexpected as exc:
            if "is not implemented" in str(exc):
                r.row(name).not_implemented = True
            else:
                r.fail(name, str(exc))
                endpoint = str(exc).split(":", 1)[0]
                if r.rows.get(endpoint) is not None and r.rows[endpoint].kind == "endpoint":
                    r.fail(endpoint, f"in the {label} round trip: {str(exc).split(':', 1)[1].strip()}")
        else:
            r.ok(name)


def _check(cond: bool, what: str) -> None:
    if not cond:
        raise Unexpected(what)


def _song_ids(r: Runner) -> list[str]:
    return [s["id"] for s in r.fixtures["songs"]]


def _trip_star(r: Runner) -> None:
    fx = r.fixtures
    song = _song_ids(r)[-1]
    targets = {"id": song, "albumId": fx.get("album"), "artistId": fx.get("artist")}
    targets = {k: v for k, v in targets.items() if v}
    key = {"id": "song", "albumId": "album", "artistId": "artist"}
    before = r.expect_ok("getStarred2").get("starred2", {})
    already = {k for k, v in targets.items() if v in _ids(before.get(key[k]))}
    r.expect_ok("star", targets)
    try:
        after = r.expect_ok("getStarred2").get("starred2", {})
        for k, v in targets.items():
            _check(v in _ids(after.get(key[k])), f"starred {key[k]} {v} not in getStarred2")
        starred = r.expect_ok("getStarred").get("starred", {})
        _check(song in _ids(starred.get("song")), f"starred song {song} not in getStarred")
        entry = r.expect_ok("getSong", {"id": song}).get("song", {})
        _check(bool(entry.get("starred")), "getSong of a starred song has no `starred` date")
    finally:
        undo = {k: v for k, v in targets.items() if k not in already}
        if undo:
            r.expect_ok("unstar", undo)
    gone = r.expect_ok("getStarred2").get("starred2", {})
    for k, v in targets.items():
        if k not in already:
            _check(v not in _ids(gone.get(key[k])), f"unstarred {key[k]} {v} still in getStarred2")


def _trip_rating(r: Runner) -> None:
    song = _song_ids(r)[0]
    before = int(r.expect_ok("getSong", {"id": song}).get("song", {}).get("userRating", 0) or 0)
    new = 2 if before != 2 else 4
    r.expect_ok("setRating", {"id": song, "rating": new})
    try:
        got = r.expect_ok("getSong", {"id": song}).get("song", {}).get("userRating")
        _check(got == new, f"setRating {new} then getSong userRating={got!r}")
    finally:
        r.expect_ok("setRating", {"id": song, "rating": before})
    got = r.expect_ok("getSong", {"id": song}).get("song", {}).get("userRating", 0) or 0
    _check(got == before, f"rating not restored to {before}: {got!r}")


def _trip_playlist(r: Runner) -> None:
    songs = _song_ids(r)
    name = f"conformance-{secrets.token_hex(4)}"
    created = r.expect_ok("createPlaylist", {"name": name, "songId": songs[:2]}).get("playlist")
    pid = created.get("id") if isinstance(created, dict) else None
    if pid is None:  # before 1.14.0 createPlaylist answers an empty envelope
        found = [p for p in _list(r.expect_ok("getPlaylists").get("playlists", {}).get("playlist"))
                 if p.get("name") == name]
        _check(len(found) == 1, f"created playlist {name!r} not in getPlaylists")
        pid = found[0]["id"]
    try:
        r.check("getPlaylist", {"id": pid})
        got = r.expect_ok("getPlaylist", {"id": pid}).get("playlist", {})
        _check(_ids(got.get("entry")) == songs[:2], f"playlist entries {_ids(got.get('entry'))} != {songs[:2]}")
        listed = _ids(r.expect_ok("getPlaylists").get("playlists", {}).get("playlist"))
        _check(str(pid) in listed, "created playlist not in getPlaylists")
        extra = songs[2] if len(songs) > 2 else songs[0]
        r.expect_ok("updatePlaylist", {"playlistId": pid, "name": name + "-renamed", "comment": "conformance",
                                       "songIdToAdd": extra, "songIndexToRemove": 0})
        got = r.expect_ok("getPlaylist", {"id": pid}).get("playlist", {})
        want = [songs[1], extra]
        _check(got.get("name") == name + "-renamed", f"updatePlaylist name: {got.get('name')!r}")
        _check(_ids(got.get("entry")) == want, f"after updatePlaylist entries {_ids(got.get('entry'))} != {want}")
    finally:
        r.expect_ok("deletePlaylist", {"id": pid})
    gone = r.call("getPlaylist", {"id": pid})
    _check(gone.status == "failed" and gone.code == 70, f"deleted playlist answers {gone.describe()}")


def _queue_state(env: dict[str, Any], key: str) -> tuple[list[str], Any, Any]:
    queue = env.get(key) or {}
    return _ids(queue.get("entry")), queue.get("current", queue.get("currentIndex")), queue.get("position")


def _trip_queue(r: Runner) -> None:
    songs = _song_ids(r)[:3]
    before = _queue_state(r.expect_ok("getPlayQueue"), "playQueue")
    r.expect_ok("savePlayQueue", {"id": songs, "current": songs[1], "position": 12345})
    try:
        entries, current, position = _queue_state(r.expect_ok("getPlayQueue"), "playQueue")
        _check(entries == songs, f"saved queue {songs}, read {entries}")
        _check(str(current) == songs[1], f"current {current!r} != {songs[1]}")
        _check(int(position or 0) == 12345, f"position {position!r} != 12345")
    finally:
        if before[0]:
            r.expect_ok("savePlayQueue", {"id": before[0], "current": before[1], "position": before[2]})
        else:  # no id clears the queue (OpenSubsonic savePlayQueue)
            r.call("savePlayQueue", {})


def _trip_queue_index(r: Runner) -> None:
    if not r.has("indexBasedQueue"):
        r.skip("round trip: play queue by index", "indexBasedQueue not advertised")
        raise Unexpected("savePlayQueueByIndex is not implemented")
    songs = _song_ids(r)[:3]
    before = _queue_state(r.expect_ok("getPlayQueueByIndex"), "playQueueByIndex")
    r.expect_ok("savePlayQueueByIndex", {"id": songs, "currentIndex": 2, "position": 777})
    try:
        entries, current, position = _queue_state(r.expect_ok("getPlayQueueByIndex"), "playQueueByIndex")
        _check(entries == songs, f"saved queue {songs}, read {entries}")
        _check(int(current) == 2, f"currentIndex {current!r} != 2")
        _check(int(position or 0) == 777, f"position {position!r} != 777")
    finally:
        if before[0]:
            r.expect_ok("savePlayQueueByIndex", {"id": before[0], "currentIndex": before[1], "position": before[2]})
        else:
            r.call("savePlayQueueByIndex", {})


def _trip_bookmark(r: Runner) -> None:
    song = _song_ids(r)[-1]
    before = {b["entry"]["id"]: b for b in _list(r.expect_ok("getBookmarks").get("bookmarks", {}).get("bookmark"))
              if isinstance(b.get("entry"), dict)}
    r.expect_ok("createBookmark", {"id": song, "position": 4321, "comment": "conformance"})
    try:
        marks = _list(r.expect_ok("getBookmarks").get("bookmarks", {}).get("bookmark"))
        mine = [b for b in marks if isinstance(b.get("entry"), dict) and b["entry"].get("id") == song]
        _check(len(mine) == 1, f"bookmark of {song} not in getBookmarks")
        _check(int(mine[0].get("position", -1)) == 4321, f"bookmark position {mine[0].get('position')!r}")
    finally:
        if song in before:
            old = before[song]
            r.expect_ok("createBookmark", {"id": song, "position": old.get("position", 0),
                                           "comment": old.get("comment")})
        else:
            r.expect_ok("deleteBookmark", {"id": song})
    if song not in before:
        marks = _list(r.expect_ok("getBookmarks").get("bookmarks", {}).get("bookmark"))
        _check(all(b.get("entry", {}).get("id") != song for b in marks), "deleted bookmark still listed")


def _trip_share(r: Runner) -> None:
    song = _song_ids(r)[0]
    created = _list(r.expect_ok("createShare", {"id": song, "description": "conformance"})
                    .get("shares", {}).get("share"))
    _check(len(created) == 1, f"createShare answered {len(created)} shares")
    sid = created[0]["id"]
    try:
        _check(str(created[0].get("url", "")).startswith("http"), "share url is not absolute")
        listed = {s["id"]: s for s in _list(r.expect_ok("getShares").get("shares", {}).get("share"))}
        _check(sid in listed, "created share not in getShares")
        _check(song in _ids(listed[sid].get("entry")), "share entries lack the shared song")
        r.expect_ok("updateShare", {"id": sid, "description": "conformance-updated"})
        listed = {s["id"]: s for s in _list(r.expect_ok("getShares").get("shares", {}).get("share"))}
        _check(listed.get(sid, {}).get("description") == "conformance-updated", "updateShare not read back")
    finally:
        r.expect_ok("deleteShare", {"id": sid})
    listed = _ids(r.expect_ok("getShares").get("shares", {}).get("share"))
    _check(sid not in listed, "deleted share still in getShares")


def _trip_radio(r: Runner) -> None:
    name = f"conformance-{secrets.token_hex(4)}"
    url = "http://127.0.0.1:9/conformance.mp3"
    r.expect_ok("createInternetRadioStation", {"streamUrl": url, "name": name,
                                               "homepageUrl": "http://127.0.0.1:9/"})
    stations = _list(r.expect_ok("getInternetRadioStations").get("internetRadioStations", {})
                     .get("internetRadioStation"))
    mine = [s for s in stations if s.get("name") == name]
    _check(len(mine) == 1, "created station not in getInternetRadioStations")
    sid = mine[0]["id"]
    try:
        _check(mine[0].get("streamUrl") == url, f"streamUrl {mine[0].get('streamUrl')!r}")
        r.expect_ok("updateInternetRadioStation", {"id": sid, "streamUrl": url + "?2", "name": name + "-2"})
        stations = _list(r.expect_ok("getInternetRadioStations").get("internetRadioStations", {})
                         .get("internetRadioStation"))
        now = [s for s in stations if s.get("id") == sid]
        _check(bool(now) and now[0].get("name") == name + "-2", "updateInternetRadioStation not read back")
    finally:
        r.expect_ok("deleteInternetRadioStation", {"id": sid})


def _trip_user(r: Runner) -> None:
    name = f"conformance{secrets.token_hex(3)}"
    r.expect_ok("createUser", {"username": name, "password": "Conf-" + secrets.token_hex(6),
                               "email": f"{name}@example.org", "playlistRole": "true"})
    try:
        user = r.expect_ok("getUser", {"username": name}).get("user", {})
        _check(user.get("username") == name, f"getUser answered {user.get('username')!r}")
        _check(user.get("playlistRole") is True, "createUser playlistRole=true not read back")
        r.expect_ok("updateUser", {"username": name, "email": f"{name}-2@example.org", "commentRole": "true"})
        user = r.expect_ok("getUser", {"username": name}).get("user", {})
        _check(user.get("email") == f"{name}-2@example.org", f"updateUser email: {user.get('email')!r}")
        _check(user.get("commentRole") is True, "updateUser commentRole=true not read back")
        r.expect_ok("changePassword", {"username": name, "password": "Conf-" + secrets.token_hex(6)})
        users = [u.get("username") for u in _list(r.expect_ok("getUsers").get("users", {}).get("user"))]
        _check(name in users, "created user not in getUsers")
    finally:
        r.expect_ok("deleteUser", {"username": name})
    gone = r.call("getUser", {"username": name})
    _check(gone.status == "failed" and gone.code == 70, f"deleted user answers {gone.describe()}")


def _trip_podcast(r: Runner) -> None:
    url = f"http://conformance-{secrets.token_hex(4)}.invalid/feed.xml"  # .invalid never resolves (RFC 6761)
    r.expect_ok("createPodcastChannel", {"url": url})
    channels = _list(r.expect_ok("getPodcasts", {"includeEpisodes": "false"}).get("podcasts", {}).get("channel"))
    mine = [c for c in channels if c.get("url") == url]
    _check(len(mine) == 1, "created channel not in getPodcasts")
    r.expect_ok("deletePodcastChannel", {"id": mine[0]["id"]})
    channels = _list(r.expect_ok("getPodcasts", {"includeEpisodes": "false"}).get("podcasts", {}).get("channel"))
    _check(all(c.get("url") != url for c in channels), "deleted channel still in getPodcasts")


def _trip_chat(r: Runner) -> None:
    text = f"conformance suite {secrets.token_hex(4)}"
    r.expect_ok("addChatMessage", {"message": text})
    messages = _list(r.expect_ok("getChatMessages").get("chatMessages", {}).get("chatMessage"))
    _check(any(m.get("message") == text for m in messages), "added chat message not in getChatMessages")
