"""Lyrics of tracks, as the scanner stored them (orbsonic/scanner/lyrics.py → track_lyrics).

    found = await for_track(conn, track_id, user.folder_ids)       # getLyricsBySongId
    found = await find(conn, "Björk", "Cocoon", user.folder_ids)   # getLyrics

A track outside the user's music folders is "not found", like a track that does not
exist (its existence is not revealed). Line starts are milliseconds (None when unsynced);
the LRC `[offset:]` is already applied to them, so `offset` is always 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.errors import NotFound


@dataclass(frozen=True, slots=True)
class LyricsSet:
    """One structuredLyrics entry. `lines`: [[start ms or None, text], ...]."""

    position: int
    source: str
    lang: str
    synced: bool
    display_artist: str | None
    display_title: str | None
    lines: list[list[object]]

    @property
    def text(self) -> str:
        """The lines joined with newlines (getLyrics answers plain text)."""
        return "\n".join(str(line[1]) for line in self.lines)


@dataclass(frozen=True, slots=True)
class TrackLyrics:
    """The lyrics sets of one track, in stored order, with its artist and title."""

    track_id: int
    artist: str
    title: str
    sets: list[LyricsSet]


@dataclass(frozen=True, slots=True)
class _Track:
    id: int
    folder_id: int
    artist_name: str
    title: str


async def _sets(conn: AsyncConnection, track_id: int) -> list[LyricsSet]:
    async with conn.cursor(row_factory=class_row(LyricsSet)) as cur:
        await cur.execute(
            """SELECT position, source, lang, synced, display_artist, display_title, lines
                 FROM track_lyrics WHERE track_id = %s ORDER BY position""", (track_id,))
        return await cur.fetchall()


async def for_track(conn: AsyncConnection, track_id: int, folder_ids: Sequence[int] | None) -> TrackLyrics:
    """The lyrics of track `track_id` (sets may be empty). `folder_ids`: the music folders
    the user may read (None = all). Raises NotFound("song") for an unknown track or one
    outside those folders."""
    async with conn.cursor(row_factory=class_row(_Track)) as cur:
        await cur.execute("SELECT id, folder_id, artist_name, title FROM tracks WHERE id = %s", (track_id,))
        track = await cur.fetchone()
    if track is None or (folder_ids is not None and track.folder_id not in folder_ids):
        raise NotFound("song", track_id)
    return TrackLyrics(track.id, track.artist_name, track.title, await _sets(conn, track.id))


async def find(conn: AsyncConnection, artist: str | None, title: str | None,
               folder_ids: Sequence[int] | None) -> TrackLyrics | None:
    """The lyrics of the first track (lowest id) with lyrics whose title is `title` and, when
    given, whose artist (display artist or any linked track artist) is `artist`; compared
    case-insensitively. None when no such track is readable by the user or title is empty."""
    if not title:
        return None
    async with conn.cursor(row_factory=class_row(_Track)) as cur:
        await cur.execute(
            """SELECT t.id, t.folder_id, t.artist_name, t.title
                 FROM tracks t
                WHERE t.id IN (SELECT DISTINCT track_id FROM track_lyrics)
                  AND lower(t.title) = lower(%(title)s)
                  AND (%(folders)s::int[] IS NULL OR t.folder_id = ANY(%(folders)s::int[]))
                  AND (%(artist)s::text IS NULL OR lower(t.artist_name) = lower(%(artist)s)
                       OR EXISTS (SELECT 1 FROM track_artists ta JOIN artists ar ON ar.id = ta.artist_id
                                   WHERE ta.track_id = t.id AND lower(ar.name) = lower(%(artist)s)))
                ORDER BY t.id LIMIT 1""",
            {"title": title, "artist": artist or None,
             "folders": list(folder_ids) if folder_ids is not None else None})
        track = await cur.fetchone()
    if track is None:
        return None
    return TrackLyrics(track.id, track.artist_name, track.title, await _sets(conn, track.id))
