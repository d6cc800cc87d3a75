"""Discovery services behind getArtistInfo(2), getAlbumInfo(2), getSimilarSongs(2) and getTopSongs:
each is one call for its handler, composing the local data and the provider cache
(orbsonic/library/artistinfo.py) with the similarity queries (orbsonic/library/similar.py).

On a cache miss (or an expired row) the answer is made of local data (and the stale row, if
any) and the provider fetch is queued as a background job: a request never waits for Last.fm
or MusicBrainz. The next call after the job ran carries the provider's data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from orbsonic.config import Settings
from orbsonic.errors import NotFound
from orbsonic.ids import cover_id
from orbsonic.library import albums, artists, similar
from orbsonic.library.artistinfo import (
    ALBUM_TASK, ARTIST_TASK, cached_album, cached_artist, local_album, local_artist, providers_on,
    queue_refresh)
from orbsonic.library.filters import Folders

SIMILAR_FOR_MIX = 10  # similar artists an instant mix draws from


@dataclass(frozen=True, slots=True)
class ArtistInfo:
    """What getArtistInfo answers: texts ("" when unknown), `image` a cover art id (None: no
    picture), `similar` artist rows (artists.hydrate) and `absent` provider names."""

    biography: str
    mbid: str
    lastfm_url: str
    image: str | None
    similar: list[dict[str, Any]]
    absent: list[str]


@dataclass(frozen=True, slots=True)
class AlbumInfo:
    """What getAlbumInfo answers; `image` the album's cover art id (None: no cover)."""

    notes: str
    mbid: str
    lastfm_url: str
    image: str | None


async def from_directory(conn: AsyncConnection, kind: str, item_id: int, folders: Folders) -> tuple[str, int]:
    """(kind, id) with a directory ("dr") replaced by a song of it: folder-mode clients (DSub,
    and Subsonic's own getArtistInfo/getAlbumInfo/getSimilarSongs, which take "an artist,
    album or song id" from getIndexes/getMusicDirectory) send directory ids. The song is the
    first one in the directory itself, else in its child directories (an artist folder holds
    album folders). Other kinds pass through. NotFound when it holds no song the reader sees."""
    if kind != "dr":
        return kind, item_id
    cur = await conn.execute(
        """SELECT t.id FROM tracks t
            WHERE t.directory_id = %(d)s""" + ("" if folders is None else " AND t.folder_id = ANY(%(f)s)") + """
            ORDER BY t.disc_no, t.track_no, t.sort_title, t.id LIMIT 1""",
        {"d": item_id, "f": None if folders is None else list(folders)})
    row = await cur.fetchone()
    if row is None:
        cur = await conn.execute(
            """SELECT t.id FROM directories c JOIN LATERAL (
                   SELECT t.id FROM tracks t WHERE t.directory_id = c.id"""
            + ("" if folders is None else " AND t.folder_id = ANY(%(f)s)") + """
                    ORDER BY t.disc_no, t.track_no, t.sort_title, t.id LIMIT 1) t ON true
                WHERE c.parent_id = %(d)s ORDER BY c.sort_key, c.id LIMIT 1""",
            {"d": item_id, "f": None if folders is None else list(folders)})
        row = await cur.fetchone()
    if row is None:
        raise NotFound("directory", item_id)
    return "tr", int(row[0])


async def artist_of(conn: AsyncConnection, kind: str, item_id: int, folders: Folders) -> int:
    """The artist an artist ("ar"), album ("al") or song ("tr") id stands for (getArtistInfo
    takes any of the three). NotFound when unknown or outside `folders`."""
    if kind == "ar":
        return item_id
    table = "albums" if kind == "al" else "tracks"
    folder_col = "folder_id"
    cur = await conn.execute(f"SELECT artist_id FROM {table} WHERE id = %s"  # noqa: S608 (constant names)
                             + ("" if folders is None else f" AND {folder_col} = ANY(%s)"),
                             (item_id,) if folders is None else (item_id, list(folders)))
    row = await cur.fetchone()
    if row is None or row[0] is None:
        raise NotFound("artist of", item_id)
    return int(row[0])


async def artist_info(conn: AsyncConnection, settings: Settings, job_app: Any, user_id: int, artist_id: int,
                      folders: Folders, *, count: int, include_absent: bool) -> ArtistInfo:
    """Local data, then the cached provider data, of an artist the reader may see (NotFound
    otherwise); queues a provider fetch when the cache holds nothing fresh."""
    row = await artists.get(conn, artist_id, user_id, folders)
    if row is None:
        raise NotFound("artist", artist_id)
    local = await local_artist(conn, artist_id, row["name"], folders, settings.outside_roots)
    cached = await cached_artist(conn, artist_id)
    if providers_on(settings) and (cached is None or not cached.fresh):
        await queue_refresh(job_app, ARTIST_TASK, artist_id)
    if local is not None and local.image_rel:
        image: str | None = cover_id("ar", artist_id, local.image_mtime)
    elif cached is not None and cached.image_path and cached.image_version:
        image = cover_id("ar", artist_id, cached.image_version)
    elif row["cover_album_id"] and row["cover_kind"]:
        image = cover_id("al", row["cover_album_id"], row["cover_mtime"])
    else:
        image = None
    found = await similar.similar_artists(conn, artist_id, cached.similar if cached else [], count, folders,
                                          include_absent)
    return ArtistInfo(
        biography=(local.notes if local and local.notes else (cached.biography if cached else "")) or "",
        mbid=row["mbid"] or (cached.mbid if cached else "") or "",
        lastfm_url=(cached.lastfm_url if cached else "") or "",
        image=image, similar=await artists.hydrate(conn, found.present, user_id, folders), absent=found.absent)


async def album_info(conn: AsyncConnection, settings: Settings, job_app: Any, user_id: int, kind: str,
                     item_id: int, folders: Folders) -> AlbumInfo:
    """Notes (sidecar, else provider), MusicBrainz id (tags, else provider), Last.fm URL and
    cover of an album, or of a song's album (`kind` "tr"). NotFound outside `folders`."""
    if kind == "tr":
        cur = await conn.execute("SELECT album_id FROM tracks WHERE id = %s"
                                 + ("" if folders is None else " AND folder_id = ANY(%s)"),
                                 (item_id,) if folders is None else (item_id, list(folders)))
        hit = await cur.fetchone()
        if hit is None:
            raise NotFound("song", item_id)
        item_id = hit[0]
    row = await albums.get(conn, item_id, user_id, folders)
    if row is None:
        raise NotFound("album", item_id)
    local = await local_album(conn, item_id, settings.outside_roots)
    cached = await cached_album(conn, item_id)
    if providers_on(settings) and (cached is None or not cached.fresh):
        await queue_refresh(job_app, ALBUM_TASK, item_id)
    image = cover_id("al", item_id, row["cover_mtime"]) if row.get("cover_kind") else None
    return AlbumInfo(notes=(local.notes if local and local.notes else (cached.notes if cached else "")) or "",
                     mbid=row.get("mbid") or (cached.mbid if cached else "") or "",
                     lastfm_url=(cached.lastfm_url if cached else "") or "", image=image)


async def similar_songs(conn: AsyncConnection, user_id: int, kind: str, item_id: int, folders: Folders,
                        count: int) -> list[dict[str, Any]]:
    """An instant mix (track rows) seeded by a song, album or artist; NotFound when the seed is
    unknown or outside `folders`."""
    seed = await similar.seed_of(conn, kind, item_id, folders)
    if seed is None:
        raise NotFound("item", item_id)
    alike: list[int] = []
    if seed.artist_id:
        cached = await cached_artist(conn, seed.artist_id)
        alike = (await similar.similar_artists(conn, seed.artist_id, cached.similar if cached else [],
                                               SIMILAR_FOR_MIX, folders)).present
    from orbsonic.library import tracks

    ids = await similar.instant_mix(conn, seed, alike, count, folders)
    return await tracks.hydrate(conn, ids, user_id, folders)


async def top_songs(conn: AsyncConnection, settings: Settings, job_app: Any, user_id: int, artist_id: int | None,
                    name: str | None, folders: Folders, count: int) -> list[dict[str, Any]]:
    """Top songs (track rows) of the artist `artist_id`, else the one called `name`; an artist
    the library lacks (or the reader may not see) has none (an empty list, as Subsonic answers)."""
    from orbsonic.library import tracks

    ident = artist_id if artist_id is not None else similar.artist_id_of(name or "")
    if await artists.get(conn, ident, user_id, folders) is None:
        if artist_id is not None:
            raise NotFound("artist", artist_id)
        return []
    cached = await cached_artist(conn, ident)
    if providers_on(settings) and (cached is None or not cached.fresh):
        await queue_refresh(job_app, ARTIST_TASK, ident)
    ids = await similar.top_songs(conn, ident, cached.top_tracks if cached else [], count, folders)
    return await tracks.hydrate(conn, ids, user_id, folders)
