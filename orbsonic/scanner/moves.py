"""Directory stars follow a renamed directory.

A directory's id is derived from its path (scanner.dir_id), so renaming "Artist/Albm" to
"Artist/Album" gives it a new id, and DSub's folder-mode star (`star id=dr-…`, stored as an
annotation of kind 4) would stay behind on the old one. The tracks inside keep their ids
across the move (writer.write_batch matches them by their audio checksum), and that is the
evidence used here: every moved track pairs its old directory with its new one, and so do
their parents level by level ("A/B/C" → "X/B/C" also pairs "A/B" → "X/B" and "A" → "X").
An old directory that no longer exists passes its stars to the new directory that
received most of its tracks, unless the user already starred that one.

Albums likewise: an album renamed in the tags (or an untagged folder album whose folder was
renamed) gets a new id; when every track left the old one, its stars and ratings go to the
album that received most of them.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from psycopg import Connection

from orbsonic.ids import key_id

ALBUM_KIND = 2
DIRECTORY_KIND = 4


def _dir_id(folder_id: int, path: str) -> int:
    return key_id("dir", str(folder_id), path)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]


def pairs_of(moves: list[tuple[int, str, int, str, int]]) -> dict[tuple[int, str], tuple[int, str]]:
    """(old folder, old file path, new folder, new file path, count) rows → the winning
    new directory (folder, path) of each old directory (folder, path)."""
    votes: dict[tuple[int, str], Counter[tuple[int, str]]] = defaultdict(Counter)
    for old_folder, old_path, new_folder, new_path, count in moves:
        old, new = _parent(old_path), _parent(new_path)
        while old and new and (old_folder, old) != (new_folder, new):
            votes[(old_folder, old)][(new_folder, new)] += count
            old, new = _parent(old), _parent(new)
    return {old: counter.most_common(1)[0][0] for old, counter in votes.items()}


def carry_directory_stars(conn: Connection) -> int:
    """Move kind-4 annotations from vanished directories to their renamed successors
    (see the module doc), from the moves recorded in scan_moves this scan; empties
    scan_moves. Returns the number of annotations moved."""
    rows = conn.execute("""SELECT old_folder, old_path, new_folder, new_path, count(*)::int FROM scan_moves
                            GROUP BY 1, 2, 3, 4""").fetchall()
    conn.execute("TRUNCATE scan_moves")
    if not rows:
        return 0
    mapping = {_dir_id(*old): _dir_id(*new) for old, new in pairs_of(rows).items()}
    if not mapping:
        return 0
    cur = conn.execute(
        """SELECT id FROM directories WHERE id = ANY(%s)""", (list(mapping) + list(mapping.values()),))
    existing = {r[0] for r in cur.fetchall()}
    return _move_annotations(conn, DIRECTORY_KIND, mapping, existing)


def _move_annotations(conn: Connection, kind: int, mapping: dict[int, int], existing: set[int]) -> int:
    moved = 0
    for old, new in mapping.items():
        if old in existing or new not in existing:
            continue
        cur = conn.execute(
            """UPDATE annotations a SET item_id = %(new)s
                WHERE a.kind = %(kind)s AND a.item_id = %(old)s
                  AND NOT EXISTS (SELECT 1 FROM annotations b WHERE b.user_id = a.user_id
                                     AND b.kind = %(kind)s AND b.item_id = %(new)s)""",
            {"old": old, "new": new, "kind": kind})
        moved += cur.rowcount
    return moved


def carry_album_stars(conn: Connection) -> int:
    """Move kind-2 annotations from albums that vanished this scan to the album that received
    most of their tracks (scan_album_moves); empties scan_album_moves. Run after the album
    refresh has deleted empty albums. Returns the number of annotations moved."""
    rows = conn.execute("""SELECT old_id, new_id, count(*) FROM scan_album_moves
                            GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2""").fetchall()
    conn.execute("TRUNCATE scan_album_moves")
    mapping: dict[int, int] = {}
    for old, new, _count in rows:
        mapping.setdefault(old, new)
    if not mapping:
        return 0
    cur = conn.execute("SELECT id FROM albums WHERE id = ANY(%s)", (list(mapping) + list(mapping.values()),))
    return _move_annotations(conn, ALBUM_KIND, mapping, {r[0] for r in cur.fetchall()})
