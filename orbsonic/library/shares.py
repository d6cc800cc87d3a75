"""Shares: a public, unguessable link to a list of entries (createShare, getShares,
updateShare, deleteShare; docs/subsonic-spec.md §3 Sharing) and what the link may open.

A share holds entries of registered kinds (ENTRY_KINDS: tracks and albums here; playlists
register themselves with `register_kind` in orbsonic.library.playlists). Each kind says
which of its ids a Reader (a user id, admin flag and folders) may read and how an item
expands to tracks. The share's token (secrets.token_urlsafe, 144 bits) opens exactly the
tracks its entries expand to *now*, read as its owner with the owner's *current* folder
access, and nothing else: a shared playlist follows its current entries. After
`expires_at` it opens nothing (the web surface answers 410); a share whose every item was
deleted since (`gone`: a deleted playlist, say) is 410 too, while one whose items exist
but show nothing to the owner any more (folder access narrowed) stays 200 with an empty list.
Only the owner, or an admin, lists, edits or deletes a share; anyone else gets NotFound
(the share's existence is not revealed).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.errors import BadParam, NotFound

MAX_ENTRIES = 1000
MAX_DESCRIPTION = 2000


@dataclass(frozen=True, slots=True)
class Reader:
    """Who reads share entries: the sharer when creating or opening a share. `folders` are
    the music folders they may read (None: all); `is_admin` may read every playlist."""

    user_id: int
    is_admin: bool
    folders: Sequence[int] | None


Readable = Callable[[AsyncConnection, Sequence[int], Reader], Awaitable[set[int]]]
Expand = Callable[[AsyncConnection, Sequence[int], Reader], Awaitable[dict[int, list[int]]]]
Existing = Callable[[AsyncConnection, Sequence[int]], Awaitable[set[int]]]


@dataclass(frozen=True, slots=True)
class EntryKind:
    """A kind of share entry: `code` stored in share_entries.kind (1 track and 2 album, as in
    annotations; 5 playlists), `prefix` of its public id ("tr", "al", "pl"),
    `readable(conn, ids, reader)` → the ids that exist and that the reader may share,
    `expand(conn, ids, reader)` → id → its track ids in play order (only tracks the reader
    may read; an id the reader may no longer read has no key), `existing(conn, ids)` → the
    ids that still exist, whoever reads them (tells a deleted item from a hidden one)."""

    code: int
    prefix: str
    readable: Readable
    expand: Expand
    existing: Existing


ENTRY_KINDS: dict[str, EntryKind] = {}


def register_kind(kind: EntryKind) -> None:
    """Make a kind of entry shareable (raises ValueError when its prefix or code is taken)."""
    if kind.prefix in ENTRY_KINDS or any(k.code == kind.code for k in ENTRY_KINDS.values()):
        raise ValueError(f"share entry kind {kind.prefix}/{kind.code} registered twice")
    ENTRY_KINDS[kind.prefix] = kind


def _folder_clause(user_folders: Sequence[int] | None, col: str) -> tuple[str, list[Any]]:
    if user_folders is None:
        return "", []
    return f" AND {col} = ANY(%s)", [list(user_folders)]


def _existing_in(table: str) -> Existing:
    async def existing(conn: AsyncConnection, ids: Sequence[int]) -> set[int]:
        # `table` is one of the constants below, never input
        cur = await conn.execute(f"SELECT id FROM {table} WHERE id = ANY(%s)", (list(ids),))
        return {r[0] for r in await cur.fetchall()}
    return existing


async def _tracks_readable(conn: AsyncConnection, ids: Sequence[int], reader: Reader) -> set[int]:
    clause, args = _folder_clause(reader.folders, "folder_id")
    cur = await conn.execute(f"SELECT id FROM tracks WHERE id = ANY(%s){clause}", (list(ids), *args))
    return {r[0] for r in await cur.fetchall()}


async def _tracks_expand(conn: AsyncConnection, ids: Sequence[int], reader: Reader) -> dict[int, list[int]]:
    return {i: [i] for i in await _tracks_readable(conn, ids, reader)}


async def _albums_readable(conn: AsyncConnection, ids: Sequence[int], reader: Reader) -> set[int]:
    clause, args = _folder_clause(reader.folders, "t.folder_id")
    cur = await conn.execute(
        f"""SELECT al.id FROM albums al WHERE al.id = ANY(%s)
              AND EXISTS (SELECT 1 FROM tracks t WHERE t.album_id = al.id{clause})""", (list(ids), *args))
    return {r[0] for r in await cur.fetchall()}


async def _albums_expand(conn: AsyncConnection, ids: Sequence[int], reader: Reader) -> dict[int, list[int]]:
    clause, args = _folder_clause(reader.folders, "t.folder_id")
    cur = await conn.execute(
        f"""SELECT t.album_id, t.id FROM tracks t WHERE t.album_id = ANY(%s){clause}
             ORDER BY t.album_id, t.disc_no, t.track_no, t.sort_title, t.id""", (list(ids), *args))
    out: dict[int, list[int]] = {}
    for album_id, track_id in await cur.fetchall():
        out.setdefault(album_id, []).append(track_id)
    return out


register_kind(EntryKind(1, "tr", _tracks_readable, _tracks_expand, _existing_in("tracks")))
register_kind(EntryKind(2, "al", _albums_readable, _albums_expand, _existing_in("albums")))


@dataclass(frozen=True, slots=True)
class Share:
    """A share row with its owner's name, admin flag and folder access (owner_folders None = all)."""

    id: int
    token: str
    user_id: int
    username: str
    owner_is_admin: bool
    owner_folders: list[int] | None
    description: str
    created_at: datetime
    expires_at: datetime | None
    last_visited: datetime | None
    visit_count: int

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or datetime.now(UTC))

    def owner(self) -> Reader:
        """The sharer, as the entries are read."""
        return Reader(self.user_id, self.owner_is_admin, self.owner_folders)


_SELECT = """SELECT s.id, s.token, s.user_id, u.username, u.is_admin AS owner_is_admin,
                    u.folder_ids AS owner_folders, s.description,
                    s.created_at, s.expires_at, s.last_visited, s.visit_count
               FROM shares s JOIN users u ON u.id = s.user_id"""


def expiry_from_ms(ms: int | None) -> datetime | None:
    """A share expiry from the API's ms since the epoch (values that look like seconds are
    scaled, as scrobble times are); None or 0 = no expiry. Raises BadParam when negative."""
    if ms is None or ms == 0:
        return None
    if ms < 0:
        raise BadParam("expires", "must be a time in ms since 1970, or 0 for none")
    seconds = ms / 1000 if ms > 100_000_000_000 else float(ms)
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise BadParam("expires", "is out of range") from None


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise BadParam("description", f"must be at most {MAX_DESCRIPTION} characters")
    return description


async def create(conn: AsyncConnection, user_id: int, items: Sequence[tuple[str, int]], *,
                 description: str = "", expires_at: datetime | None = None,
                 user_folders: Sequence[int] | None = None, is_admin: bool = False) -> int:
    """Create a share of `items` ((prefix, id) in order; duplicates kept once) and return its
    id. Raises BadParam (no items, too many, unknown kind, expiry in the past) or NotFound
    when an item does not exist, lies outside `user_folders` or is not the user's to share
    (another user's private playlist); nothing is written then."""
    unique = list(dict.fromkeys(items))
    if not unique:
        raise BadParam("id", "nothing to share")
    if len(unique) > MAX_ENTRIES:
        raise BadParam("id", f"at most {MAX_ENTRIES} entries per share")
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise BadParam("expires", "is in the past")
    _check_description(description)
    for prefix in {p for p, _ in unique}:
        kind = ENTRY_KINDS.get(prefix)
        if kind is None:
            raise BadParam("id", f"{prefix}-… items cannot be shared")
        want = [i for p, i in unique if p == prefix]
        missing = set(want) - await kind.readable(conn, want, Reader(user_id, is_admin, user_folders))
        if missing:
            raise NotFound(prefix, min(missing))
    token = secrets.token_urlsafe(18)
    async with conn.transaction():
        cur = await conn.execute(
            """INSERT INTO shares (token, user_id, description, expires_at) VALUES (%s, %s, %s, %s)
               RETURNING id""",
            (token, user_id, description or "", expires_at))
        row = await cur.fetchone()
        assert row is not None
        share_id = int(row[0])
        await conn.execute(
            """INSERT INTO share_entries (share_id, position, kind, item_id)
               SELECT %s, p, k, i FROM unnest(%s::smallint[], %s::bigint[]) WITH ORDINALITY AS u(k, i, p)""",
            (share_id, [ENTRY_KINDS[p].code for p, _ in unique], [i for _, i in unique]))
    return share_id


async def list_for(conn: AsyncConnection, user_id: int, is_admin: bool) -> list[Share]:
    """The shares a user manages: their own, or every share for an admin; by id."""
    async with conn.cursor(row_factory=class_row(Share)) as cur:
        if is_admin:
            await cur.execute(_SELECT + " ORDER BY s.id")
        else:
            await cur.execute(_SELECT + " WHERE s.user_id = %s ORDER BY s.id", (user_id,))
        return await cur.fetchall()


async def get_managed(conn: AsyncConnection, share_id: int, user_id: int, is_admin: bool) -> Share:
    """A share the user may manage (own, or any for an admin); else NotFound."""
    async with conn.cursor(row_factory=class_row(Share)) as cur:
        await cur.execute(_SELECT + " WHERE s.id = %s", (share_id,))
        share = await cur.fetchone()
    if share is None or (share.user_id != user_id and not is_admin):
        raise NotFound("share", share_id)
    return share


_UNSET: Any = object()


async def update(conn: AsyncConnection, share_id: int, user_id: int, is_admin: bool, *,
                 description: str | None = None, expires_at: datetime | None = _UNSET) -> None:
    """Change the description and/or expiry (None removes it) of a managed share."""
    await get_managed(conn, share_id, user_id, is_admin)
    _check_description(description)
    if description is not None:
        await conn.execute("UPDATE shares SET description = %s WHERE id = %s", (description, share_id))
    if expires_at is not _UNSET:
        await conn.execute("UPDATE shares SET expires_at = %s WHERE id = %s", (expires_at, share_id))


async def delete(conn: AsyncConnection, share_id: int, user_id: int, is_admin: bool) -> None:
    """Delete a managed share (its entries go with it)."""
    await get_managed(conn, share_id, user_id, is_admin)
    await conn.execute("DELETE FROM shares WHERE id = %s", (share_id,))


async def by_token(conn: AsyncConnection, token: str) -> Share | None:
    """The share behind a URL token, expired or not (the caller answers 410), or None."""
    if not token or len(token) > 64:
        return None
    async with conn.cursor(row_factory=class_row(Share)) as cur:
        await cur.execute(_SELECT + " WHERE s.token = %s", (token,))
        return await cur.fetchone()


async def _entries(conn: AsyncConnection, share: Share) -> list[tuple[int, int]]:
    cur = await conn.execute("SELECT kind, item_id FROM share_entries WHERE share_id = %s ORDER BY position",
                             (share.id,))
    return [(int(k), int(i)) for k, i in await cur.fetchall()]


def _by_code() -> dict[int, EntryKind]:
    return {k.code: k for k in ENTRY_KINDS.values()}


async def track_ids(conn: AsyncConnection, share: Share,
                    viewer_folders: Sequence[int] | None = _UNSET) -> list[int]:
    """The share's tracks in entry order, entries expanded now (an album → its tracks, a
    playlist → its current entries in playlist order, duplicates kept), each readable by the
    owner with the owner's folder access (and, given `viewer_folders`, the viewer's too). A
    track an earlier entry brought is not repeated by a later one (a song and its album);
    entries that vanished are skipped."""
    entries = await _entries(conn, share)
    owner = share.owner()
    folders = share.owner_folders
    if viewer_folders is not _UNSET and viewer_folders is not None:
        folders = [f for f in viewer_folders if folders is None or f in folders]
    reader = Reader(owner.user_id, owner.is_admin, folders)
    by_code = _by_code()
    expanded: dict[int, dict[int, list[int]]] = {}
    for code in {k for k, _ in entries}:
        kind = by_code.get(code)
        if kind is not None:
            expanded[code] = await kind.expand(conn, [i for k, i in entries if k == code], reader)
    out: list[int] = []
    seen: set[int] = set()
    for code, item in entries:
        got = expanded.get(code, {}).get(item, [])
        out += [t for t in got if t not in seen]
        seen.update(got)
    return out


async def gone(conn: AsyncConnection, share: Share) -> bool:
    """True when every item the share names was deleted since (its playlist deleted, its
    songs removed from the library): the link then opens nothing, ever again (the web
    surface answers 410 Gone). Items that exist but that the owner may no longer read are
    not gone (access can be given back)."""
    entries = await _entries(conn, share)
    by_code = _by_code()
    for code in {k for k, _ in entries}:
        kind = by_code.get(code)
        if kind is not None and await kind.existing(conn, [i for k, i in entries if k == code]):
            return False
    return True


async def visit(conn: AsyncConnection, share_id: int) -> None:
    """Count a visit of the share page (visitCount, lastVisited)."""
    await conn.execute("UPDATE shares SET visit_count = visit_count + 1, last_visited = now() WHERE id = %s",
                       (share_id,))
