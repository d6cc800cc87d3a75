"""FileRows: the stream fast path's kept file rows (subsonic_api/endpoints/media.py
`stream_fast`), owned by the answer cache next to its shaped songs (subsonic_api/answers.py)."""

from __future__ import annotations

import sys
from typing import Any


class FileRows:
    """tracks.file_info rows by track id, for `stream`'s fast path: what a stream needs to
    find and judge a file without a pool checkout. Valid exactly as long as the answer
    cache's shaped songs (subsonic_api/song_cache.py): any change of tracks or music_folders,
    from any process, NOTIFYs and empties both; a lost LISTEN connection serves nothing. The
    file itself is opened and stat'ed on every request, so size and ETag are always current.
    Rows are kept as tuples with the repeated strings (folder root, content type, suffix,
    codec) shared: ~300 bytes a track, MAX_ROWS ≈ 6 MB."""

    MAX_ROWS = 20_000  # then it starts over

    def __init__(self, songs: Any) -> None:
        self._songs = songs  # the SongCache whose generation says whether rows are current
        self._keys: tuple[str, ...] = ()
        self._rows: dict[int, tuple[Any, ...]] = {}
        self._generation: int | None = None

    def generation(self) -> int | None:
        """Take before querying a row; None when nothing may be kept or served now."""
        return self._songs.generation()

    def store(self, ident: int, row: dict[str, Any], generation: int | None) -> None:
        """Keep `row` of track `ident`, read after `generation` was taken (dropped when an
        invalidation came in meanwhile)."""
        if generation is None or self._songs.generation() != generation:
            return
        keys = tuple(row)
        if generation != self._generation or len(self._rows) >= self.MAX_ROWS or keys != self._keys:
            self._rows.clear()
            self._generation, self._keys = generation, keys
        self._rows[ident] = tuple(sys.intern(v) if isinstance(v, str) and k != "path" else v
                                  for k, v in row.items())

    def get(self, ident: int) -> dict[str, Any] | None:
        """The kept row of track `ident` when it is still current, else None."""
        generation = self._songs.generation()
        if generation is None or generation != self._generation:
            return None
        values = self._rows.get(ident)
        return None if values is None else dict(zip(self._keys, values))
