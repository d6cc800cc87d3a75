"""Podcasts: getPodcasts, getNewestPodcasts, getPodcastEpisode (OpenSubsonic extension
`getPodcastEpisode`), refreshPodcasts, createPodcastChannel, deletePodcastChannel,
downloadPodcastEpisode, deletePodcastEpisode (docs/subsonic-spec.md §3 Podcast, §5.4).

Reads are open to every user (podcasts are one server-wide list, not in a music folder);
writes need podcastRole (spec §3: "Needs podcastRole", refreshPodcasts included). Channels are
`pc-…`, episodes `pe-…`: an episode's `streamId` is its own id, which `stream` and `download`
take like a song id (subsonic_api/endpoints/media.py), and `hls` and getTranscodeDecision /
getTranscodeStream with mediaType=podcast too (transcoding.py). A track id given for an episode, or
the reverse, names nothing: 70.
"""

from __future__ import annotations

from typing import Any

from orbsonic.library import podcasts
from orbsonic.library.podcasts import Channel, Episode
from orbsonic.podcasts import service
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload
from subsonic_api.shapes import cover_id, iso, public_id


def _cover(channel_id: int, version: int | None) -> str | None:
    return cover_id("pc", channel_id, version) if version else None


def episode_shape(e: Episode) -> dict[str, Any]:
    """A PodcastEpisode (a Child with streamId, channelId, description, status, publishDate).
    The file fields (streamId, size, contentType, suffix, bitRate) only once it is downloaded.
    The same in both profiles: the plain 1.16.1 XSD has every attribute used here."""
    d: dict[str, Any] = {"id": public_id("pe", e.id), "isDir": False, "title": e.title or ""}
    if e.channel_title:
        d["album"] = e.channel_title
        d["artist"] = e.channel_title
    d["genre"] = "Podcast"
    if (cover := _cover(e.channel_id, e.channel_image_version)) is not None:
        d["coverArt"] = cover
    downloaded = e.status == "completed" and e.file_key
    if downloaded:
        d["size"] = e.size or 0
        d["contentType"] = e.content_type or "audio/mpeg"
        d["suffix"] = e.suffix or ""
    duration_s = round(e.duration_ms / 1000) if e.duration_ms else e.feed_duration_s
    if duration_s:
        d["duration"] = duration_s
    if downloaded and e.bitrate:
        d["bitRate"] = e.bitrate
    d["isVideo"] = False
    d["created"] = iso(e.created_at)
    d["type"] = "podcast"
    if downloaded:
        d["streamId"] = public_id("pe", e.id)
    d["channelId"] = public_id("pc", e.channel_id)
    if e.description:
        d["description"] = e.description
    d["status"] = e.status
    if e.publish_date is not None:
        d["publishDate"] = iso(e.publish_date)
    return d


def channel_shape(c: Channel, episodes: list[Episode]) -> dict[str, Any]:
    """A PodcastChannel with its episodes."""
    d: dict[str, Any] = {"id": public_id("pc", c.id), "url": c.url}
    if c.title:
        d["title"] = c.title
    if c.description:
        d["description"] = c.description
    if (cover := _cover(c.id, c.image_version)) is not None:
        d["coverArt"] = cover
    if c.image_url:
        d["originalImageUrl"] = c.image_url
    d["status"] = c.status
    if c.error_message:
        d["errorMessage"] = c.error_message
    d["episode"] = [episode_shape(e) for e in episodes]
    return d


@endpoint("getPodcasts")
async def get_podcasts(ctx: Ctx) -> Payload:
    """Every channel (or the one `id`), with episodes unless `includeEpisodes=false`."""
    p = ctx.params
    channel_id = p.id("id", "pc")[1] if p.has("id") else None
    rows = await podcasts.listing(ctx.conn, channel_id, p.bool("includeEpisodes", True))
    return Payload("podcasts", {"channel": [channel_shape(c, eps) for c, eps in rows]})


@endpoint("getNewestPodcasts")
async def get_newest_podcasts(ctx: Ctx) -> Payload:
    """The `count` (default 20, at most 500) newest downloaded episodes."""
    count = ctx.params.int("count", 20, lo=0, hi=podcasts.NEWEST_MAX)
    rows = await podcasts.newest(ctx.conn, count)
    return Payload("newestPodcasts", {"episode": [episode_shape(e) for e in rows]})


@endpoint("getPodcastEpisode")
async def get_podcast_episode(ctx: Ctx) -> Payload:
    """One episode by id (OpenSubsonic; the payload key is `podcastEpisode`, spec §9 #7)."""
    row = await podcasts.episode(ctx.conn, ctx.params.id("id", "pe")[1])
    return Payload("podcastEpisode", episode_shape(row))


@endpoint("refreshPodcasts", role="podcast")
async def refresh_podcasts(ctx: Ctx) -> Payload:
    """Queue a refresh of every channel (the jobs fetch the feeds)."""
    await service.refresh_all(ctx.conn, ctx.state.jobs)
    return Payload()


@endpoint("createPodcastChannel", role="podcast")
async def create_podcast_channel(ctx: Ctx) -> Payload:
    """Subscribe to feed `url` (absolute http(s), not resolving to the server's own networks:
    error 0 otherwise); the channel is `new` until its first refresh has run, then
    `completed` or `error`."""
    await service.subscribe(ctx.conn, ctx.state.jobs, ctx.state.settings, ctx.params.str("url"), ctx.user.id)
    return Payload()


@endpoint("deletePodcastChannel", role="podcast")
async def delete_podcast_channel(ctx: Ctx) -> Payload:
    await service.unsubscribe(ctx.conn, ctx.state.settings.data_dir, ctx.params.id("id", "pc")[1])
    return Payload()


@endpoint("downloadPodcastEpisode", role="podcast")
async def download_podcast_episode(ctx: Ctx) -> Payload:
    """Queue the download of an episode (it is `downloading` at once, `completed` or `error` after)."""
    await service.download(ctx.conn, ctx.state.jobs, ctx.state.settings, ctx.params.id("id", "pe")[1])
    return Payload()


@endpoint("deletePodcastEpisode", role="podcast")
async def delete_podcast_episode(ctx: Ctx) -> Payload:
    """Delete an episode's file; it stays listed as `deleted` (a refresh does not bring it back)."""
    await service.delete_episode(ctx.conn, ctx.state.settings.data_dir, ctx.params.id("id", "pe")[1])
    return Payload()
