"""Discover what to test with from the server itself: folders, artists, albums, songs, a cover,
a genre, a song with lyrics. Nothing is assumed about the library beyond "it has some albums".

``discover(runner)`` fills ``runner.fixtures`` (keys below) through validated calls; a key is
missing when the server has no such thing (the probes that need it are then skipped, saying so).

* ``folder`` (music folder id), ``dir`` (a folder-browsing directory id: an artist's),
  ``album`` / ``album_dir`` (an ID3 album id and its folder id), ``artist`` / ``artist_name``,
  ``songs`` (up to 4 song dicts, from at least one album), ``song`` (the first of them),
  ``cover`` (a coverArt id), ``genre``, ``word`` (a search term from the first song's title),
  ``lyrics_song`` (a song whose lyrics the server serves).
"""

from __future__ import annotations

import re
from typing import Any

from conformance.runner import Runner, Unexpected

__all__ = ["discover", "unknown_id"]


def _list(node: Any) -> list[Any]:
    if node is None:
        return []
    return node if isinstance(node, list) else [node]


def unknown_id(real: str | None) -> str:
    """An id shaped like ``real`` that no server has: its trailing digits (or its hex chars)
    replaced, so that servers which check the id's shape first still answer 70, not 10."""
    if not real:
        return "999999999"
    if re.fullmatch(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", real):  # a UUID (supysonic)
        return re.sub(r"[0-9a-fA-F]", "e", real)
    # A versioned cover id (Orbsonic's `al-1y2p_k3j2`): a changed version of a real owner
    # still names that owner's cover (clients keep old ids), so the *owner* part is replaced
    # by a well-formed base-36 id that no item has, and the version is kept.
    versioned = re.fullmatch(r"([a-z]{2}-)[0-9a-z]+(_[0-9a-z]+)", real)
    if versioned:
        return versioned.group(1) + "z" * 12 + versioned.group(2)
    match = re.fullmatch(r"(.*?)([0-9]+)", real)
    if match:
        return match.group(1) + "987654321"
    if re.fullmatch(r"[0-9a-fA-F]{8,}", real):
        return "e" * len(real)
    return real + "-conformance-missing"


def discover(r: Runner) -> dict[str, Any]:
    fx = r.fixtures
    folders = _list(r.expect_ok("getMusicFolders").get("musicFolders", {}).get("musicFolder"))
    if folders:
        fx["folder"] = str(folders[0]["id"])
    albums: list[dict[str, Any]] = []
    try:
        env = r.expect_ok("getAlbumList2", {"type": "alphabeticalByName", "size": 10})
        albums = _list(env.get("albumList2", {}).get("album"))
    except Unexpected:
        pass
    songs: list[dict[str, Any]] = []
    for album in albums[:6]:
        try:
            env = r.expect_ok("getAlbum", {"id": album["id"]})
        except Unexpected:
            continue
        tracks = _list(env.get("album", {}).get("song"))
        if tracks and "album" not in fx:
            fx["album"], fx["album_dir"] = album["id"], tracks[0].get("parent")
            if album.get("artistId"):
                fx["artist"], fx["artist_name"] = album["artistId"], album.get("artist")
        if not fx.get("cover") and album.get("coverArt"):
            fx["cover"] = album["coverArt"]
        songs.extend(t for t in tracks if not t.get("isVideo"))
        if len(songs) >= 4 and len({s.get("albumId") for s in songs}) > 1:
            break
    if not songs:  # a server without ID3 browsing: random songs still name songs
        try:
            songs = _list(r.expect_ok("getRandomSongs", {"size": 4}).get("randomSongs", {}).get("song"))
        except Unexpected:
            songs = []
    if songs:
        fx["songs"] = songs[:4]
        fx["song"] = songs[0]
        fx.setdefault("cover", songs[0].get("coverArt"))
        words = re.findall(r"\w{3,}", songs[0].get("title", ""))
        fx["word"] = words[0] if words else songs[0].get("title", "a")
        fx.setdefault("album_dir", songs[0].get("parent"))
    if "artist" not in fx:
        try:
            index = _list(r.expect_ok("getArtists").get("artists", {}).get("index"))
            for entry in index:
                for artist in _list(entry.get("artist")):
                    fx["artist"], fx["artist_name"] = artist["id"], artist.get("name")
                    break
                if "artist" in fx:
                    break
        except Unexpected:
            pass
    try:
        indexes = _list(r.expect_ok("getIndexes").get("indexes", {}).get("index"))
        for entry in indexes:
            artists = _list(entry.get("artist"))
            if artists:
                fx["dir"] = artists[0]["id"]
                break
    except Unexpected:
        pass
    try:
        genres = _list(r.expect_ok("getGenres").get("genres", {}).get("genre"))
        with_songs = [g for g in genres if g.get("songCount", 1)]
        if with_songs:
            fx["genre"] = with_songs[0].get("value")
    except Unexpected:
        pass
    _find_lyrics(r, songs)
    return fx


def _find_lyrics(r: Runner, songs: list[dict[str, Any]]) -> None:
    """The first song (of the discovered ones and a search) whose lyrics the server serves."""
    candidates = list(songs)
    try:
        env = r.expect_ok("search3", {"query": "", "songCount": 40, "artistCount": 0, "albumCount": 0})
        candidates += _list(env.get("searchResult3", {}).get("song"))
    except Unexpected:
        pass
    for song in candidates[:40]:
        answer = r.call("getLyricsBySongId", {"id": song["id"]})
        if r.not_implemented(answer):
            break
        lyrics = _list((answer.envelope or {}).get("lyricsList", {}).get("structuredLyrics"))
        if any(_list(item.get("line")) for item in lyrics):
            r.fixtures["lyrics_song"] = song
            return
    for song in candidates[:40]:
        if not song.get("artist") or not song.get("title"):
            continue
        answer = r.call("getLyrics", {"artist": song["artist"], "title": song["title"]})
        if (answer.envelope or {}).get("lyrics", {}).get("value"):
            r.fixtures["lyrics_song"] = song
            return
