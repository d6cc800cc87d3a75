"""The app answers the basic calls of every client over the scanned test library."""

from __future__ import annotations


def test_ping_and_envelope(api):
    body = api.ok("ping")
    assert body["version"] == "1.16.1" and body["type"] == "orbsonic" and body["openSubsonic"] is True


def test_browse_artist_album_song(api):
    index = api.ok("getArtists")["artists"]["index"]
    artist = next(a for i in index for a in i["artist"] if a["name"] == "Björk")
    albums = api.ok("getArtist", id=artist["id"])["artist"]["album"]
    assert albums
    album = api.ok("getAlbum", id=albums[0]["id"])["album"]
    assert album["song"] and album["songCount"] == len(album["song"])
    song = api.ok("getSong", id=album["song"][0]["id"])["song"]
    assert song["albumId"] == album["id"]
