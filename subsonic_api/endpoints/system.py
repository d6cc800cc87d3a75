"""System and scanning: ping, getLicense, getOpenSubsonicExtensions, tokenInfo,
getScanStatus, startScan (docs/subsonic-spec.md §3 System, Media library scanning)."""

from __future__ import annotations

from orbsonic.library import audit
from subsonic_api.registry import Ctx, FastCtx, endpoint
from subsonic_api.response import Payload

# Extensions we really implement, with their versions (spec §4).
EXTENSIONS = (
    ("apiKeyAuthentication", [1]),
    ("formPost", [1]),
    ("indexBasedQueue", [1]),
    ("playbackReport", [1]),
    ("transcodeOffset", [1]),  # stream honours timeOffset for music (orbsonic.transcode)
    ("transcoding", [1]),  # getTranscodeDecision/getTranscodeStream, HTTP delivery only
    ("songLyrics", [1]),
    ("getPodcastEpisode", [1]),  # subsonic_api/endpoints/podcasts.py
    ("topSongsByArtistId", [1]),  # getTopSongs takes id (subsonic_api/endpoints/info.py)
    ("sonicSimilarity", [1]),  # getSonicSimilarTracks/findSonicPath from orbsonic/analysis features
)


# ping and getLicense need nothing but verified credentials: with the credentials cached
# they answer with no pooled connection (issue 13: clients ping on every start and DSub before
# each batch; a pool checkout made ping dearer than a kept getIndexes).
async def _ping_fast(fx: FastCtx) -> Payload:
    return Payload()


async def _license_fast(fx: FastCtx) -> Payload:
    return Payload("license", {"valid": True})


@endpoint("ping", fast=_ping_fast)
async def ping(ctx: Ctx) -> Payload:
    """An empty ok envelope (checks the credentials)."""
    return Payload()


@endpoint("getLicense", fast=_license_fast)
async def get_license(ctx: Ctx) -> Payload:
    """Always valid: Orbsonic is free software."""
    return Payload("license", {"valid": True})


@endpoint("getOpenSubsonicExtensions", auth=False)
async def get_open_subsonic_extensions(ctx: Ctx) -> Payload:
    """Must answer without credentials (OpenSubsonic requirement 2)."""
    return Payload("openSubsonicExtensions", [{"name": n, "versions": v} for n, v in EXTENSIONS])


@endpoint("tokenInfo")
async def token_info(ctx: Ctx) -> Payload:
    return Payload("tokenInfo", {"username": ctx.user.username})


async def _scan_status(ctx: Ctx) -> Payload:
    status = await ctx.state.scans.status(ctx.conn)
    return Payload("scanStatus", {"scanning": status.scanning, "count": status.count})


@endpoint("getScanStatus")
async def get_scan_status(ctx: Ctx) -> Payload:
    """count: files processed so far while scanning, else the number of tracks."""
    return await _scan_status(ctx)


@endpoint("startScan", admin=True)
async def start_scan(ctx: Ctx) -> Payload:
    """Start an incremental scan unless one runs (on this or another replica);
    `fullScan=true` re-reads every file."""
    full = ctx.params.bool("fullScan")
    if await ctx.state.scans.start(full=full, conn=ctx.conn):
        await audit.record(ctx.conn, ctx.user.username, "scan.start", details={"full": full})
    return await _scan_status(ctx)
