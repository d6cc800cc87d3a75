"""TrackInfo → staging rows: the derived keys (album/artist/genre ids, sort and search
text, the move fingerprint) computed once in Python, so the database work is set-based.

Fallbacks follow what users of other servers expect (Navidrome, gonic): a track with no
title is named after its file; no artist → "[Unknown Artist]"; album artist = ALBUMARTIST,
else "Various Artists" for compilations, else the track artists. Files without an album
tag form one album per directory, named after it (the music folder's own name at its
root; "[Unknown Album]" only when there is no name at all): four folders of untagged rips
are four albums, not one "[Unknown Album]" of 226 songs lasting 34 hours.

The move fingerprint (`pid`) is the audio-stream checksum (orbsonic.scanner.audiohash)
when there is one, so a file moved *and* retagged keeps its id; else it is built from the
tags (album artist, album, disc, track, title, length).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson

from orbsonic.ids import fold, key_id
from orbsonic.library.indexing import index_letter, sort_key
from orbsonic.scanner.model import TrackInfo

UNKNOWN_ARTIST = "[Unknown Artist]"
UNKNOWN_ALBUM = "[Unknown Album]"
VARIOUS_ARTISTS = "Various Artists"

# (column, PostgreSQL type) of the tracks staging table, in COPY order. `id` is NULL for
# files not yet in the library; the artist/genre id arrays feed the link tables.
TRACK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "bigint"), ("folder_id", "integer"), ("directory_id", "bigint"), ("path", "text"),
    ("size", "bigint"), ("mtime_ns", "bigint"), ("suffix", "text"), ("content_type", "text"),
    ("codec", "text"), ("bit_depth", "integer"), ("sample_rate", "integer"), ("channels", "integer"),
    ("bitrate", "integer"), ("duration_ms", "bigint"), ("total_samples", "bigint"),
    ("audio_offset", "bigint"), ("seek_index", "bytea"), ("title", "text"), ("sort_title", "text"),
    ("album_id", "bigint"), ("album_name", "text"), ("artist_id", "bigint"), ("artist_name", "text"),
    ("album_artist_name", "text"), ("composer_name", "text"), ("track_no", "integer"),
    ("track_total", "integer"), ("disc_no", "integer"), ("disc_total", "integer"),
    ("disc_subtitle", "text"), ("year", "integer"), ("date", "text"), ("original_date", "text"),
    ("release_date", "text"), ("compilation", "boolean"), ("genre", "text"), ("comment", "text"),
    ("lyrics", "text"), ("bpm", "integer"), ("explicit_status", "text"), ("isrc", "text[]"),
    ("moods", "text[]"), ("groupings", "text[]"), ("rg_track_gain", "real"), ("rg_track_peak", "real"),
    ("rg_album_gain", "real"), ("rg_album_peak", "real"), ("mbid_recording", "text"),
    ("mbid_track", "text"), ("mbid_album", "text"), ("mbid_release_group", "text"),
    ("has_picture", "boolean"), ("pid", "text"), ("search_text", "text"), ("created_at", "timestamptz"),
    ("lyrics_sig", "text"), ("tag_pid", "text"),
    ("artist_ids", "bigint[]"), ("albumartist_ids", "bigint[]"), ("composer_ids", "bigint[]"),
    ("genre_ids", "bigint[]"),
)
# Lyrics sets of the batch's tracks, keyed by (folder_id, path) until the track ids are known.
LYRICS_COLUMNS = (("folder_id", "integer"), ("path", "text"), ("position", "smallint"), ("source", "text"),
                  ("lang", "text"), ("synced", "boolean"), ("display_artist", "text"),
                  ("display_title", "text"), ("lines", "jsonb"))
ARTIST_COLUMNS = (("id", "bigint"), ("name", "text"), ("sort_name", "text"), ("sort_key", "text"),
                  ("index_letter", "text"), ("mbid", "text"), ("search_text", "text"))
ALBUM_COLUMNS = (("id", "bigint"), ("folder_id", "integer"), ("name", "text"), ("sort_name", "text"),
                 ("sort_key", "text"), ("artist_id", "bigint"), ("artist_name", "text"),
                 ("artist_sort_key", "text"), ("compilation", "boolean"), ("mbid", "text"),
                 ("release_types", "text[]"), ("record_labels", "text[]"), ("version", "text"),
                 ("original_date", "text"), ("release_date", "text"), ("original_year", "integer"),
                 ("artist_ids", "bigint[]"), ("search_text", "text"))
GENRE_COLUMNS = (("id", "bigint"), ("name", "text"))


def artist_id(name: str) -> int:
    return key_id("artist", fold(name))


def album_id(info_mbid: str | None, album_artist: str, album: str) -> int:
    """Albums are keyed by their MusicBrainz release id when tagged, else by
    (album artist, album name), accent- and case-insensitively."""
    if info_mbid:
        return key_id("album", "mb", info_mbid.strip().lower())
    return key_id("album", fold(album_artist), fold(album))


def _year(text: str | None) -> int | None:
    if text and len(text) >= 4 and text[:4].isdigit():
        return int(text[:4])
    return None


@dataclass(slots=True)
class Batch:
    """Staging rows of one batch, deduplicated by id for artists, albums and genres."""

    tracks: list[tuple[Any, ...]]
    artists: dict[int, tuple[Any, ...]]
    albums: dict[int, tuple[Any, ...]]
    genres: dict[int, tuple[Any, ...]]
    lyrics: list[tuple[Any, ...]]

    @classmethod
    def empty(cls) -> "Batch":
        return cls([], {}, {}, {}, [])


def add_track(batch: Batch, *, track_id: int | None, folder_id: int, path: str, directory_id: int,
              size: int, mtime_ns: int, info: TrackInfo, dir_name: str = "") -> None:
    """Append one file's rows (track, its artists, album and genres) to `batch`.
    `dir_name`: the name of the file's directory (the album name of untagged files)."""
    p = info.props
    title = info.title or os.path.splitext(os.path.basename(path))[0]
    artists = list(info.artists) or [UNKNOWN_ARTIST]
    artist_display = info.artist_display or " / ".join(artists)
    if info.album_artists:
        album_artists = list(info.album_artists)
    elif info.compilation:
        album_artists = [VARIOUS_ARTISTS]
    else:
        album_artists = artists
    album_artist_display = info.album_artist_display or " / ".join(album_artists)
    if info.album or info.mbid_album:
        album = info.album or UNKNOWN_ALBUM
        al_id = album_id(info.mbid_album, album_artist_display, album)
    else:
        album = dir_name or UNKNOWN_ALBUM
        al_id = key_id("album", "dir", str(directory_id))

    sort_names = {artists[0]: info.sort_artist, album_artists[0]: info.sort_album_artist}
    artist_ids, albumartist_ids, composer_ids = [], [], []
    for names, ids, mbids in ((artists, artist_ids, info.mbid_artists),
                              (album_artists, albumartist_ids, info.mbid_album_artists),
                              (list(info.composers), composer_ids, ())):
        for n, name in enumerate(names):
            aid = artist_id(name)
            ids.append(aid)
            if aid not in batch.artists or sort_names.get(name):
                sort_name = sort_names.get(name) or name
                skey = sort_key(sort_name)
                mbid = mbids[n] if n < len(mbids) and len(mbids) == len(names) else None
                batch.artists[aid] = (aid, name, sort_name, skey, index_letter(skey), mbid, fold(name))
    genre_ids = []
    for g in info.genres:
        gid = key_id("genre", fold(g))
        genre_ids.append(gid)
        batch.genres.setdefault(gid, (gid, g))

    if al_id not in batch.albums:
        sort_album = info.sort_album or album
        aa_sort = sort_key(info.sort_album_artist or album_artist_display)
        batch.albums[al_id] = (
            al_id, folder_id, album, sort_album, sort_key(sort_album), albumartist_ids[0],
            album_artist_display, aa_sort, info.compilation, info.mbid_album,
            list(info.release_types), list(info.record_labels), info.album_version,
            info.original_date, info.release_date, _year(info.original_date), albumartist_ids,
            fold(f"{album} {album_artist_display}"),
        )

    created = datetime.fromtimestamp(min(mtime_ns / 1e9, datetime.now().timestamp()), timezone.utc)
    duration_s = round(p.duration_ms / 1000)
    if info.mbid_recording:
        basis = f"mb|{info.mbid_recording.lower()}|{duration_s}"
    else:
        basis = "|".join((fold(album_artist_display), fold(album), str(info.disc_no or 0),
                          str(info.track_no or 0), fold(title), str(duration_s)))
    tag_pid = hashlib.md5(basis.encode("utf-8")).hexdigest()
    pid = f"a|{info.audio_hash}" if info.audio_hash else tag_pid
    batch.tracks.append((
        track_id, folder_id, directory_id, path, size, mtime_ns, p.suffix, p.content_type, p.codec,
        p.bit_depth, p.sample_rate, p.channels, p.bitrate, p.duration_ms, p.total_samples,
        p.audio_offset, p.seek_index, title, info.sort_title or title, al_id, album,
        artist_ids[0], artist_display, album_artist_display, " / ".join(info.composers),
        info.track_no, info.track_total, info.disc_no, info.disc_total, info.disc_subtitle,
        info.year, info.date, info.original_date, info.release_date, info.compilation,
        info.genres[0] if info.genres else None, info.comment, info.lyrics, info.bpm,
        info.explicit_status, list(info.isrc), list(info.moods), list(info.groupings),
        info.rg_track_gain, info.rg_track_peak, info.rg_album_gain, info.rg_album_peak,
        info.mbid_recording, info.mbid_track, info.mbid_album, info.mbid_release_group,
        info.has_picture, pid, fold(f"{title} {artist_display} {album}"), created, info.lyrics_sig, tag_pid,
        artist_ids, albumartist_ids, composer_ids, genre_ids,
    ))
    seen = set()
    for entry in info.lyrics_entries:
        key = (entry.lang, entry.synced, entry.lines)
        if key in seen:  # the same text embedded and in a sidecar: one set
            continue
        seen.add(key)
        batch.lyrics.append((folder_id, path, len(seen), entry.source, entry.lang, entry.synced,
                             entry.display_artist, entry.display_title,
                             orjson.dumps([list(line) for line in entry.lines]).decode()))
