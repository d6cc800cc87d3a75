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

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.auth.users import User
from orbsonic.errors import BadParam, IndexOutOfRange, NotAuthorized, NotFound
from orbsonic.ids import public_id
from orbsonic.library import tracks

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


def folders_of(user: User) -> list[int] | None:
    """The music folders a user may read (None: all), as the SQL filters take them."""
    return None if user.folder_ids is None else list(user.folder_ids)


# A track the reader may read: still in the library and in the reader's folders.
READABLE = "(%(folders)s::integer[] IS NULL OR t.folder_id = ANY(%(folders)s::integer[]))"
_VISIBLE = """(%(admin)s OR p.owner_id = %(me)s OR p.public
               OR EXISTS (SELECT 1 FROM playlist_users pu
                           WHERE pu.playlist_id = p.id AND pu.user_id = %(me)s))"""
_COLUMNS = """p.id, p.owner_id, u.username AS owner, p.name, p.comment, p.public, p.created_at, p.changed_at,
       ARRAY(SELECT au.username FROM playlist_users pu JOIN users au ON au.id = pu.user_id
              WHERE pu.playlist_id = p.id ORDER BY au.username) AS allowed_users"""
_SELECT = f"""
SELECT {_COLUMNS}, s.n AS song_count, s.ms AS duration_ms
  FROM playlists p
  JOIN users u ON u.id = p.owner_id
  CROSS JOIN LATERAL (SELECT count(*)::integer AS n, coalesce(sum(t.duration_ms), 0)::bigint AS ms
                        FROM playlist_entries e JOIN tracks t ON t.id = e.track_id
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
        return await cur.fetchall()


async def get(conn: AsyncConnection, reader: User, playlist_id: int, *, counts: bool = True) -> PlaylistRow:
    """One playlist the reader may see (with counts=False, song_count and duration_ms are 0).
    Raises NotFound (unknown, or private to someone else)."""
    select = _SELECT if counts else _SELECT_NO_COUNTS
    async with conn.cursor(row_factory=class_row(PlaylistRow)) as cur:
        await cur.execute(select + f" WHERE p.id = %(id)s AND {_VISIBLE}", _args(reader, id=playlist_id))
        row = await cur.fetchone()
    if row is None:
        raise NotFound("playlist", public_id("pl", playlist_id))
    return row


def may_write(user: User, row: PlaylistRow) -> bool:
    """Owner or admin."""
    return user.is_admin or row.owner_id == user.id


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
    if not may_write(user, row):
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
        await _lock_for_write(conn, user, playlist_id)
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
        await _lock_for_write(conn, user, playlist_id)
        await require_tracks(conn, user, add)
        if remove:
            cur = await conn.execute(
                f"""SELECT e.position FROM playlist_entries e JOIN tracks t ON t.id = e.track_id
                     WHERE e.playlist_id = %(id)s AND {READABLE} ORDER BY e.position""",
                _args(user, id=playlist_id),
            )
            positions = [r[0] for r in await cur.fetchall()]
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


async def with_entries(
    conn: AsyncConnection, reader: User, playlist_id: int
) -> tuple[PlaylistRow, list[dict]]:
    """getPlaylist: the playlist and its readable entries as full track rows, in order, with
    song_count and duration_ms counted from them. Ids first, from the primary key index
    alone (it carries track_id), then one hydrating query for all of them; entries whose
    track left the library have no row, those outside the reader's folders are dropped.
    Raises NotFound."""
    row = await get(conn, reader, playlist_id, counts=False)
    cur = await conn.execute(
        "SELECT track_id FROM playlist_entries WHERE playlist_id = %s ORDER BY position", (playlist_id,)
    )
    songs = await tracks.hydrate(conn, [r[0] for r in await cur.fetchall()], reader.id)
    if reader.folder_ids is not None:
        songs = [s for s in songs if reader.may_read_folder(s["folder_id"])]
    return replace(row, song_count=len(songs), duration_ms=sum(s["duration_ms"] for s in songs)), songs
