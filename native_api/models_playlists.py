"""Shapes of the native playlist, smart-playlist, queue and upload routes (docs/native-api.md
"Playlists", "Queue", "Upload").

Entries carry the contract's `Track` (docs/native-api.md "Library"), native_api/models_library.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from native_api.models_library import Track, track
from orbsonic.library.smart import Rules

MAX_IDS = 5000  # track ids in one request


def track_of(row: dict[str, Any]) -> Track:
    """A Track (native_api/models_library.py) for a row of orbsonic.library.tracks.hydrate."""
    return track(row)


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
