"""Rendered answers kept per user and request: the deterministic per-user reads (issue 13).

The artist index, the folder index, album, artist and song pages, searches, the starred
lists, the genres and the play queue are what clients ask for most often (every app start,
every page opened, every pull-to-refresh), and they change only when the library does or when
the user stars, rates, plays or saves something they show (`cacheable`: never random
lists, now-playing, or anything that depends on the clock). So the rendered bytes are kept:

* Key: (method, user id, the user's music folders, every request parameter except the
  credentials `u p t s apiKey`) — so format, `callback`, client flavour (`c`: legacy clients
  get no OpenSubsonic fields), `musicFolderId` and `ifModifiedSince` each have their own entry.
  The user is part of the key because both answers carry per-user fields (`starred`,
  `userRating`; getIndexes' loose songs also `playCount`).
* ETag: a hash of the body, sent with every cached answer; `If-None-Match` with it (or `*`)
  is `304 Not Modified` with no body (RFC 9110 §13.1.2). getIndexes' `ifModifiedSince`
  (spec: an empty index when nothing changed since) is an ordinary parameter of the key.
* What feeds them, and what says it changed (schema/0022, schema/0033): the library tables
  (music folders, directories, artists, albums, tracks, their artist and genre links, genres,
  server_state) → '*'; the user's annotations (stars, ratings, play counts and last plays —
  all per user, no answer shows another user's), the user's play queue (play_queues and its
  entries) and the user's own row (music folders, roles, deletion) → 'u:<id>'. The user's
  folders are also part of the key, and the client profile is (see `_cached`).
* Invalidation: schema/0022's triggers send NOTIFY orbsonic_answers on commit for every
  change of the library tables ('*') and of a user's annotations ('u:<id>'), from any
  writer, to every worker and replica (orbsonic.kv.pgnotify, the credential cache's
  LISTEN connection). `lookup` first drains what has arrived; a store is dropped when an
  invalidation came in while the answer was being built (`generation`). A lost LISTEN
  connection empties the cache and serves no hit until it is back. A write request of a
  user through this process drops that user's entries at once (the dispatcher), without
  waiting for the NOTIFY to come back. The window left: between a commit in another process
  and this one reading its NOTIFY (the listening backend's wake-up), as for credentials.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from orbsonic.kv import pgnotify
from orbsonic.metrics import defs as metrics
from subsonic_api.file_rows import FileRows
from subsonic_api.song_cache import SongCache

CHANNEL = "orbsonic_answers"
CACHED_METHODS = frozenset({
    "getArtists", "getIndexes", "getMusicDirectory", "getArtist", "getAlbum", "getSong", "getGenres",
    "search2", "search3", "getStarred", "getStarred2", "getPlayQueue", "getPlayQueueByIndex",
})
# The album lists are kept too, every type but `random` (a fresh sample on each call, issue
# 7): their orders read the library tables ('*') or the user's own annotations (starred,
# frequent, recent, highest: stars, play counts, last plays and ratings are per user, so
# another user's scrobble never changes this user's list), both invalidated as above.
# They are what a client's home screen asks on every start, from every replica (issue 12).
ALBUM_LISTS = frozenset({"getAlbumList", "getAlbumList2"})
# Not kept: getPlaylists/getPlaylist (smart playlists evaluate rules on the clock, and
# other users' public playlists), random lists, now-playing, info from providers.
# Credentials differ per request (a fresh salt each time) without changing the answer.
_CREDENTIALS = frozenset({"u", "p", "t", "s", "apiKey"})


def cacheable(method: str, list_type: str | None) -> bool:
    """True when `method`'s answer may be kept; `list_type` is the request's `type` parameter
    (the album lists: every type but `random`)."""
    if method in CACHED_METHODS:
        return True
    return method in ALBUM_LISTS and list_type != "random"


@dataclass(frozen=True, slots=True)
class Answer:
    """A rendered answer: `body` bytes, its `media_type` and a strong `etag` ("…")."""

    body: bytes
    media_type: str
    etag: str


def answer_key(method: str, user_id: int, folders: Iterable[int] | None,
               params: Iterable[tuple[str, str]]) -> tuple[object, ...]:
    """The cache key of one request (see the module doc)."""
    rest = tuple(sorted((k, v) for k, v in params if k not in _CREDENTIALS))
    return (method, user_id, None if folders is None else tuple(sorted(folders)), rest)


def etag_of(body: bytes) -> str:
    """A strong ETag for `body` (quoted, 32 hex digits)."""
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def etag_matches(header: str, etag: str) -> bool:
    """True when an If-None-Match header value names `etag` (weak comparison, or `*`)."""
    if not header:
        return False
    for item in header.split(","):
        tag = item.strip()
        if tag == "*" or tag.removeprefix("W/") == etag:
            return True
    return False


# Bytes an entry costs beyond its body (key tuple, Answer, OrderedDict slot): a rough
# constant, so that many tiny answers (a 304-sized getSong) still count.
ENTRY_OVERHEAD = 512


def _cost(answer: Answer) -> int:
    return len(answer.body) + ENTRY_OVERHEAD


class AnswerCache:
    """Rendered answers by `answer_key`, at most `max_bytes` of bodies (LRU), invalidated
    by NOTIFY. An answer larger than a quarter of `max_bytes` is not kept.

    `channel`: an orbsonic.kv.pgnotify.PgChannel (shared with the credential cache), or
    None: a cache that only trusts `forget_user` calls of this process (one-instance tests).
    """

    def __init__(self, channel: pgnotify.PgChannel | None, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0  # the cost of the entries kept (bodies + ENTRY_OVERHEAD each)
        self._entries: OrderedDict[tuple[object, ...], Answer] = OrderedDict()
        # The keys of each user's entries: a write drops one user's answers without a walk
        # over everyone's (a scrobble per song played, from every user, in every process).
        self._by_user: dict[object, set[tuple[object, ...]]] = {}
        self._channel = channel
        self._generation = 0  # library-wide invalidations (and lost listeners) so far
        # Per-user invalidations so far: one user's write does not void the answers other
        # users are building at that moment.
        self._user_generation: dict[object, int] = {}
        self._closed = False
        # Shaped songs for large song lists, emptied by the same invalidations (song_cache.py).
        self.songs = SongCache(self._fresh if channel is not None else None)
        # stream's file rows, valid as long as the shaped songs are (subsonic_api/file_rows.py)
        self.files = FileRows(self.songs)
        if channel is not None:
            channel.subscribe(CHANNEL, self._on_message)

    def close(self) -> None:
        """Close the LISTEN connection; the cache then serves no hit."""
        if self._channel is not None:
            self._channel.close()
            self._closed = True
        self._clear()
        self.songs.invalidate()

    def _clear(self) -> None:
        self._entries.clear()
        self._by_user.clear()
        self.bytes = 0

    def _drop(self, key: tuple[object, ...]) -> None:
        self.bytes -= _cost(self._entries.pop(key))
        keys = self._by_user.get(key[1])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_user[key[1]]

    def _on_message(self, message: str) -> None:
        if message.startswith("u:"):
            try:
                self.forget_user(int(message[2:]))
                return
            except ValueError:
                pass
        self._generation += 1
        self._clear()
        self.songs.invalidate()

    def forget_user(self, user_id: int) -> None:
        """Drop every answer of user `user_id` (their stars, ratings or plays changed)."""
        self._user_generation[user_id] = self._user_generation.get(user_id, 0) + 1
        for key in list(self._by_user.get(user_id, ())):
            self._drop(key)

    def _fresh(self) -> bool:
        if self._channel is None:
            return True
        if self._closed or not self._channel.drain():
            self._clear()
            self.songs.invalidate()
            self._generation += 1
            return False
        return True

    def generation(self, user_id: object = None) -> tuple[int, int]:
        """Take before building an answer of user `user_id`; pass to `store`."""
        self._fresh()
        return self._generation, self._user_generation.get(user_id, 0)

    def lookup(self, key: tuple[object, ...], *, count_miss: bool = True) -> Answer | None:
        """The cached answer for `key`, or None (absent, or invalidations unknown). A miss is
        counted in the metrics unless `count_miss` is false (the dispatcher's pre-checkout
        look, whose miss the ordinary path looks up, and counts, again)."""
        answer = self._entries.get(key) if self._fresh() else None
        if answer is not None:
            self._entries.move_to_end(key)
        if answer is not None or count_miss:
            metrics.cache_lookup("answer", answer is not None)
        return answer

    def store(self, key: tuple[object, ...], answer: Answer, generation: tuple[int, int]) -> None:
        """Keep `answer` (of the user key[1]) unless an invalidation of the library or of
        that user arrived since `generation` was taken."""
        if not self._fresh() or generation != (self._generation, self._user_generation.get(key[1], 0)) \
                or _cost(answer) * 4 > self.max_bytes:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = answer
        self._by_user.setdefault(key[1], set()).add(key)
        self.bytes += _cost(answer)
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
