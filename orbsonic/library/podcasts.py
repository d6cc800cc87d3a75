"""Podcast channels and episodes: one server-wide list (as in Subsonic), managed by users with
podcastRole (docs/subsonic-spec.md §3 Podcast, §5.4).

The request side only reads and marks: createPodcastChannel inserts a channel (`new`) and the
caller queues its refresh; downloadPodcastEpisode marks an episode `downloading` and the caller
queues the download. The jobs (orbsonic/podcasts/tasks.py) do the HTTP and write their results
here (`save_feed`, `channel_failed`, `finish_download` …). Files live in DATA_DIR/podcasts
(`podcast_dir`), named by keys relative to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.errors import NotFound
from orbsonic.library.radio import check_url
from orbsonic.podcasts.feed import Feed

NEWEST_MAX = 500
_EPISODE_COLS = """e.id, e.channel_id, c.title AS channel_title, c.image_version AS channel_image_version,
    e.title, e.description, e.publish_date, e.feed_duration_s, e.status, e.error_message, e.file_key,
    e.size, e.content_type, e.suffix, e.duration_ms, e.bitrate, e.created_at"""
_ORDER = "e.publish_date DESC NULLS LAST, e.id DESC"


@dataclass(frozen=True, slots=True)
class Channel:
    """A podcast_channels row. `status`: new, downloading (a refresh runs), completed, error."""

    id: int
    url: str
    title: str | None
    description: str | None
    image_url: str | None
    image_key: str | None
    image_version: int | None
    status: str
    error_message: str | None


@dataclass(frozen=True, slots=True)
class Episode:
    """A podcast_episodes row with its channel's title and cover version. `file_key`, `size` …
    are set once downloaded (status completed); `duration_ms` from the file, else
    `feed_duration_s` from the feed."""

    id: int
    channel_id: int
    channel_title: str | None
    channel_image_version: int | None
    title: str
    description: str | None
    publish_date: datetime | None
    feed_duration_s: int | None
    status: str
    error_message: str | None
    file_key: str | None
    size: int | None
    content_type: str | None
    suffix: str | None
    duration_ms: int | None
    bitrate: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class PendingDownload:
    """What the download job needs: the episode, its channel and the enclosure URL."""

    id: int
    channel_id: int
    audio_url: str
    feed_type: str | None


def podcast_dir(data_dir: Path) -> Path:
    """Where podcast files live: DATA_DIR/podcasts/<channel id>/…"""
    return data_dir / "podcasts"


# ------------------------------------------------------------------ reads


async def channels(conn: AsyncConnection, channel_id: int | None = None) -> list[Channel]:
    """Every channel by title (case-insensitive; the URL while it has none), id tiebreak; or the
    one `channel_id` (NotFound when it does not exist)."""
    where = "" if channel_id is None else "WHERE id = %(id)s"
    async with conn.cursor(row_factory=class_row(Channel)) as cur:
        await cur.execute(f"""SELECT id, url, title, description, image_url, image_key, image_version, status,
                                     error_message FROM podcast_channels {where}
                               ORDER BY lower(coalesce(title, url)), id""", {"id": channel_id})
        rows = await cur.fetchall()
    if channel_id is not None and not rows:
        raise NotFound("podcast channel", channel_id)
    return rows


async def episodes_of(conn: AsyncConnection, channel_ids: list[int]) -> dict[int, list[Episode]]:
    """The episodes of each channel, newest first (publish date, then id)."""
    out: dict[int, list[Episode]] = {c: [] for c in channel_ids}
    if not channel_ids:
        return out
    async with conn.cursor(row_factory=class_row(Episode)) as cur:
        await cur.execute(f"""SELECT {_EPISODE_COLS} FROM podcast_episodes e
                                JOIN podcast_channels c ON c.id = e.channel_id
                               WHERE e.channel_id = ANY(%s) ORDER BY e.channel_id, {_ORDER}""", (channel_ids,))
        for row in await cur.fetchall():
            out[row.channel_id].append(row)
    return out


async def listing(conn: AsyncConnection, channel_id: int | None = None,
                  include_episodes: bool = True) -> list[tuple[Channel, list[Episode]]]:
    """getPodcasts: every channel (or the one `channel_id`: NotFound when unknown), each with its
    episodes newest first (none unless `include_episodes`)."""
    rows = await channels(conn, channel_id)
    eps = await episodes_of(conn, [c.id for c in rows]) if include_episodes else {}
    return [(c, eps.get(c.id, [])) for c in rows]


async def newest(conn: AsyncConnection, count: int) -> list[Episode]:
    """The `count` (≤ NEWEST_MAX) most recently published episodes that can be played (status
    completed), as Subsonic's getNewestPodcasts lists them."""
    async with conn.cursor(row_factory=class_row(Episode)) as cur:
        await cur.execute(f"""SELECT {_EPISODE_COLS} FROM podcast_episodes e
                                JOIN podcast_channels c ON c.id = e.channel_id
                               WHERE e.status = 'completed' ORDER BY {_ORDER} LIMIT %s""",
                          (max(0, min(count, NEWEST_MAX)),))
        return await cur.fetchall()


async def episode(conn: AsyncConnection, episode_id: int) -> Episode:
    """One episode. Raises NotFound."""
    async with conn.cursor(row_factory=class_row(Episode)) as cur:
        await cur.execute(f"""SELECT {_EPISODE_COLS} FROM podcast_episodes e
                                JOIN podcast_channels c ON c.id = e.channel_id WHERE e.id = %s""",
                          (episode_id,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound("podcast episode", episode_id)
    return row


async def episodes_by_id(conn: AsyncConnection, episode_ids: list[int]) -> dict[int, Episode]:
    """The episodes of `episode_ids` that exist, by id."""
    if not episode_ids:
        return {}
    async with conn.cursor(row_factory=class_row(Episode)) as cur:
        await cur.execute(f"""SELECT {_EPISODE_COLS} FROM podcast_episodes e
                                JOIN podcast_channels c ON c.id = e.channel_id
                               WHERE e.id = ANY(%s) ORDER BY e.id""", (list(set(episode_ids)),))
        return {row.id: row for row in await cur.fetchall()}


async def playable(conn: AsyncConnection, episode_id: int) -> Episode:
    """A downloaded episode (status completed, a file): what stream/download send. NotFound
    for an unknown episode or one not (or no longer) downloaded."""
    row = await episode(conn, episode_id)
    if row.status != "completed" or not row.file_key:
        raise NotFound("downloaded podcast episode", episode_id)
    return row


async def audio_url(conn: AsyncConnection, episode_id: int) -> str:
    """The enclosure URL of an episode, as the feed gave it. Raises NotFound."""
    row = await (await conn.execute("SELECT audio_url FROM podcast_episodes WHERE id = %s",
                                    (episode_id,))).fetchone()
    if row is None:
        raise NotFound("podcast episode", episode_id)
    return str(row[0])


async def channel_ids(conn: AsyncConnection) -> list[int]:
    """Every channel id, ascending."""
    cur = await conn.execute("SELECT id FROM podcast_channels ORDER BY id")
    return [int(r[0]) for r in await cur.fetchall()]


async def due_channels(conn: AsyncConnection, interval_s: int) -> list[int]:
    """Channels not refreshed for `interval_s` seconds (or never), oldest first."""
    cur = await conn.execute(
        """SELECT id FROM podcast_channels
            WHERE refreshed_at IS NULL OR refreshed_at < now() - make_interval(secs => %s)
            ORDER BY refreshed_at NULLS FIRST, id""", (interval_s,))
    return [int(r[0]) for r in await cur.fetchall()]


async def cover_key(conn: AsyncConnection, channel_id: int) -> tuple[str, int] | None:
    """(stored image key, version) of a channel's cover, or None when it has none."""
    cur = await conn.execute("SELECT image_key, image_version FROM podcast_channels WHERE id = %s",
                             (channel_id,))
    row = await cur.fetchone()
    return (row[0], int(row[1] or 0)) if row and row[0] else None


# ------------------------------------------------------------------ writes (requests)


async def create_channel(conn: AsyncConnection, url: str, user_id: int | None) -> int:
    """Add a channel for feed `url` (status new) and return its id; a URL already subscribed
    returns the existing channel. Raises BadParam for anything but an absolute http(s) URL."""
    url = check_url("url", url)
    row = await (await conn.execute(
        """INSERT INTO podcast_channels (url, created_by) VALUES (%s, %s)
           ON CONFLICT (url) DO UPDATE SET url = EXCLUDED.url RETURNING id""", (url, user_id))).fetchone()
    assert row is not None
    return int(row[0])


async def delete_channel(conn: AsyncConnection, channel_id: int) -> None:
    """Delete a channel and its episodes' rows (the caller removes the files). Raises NotFound."""
    cur = await conn.execute("DELETE FROM podcast_channels WHERE id = %s", (channel_id,))
    if cur.rowcount == 0:
        raise NotFound("podcast channel", channel_id)


async def request_download(conn: AsyncConnection, episode_id: int) -> bool:
    """Mark an episode `downloading` (from new, error, deleted or skipped): True when the
    caller must queue the download — also when it was already `downloading`, so that a
    download whose job was lost can be asked for again (the job's lock runs one at a time and
    a second finds it done) — False when it is already downloaded. Raises NotFound."""
    row = await (await conn.execute(
        """UPDATE podcast_episodes SET status = 'downloading', error_message = NULL
            WHERE id = %s AND status <> 'completed' RETURNING id""", (episode_id,))).fetchone()
    if row is not None:
        return True
    await episode(conn, episode_id)  # NotFound for an unknown id
    return False


async def delete_episode(conn: AsyncConnection, episode_id: int) -> str | None:
    """Mark an episode `deleted` (kept, so that the next refresh does not add it again) and
    forget its file; returns the file key the caller removes (None if it had none). A download
    still running finds the status changed and throws its file away. Raises NotFound."""
    row = await (await conn.execute(
        """UPDATE podcast_episodes e SET status = 'deleted', error_message = NULL, file_key = NULL,
                  size = NULL, content_type = NULL, suffix = NULL, bitrate = NULL, duration_ms = NULL
             FROM (SELECT id, file_key FROM podcast_episodes WHERE id = %s FOR UPDATE) old
            WHERE e.id = old.id RETURNING old.file_key""", (episode_id,))).fetchone()
    if row is None:
        raise NotFound("podcast episode", episode_id)
    return row[0]


# ------------------------------------------------------------------ writes (jobs)


async def start_refresh(conn: AsyncConnection, channel_id: int) -> Channel | None:
    """Mark a channel `downloading` while its feed is fetched; None when it is gone."""
    async with conn.cursor(row_factory=class_row(Channel)) as cur:
        await cur.execute("""UPDATE podcast_channels SET status = 'downloading' WHERE id = %s
                             RETURNING id, url, title, description, image_url, image_key, image_version,
                                       status, error_message""", (channel_id,))
        return await cur.fetchone()


async def save_feed(conn: AsyncConnection, channel_id: int, feed: Feed) -> int:
    """Store a fetched feed: channel fields (status completed), new items added and known ones
    (same guid) updated; episodes the feed no longer lists are kept. Returns how many were added.
    Raises NotFound when the channel was deleted meanwhile."""
    cur = await conn.execute(
        """UPDATE podcast_channels SET title = %s, description = %s, image_url = %s, status = 'completed',
                  error_message = NULL, refreshed_at = now() WHERE id = %s""",
        (feed.title, feed.description, feed.image_url, channel_id))
    if cur.rowcount == 0:
        raise NotFound("podcast channel", channel_id)
    if not feed.items:
        return 0
    async with conn.cursor() as cur:
        await cur.execute("CREATE TEMP TABLE IF NOT EXISTS podcast_feed_items (guid text, title text,"
                          " description text, audio_url text, publish_date timestamptz, duration_s integer,"
                          " mime text, length bigint) ON COMMIT DELETE ROWS")
        await cur.execute("TRUNCATE podcast_feed_items")
        async with cur.copy("COPY podcast_feed_items FROM STDIN") as copy:
            for i in feed.items:
                await copy.write_row((i.guid, i.title, i.description, i.audio_url, i.published, i.duration_s,
                                      i.mime_type, i.length))
        await cur.execute(
            """INSERT INTO podcast_episodes AS e (channel_id, guid, title, description, audio_url, publish_date,
                                                  feed_duration_s, feed_type, feed_length)
               SELECT %s, guid, title, description, audio_url, publish_date, duration_s, mime, length
                 FROM podcast_feed_items
               ON CONFLICT (channel_id, guid) DO UPDATE
                  SET title = EXCLUDED.title, description = EXCLUDED.description, audio_url = EXCLUDED.audio_url,
                      publish_date = EXCLUDED.publish_date, feed_duration_s = EXCLUDED.feed_duration_s,
                      feed_type = EXCLUDED.feed_type, feed_length = EXCLUDED.feed_length
               RETURNING (xmax = 0)""", (channel_id,))
        return sum(1 for (inserted,) in await cur.fetchall() if inserted)


async def channel_failed(conn: AsyncConnection, channel_id: int, message: str) -> None:
    """Mark a channel `error` with `message`; its title, episodes and files stay as they were."""
    await conn.execute("""UPDATE podcast_channels SET status = 'error', error_message = %s, refreshed_at = now()
                           WHERE id = %s""", (message[:1000], channel_id))


async def set_image(conn: AsyncConnection, channel_id: int, key: str, version: int) -> None:
    """Record the stored copy of a channel's image (cover id version `version`)."""
    await conn.execute("UPDATE podcast_channels SET image_key = %s, image_version = %s WHERE id = %s",
                       (key, version, channel_id))


async def pending_download(conn: AsyncConnection, episode_id: int) -> PendingDownload | None:
    """The episode if it still waits for its download (status downloading), else None."""
    async with conn.cursor(row_factory=class_row(PendingDownload)) as cur:
        await cur.execute("""SELECT id, channel_id, audio_url, feed_type FROM podcast_episodes
                              WHERE id = %s AND status = 'downloading'""", (episode_id,))
        return await cur.fetchone()


async def finish_download(conn: AsyncConnection, episode_id: int, key: str, size: int, content_type: str,
                          suffix: str, duration_ms: int | None, bitrate: int | None) -> bool:
    """Record a downloaded file (status completed). False when the episode was deleted (or its
    channel) meanwhile: the caller removes the file."""
    cur = await conn.execute(
        """UPDATE podcast_episodes SET status = 'completed', error_message = NULL, file_key = %s, size = %s,
                  content_type = %s, suffix = %s, duration_ms = %s, bitrate = %s
            WHERE id = %s AND status = 'downloading'""",
        (key, size, content_type, suffix, duration_ms, bitrate, episode_id))
    return cur.rowcount == 1


async def download_failed(conn: AsyncConnection, episode_id: int, message: str) -> None:
    """Mark a download `error` with `message` (unless the episode was deleted meanwhile)."""
    await conn.execute("""UPDATE podcast_episodes SET status = 'error', error_message = %s
                           WHERE id = %s AND status = 'downloading'""", (message[:1000], episode_id))

