"""What the podcast endpoints do, each in one call: a database change, committed, then the
job that carries it out (the job must see the committed row: a worker may take it at once).

Files are removed after the rows: a file without a row is only disk space, a row without
its file would be a broken episode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
from psycopg import AsyncConnection

from orbsonic.errors import BadParam
from orbsonic.http.ssrf import BlockedAddress, check_url
from orbsonic.library import podcasts
from orbsonic.library.radio import check_url as check_http_url
from orbsonic.podcasts import tasks


async def _refuse_blocked(param: str, url: str, settings: Any) -> None:
    """BadParam when `url`'s host resolves to an address the SSRF guard refuses (a host that
    does not resolve yet passes: the fetch checks again at every hop)."""
    try:
        await check_url(url, tasks.address_policy(settings))
    except BlockedAddress as exc:
        raise BadParam(param, f"refused: {exc}") from None


async def subscribe(conn: AsyncConnection, job_app: Any, settings: Any, url: str, user_id: int | None) -> int:
    """createPodcastChannel: add the channel (status new) and queue its first refresh; returns
    its id. Raises BadParam for a URL that is not absolute http(s), or whose host resolves to
    an address of the server's own networks (orbsonic/http/ssrf.py; setting
    podcast_allow_networks)."""
    url = check_http_url("url", url)
    await _refuse_blocked("url", url, settings)
    channel_id = await podcasts.create_channel(conn, url, user_id)
    await conn.commit()
    await tasks.defer_refresh(job_app, channel_id)
    return channel_id


async def unsubscribe(conn: AsyncConnection, data_dir: Path, channel_id: int) -> None:
    """deletePodcastChannel: the channel, its episodes and their files. Raises NotFound."""
    await podcasts.delete_channel(conn, channel_id)
    await conn.commit()
    await anyio.to_thread.run_sync(tasks.remove_channel_files, data_dir, channel_id)


async def refresh_all(conn: AsyncConnection, job_app: Any) -> int:
    """refreshPodcasts: queue a refresh of every channel; returns how many."""
    ids = await podcasts.channel_ids(conn)
    await conn.commit()
    for channel_id in ids:
        await tasks.defer_refresh(job_app, channel_id)
    return len(ids)


async def download(conn: AsyncConnection, job_app: Any, settings: Any, episode_id: int) -> bool:
    """downloadPodcastEpisode: mark it downloading and queue the download (False when it is
    already downloaded: nothing queued). Raises NotFound, or BadParam when the enclosure's
    host resolves to a refused address (the download job checks every hop again)."""
    url = await podcasts.audio_url(conn, episode_id)
    await _refuse_blocked("id", url, settings)
    if not await podcasts.request_download(conn, episode_id):
        return False
    await conn.commit()
    await tasks.defer_download(job_app, episode_id)
    return True


async def delete_episode(conn: AsyncConnection, data_dir: Path, episode_id: int) -> None:
    """deletePodcastEpisode: status deleted, its file removed. Raises NotFound."""
    key = await podcasts.delete_episode(conn, episode_id)
    await conn.commit()
    if key:
        await anyio.to_thread.run_sync(tasks.remove_files, data_dir, [key])


async def cover_source(conn: AsyncConnection, data_dir: Path, channel_id: int) -> Any:
    """getCoverArt of `pc-…`: the channel's stored image as a covers.CoverSource (key = the
    cover id with the stored version), or None when the channel has none."""
    from orbsonic.covers import CoverSource
    from orbsonic.ids import cover_id
    from orbsonic.storage.local import LocalStorage

    found = await podcasts.cover_key(conn, channel_id)
    if found is None:
        return None
    key, version = found
    root = podcasts.podcast_dir(data_dir)
    return CoverSource(root / key, False, cover_id("pc", channel_id, version or None), LocalStorage(root), key)


async def open_episode(conn: AsyncConnection, data_dir: Path, episode_id: int) -> tuple[Any, Any]:
    """(episode row, opened file) of a downloaded episode, read through the storage seam, for
    stream and download. NotFound when it is unknown, not downloaded, or its file is gone."""
    from orbsonic.storage.local import LocalStorage

    row = await podcasts.playable(conn, episode_id)
    storage = LocalStorage(podcasts.podcast_dir(data_dir))
    fh = await anyio.to_thread.run_sync(storage.open, row.file_key)
    return row, fh
