"""Which cover items a set of music folders may see, remembered until the library changes.

getCoverArt's fast path (subsonic_api/endpoints/media.py) serves a cached cover with no
database round trip. A cover id names its item (`al-…`, `tr-…`, `dr-…`, `ar-…`: kind and
internal id, orbsonic.ids.cover_id) but not its music folder, and the cache is shared by
every user, so for a user restricted to some folders "may this folder set see that item"
is a query (orbsonic.library.folders.cover_visible). Its answer changes only when the
library does (an album moving folder, an artist gaining tracks elsewhere, a folder removed),
so it is kept here per (folder set, kind, id) and dropped on every library change: the
NOTIFY orbsonic_answers '*' of schema/0022, sent on commit by every writer to every worker
and replica — the signal that also drops the rendered answers (subsonic_api/answers.py).
Annotation messages ('u:<id>') do not touch it. A lost LISTEN connection keeps nothing
until it is back; an answer computed while an invalidation arrived is not kept
(`generation`). A user whose folders change gets a new folder set, so a new key.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from orbsonic.kv import pgnotify

CHANNEL = "orbsonic_answers"  # schema/0022; subsonic_api.answers.CHANNEL


class CoverAccess:
    """(folder set, kind, item id) → visible, at most `max_entries` (LRU).

    `channel`: the process's orbsonic.kv.pgnotify.PgChannel, or None (a single process that
    is told of changes by `forget` only: tests)."""

    def __init__(self, channel: pgnotify.PgChannel | None, max_entries: int = 50_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[tuple[int, ...], str, int], bool] = OrderedDict()
        self._channel = channel
        self._generation = 0
        self._closed = False
        if channel is not None:
            channel.subscribe(CHANNEL, self._on_message)

    def _on_message(self, message: str) -> None:
        if not message.startswith("u:"):
            self.forget()

    def forget(self) -> None:
        """Drop everything (the library changed)."""
        self._generation += 1
        self._entries.clear()

    def close(self) -> None:
        """Serve no more answers (the LISTEN connection is closed by its owner)."""
        self._closed = True
        self.forget()

    def _fresh(self) -> bool:
        if self._closed:
            return False
        if self._channel is not None and not self._channel.drain():
            self.forget()
            return False
        return True

    @staticmethod
    def _key(folders: Iterable[int], kind: str, item_id: int) -> tuple[tuple[int, ...], str, int]:
        return tuple(sorted(set(folders))), kind, item_id

    def generation(self) -> int:
        """Take before the query whose answer goes to `remember`."""
        self._fresh()
        return self._generation

    def known(self, folders: Iterable[int], kind: str, item_id: int) -> bool | None:
        """True/False when the answer for this folder set is kept, None when it must be
        asked (absent, or invalidations unknown). Never touches the database."""
        if not self._fresh():
            return None
        key = self._key(folders, kind, item_id)
        seen = self._entries.get(key)
        if seen is not None:
            self._entries.move_to_end(key)
        return seen

    def remember(self, folders: Iterable[int], kind: str, item_id: int, visible: bool,
                 generation: int) -> None:
        """Keep a query's answer unless the library changed since `generation` was taken."""
        if not self._fresh() or generation != self._generation:
            return
        key = self._key(folders, kind, item_id)
        self._entries[key] = visible
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
