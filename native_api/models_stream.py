"""Shapes of the native streaming routes (docs/native-api.md "Streaming")."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class StreamQuery(BaseModel):
    """GET /stream/{track_id}: `as=flac` asks for FLAC when the browser cannot decode the
    original (ALAC, APE, WavPack, WAV …); FLAC, MP3, Opus, Vorbis and AAC go out as they are."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    as_: Literal["flac"] | None = Field(None, alias="as")


class Waveform(BaseModel):
    """Peaks for the seek bar: `peaks` = [min0, max0, min1, max1, …] floats in −1..1, `count`
    (min, max) pairs over the whole track, `durationMs` of the decoded audio."""

    peaks: list[float]
    count: int
    durationMs: int


class WaveformPending(BaseModel):
    """202 while the background job computes the waveform: ask again shortly."""

    status: Literal["pending"] = "pending"


class NewScrobble(BaseModel):
    """POST /scrobbles: `submission` true records a play at `at` (default now; times in the
    future become now), false is a "now playing" notice — Subsonic `scrobble`."""

    model_config = ConfigDict(extra="forbid")
    trackId: str = Field(min_length=1, max_length=100)
    at: datetime | None = None
    submission: bool = True
