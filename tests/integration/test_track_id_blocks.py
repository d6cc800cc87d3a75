"""search3 "" pages every track in id order from the block counts of schema/0036
(orbsonic.library.tracks.ids_all): the triggers keep the counts exact through inserts in
two folders, deletes, folder moves, updates in place and TRUNCATE, and every page is the
one `ORDER BY id OFFSET … LIMIT …` gives, for all folders and for each folder."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from orbsonic.library import tracks
from tests.integration.conftest import Library, clone_from

BLOCK = 1 << tracks.BLOCK_BITS


def _counts(conn: psycopg.Connection) -> dict[tuple[int, int], int]:
    exact = {(b, f): n for b, f, n in conn.execute(
        "SELECT id >> %s, folder_id, count(*) FROM tracks GROUP BY 1, 2", (tracks.BLOCK_BITS,))}
    kept = {(b, f): n for b, f, n in conn.execute("SELECT block, folder_id, n FROM track_id_blocks") if n}
    assert kept == exact
    return kept


def _pages_match(url: str, folder_sets: list[list[int] | None], offsets: list[int], limit: int) -> None:
    async def go() -> None:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            for folders in folder_sets:
                where = "" if folders is None else "WHERE folder_id = ANY(%(f)s)"
                cur = await conn.execute(f"SELECT id FROM tracks {where} ORDER BY id", {"f": folders})
                every = [r[0] for r in await cur.fetchall()]
                for off in offsets:
                    page = await tracks.ids_all(conn, off, limit, folders)
                    assert page == every[off:off + limit], (folders, off)

    asyncio.run(go())


def _add(conn: psycopg.Connection, folder: int, first_id: int, n: int, tag: str) -> None:
    conn.execute(
        """INSERT INTO tracks (id, folder_id, directory_id, path, size, mtime_ns, suffix, content_type, title,
                               sort_title, album_id, pid, created_at, search_text)
           SELECT %(first)s + g, %(f)s, (SELECT directory_id FROM tracks ORDER BY id LIMIT 1),
                  %(tag)s || '/' || g || '.flac', 1, 0, 'flac', 'audio/flac', 'B ' || g, 'B ' || g,
                  (SELECT album_id FROM tracks ORDER BY id LIMIT 1),
                  md5(%(tag)s || g), now(), 'b ' || g
             FROM generate_series(0, %(n)s - 1) g""", {"first": first_id, "f": folder, "n": n, "tag": tag})


def test_block_counts_follow_every_change_and_pages_match_offset_paging(
        pg: Any, two_folder_template: Library) -> None:
    url = clone_from(pg, two_folder_template[0])
    with psycopg.connect(url, autocommit=True) as conn:
        _counts(conn)  # the migration counted the scanned library
        # ids across several blocks, the two folders interleaved, gaps between runs
        _add(conn, 1, 10 * BLOCK - 7, 2 * BLOCK, "a")
        _add(conn, 2, 12 * BLOCK - 3, BLOCK // 2, "b")
        _add(conn, 2, 20 * BLOCK, 300, "c")
        _counts(conn)
        conn.execute("DELETE FROM tracks WHERE id %% 3 = 0 AND id BETWEEN %s AND %s",
                     (10 * BLOCK, 12 * BLOCK))
        conn.execute("UPDATE tracks SET folder_id = 1 WHERE id BETWEEN %s AND %s",
                     (12 * BLOCK, 12 * BLOCK + 99))
        # in place: no count changes
        conn.execute("UPDATE tracks SET title = title || '!' WHERE folder_id = 1")
        with conn.transaction():  # a statement that inserts and one that deletes, in one transaction
            _add(conn, 1, 30 * BLOCK, 10, "d")
            conn.execute("DELETE FROM tracks WHERE id = %s", (30 * BLOCK + 3,))
        counts = _counts(conn)
        assert len({b for b, _ in counts}) >= 5
        total = conn.execute("SELECT count(*) FROM tracks").fetchone()[0]
    offsets = [0, 1, 499, 500, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 13,
               total - 500, total - 1, total, total + 9]
    _pages_match(url, [None, [1], [2], [1, 2], []], [o for o in offsets if o >= 0], 500)
    _pages_match(url, [None, [2]], list(range(0, total + 2, 97)), 37)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE tracks CASCADE")
        assert conn.execute("SELECT count(*) FROM track_id_blocks").fetchone() == (0,)
    _pages_match(url, [None, [1]], [0, 5], 10)
