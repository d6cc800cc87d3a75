"""Native library shapes (docs/native-api.md "Library"): Track, AlbumSummary/AlbumDetail,
ArtistSummary/ArtistDetail, and one builder per shape from the hydrated library rows
(orbsonic.library.tracks/albums/artists.hydrate).

Other route modules (playlists, queue, sync …) import `Track` and `track()` from here: keep
the field names stable. Times are RFC 3339 UTC, durations milliseconds, sizes bytes, rates Hz,
`bitRate` kbps; ids are the Subsonic public ids (orbsonic/ids.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from orbsonic.ids import cover_id, public_id
from orbsonic.scanner.tags import LOSSLESS_CODECS

API = "/api/v1"
# Codecs no browser's <audio> decodes: the client asks /stream/{id}?as=flac (issue 9 Streaming).
NOT_BROWSER_PLAYABLE = frozenset({"alac", "ape", "wavpack"})


class ReplayGain(BaseModel):
    """ReplayGain (or R128 converted to it) in dB, peaks linear; absent values null."""

    trackGain: float | None
    trackPeak: float | None
    albumGain: float | None
    albumPeak: float | None


class Track(BaseModel):
    """A track with its audio properties and the caller's annotations.

    `container` is the file suffix ("flac", "m4a"); `seekIndexUrl` is set for FLAC only;
    `browserPlayable` is false for ALAC/APE/WavPack (stream them with `?as=flac`)."""

    id: str
    title: str
    artist: str
    artistId: str | None
    album: str
    albumId: str
    albumArtist: str
    trackNumber: int | None
    discNumber: int | None
    year: int | None
    genres: list[str]
    durationMs: int
    codec: str
    container: str
    contentType: str
    bitDepth: int | None
    sampleRate: int | None
    channels: int | None
    totalSamples: int | None
    bitRate: int | None
    size: int
    replayGain: ReplayGain | None
    coverArt: str | None
    starred: datetime | None
    rating: int
    playCount: int
    streamUrl: str
    seekIndexUrl: str | None
    waveformUrl: str
    lossless: bool
    browserPlayable: bool


class AlbumSummary(BaseModel):
    """An album in lists; `added` is when its first track was scanned."""

    id: str
    name: str
    artist: str
    artistId: str | None
    year: int | None
    genres: list[str]
    trackCount: int
    durationMs: int
    coverArt: str | None
    added: datetime
    starred: datetime | None
    rating: int
    playCount: int


class Disc(BaseModel):
    """One disc of an album: `subtitle` from DISCSUBTITLE, else null."""

    disc: int
    subtitle: str | None
    tracks: list[Track]


class AlbumDetail(AlbumSummary):
    """An album with its tracks grouped by disc (disc, track, title order)."""

    discs: list[Disc]


class ArtistSummary(BaseModel):
    """An (album) artist in lists."""

    id: str
    name: str
    albumCount: int
    trackCount: int
    coverArt: str | None
    starred: datetime | None


class ArtistDetail(ArtistSummary):
    """An artist with its albums (oldest first, as getArtist)."""

    albums: list[AlbumSummary]


class SearchResult(BaseModel):
    """GET /search: the best matches of each kind, prefix matches first."""

    artists: list[ArtistSummary]
    albums: list[AlbumSummary]
    tracks: list[Track]


class LyricsLine(BaseModel):
    """One line; `startMs` null for unsynced lyrics."""

    startMs: int | None
    text: str


class Lyrics(BaseModel):
    """One set of lyrics of a track (embedded tag, LRC or text sidecar). `offsetMs` is always 0:
    the LRC `[offset:]` is already applied to the line starts."""

    lang: str
    synced: bool
    offsetMs: int
    lines: list[LyricsLine]


def lyrics(sets: list[Any]) -> list[Lyrics]:
    """Lyrics from orbsonic.library.lyrics.TrackLyrics.sets, in stored order."""
    return [Lyrics(lang=s.lang or "xxx", synced=s.synced, offsetMs=0,
                   lines=[LyricsLine(startMs=None if start is None else int(start), text=str(text))
                          for start, text in s.lines]) for s in sets]


def album_cover(album_id: int | None, kind: int | None, mtime: int | None) -> str | None:
    """The coverArt id of an album (the same id getCoverArt takes), None when it has none."""
    return cover_id("al", album_id, mtime) if album_id and kind else None


def _replay_gain(row: dict[str, Any]) -> ReplayGain | None:
    values = {k: (None if row.get(c) is None else round(float(row[c]), 6))
              for k, c in (("trackGain", "rg_track_gain"), ("trackPeak", "rg_track_peak"),
                           ("albumGain", "rg_album_gain"), ("albumPeak", "rg_album_peak"))}
    return ReplayGain(**values) if any(v is not None for v in values.values()) else None


def track(row: dict[str, Any], total_samples: int | None = None) -> Track:
    """A Track from a tracks.hydrate row; `total_samples` from browse_native.total_samples
    (that column is not hydrated)."""
    tid = public_id("tr", row["id"])
    codec = row["codec"] or row["suffix"]
    return Track(
        id=tid, title=row["title"] or "", artist=row["artist_name"] or "",
        artistId=public_id("ar", row["artist_id"]) if row["artist_id"] else None,
        album=row["album_name"] or "", albumId=public_id("al", row["album_id"]),
        albumArtist=row["album_artist_name"] or "", trackNumber=row["track_no"], discNumber=row["disc_no"],
        year=row["year"], genres=list(row["genre_names"] or ()), durationMs=row["duration_ms"],
        codec=codec, container=row["suffix"], contentType=row["content_type"], bitDepth=row["bit_depth"],
        sampleRate=row["sample_rate"], channels=row["channels"], totalSamples=total_samples,
        bitRate=row["bitrate"], size=row["size"], replayGain=_replay_gain(row),
        coverArt=album_cover(row["album_id"], row["album_cover_kind"], row["album_cover_mtime"]),
        starred=row["starred_at"], rating=row["rating"] or 0, playCount=row["play_count"],
        streamUrl=f"{API}/stream/{tid}",
        seekIndexUrl=f"{API}/tracks/{tid}/seek-index" if codec == "flac" else None,
        waveformUrl=f"{API}/tracks/{tid}/waveform",
        lossless=codec in LOSSLESS_CODECS, browserPlayable=codec not in NOT_BROWSER_PLAYABLE)


def album_summary(row: dict[str, Any]) -> AlbumSummary:
    """An AlbumSummary from an albums.hydrate row."""
    return AlbumSummary(**_album_fields(row))


def _album_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": public_id("al", row["id"]), "name": row["name"] or "", "artist": row["artist_name"] or "",
            "artistId": public_id("ar", row["artist_id"]) if row["artist_id"] else None, "year": row["year"],
            "genres": list(row["genre_names"] or ()), "trackCount": row["song_count"],
            "durationMs": row["duration_ms"],
            "coverArt": album_cover(row["id"], row["cover_kind"], row["cover_mtime"]),
            "added": row["created_at"], "starred": row["starred_at"], "rating": row["rating"] or 0,
            "playCount": row["play_count"]}


def album_detail(row: dict[str, Any], tracks: list[Track]) -> AlbumDetail:
    """An AlbumDetail from an albums.hydrate row and its Tracks in disc, track order; a track
    without a disc number is on disc 1."""
    titles = {int(d): t for d, t in row["disc_titles"] or ()}
    discs: dict[int, list[Track]] = {}
    for t in tracks:
        discs.setdefault(t.discNumber or 1, []).append(t)
    return AlbumDetail(**_album_fields(row), discs=[
        Disc(disc=d, subtitle=titles.get(d) or None, tracks=ts) for d, ts in sorted(discs.items())])


def _artist_fields(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": public_id("ar", row["id"]), "name": row["name"] or "", "albumCount": row["album_count"],
            "trackCount": row["song_count"],
            "coverArt": album_cover(row["cover_album_id"], row["cover_kind"], row["cover_mtime"]),
            "starred": row["starred_at"]}


def artist_summary(row: dict[str, Any]) -> ArtistSummary:
    """An ArtistSummary from an artists.hydrate row."""
    return ArtistSummary(**_artist_fields(row))


def artist_detail(row: dict[str, Any], albums: list[AlbumSummary]) -> ArtistDetail:
    """An ArtistDetail from an artists.hydrate row and its AlbumSummaries."""
    return ArtistDetail(**_artist_fields(row), albums=albums)
