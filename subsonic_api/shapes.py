"""Library rows → Subsonic response objects (Child, AlbumID3, ArtistID3, Artist …).

Field names and types follow the XSD 1.16.1 and the OpenSubsonic additions
(docs/subsonic-spec.md §5). Rules that clients enforce:
* XSD-required fields are always present (`title` even when empty: Symfonium, §4.5 #3);
* integers are ints, ids are strings (§4.5 #4, #11); `userRating` 0 is never sent (XSD 1–5);
* with `os=True` every OpenSubsonic field we support is present, with an empty value
  when we have no data (OpenSubsonic: "if a server supports a field it must return it");
* with `os=False` (legacy profile: DSub) no OpenSubsonic field appears, because nested
  `<artists>`/`<contributors>` elements make DSub's pull parser invent artists (§4.5 #5).
"""

from __future__ import annotations

from datetime import datetime, UTC
from functools import lru_cache
from typing import Any

from orbsonic import ids

# Ids and dates are formatted thousands of times per page (a 500-song page has ~4,000 ids:
# song, folder, album, artists, cover), and album, artist, folder ids and scan times repeat
# across rows: cached, the base-36 and strftime work drops from ~30 % of a search3 page's
# server time to a few % (py-spy, bench/RESULTS.md).
public_id = lru_cache(maxsize=1 << 16)(ids.public_id)
cover_id = lru_cache(maxsize=1 << 14)(ids.cover_id)


@lru_cache(maxsize=1 << 14)
def _iso(dt: datetime) -> str:
    dt = dt.astimezone(UTC)
    return (f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:{dt.second:02d}."
            f"{dt.microsecond // 1000:03d}Z")


def iso(dt: datetime | None) -> str | None:
    """xs:dateTime in UTC with milliseconds: 2024-05-01T10:20:30.000Z."""
    return None if dt is None else _iso(dt)


def _put(d: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "":
        d[key] = value


def _item_date(text: str | None) -> dict[str, int]:
    """OpenSubsonic ItemDate from 'YYYY[-MM[-DD]]'; {} when unknown."""
    out: dict[str, int] = {}
    if text:
        for key, part in zip(("year", "month", "day"), text.split("-")):
            if part.isascii() and part.isdigit() and len(part) <= 4:
                out[key] = int(part)
    return out


def _links(links: list[list[Any]] | None, role: str) -> list[dict[str, str]]:
    return [{"id": public_id("ar", a), "name": n} for r, a, n in (links or ()) if r == role]


def _annotations(d: dict[str, Any], row: dict[str, Any], os: bool) -> None:
    _put(d, "starred", iso(row.get("starred_at")))
    if row.get("rating"):
        d["userRating"] = row["rating"]
    if os and row.get("last_played") is not None:
        d["played"] = iso(row["last_played"])


def album_cover(album_id: int | None, kind: int | None, mtime: int | None) -> str | None:
    """coverArt id of an album, or None when it has no cover."""
    if not album_id or not kind:
        return None
    return cover_id("al", album_id, mtime)


def song(row: dict[str, Any], os: bool = True) -> dict[str, Any]:
    """A Child for a track row (orbsonic.library.tracks.hydrate).

    Written out flat (no helper per field, one pass over the artist links, the keys in one
    fixed order): a getPlaylist of 5,000 entries shapes 5,000 of these, and the per-field
    calls were most of its time (bench/songlists.py measures it). `_put`'s rule
    stands: optional strings are left out when None or empty, optional numbers when None.
    """
    rid = row["id"]
    d: dict[str, Any] = {
        "id": public_id("tr", rid),
        "parent": public_id("dr", row["directory_id"]),
        "isDir": False,
        "title": row["title"] or "",
    }
    v = row["album_name"]
    if v:
        d["album"] = v
    v = row["artist_name"]
    if v:
        d["artist"] = v
    v = row["track_no"]
    if v is not None:
        d["track"] = v
    v = row["year"]
    if v is not None:
        d["year"] = v
    v = row["genre"]
    if v:
        d["genre"] = v
    # A track whose embedded picture differs from its album's cover keeps its own (issue 8).
    if row.get("own_cover"):
        d["coverArt"] = cover_id("tr", rid, row["mtime_ns"] // 1_000_000_000)
    elif row["album_id"] and row["album_cover_kind"]:
        d["coverArt"] = cover_id("al", row["album_id"], row["album_cover_mtime"])
    d["size"] = row["size"]
    d["contentType"] = row["content_type"]
    d["suffix"] = row["suffix"]
    d["duration"] = round(row["duration_ms"] / 1000)
    v = row["bitrate"]
    if v is not None:
        d["bitRate"] = v
    d["path"] = row["path"]
    d["isVideo"] = False
    d["playCount"] = row["play_count"]
    v = row["disc_no"]
    if v is not None:
        d["discNumber"] = v
    d["created"] = iso(row["created_at"])
    d["albumId"] = public_id("al", row["album_id"])
    if row["artist_id"]:
        d["artistId"] = public_id("ar", row["artist_id"])
    d["type"] = "music"
    v = row.get("starred_at")
    if v is not None:
        d["starred"] = _iso(v)
    v = row.get("rating")
    if v:
        d["userRating"] = v
    if not os:
        return d
    v = row.get("last_played")
    if v is not None:
        d["played"] = _iso(v)
    artists: list[dict[str, str]] = []
    album_artists: list[dict[str, str]] = []
    composers: list[dict[str, Any]] = []
    for role, artist_id, name in row["artist_links"] or ():
        if role == "artist":
            artists.append({"id": public_id("ar", artist_id), "name": name})
        elif role == "albumartist":
            album_artists.append({"id": public_id("ar", artist_id), "name": name})
        elif role == "composer":
            composers.append({"role": "composer", "artist": {"id": public_id("ar", artist_id), "name": name}})
    d["bpm"] = row["bpm"] or 0
    d["comment"] = row["comment"] or ""
    d["sortName"] = row["sort_title"] or ""
    d["musicBrainzId"] = row["mbid_recording"] or ""
    d["isrc"] = _str_list(row["isrc"])
    genres = row["genre_names"]
    d["genres"] = [{"name": g} for g in genres] if genres else []
    d["artists"] = artists
    d["displayArtist"] = row["artist_name"] or ""
    d["albumArtists"] = album_artists
    d["displayAlbumArtist"] = row["album_artist_name"] or ""
    d["contributors"] = composers
    d["displayComposer"] = row["composer_name"] or ""
    d["moods"] = _str_list(row["moods"])
    gain: dict[str, float] = {}  # replay_gain(row), inline
    if (v := row.get("rg_track_gain")) is not None:
        gain["trackGain"] = round(float(v), 6)
    if (v := row.get("rg_album_gain")) is not None:
        gain["albumGain"] = round(float(v), 6)
    if (v := row.get("rg_track_peak")) is not None:
        gain["trackPeak"] = round(float(v), 6)
    if (v := row.get("rg_album_peak")) is not None:
        gain["albumPeak"] = round(float(v), 6)
    d["replayGain"] = gain
    d["explicitStatus"] = row["explicit_status"] or ""
    v = row["bit_depth"]
    if v is not None:
        d["bitDepth"] = v
    v = row["sample_rate"]
    if v is not None:
        d["samplingRate"] = v
    v = row["channels"]
    if v is not None:
        d["channelCount"] = v
    d["mediaType"] = "song"
    d["groupings"] = _str_list(row["groupings"])
    return d


def _str_list(value: Any) -> list[Any]:
    """A text[] column as a fresh list ([] for NULL)."""
    return value.copy() if type(value) is list else list(value or ())


_GAINS = (("trackGain", "rg_track_gain"), ("albumGain", "rg_album_gain"),
          ("trackPeak", "rg_track_peak"), ("albumPeak", "rg_album_peak"))


def replay_gain(row: dict[str, Any]) -> dict[str, float]:
    """OpenSubsonic ReplayGain: gains in dB and peaks; absent values left out, {} if none."""
    get = row.get
    return {key: round(float(v), 6) for key, col in _GAINS if (v := get(col)) is not None}


def album_id3(row: dict[str, Any], os: bool = True) -> dict[str, Any]:
    """An AlbumID3 for an album row (orbsonic.library.albums.hydrate)."""
    d: dict[str, Any] = {"id": public_id("al", row["id"]), "name": row["name"] or ""}
    _put(d, "artist", row["artist_name"])
    if row["artist_id"]:
        d["artistId"] = public_id("ar", row["artist_id"])
    _put(d, "coverArt", album_cover(row["id"], row["cover_kind"], row["cover_mtime"]))
    d["songCount"] = row["song_count"]
    d["duration"] = round(row["duration_ms"] / 1000)
    d["playCount"] = row["play_count"]
    d["created"] = iso(row["created_at"])
    _put(d, "year", row["year"])
    _put(d, "genre", row["genre"])
    _annotations(d, row, os)
    if os:
        d["recordLabels"] = [{"name": n} for n in row["record_labels"] or ()]
        d["musicBrainzId"] = row["mbid"] or ""
        d["genres"] = [{"name": g} for g in row["genre_names"] or ()]
        d["artists"] = [{"id": public_id("ar", a), "name": n} for a, n in row["artist_links"] or ()]
        d["displayArtist"] = row["artist_name"] or ""
        d["releaseTypes"] = list(row["release_types"] or ())
        d["moods"] = list(row.get("moods") or ())
        d["sortName"] = row["sort_name"] or ""
        d["originalReleaseDate"] = _item_date(row["original_date"])
        d["releaseDate"] = _item_date(row["release_date"])
        d["isCompilation"] = bool(row["compilation"])
        d["explicitStatus"] = row["explicit_status"] or ""
        d["discTitles"] = [{"disc": disc, "title": title} for disc, title in row["disc_titles"] or ()]
        _put(d, "version", row["version"])
    return d


def album_child(row: dict[str, Any], os: bool = True) -> dict[str, Any]:
    """An album as a directory Child (getAlbumList, search2, getStarred): isDir=true and an
    id that getMusicDirectory accepts (§4.5 #12)."""
    d: dict[str, Any] = {"id": public_id("al", row["id"]), "isDir": True, "title": row["name"] or ""}
    if row["artist_id"]:
        d["parent"] = public_id("ar", row["artist_id"])
    _put(d, "album", row["name"])
    _put(d, "artist", row["artist_name"])
    _put(d, "year", row["year"])
    _put(d, "genre", row["genre"])
    _put(d, "coverArt", album_cover(row["id"], row["cover_kind"], row["cover_mtime"]))
    d["duration"] = round(row["duration_ms"] / 1000)
    d["playCount"] = row["play_count"]
    d["created"] = iso(row["created_at"])
    d["albumId"] = public_id("al", row["id"])
    if row["artist_id"]:
        d["artistId"] = public_id("ar", row["artist_id"])
    _annotations(d, row, os)
    if os:
        d["mediaType"] = "album"
        d["sortName"] = row["sort_name"] or ""
        d["musicBrainzId"] = row["mbid"] or ""
        d["genres"] = [{"name": g} for g in row["genre_names"] or ()]
    return d


def artist_id3(row: dict[str, Any], os: bool = True) -> dict[str, Any]:
    """An ArtistID3 (getArtists, getArtist, search3, getStarred2). albumCount always
    present: the XSD requires it (spec §9 item 5)."""
    d: dict[str, Any] = {"id": public_id("ar", row["id"]), "name": row["name"] or ""}
    _put(d, "coverArt", album_cover(row["cover_album_id"], row["cover_kind"], row["cover_mtime"]))
    d["albumCount"] = row["album_count"]
    _put(d, "starred", iso(row.get("starred_at")))
    if os:
        d["musicBrainzId"] = row["mbid"] or ""
        d["sortName"] = row["sort_name"] or ""
        d["roles"] = list(row["roles"] or ())
        if row.get("rating"):
            d["userRating"] = row["rating"]
    return d


def artist_legacy(row: dict[str, Any], kind: str = "ar") -> dict[str, Any]:
    """A legacy Artist: id, name, starred, userRating. An artist (search2, getStarred), or
    with kind "dr" a top-level folder (getIndexes)."""
    d: dict[str, Any] = {"id": public_id(kind, row["id"]), "name": row["name"] or ""}
    _put(d, "starred", iso(row.get("starred_at")))
    if row.get("rating"):
        d["userRating"] = row["rating"]
    return d


def directory_child(row: dict[str, Any], parent_name: str | None = None, os: bool = True) -> dict[str, Any]:
    """A sub-folder as a Child of getMusicDirectory (isDir=true, id dr-…)."""
    d: dict[str, Any] = {"id": public_id("dr", row["id"]), "isDir": True, "title": row["name"] or ""}
    if row["parent_id"]:
        d["parent"] = public_id("dr", row["parent_id"])
    _put(d, "album", row["name"])
    _put(d, "artist", parent_name)
    if row["cover_kind"]:
        d["coverArt"] = cover_id("dr", row["id"], row["cover_mtime"])
    d["playCount"] = row["play_count"]
    d["created"] = iso(row["created_at"])
    _annotations(d, row, os)
    if os:
        d["mediaType"] = "album"
    return d


def artists_albums_songs(artist_rows: list[dict[str, Any]], album_rows: list[dict[str, Any]],
                         song_rows: list[dict[str, Any]], *, id3: bool, os: bool = True,
                         songs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The {artist, album, song} lists of search2/search3 and getStarred/getStarred2: ID3
    shapes (ArtistID3, AlbumID3) with id3=True, else the folder-based Artist and album Child.
    `songs`: the song rows already shaped (subsonic_api.song_cache.songs_of_rows)."""
    return {
        "artist": [artist_id3(r, os) if id3 else artist_legacy(r) for r in artist_rows],
        "album": [album_id3(r, os) if id3 else album_child(r, os) for r in album_rows],
        "song": songs if songs is not None else [song(r, os) for r in song_rows],
    }


def playlist(row: Any, *, writable: bool, os: bool = True) -> dict[str, Any]:
    """A Playlist for an orbsonic.library.playlists.PlaylistRow. `public`, `owner`,
    `songCount`, `duration`, `created`, `changed` are always present (DSub needs them,
    client-compat §4.5 #8); `readonly` (OpenSubsonic) is for the current user. The cover is
    the mosaic of the first albums (`pl-…` cover id, versioned by `changed`)."""
    d: dict[str, Any] = {
        "allowedUser": list(row.allowed_users),  # first: the XSD sequence puts it before `entry`
        "id": public_id("pl", row.id),
        "name": row.name,
        "comment": row.comment,
        "owner": row.owner,
        "public": row.public,
        "songCount": row.song_count,
        "duration": round(row.duration_ms / 1000),
        "created": iso(row.created_at),
        "changed": iso(row.changed_at),
    }
    if row.song_count:
        d["coverArt"] = cover_id("pl", row.id, int(row.changed_at.timestamp()))
    if os:
        d["readonly"] = not writable
    return d


def play_queue(queue: Any, username: str, songs: list[dict[str, Any]], *, by_index: bool,
               os: bool = True) -> dict[str, Any]:
    """A PlayQueue (`current` a song id string, OpenSubsonic erratum) or, with by_index, a
    PlayQueueByIndex (`currentIndex`) for an orbsonic.library.queue.PlayQueue; `songs` are
    its entries hydrated in order. position in ms."""
    d: dict[str, Any] = {}
    if queue.current_index is not None:
        if by_index:
            d["currentIndex"] = queue.current_index
        else:
            d["current"] = public_id("tr", queue.track_ids[queue.current_index])
        d["position"] = queue.position_ms
    d.update(username=username, changed=iso(queue.changed_at), changedBy=queue.changed_by,
             entry=[song(r, os) for r in songs])
    return d


def bookmark(row: Any, username: str, track: dict[str, Any], os: bool = True) -> dict[str, Any]:
    """A Bookmark (position in ms) for an orbsonic.library.bookmarks.BookmarkRow and its track row."""
    return {"position": row.position_ms, "username": username, "comment": row.comment,
            "created": iso(row.created_at), "changed": iso(row.changed_at), "entry": song(track, os)}
