"""Playlist cover art (`pl-…` cover ids): a 2×2 mosaic of the covers of the first four
albums of the playlist's entries, in entry order.

The mosaic depends on who asks (only entries the reader may read count), so it is keyed by
the album covers it is made of: `pl-<id>_<digest>` where the digest covers the album cover
ids (with their versions). It is written once into the cover cache (`orig/`), and resized
and pruned like every other cover (orbsonic.covers.CoverCache). With one to three albums
the first album's cover is the playlist's; with none there is no cover.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path

import anyio
from PIL import Image, UnidentifiedImageError
from psycopg import AsyncConnection

from orbsonic.auth.users import User
from orbsonic.covers import CoverCache, CoverSource, find_source
from orbsonic.errors import NotFound
from orbsonic.ids import b36
from orbsonic.library import playlists, tracks

log = logging.getLogger("orbsonic.covers")

TILE = 300  # px; the mosaic is 2 × TILE square
_SCAN_ENTRIES = 500  # entries looked at for four distinct albums with a cover


async def _first_albums(conn: AsyncConnection, reader: User, playlist_id: int,
                        smart_ids: list[int] | None = None) -> list[int]:
    """Up to four distinct album ids with a cover, in the order of their first entry (a smart
    playlist's entries are its evaluated track ids, `smart_ids`)."""
    entries = (f"""SELECT position, track_id FROM playlist_entries WHERE playlist_id = %(id)s
                         ORDER BY position LIMIT {_SCAN_ENTRIES}""" if smart_ids is None else
               "SELECT position, track_id FROM unnest(%(ids)s::bigint[])"
               " WITH ORDINALITY AS x(track_id, position)")
    cur = await conn.execute(
        f"""SELECT album_id FROM (
                SELECT t.album_id, min(e.position) AS first
                  FROM ({entries}) e {tracks.probe("e.track_id")}
                  JOIN albums a ON a.id = t.album_id AND a.cover_kind > 0
                 WHERE {playlists.READABLE}
                 GROUP BY t.album_id) s
             ORDER BY first LIMIT 4""",
        {"id": playlist_id, "folders": playlists.folders_of(reader),
         "ids": (smart_ids or [])[:_SCAN_ENTRIES]},
    )
    return [r[0] for r in await cur.fetchall()]


async def find_playlist_source(
    conn: AsyncConnection, cache: CoverCache, reader: User, playlist_id: int
) -> CoverSource | None:
    """The cover source of a playlist the reader may see, building the mosaic into the cache
    when needed; None when the playlist is not visible or has no album cover."""
    try:
        row = await playlists.get(conn, reader, playlist_id, counts=False)
    except NotFound:
        return None
    smart_ids = await playlists.entry_track_ids(conn, reader, row) if row.smart else None
    sources = [
        s
        for s in [await find_source(conn, "al", a)
                  for a in await _first_albums(conn, reader, playlist_id, smart_ids)]
        if s is not None
    ]
    if not sources:
        return None
    if len(sources) < 4:
        return sources[0]
    digest = hashlib.blake2b("\x1f".join(s.key for s in sources).encode(), digest_size=6).digest()
    key = f"pl-{b36(playlist_id)}_{b36(int.from_bytes(digest, 'big'))}"
    path = cache.lookup(key, None) or await anyio.to_thread.run_sync(_build, cache, sources, key)
    return None if path is None else CoverSource(path, False, key)


def _build(cache: CoverCache, sources: list[CoverSource], key: str) -> Path | None:
    """Compose the mosaic JPEG into the cache; None when a tile cannot be read. Blocking."""
    mosaic = Image.new("RGB", (2 * TILE, 2 * TILE))
    for n, source in enumerate(sources):
        tile_path = cache.lookup(source.key, TILE) or cache.produce(source, source.key, TILE)
        if tile_path is None:
            return None
        try:
            with Image.open(tile_path) as img:
                tile = img.convert("RGB")
                # Centre-crop to a square so that tiles of any aspect fill their quarter.
                side = min(tile.size)
                left, top = (tile.width - side) // 2, (tile.height - side) // 2
                tile = tile.crop((left, top, left + side, top + side)).resize(
                    (TILE, TILE), Image.Resampling.LANCZOS
                )
        except (OSError, UnidentifiedImageError, ValueError) as exc:
            log.warning("cannot use cover %s in a playlist mosaic: %s", source.key, exc)
            return None
        mosaic.paste(tile, ((n % 2) * TILE, (n // 2) * TILE))
    buf = io.BytesIO()
    mosaic.save(buf, "JPEG", quality=88, optimize=True)
    path = cache.root / "orig" / f"{key}.jpg"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
