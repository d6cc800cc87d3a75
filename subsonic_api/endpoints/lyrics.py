"""Lyrics: getLyrics (artist, title) and getLyricsBySongId (OpenSubsonic songLyrics v1),
docs/subsonic-spec.md §3 Media retrieval and §5.4 lyricsList. Both answer from the lyrics
the scanner stored (orbsonic.library.lyrics)."""

from __future__ import annotations

from typing import Any

from orbsonic.library import lyrics
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload


def _structured(found: lyrics.TrackLyrics, s: lyrics.LyricsSet) -> dict[str, Any]:
    """One structuredLyrics: `start` only on synced lines (ms); `offset` is 0 because the
    LRC offset is already applied to the starts."""
    lines: list[dict[str, Any]] = []
    for start, text in s.lines:
        line: dict[str, Any] = {"value": text}
        if s.synced and start is not None:
            line["start"] = start
        lines.append(line)
    return {"displayArtist": s.display_artist or found.artist, "displayTitle": s.display_title or found.title,
            "lang": s.lang, "offset": 0, "synced": s.synced, "line": lines}


@endpoint("getLyricsBySongId")
async def get_lyrics_by_song_id(ctx: Ctx) -> Payload:
    """Every set of lyrics of the song, in stored order (embedded first, then sidecars);
    an empty list when it has none. `enhanced` (v2) is not offered: the answer is v1."""
    _, ident = ctx.params.id("id", "tr")
    found = await lyrics.for_track(ctx.conn, ident, ctx.user.folder_ids)
    return Payload("lyricsList", {"structuredLyrics": [_structured(found, s) for s in found.sets]})


@endpoint("getLyrics")
async def get_lyrics(ctx: Ctx) -> Payload:
    """Plain lyrics text of the first song matching `title` (and `artist`): an unsynced set
    when there is one, else a synced one's lines; an empty `lyrics` when none match."""
    artist = ctx.params.str("artist", None)
    title = ctx.params.str("title", None)
    found = await lyrics.find(ctx.conn, artist, title, ctx.user.folder_ids)
    if found is None or not found.sets:
        return Payload("lyrics", {"value": ""})  # OpenSubsonic: `value` is required
    best = next((s for s in found.sets if not s.synced), found.sets[0])
    return Payload("lyrics", {"artist": best.display_artist or found.artist,
                              "title": best.display_title or found.title, "value": best.text})
