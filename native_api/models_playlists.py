"""Shapes of the native playlist, smart-playlist, queue and upload routes (docs/native-api.md
"Playlists", "Queue", "Upload").

`Track` here is a local copy of the contract's Track (docs/native-api.md "Library"): the
library helper owns native_api/models_library.py; once merged, import Track from there and
drop this one (same fields, same meaning).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orbsonic.ids import public_id
from orbsonic.library.smart import Rules
from subsonic_api.shapes import album_cover

BROWSER_UNPLAYABLE = frozenset({"alac", "ape", "wavpack", "wv"})
LOSSLESS = frozenset({"flac", "alac", "ape", "wavpack", "wv", "pcm", "wav", "aiff", "tta"})
MAX_IDS = 5000  # track ids in one request


class ReplayGain(BaseModel):
    trackGain: float | None
    trackPeak: float | None
    albumGain: float | None
    albumPeak: float | None


class Track(BaseModel):
    """A track (contract "Library": durations ms, sizes bytes, rates Hz, bitRate kbps)."""

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


def track_of(row: dict[str, Any]) -> Track:
    """A Track for a row of orbsonic.library.tracks.hydrate."""
    tid = public_id("tr", row["id"])
    codec = (row["codec"] or row["suffix"] or "").lower()
    gains = (row["rg_track_gain"], row["rg_track_peak"], row["rg_album_gain"], row["rg_album_peak"])
    return Track(
        id=tid, title=row["title"] or "", artist=row["artist_name"] or "",
        artistId=public_id("ar", row["artist_id"]) if row["artist_id"] else None,
        album=row["album_name"] or "", albumId=public_id("al", row["album_id"]),
        albumArtist=row["album_artist_name"] or "", trackNumber=row["track_no"], discNumber=row["disc_no"],
        year=row["year"], genres=list(row["genre_names"] or ()), durationMs=row["duration_ms"],
        codec=codec, container=row["suffix"], contentType=row["content_type"], bitDepth=row["bit_depth"],
        sampleRate=row["sample_rate"], channels=row["channels"], totalSamples=row.get("total_samples"),
        bitRate=row["bitrate"], size=row["size"],
        replayGain=ReplayGain(trackGain=gains[0], trackPeak=gains[1], albumGain=gains[2], albumPeak=gains[3])
        if any(g is not None for g in gains) else None,
        coverArt=album_cover(row["album_id"], row["album_cover_kind"], row["album_cover_mtime"]),
        starred=row["starred_at"], rating=row["rating"] or 0, playCount=row["play_count"] or 0,
        streamUrl=f"/api/v1/stream/{tid}",
        seekIndexUrl=f"/api/v1/tracks/{tid}/seek-index" if codec == "flac" else None,
        waveformUrl=f"/api/v1/tracks/{tid}/waveform",
        lossless=codec in LOSSLESS or (row["bit_depth"] is not None and codec not in ("mp3", "aac", "opus")),
        browserPlayable=codec not in BROWSER_UNPLAYABLE,
    )


# --- Playlists -------------------------------------------------------------------------------


class Playlist(BaseModel):
    """A playlist as the caller sees it. `readOnly`: the caller may not edit it (not the owner
    or an admin); `smart`: its entries follow `rules`. durationMs in ms."""

    id: str
    name: str
    comment: str
    owner: str
    public: bool
    readOnly: bool
    smart: bool
    trackCount: int
    durationMs: int
    coverArt: str | None
    created: datetime
    changed: datetime


class PlaylistEntry(BaseModel):
    """`position`: the 0-based index used by the entry routes."""

    position: int
    track: Track


class PlaylistDetail(Playlist):
    entries: list[PlaylistEntry]
    rules: Rules | None


TrackIds = list[str]


def _no_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; refused here as invalid input rather than failing the write.
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


class NewPlaylist(BaseModel):
    """POST /playlists: a plain playlist (`trackIds`, duplicates kept) or a smart one (`rules`)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=1000)
    comment: str = Field("", max_length=1000)
    public: bool = False
    trackIds: list[str] = Field(default_factory=list, max_length=MAX_IDS)
    rules: Rules | None = None

    _text = field_validator("name", "comment")(_no_nul)


class PlaylistPatch(BaseModel):
    """PATCH /playlists/{id}: absent fields stay; `rules: null` makes a smart playlist plain (empty)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=1000)
    comment: str | None = Field(None, max_length=1000)
    public: bool | None = None
    rules: Rules | None = None

    _text = field_validator("name", "comment")(_no_nul)


class NewEntries(BaseModel):
    """POST /playlists/{id}/entries: insert at `position` (0-based; absent: append)."""

    model_config = ConfigDict(extra="forbid")
    trackIds: list[str] = Field(min_length=1, max_length=MAX_IDS)
    position: int | None = Field(None, ge=0)


class Move(BaseModel):
    """A move: the entry at `from` ends at `to` (0-based)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: int = Field(alias="from", ge=0)
    to: int = Field(ge=0)


class Preview(BaseModel):
    """POST /smart-playlists/preview: the tracks `rules` match now (at most `limit`)."""

    model_config = ConfigDict(extra="forbid")
    rules: Rules
    limit: int | None = Field(None, ge=1, le=500)


# --- Queue -----------------------------------------------------------------------------------


class QueueEntry(BaseModel):
    index: int
    track: Track


class Queue(BaseModel):
    """The caller's play queue (the rows of Subsonic savePlayQueue); positionMs in ms."""

    entries: list[QueueEntry]
    currentIndex: int | None
    positionMs: int
    changed: datetime
    changedBy: str


class QueueReplace(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trackIds: list[str] = Field(max_length=MAX_IDS)
    currentIndex: int | None = Field(None, ge=0)
    positionMs: int = Field(0, ge=0)


class QueueAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")
    trackIds: list[str] = Field(min_length=1, max_length=MAX_IDS)


class QueueCurrent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int = Field(ge=0)
    positionMs: int = Field(0, ge=0)
