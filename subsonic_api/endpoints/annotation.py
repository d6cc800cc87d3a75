"""Media annotation: star, unstar, setRating, scrobble, reportPlayback (OpenSubsonic
playbackReport), and getNowPlaying, which they feed (docs/subsonic-spec.md §3, §4).

Scrobbling needs no role: `scrobblingEnabled` (the `scrobbling` role) is about forwarding
plays to external services (ListenBrainz, Last.fm: orbsonic/library/scrobbling.py); the
user's own play history, play counts and now-playing entry are always kept, as Subsonic
and Navidrome do for users with scrobbling off.
"""

from __future__ import annotations

import math

from orbsonic.errors import BadParam, MissingParam, NotFound
from orbsonic.ids import parse_id
from orbsonic.library import annotations, nowplaying, plays, podcasts, scrobbling, tracks
from subsonic_api import shapes
from subsonic_api.endpoints.podcasts import episode_shape
from subsonic_api.params import parse_int, shown
from subsonic_api.registry import Ctx, endpoint
from subsonic_api.response import Payload

_KIND_OF_PREFIX = {"tr": annotations.TRACK, "al": annotations.ALBUM, "ar": annotations.ARTIST,
                   "dr": annotations.DIRECTORY}


def _items(ctx: Ctx) -> list[tuple[int, int]]:
    """(kind, id) from id[] (any kind: songs, or folders of getMusicDirectory), albumId[], artistId[]."""
    p = ctx.params
    items = [(_KIND_OF_PREFIX[k], i) for k, i in p.ids("id", "tr", "al", "ar", "dr")]
    items += [(annotations.ALBUM, i) for _, i in p.ids("albumId", "al")]
    items += [(annotations.ARTIST, i) for _, i in p.ids("artistId", "ar")]
    return items


@endpoint("star")
async def star(ctx: Ctx) -> Payload:
    await annotations.set_starred(ctx.conn, ctx.user.id, _items(ctx), True, ctx.user.folder_ids)
    return Payload()


@endpoint("unstar")
async def unstar(ctx: Ctx) -> Payload:
    await annotations.set_starred(ctx.conn, ctx.user.id, _items(ctx), False, ctx.user.folder_ids)
    return Payload()


@endpoint("setRating")
async def set_rating(ctx: Ctx) -> Payload:
    kind, ident = ctx.params.id("id", "tr", "al", "ar", "dr")
    await annotations.set_rating(ctx.conn, ctx.user.id, _KIND_OF_PREFIX[kind], ident,
                                 ctx.params.int("rating", lo=0, hi=5, clamp=False), ctx.user.folder_ids)
    return Payload()


def _track_id_or_none(text: str) -> int | None:
    try:
        return parse_id(text, "tr")[1]
    except BadParam:
        return None  # an album id, a made-up id: names no song


_EPISODE_ONLY = ("streamId", "channelId", "description", "status", "publishDate")


def _media_or_none(text: str) -> nowplaying.Media | None:
    """A song (`tr-`) or a podcast episode (`pe-`, its streamId), else None."""
    try:
        kind, ident = parse_id(text, "tr", "pe")
    except BadParam:
        return None
    return nowplaying.Media(ident, kind == "pe")


def _client(ctx: Ctx) -> str:
    return (ctx.params.get("c") or "").strip()[:200]


@endpoint("scrobble")
async def scrobble(ctx: Ctx) -> Payload:
    """submission=true (default): each id is a play at the time at the same position (ms;
    seconds and future times corrected, missing = now), kept once per (user, song, time) in
    the play history. Ids that name no song are skipped so that the rest of an offline batch
    counts; when none names a song: error 70. submission=false: a "now playing" notice for
    the last id (getNowPlaying), nothing counted. A podcast episode's id (`pe-…`, its
    streamId) counts like a song (its own play history, not forwarded)."""
    p = ctx.params
    texts = p.list("id")
    if not texts:
        raise MissingParam("id")
    times = p.list("time")
    ms: list[int | None] = []
    for n in range(len(texts)):
        t = times[n].strip() if n < len(times) else ""
        value = parse_int(t) if t else None  # not t.isdigit(): "²".isdigit() is true, int("²") fails
        if t and (value is None or value < 0):
            raise BadParam("time", f"{shown(times[n])} is not a time in ms")
        ms.append(value)
    ids = [_media_or_none(t) for t in texts]
    if all(i is None for i in ids):
        raise NotFound("song", texts[0])
    folders = ctx.user.folder_ids
    if not p.bool("submission", True):
        last = next(i for i in reversed(ids) if i is not None)
        await nowplaying.notice(ctx.conn, ctx.user.id, _client(ctx), last, user_folders=folders)
        if not last.episode:
            await scrobbling.queue_now_playing(ctx.conn, ctx.state.jobs, ctx.user.id, last.id)
        return Payload()
    episodes = [(i.id, plays.play_time(m)) for i, m in zip(ids, ms) if i is not None and i.episode]
    songs = [(i.id, plays.play_time(m)) for i, m in zip(ids, ms) if i is not None and not i.episode]
    some_known = False
    if episodes:
        try:
            await plays.record_episodes(ctx.conn, ctx.user.id, episodes, client=_client(ctx))
            some_known = True
        except NotFound:
            if not songs:
                raise
    if not songs:
        return Payload()
    try:
        recorded = await plays.record(ctx.conn, ctx.user.id, songs, client=_client(ctx), user_folders=folders)
    except NotFound:
        if some_known:  # the batch's episodes were known: its unknown songs are skipped as usual
            return Payload()
        raise
    if recorded.forwards:  # in the outbox already (same transaction); this only wakes a worker
        await scrobbling.queue_forward(ctx.state.jobs, ctx.user.id)
    return Payload()


def _rate(ctx: Ctx) -> float:
    text = ctx.params.get("playbackRate")
    if text is None or text.strip() == "":
        return 1.0
    try:
        rate = float(text)
    except ValueError:
        raise BadParam("playbackRate", f"{text!r} is not a number") from None
    if not math.isfinite(rate):
        raise BadParam("playbackRate", f"{text!r} is not a number")
    return rate


@endpoint("reportPlayback")
async def report_playback(ctx: Ctx) -> Payload:
    """OpenSubsonic playbackReport: the player (user + `c`) is at `positionMs` of `mediaId`
    in `state`. A `stopped` session that played half the song or 4 minutes counts a play
    (unless ignoreScrobble=true). `mediaType=podcast` takes a podcast episode's id (`pe-…`)."""
    p = ctx.params
    media = p.str("mediaId")
    media_type = p.str("mediaType")
    state = p.str("state")
    position = p.int("positionMs", lo=0, clamp=False)
    if media_type not in ("song", "podcast"):
        raise BadParam("mediaType", "must be song or podcast")
    if state not in nowplaying.STATES:
        raise BadParam("state", f"must be one of {', '.join(nowplaying.STATES)}")
    rate = _rate(ctx)
    ignore = p.bool("ignoreScrobble")
    ident = _media_or_none(media)
    if ident is None or ident.episode != (media_type == "podcast"):
        raise NotFound(media_type, media)
    await nowplaying.report(ctx.conn, ctx.user.id, _client(ctx), ident, state, position, rate,
                            ignore_scrobble=ignore, user_folders=ctx.user.folder_ids)
    return Payload()


@endpoint("getNowPlaying")
async def get_now_playing(ctx: Ctx) -> Payload:
    """Every user's live players, newest report first; songs outside the caller's folders
    are left out; a podcast episode is shown as a Child of `type` podcast. OpenSubsonic
    clients also get state, positionMs (extrapolated while playing) and playbackRate."""
    live = await nowplaying.entries(ctx.conn, ctx.user.folder_ids)
    track_ids = list({e.track_id for e in live if e.track_id is not None})
    rows = {r["id"]: r for r in await tracks.hydrate(ctx.conn, track_ids, ctx.user.id)}
    episodes = await podcasts.episodes_by_id(ctx.conn,
                                             [e.episode_id for e in live if e.episode_id is not None])
    out = []
    for e in live:
        if e.episode_id is not None:
            if (episode := episodes.get(e.episode_id)) is None:
                continue
            # a Child (NowPlayingEntry extends Child): the PodcastEpisode-only fields go
            d = {k: v for k, v in episode_shape(episode).items() if k not in _EPISODE_ONLY}
        elif (row := rows.get(e.track_id)) is not None:
            d = shapes.song(row, ctx.os)
        else:
            continue
        d.update(username=e.username, minutesAgo=e.minutes_ago, playerId=e.player_id)
        if e.client:
            d["playerName"] = e.client
        if ctx.os:
            d.update(state=e.state, positionMs=e.position_ms, playbackRate=e.playback_rate)
        out.append(d)
    return Payload("nowPlaying", {"entry": out})
