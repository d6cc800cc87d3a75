"""Playlists: who sees them, their entries, and every write (docs/subsonic-spec.md §3 Playlists).

A user sees their own playlists, public ones and those shared with them (playlist_users);
admins see every playlist. Only the owner or an admin writes (NotAuthorized otherwise); a
playlist the user cannot see is NotFound, as an unknown id is.

Entries are (position, track id) rows; positions are sparse (GAP apart) so that a later
insert or move between two entries writes one row. Duplicates are separate rows and order
is the position order. `songCount` and `duration` are computed from the entries the
reader may see (tracks still in the library, in the reader's music folders), so they are
exact by construction. Every multi-row write runs in one transaction, after locking the
playlist row, and checks all of its input before writing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from orbsonic.auth.users import User
from orbsonic.errors import BadParam, Conflict, IndexOutOfRange, NotAuthorized, NotFound
from orbsonic.ids import public_id
from orbsonic.library import pages, shares, smart, tracks

GAP = 1024  # distance between neighbouring positions written here
MAX_NAME = 1000  # characters, name and comment


@dataclass(frozen=True, slots=True)
class PlaylistRow:
    """A playlist as one reader sees it. duration_ms and song_count count only the entries
    that reader may read; `allowed_users` are the usernames it is shared with."""

    id: int
    owner_id: int
    owner: str
    name: str
    comment: str
    public: bool
    created_at: datetime
    changed_at: datetime
    song_count: int
    duration_ms: int
    allowed_users: list[str]
    rules: Any = None  # a smart playlist's rules (playlists.rules JSON), None for a plain one

    @property
    def smart(self) -> bool:
        """Entries computed from rules (orbsonic.library.smart), read-only as entries."""
        return self.rules is not None


SMART_READ_ONLY = "is a smart playlist: its entries follow its rules (edit the rules instead)"


def folders_of(user: User) -> list[int] | None:
    """The music folders a user may read (None: all), as the SQL filters take them."""
    return None if user.folder_ids is None else list(user.folder_ids)


# A track the reader may read: still in the library and in the reader's folders.
READABLE = "(%(folders)s::integer[] IS NULL OR t.folder_id = ANY(%(folders)s::integer[]))"
_VISIBLE = """(%(admin)s OR p.owner_id = %(me)s OR p.public
               OR EXISTS (SELECT 1 FROM playlist_users pu
                           WHERE pu.playlist_id = p.id AND pu.user_id = %(me)s))"""
_COLUMNS = """p.id, p.owner_id, u.username AS owner, p.name, p.comment, p.public, p.created_at, p.changed_at,
       p.rules,
       ARRAY(SELECT au.username FROM playlist_users pu JOIN users au ON au.id = pu.user_id
              WHERE pu.playlist_id = p.id ORDER BY au.username) AS allowed_users"""
_SELECT = f"""
SELECT {_COLUMNS}, s.n AS song_count, s.ms AS duration_ms
  FROM playlists p
  JOIN users u ON u.id = p.owner_id
  CROSS JOIN LATERAL (SELECT count(*)::integer AS n, coalesce(sum(t.duration_ms), 0)::bigint AS ms
                        FROM playlist_entries e {tracks.probe("e.track_id")}
                       WHERE e.playlist_id = p.id AND {READABLE}) s
"""
# The same row without the counts (0): for writes, and for getPlaylist, which counts the
# entries it hydrates anyway.
_SELECT_NO_COUNTS = f"""
SELECT {_COLUMNS}, 0 AS song_count, 0::bigint AS duration_ms
  FROM playlists p JOIN users u ON u.id = p.owner_id
"""


def _args(user: User, **extra: object) -> dict[str, object]:
    return {"me": user.id, "admin": user.is_admin, "folders": folders_of(user), **extra}


async def list_visible(conn: AsyncConnection, reader: User, owner: User | None = None) -> list[PlaylistRow]:
    """getPlaylists: every playlist `owner` (default: the reader) may see — own, public,
    shared with them — ordered by name, then id. Counts are the reader's view."""
    who = owner or reader
    args = _args(reader, who=who.id)
    # Admins listing their own playlists get what getPlaylists means for everyone (own, public,
    # shared), not every user's private lists; username=X shows what X sees.
    where = """(p.owner_id = %(who)s OR p.public OR EXISTS (SELECT 1 FROM playlist_users pu
                 WHERE pu.playlist_id = p.id AND pu.user_id = %(who)s))"""
    async with conn.cursor(row_factory=class_row(PlaylistRow)) as cur:
        await cur.execute(_SELECT + f" WHERE {where} ORDER BY lower(p.name), p.id", args)
        rows = await cur.fetchall()
    return [await _smart_counts(conn, reader, r) for r in rows]


async def _smart_counts(conn: AsyncConnection, reader: User, row: PlaylistRow) -> PlaylistRow:
    """A smart playlist's counts are those of its evaluated entries (the stored entries are none)."""
    rules = smart.parse_stored(row.rules)
    if rules is None:
        return row
    n, ms = await smart.totals(conn, rules, row.owner_id, folders_of(reader))
    return replace(row, song_count=n, duration_ms=ms)


async def get(conn: AsyncConnection, reader: User, playlist_id: int, *, counts: bool = True) -> PlaylistRow:
    """One playlist the reader may see (with counts=False, song_count and duration_ms are 0).
    Raises NotFound (unknown, or private to someone else)."""
    select = _SELECT if counts else _SELECT_NO_COUNTS
    async with conn.cursor(row_factory=class_row(PlaylistRow)) as cur:
        await cur.execute(select + f" WHERE p.id = %(id)s AND {_VISIBLE}", _args(reader, id=playlist_id))
        row = await cur.fetchone()
    if row is None:
        raise NotFound("playlist", public_id("pl", playlist_id))
    return await _smart_counts(conn, reader, row) if counts else row


def may_edit(user: User, row: PlaylistRow) -> bool:
    """Owner or admin: may rename, describe, publish, delete (and edit a smart playlist's rules)."""
    return user.is_admin or row.owner_id == user.id


def may_write(user: User, row: PlaylistRow) -> bool:
    """Owner or admin, and not a smart playlist: the Subsonic `readonly` flag (a smart
    playlist's entries follow its rules, so Subsonic clients see it read-only)."""
    return may_edit(user, row) and not row.smart


async def require_tracks(conn: AsyncConnection, reader: User, track_ids: Sequence[int]) -> None:
    """Raise NotFound unless every id is a track the reader may read (folder access: a track
    outside the reader's folders is not found, never 'not authorized')."""
    unique = list(dict.fromkeys(track_ids))
    if not unique:
        return
    cur = await conn.execute(
        f"SELECT count(*) FROM tracks t WHERE t.id = ANY(%(ids)s) AND {READABLE}",
        {"ids": unique, "folders": folders_of(reader)},
    )
    row = await cur.fetchone()
    if row is None or row[0] != len(unique):
        raise NotFound("song")


def check_text(name: str, value: str) -> str:
    """Name and comment: at most MAX_NAME characters. Raises BadParam."""
    if len(value) > MAX_NAME:
        raise BadParam(name, f"longer than {MAX_NAME} characters")
    return value


async def _insert_entries(
    conn: AsyncConnection, playlist_id: int, track_ids: Sequence[int], after: int
) -> None:
    if track_ids:
        await conn.execute(
            """INSERT INTO playlist_entries (playlist_id, position, track_id)
               SELECT %s, %s + n * %s, t FROM unnest(%s::bigint[]) WITH ORDINALITY AS x(t, n)""",
            (playlist_id, after, GAP, list(track_ids)),
        )


async def _lock_for_write(conn: AsyncConnection, user: User, playlist_id: int) -> PlaylistRow:
    """Lock the playlist row (concurrent writers queue up) and check the user may write it."""
    await conn.execute("SELECT 1 FROM playlists WHERE id = %s FOR UPDATE", (playlist_id,))
    row = await get(conn, user, playlist_id, counts=False)
    if not may_edit(user, row):
        raise NotAuthorized("only the owner of a playlist or an admin may change it")
    return row


async def create(
    conn: AsyncConnection,
    owner: User,
    name: str,
    track_ids: Sequence[int],
    *,
    public: bool = False,
    comment: str = "",
) -> int:
    """A new playlist of `owner` with these entries in order; returns its id.
    Raises BadParam (empty or long name) or NotFound (a track the owner cannot read)."""
    name = check_text("name", name.strip())
    if not name:
        raise BadParam("name", "must not be empty")
    async with conn.transaction():
        await require_tracks(conn, owner, track_ids)
        cur = await conn.execute(
            "INSERT INTO playlists (owner_id, name, comment, public) VALUES (%s, %s, %s, %s) RETURNING id",
            (owner.id, name, check_text("comment", comment), public),
        )
        row = await cur.fetchone()
        assert row is not None
        await _insert_entries(conn, row[0], track_ids, 0)
    return row[0]


async def replace_entries(
    conn: AsyncConnection, user: User, playlist_id: int, track_ids: Sequence[int], *, name: str | None = None
) -> None:
    """createPlaylist with playlistId: the entries become exactly `track_ids` (and the name
    `name` when given). Entries the user cannot read are replaced too: the new list is what
    the user sent. Raises NotFound, NotAuthorized, BadParam."""
    if name is not None:
        name = check_text("name", name.strip()) or None
    async with conn.transaction():
        if (await _lock_for_write(conn, user, playlist_id)).smart:
            raise NotAuthorized(f"{public_id('pl', playlist_id)} {SMART_READ_ONLY}")
        await require_tracks(conn, user, track_ids)
        await conn.execute("DELETE FROM playlist_entries WHERE playlist_id = %s", (playlist_id,))
        await _insert_entries(conn, playlist_id, track_ids, 0)
        await conn.execute(
            "UPDATE playlists SET name = coalesce(%s, name), changed_at = now() WHERE id = %s",
            (name, playlist_id),
        )


async def update(
    conn: AsyncConnection,
    user: User,
    playlist_id: int,
    *,
    name: str | None = None,
    comment: str | None = None,
    public: bool | None = None,
    add: Sequence[int] = (),
    remove: Sequence[int] = (),
) -> None:
    """updatePlaylist: change name/comment/public, remove the entries at the 0-based indexes
    `remove` (of the list as this user sees it, before the call; repeated indexes count once),
    then append `add` in order. All or nothing. Raises NotFound, NotAuthorized, BadParam,
    IndexOutOfRange."""
    if name is not None:
        name = check_text("name", name.strip())
        if not name:
            raise BadParam("name", "must not be empty")
    if comment is not None:
        comment = check_text("comment", comment)
    async with conn.transaction():
        if (await _lock_for_write(conn, user, playlist_id)).smart:
            # Subsonic clients see smart playlists read-only (readonly=true); a write is refused
            # whole, a rename included: the native API edits them (PATCH /playlists/{id}).
            raise NotAuthorized(f"{public_id('pl', playlist_id)} {SMART_READ_ONLY}")
        await require_tracks(conn, user, add)
        if remove:
            positions = await _visible_positions(conn, user, playlist_id)
            bad = [i for i in remove if not 0 <= i < len(positions)]
            if bad:
                valid = f"0..{len(positions) - 1}" if positions else "none: the playlist is empty"
                raise IndexOutOfRange("songIndexToRemove", f"{bad[0]} is not an entry index (valid: {valid})")
            await conn.execute(
                "DELETE FROM playlist_entries WHERE playlist_id = %s AND position = ANY(%s)",
                (playlist_id, [positions[i] for i in set(remove)]),
            )
        if add:
            cur = await conn.execute(
                "SELECT coalesce(max(position), 0) FROM playlist_entries WHERE playlist_id = %s",
                (playlist_id,),
            )
            last = await cur.fetchone()
            await _insert_entries(conn, playlist_id, add, last[0] if last else 0)
        await conn.execute(
            """UPDATE playlists SET name = coalesce(%s, name), comment = coalesce(%s, comment),
                      public = coalesce(%s, public), changed_at = now() WHERE id = %s""",
            (name, comment, public, playlist_id),
        )


async def delete(conn: AsyncConnection, user: User, playlist_id: int) -> None:
    """Delete a playlist and its entries. Raises NotFound, NotAuthorized."""
    async with conn.transaction():
        await _lock_for_write(conn, user, playlist_id)
        await conn.execute("DELETE FROM playlists WHERE id = %s", (playlist_id,))


async def with_entries(conn: AsyncConnection, reader: User, playlist_id: int) -> tuple[PlaylistRow, list[dict]]:
    """getPlaylist: the playlist and its readable entries as full track rows (tracks.hydrate's
    columns), in order, with song_count and duration_ms counted from them. Entries whose track
    left the library, or is outside the reader's folders, are dropped. Raises NotFound.

    One statement (orbsonic.library.pages): the playlist row and its entries from one
    snapshot, in one round trip. A smart playlist has no stored entries: its rules are
    evaluated and hydrated after (two more statements)."""
    child = f"""SELECT 1 AS {pages.KIND}, e.position AS {pages.ORD}, {tracks.COLUMNS}
                  FROM playlist_entries e {tracks.probe("e.track_id")}{tracks.JOINS}
                 WHERE e.playlist_id = p.id AND {READABLE}
                 ORDER BY e.position"""
    row, songs = await _with_children(conn, reader, playlist_id, child)
    if row.smart:
        ids = await entry_track_ids(conn, reader, row)
        songs = await tracks.hydrate(conn, ids, reader.id, folders_of(reader))
    return replace(row, song_count=len(songs), duration_ms=sum(s["duration_ms"] for s in songs)), songs


async def with_entry_ids(conn: AsyncConnection, reader: User,
                         playlist_id: int) -> tuple[PlaylistRow, list[int], dict[int, tuple[Any, ...]]]:
    """getPlaylist through the song cache, in one statement: the playlist, its entries' track
    ids in order (duplicates kept, NOT filtered: SongCache.entries drops tracks gone or outside
    the reader's folders and counts song_count/duration_ms), and the reader's annotations of
    them by track id (starred_at, rating, play_count, last_played; absent: none). Raises NotFound.

    Probing tracks once per entry was 21 of 22 ms of a 5,000-entry playlist in PostgreSQL at
    100k tracks; the ids come from playlist_entries_pkey, the annotations from one
    annotations_pkey probe per entry (a semi-join hashed all of the reader's annotations:
    a cost growing with their plays, not the list; tests/integration/test_explain.py)."""
    child = f"""SELECT 1 AS {pages.KIND}, 0 AS {pages.ORD},
                       (SELECT array_agg(e.track_id ORDER BY e.position) FROM playlist_entries e
                         WHERE e.playlist_id = p.id) AS track_ids, n.*
                  FROM (SELECT array_agg(a.item_id) AS noted, array_agg(a.starred_at) AS starred_at,
                               array_agg(a.rating) AS rating, array_agg(a.play_count) AS play_count,
                               array_agg(a.last_played) AS last_played
                          FROM playlist_entries e
                         CROSS JOIN LATERAL (SELECT a.* FROM annotations a
                                              WHERE a.user_id = %(user)s AND a.kind = {tracks.KIND_TRACK}
                                                AND a.item_id = e.track_id LIMIT 1) a
                         WHERE e.playlist_id = p.id) n"""
    row, (c,) = await _with_children(conn, reader, playlist_id, child)
    if row.smart:
        ids = await entry_track_ids(conn, reader, row)
        return row, ids, await tracks.annotations_of(conn, ids, reader.id)
    notes = zip(c["noted"] or (), zip(c["starred_at"] or (), c["rating"] or (), c["play_count"] or (),
                                      c["last_played"] or ()))
    return row, list(c["track_ids"] or ()), dict(notes)


async def _with_children(conn: AsyncConnection, reader: User, playlist_id: int,
                         child: str) -> tuple[PlaylistRow, list[dict]]:
    """The visible playlist `playlist_id` and the rows of `child` (a subquery over p.id) in one
    statement (pages.fetch). Raises NotFound."""
    query = f"""SELECT p.*, c.* FROM ({_SELECT_NO_COUNTS} WHERE p.id = %(id)s AND {_VISIBLE}) p
                  LEFT JOIN LATERAL ({child}) c ON true"""
    args = {**_args(reader, id=playlist_id), "user": reader.id}  # %(user)s: tracks.JOINS
    found, (songs,) = await pages.fetch(conn, query, args)
    if found is None:
        raise NotFound("playlist", public_id("pl", playlist_id))
    return PlaylistRow(**found), songs


async def entry_track_ids(conn: AsyncConnection, reader: User, row: PlaylistRow) -> list[int]:
    """The track ids of a playlist's entries in order: the stored entries, or for a smart
    playlist its rules evaluated now (owner's annotations, the reader's folders; see
    orbsonic.library.smart for why at read time). Unreadable ids are not filtered here."""
    rules = smart.parse_stored(row.rules)
    if rules is not None:
        return await smart.evaluate(conn, rules, row.owner_id, folders_of(reader))
    cur = await conn.execute(
        "SELECT track_id FROM playlist_entries WHERE playlist_id = %s ORDER BY position", (row.id,)
    )
    return [r[0] for r in await cur.fetchall()]


# --- Entry edits by position (the native API: docs/native-api.md "Playlists") --------------
# A position is an index (0-based) into the entries as the writer sees them (tracks still in
# the library and in their folders), as Subsonic's songIndexToRemove is. Stored positions
# stay sparse: an insert or a move writes the rows it places, renumbering the playlist only
# when two neighbours have no room left between them.


async def create_smart(conn: AsyncConnection, owner: User, name: str, rules: smart.Rules, *,
                       public: bool = False, comment: str = "") -> int:
    """A new smart playlist of `owner` (no stored entries); returns its id. Raises BadParam."""
    name = check_text("name", name.strip())
    if not name:
        raise BadParam("name", "must not be empty")
    cur = await conn.execute(
        "INSERT INTO playlists (owner_id, name, comment, public, rules) VALUES (%s, %s, %s, %s, %s)"
        " RETURNING id",
        (owner.id, name, check_text("comment", comment), public, Jsonb(rules.model_dump(mode="json"))),
    )
    row = await cur.fetchone()
    assert row is not None
    return row[0]


async def set_rules(conn: AsyncConnection, user: User, playlist_id: int, rules: smart.Rules | None) -> None:
    """Make a playlist smart with `rules` (its stored entries are dropped), or with None a plain
    playlist with no entries (a smart playlist's evaluated entries are not copied). Raises
    NotFound, NotAuthorized."""
    async with conn.transaction():
        await _lock_for_write(conn, user, playlist_id)
        await conn.execute("DELETE FROM playlist_entries WHERE playlist_id = %s", (playlist_id,))
        await conn.execute(
            "UPDATE playlists SET rules = %s, changed_at = now() WHERE id = %s",
            (Jsonb(rules.model_dump(mode="json")) if rules is not None else None, playlist_id),
        )


async def _lock_plain(conn: AsyncConnection, user: User, playlist_id: int) -> list[int]:
    """Lock a playlist for an entry edit; return the stored positions of the entries the user
    sees, in order. Raises NotFound, NotAuthorized, Conflict (a smart playlist)."""
    row = await _lock_for_write(conn, user, playlist_id)
    if row.smart:
        raise Conflict(f"{public_id('pl', playlist_id)} {SMART_READ_ONLY}")
    return await _visible_positions(conn, user, playlist_id)


async def _renumber(conn: AsyncConnection, playlist_id: int) -> None:
    """Every entry GAP apart again, order kept (through negative positions: the primary key
    is checked row by row)."""
    await conn.execute(
        """UPDATE playlist_entries e SET position = -x.n * %(gap)s
             FROM (SELECT position, row_number() OVER (ORDER BY position) AS n FROM playlist_entries
                    WHERE playlist_id = %(id)s) x
            WHERE e.playlist_id = %(id)s AND e.position = x.position""",
        {"id": playlist_id, "gap": GAP},
    )
    await conn.execute("UPDATE playlist_entries SET position = -position WHERE playlist_id = %s",
                       (playlist_id,))


async def _bounds(conn: AsyncConnection, playlist_id: int, visible: list[int],
                  index: int) -> tuple[int, int | None]:
    """Stored positions (low, high) between which a visible index `index` falls: after the
    visible entry before it (or 0) and before the next stored row (None: the end)."""
    low = visible[index - 1] if index > 0 else 0
    if index < len(visible):
        high: int | None = visible[index]
        # Hidden entries (outside the writer's folders) between the two keep their place
        # before the insert point.
        cur = await conn.execute(
            "SELECT max(position) FROM playlist_entries"
            " WHERE playlist_id = %s AND position > %s AND position < %s",
            (playlist_id, low, high))
        r = await cur.fetchone()
        low = r[0] if r and r[0] is not None else low
    else:
        cur = await conn.execute("SELECT max(position) FROM playlist_entries WHERE playlist_id = %s",
                                 (playlist_id,))
        r = await cur.fetchone()
        low, high = (max(low, r[0]) if r and r[0] is not None else low), None
    return low, high


async def _slots(conn: AsyncConnection, user: User, playlist_id: int, index: int, count: int,
                 visible: list[int]) -> tuple[list[int], list[int]]:
    """`count` free stored positions that put new entries at visible `index`, renumbering first
    when there is no room; returns (positions, visible positions after any renumbering)."""
    low, high = await _bounds(conn, playlist_id, visible, index)
    if high is not None and high - low <= count:
        await _renumber(conn, playlist_id)
        visible = await _visible_positions(conn, user, playlist_id)
        low, high = await _bounds(conn, playlist_id, visible, index)
    if high is None:
        return [low + GAP * (n + 1) for n in range(count)], visible
    step = (high - low) // (count + 1)
    return [low + step * (n + 1) for n in range(count)], visible


async def _visible_positions(conn: AsyncConnection, user: User, playlist_id: int) -> list[int]:
    """The stored positions of the entries `user` sees (tracks in their folders), in order."""
    cur = await conn.execute(
        f"""SELECT e.position FROM playlist_entries e {tracks.probe("e.track_id")}
             WHERE e.playlist_id = %(id)s AND {READABLE} ORDER BY e.position""",
        _args(user, id=playlist_id),
    )
    return [r[0] for r in await cur.fetchall()]


def _check_index(name: str, index: int, size: int, *, inclusive: bool = False) -> None:
    top = size if inclusive else size - 1
    if not 0 <= index <= top:
        valid = f"0..{top}" if top >= 0 else "none: the playlist is empty"
        raise IndexOutOfRange(name, f"{index} is not a position (valid: {valid})")


async def insert_entries(conn: AsyncConnection, user: User, playlist_id: int, track_ids: Sequence[int],
                         position: int | None = None) -> None:
    """Insert `track_ids` (duplicates kept) so that the first lands at `position` (0-based;
    None or the entry count: append). Raises NotFound, NotAuthorized, Conflict (smart),
    IndexOutOfRange."""
    async with conn.transaction():
        visible = await _lock_plain(conn, user, playlist_id)
        index = len(visible) if position is None else position
        _check_index("position", index, len(visible), inclusive=True)
        await require_tracks(conn, user, track_ids)
        if track_ids:
            slots, _ = await _slots(conn, user, playlist_id, index, len(track_ids), visible)
            await conn.execute(
                """INSERT INTO playlist_entries (playlist_id, position, track_id)
                   SELECT %s, p, t FROM unnest(%s::bigint[], %s::bigint[]) AS x(p, t)""",
                (playlist_id, slots, list(track_ids)))
        await conn.execute("UPDATE playlists SET changed_at = now() WHERE id = %s", (playlist_id,))


async def remove_entry(conn: AsyncConnection, user: User, playlist_id: int, position: int) -> None:
    """Remove the entry at `position` (0-based). Raises NotFound, NotAuthorized, Conflict,
    IndexOutOfRange."""
    async with conn.transaction():
        visible = await _lock_plain(conn, user, playlist_id)
        _check_index("position", position, len(visible))
        await conn.execute("DELETE FROM playlist_entries WHERE playlist_id = %s AND position = %s",
                           (playlist_id, visible[position]))
        await conn.execute("UPDATE playlists SET changed_at = now() WHERE id = %s", (playlist_id,))


async def move_entry(conn: AsyncConnection, user: User, playlist_id: int, source: int, target: int) -> None:
    """Move the entry at `source` so that it ends at `target` (both 0-based, of the list before
    the move); one row written unless the neighbours need renumbering. Raises NotFound,
    NotAuthorized, Conflict, IndexOutOfRange."""
    async with conn.transaction():
        visible = await _lock_plain(conn, user, playlist_id)
        _check_index("from", source, len(visible))
        _check_index("to", target, len(visible))
        if source != target:
            moved = visible[source]
            cur = await conn.execute(
                "DELETE FROM playlist_entries WHERE playlist_id = %s AND position = %s"
                " RETURNING track_id, source",
                (playlist_id, moved))
            track_id, source_line = (await cur.fetchone()) or (None, None)
            rest = [p for p in visible if p != moved]
            slots, _ = await _slots(conn, user, playlist_id, target, 1, rest)
            await conn.execute(
                "INSERT INTO playlist_entries (playlist_id, position, track_id, source)"
                " VALUES (%s, %s, %s, %s)",
                (playlist_id, slots[0], track_id, source_line))
        await conn.execute("UPDATE playlists SET changed_at = now() WHERE id = %s", (playlist_id,))


async def describe(conn: AsyncConnection, user: User, playlist_id: int, *, name: str | None = None,
                   comment: str | None = None, public: bool | None = None) -> None:
    """Change name, comment, public (None: unchanged) of a plain or smart playlist.
    Raises NotFound, NotAuthorized, BadParam."""
    if name is not None:
        name = check_text("name", name.strip())
        if not name:
            raise BadParam("name", "must not be empty")
    if comment is not None:
        comment = check_text("comment", comment)
    async with conn.transaction():
        await _lock_for_write(conn, user, playlist_id)
        await conn.execute(
            """UPDATE playlists SET name = coalesce(%s, name), comment = coalesce(%s, comment),
                      public = coalesce(%s, public), changed_at = now() WHERE id = %s""",
            (name, comment, public, playlist_id),
        )


# --- Playlists as share entries (createShare id=pl-…; orbsonic.library.shares) -------------
# A user may share their own playlists and public ones (an admin any): never another user's
# private playlist, nor one only shared with them by name (playlist_users), since a public
# link would widen its audience beyond what its owner chose. The check runs again at every
# read, so a public playlist made private later stops playing through another user's share.
# Entries are read when the link is opened: the share follows the playlist's current entries.

_SHAREABLE = "p.id = ANY(%(ids)s) AND (%(admin)s OR p.owner_id = %(me)s OR p.public)"


async def _share_readable(conn: AsyncConnection, ids: Sequence[int], reader: shares.Reader) -> set[int]:
    cur = await conn.execute(f"SELECT p.id FROM playlists p WHERE {_SHAREABLE}",
                             {"ids": list(ids), "admin": reader.is_admin, "me": reader.user_id})
    return {r[0] for r in await cur.fetchall()}


async def _share_expand(conn: AsyncConnection, ids: Sequence[int],
                        reader: shares.Reader) -> dict[int, list[int]]:
    """Each shareable playlist → its entries' track ids in playlist order (a smart playlist's
    rules evaluated now), only tracks in the reader's folders; a duplicate entry stays."""
    folders = None if reader.folders is None else list(reader.folders)
    cur = await conn.execute(f"SELECT p.id, p.owner_id, p.rules FROM playlists p WHERE {_SHAREABLE}",
                             {"ids": list(ids), "admin": reader.is_admin, "me": reader.user_id})
    found = await cur.fetchall()
    out: dict[int, list[int]] = {pid: [] for pid, _, _ in found}
    for pid, owner_id, stored in found:
        rules = smart.parse_stored(stored)
        if rules is not None:
            out[pid] = await smart.evaluate(conn, rules, owner_id, folders)
    plain = [pid for pid, _, stored in found if smart.parse_stored(stored) is None]
    if plain:
        cur = await conn.execute(
            f"""SELECT e.playlist_id, e.track_id FROM playlist_entries e {tracks.probe("e.track_id")}
                 WHERE e.playlist_id = ANY(%(ids)s) AND {READABLE} ORDER BY e.playlist_id, e.position""",
            {"ids": plain, "folders": folders})
        for pid, track_id in await cur.fetchall():
            out[pid].append(track_id)
    return out


async def _share_existing(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
    cur = await conn.execute("SELECT id FROM playlists WHERE id = ANY(%s)", (list(ids),))
    return {r[0] for r in await cur.fetchall()}


shares.register_kind(shares.EntryKind(5, "pl", _share_readable, _share_expand, _share_existing))
