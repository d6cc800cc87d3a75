"""Last.fm API 2.0: artist and album information (read with the API key) and scrobbling
(track.scrobble / track.updateNowPlaying, signed with the shared secret).

Docs: https://www.last.fm/api (REST, `format=json`). Errors come back as `{"error": N,
"message": …}`, sometimes with HTTP 200: both are ProviderError. Signed calls
(https://www.last.fm/api/authspec §8): `api_sig` = md5 of every parameter but `format` and
`callback`, sorted by name, concatenated as name + value, followed by the secret (UTF-8).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

import httpx

from orbsonic.integrations.http import ProviderError, fetch_json, text

# Last.fm answers artist images with this placeholder (a grey star) since 2019: not an image.
_PLACEHOLDER = "2a96cbd8b46e442fc41c2b86b821562f"
_READ_MORE = re.compile(r'\s*<a href="https?://www\.last\.fm/[^"]*">Read more on Last\.fm</a>\.?\s*$')
SCROBBLE_BATCH = 50  # track.scrobble takes at most 50 plays per request


@dataclass(frozen=True, slots=True)
class Config:
    """Where and as whom to call: `url` the API root, `key` the API key, `secret` its secret."""

    url: str
    key: str
    secret: str = ""


@dataclass(frozen=True, slots=True)
class ArtistInfo:
    """artist.getInfo + getSimilar + getTopTracks: names with MusicBrainz ids ("" when none)."""

    mbid: str
    biography: str
    url: str
    image_url: str
    similar: list[dict[str, str]]
    top_tracks: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class AlbumInfo:
    """album.getInfo: the wiki summary as notes."""

    mbid: str
    notes: str
    url: str
    image_url: str


async def _get(http: httpx.AsyncClient, cfg: Config, method: str, **params: str) -> dict[str, Any]:
    data = await fetch_json(http, "GET", cfg.url, params={"method": method, "api_key": cfg.key,
                                                          "format": "json", **params})
    _raise_error(data, method)
    return data


def _raise_error(data: dict[str, Any], method: str) -> None:
    if "error" in data:
        code = data.get("error")
        # 9 invalid session, 4/10/26 bad key or suspended: retrying cannot help; 6 "not found" neither.
        raise ProviderError(f"last.fm {method}: error {code}: {text(data.get('message'))}",
                            transient=code in (8, 11, 16, 29))


def _image(images: Any) -> str:
    """The largest usable image URL of a Last.fm `image` list ("" when none)."""
    best = ""
    if isinstance(images, list):
        for img in images:  # small, medium, large, extralarge, mega: the last non-empty wins
            url = text(img.get("#text")) if isinstance(img, dict) else ""
            if url.startswith(("http://", "https://")) and _PLACEHOLDER not in url:
                best = url
    return best


def _strip_link(html: str) -> str:
    return _READ_MORE.sub("", html).strip()


def _names(items: Any) -> list[dict[str, str]]:
    out = []
    if isinstance(items, dict):  # one item comes back as an object, not a list
        items = [items]
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and text(item.get("name")):
            out.append({"name": text(item["name"]), "mbid": text(item.get("mbid"))})
    return out


async def artist_info(http: httpx.AsyncClient, cfg: Config, name: str, mbid: str = "") -> ArtistInfo:
    """Biography, URL, image, similar artists (≤ 100) and top tracks (≤ 50) of an artist.
    Raises ProviderError (a malformed answer included)."""
    who = {"mbid": mbid} if mbid else {"artist": name, "autocorrect": "1"}
    info = (await _get(http, cfg, "artist.getInfo", **who)).get("artist")
    if not isinstance(info, dict):
        raise ProviderError("last.fm artist.getInfo: no artist in the answer")
    bio = info.get("bio") if isinstance(info.get("bio"), dict) else {}
    similar = (await _get(http, cfg, "artist.getSimilar", limit="100", **who)).get("similarartists")
    top = (await _get(http, cfg, "artist.getTopTracks", limit="50", **who)).get("toptracks")
    return ArtistInfo(
        mbid=text(info.get("mbid")), biography=_strip_link(text(bio.get("summary")) or text(bio.get("content"))),
        url=text(info.get("url")), image_url=_image(info.get("image")),
        similar=_names(similar.get("artist") if isinstance(similar, dict) else None),
        top_tracks=_names(top.get("track") if isinstance(top, dict) else None))


async def album_info(http: httpx.AsyncClient, cfg: Config, artist: str, album: str, mbid: str = "") -> AlbumInfo:
    """Notes (the wiki summary), URL, image and MusicBrainz id of an album. Raises ProviderError."""
    who = {"mbid": mbid} if mbid else {"artist": artist, "album": album, "autocorrect": "1"}
    info = (await _get(http, cfg, "album.getInfo", **who)).get("album")
    if not isinstance(info, dict):
        raise ProviderError("last.fm album.getInfo: no album in the answer")
    wiki = info.get("wiki") if isinstance(info.get("wiki"), dict) else {}
    return AlbumInfo(mbid=text(info.get("mbid")),
                     notes=_strip_link(text(wiki.get("summary")) or text(wiki.get("content"))),
                     url=text(info.get("url")), image_url=_image(info.get("image")))


def sign(params: dict[str, str], secret: str) -> str:
    """The `api_sig` of a signed call (authspec §8)."""
    raw = "".join(k + params[k] for k in sorted(params) if k not in ("format", "callback")) + secret
    return hashlib.md5(raw.encode("utf-8")).hexdigest()  # noqa: S324 (Last.fm's protocol)


async def _post_signed(http: httpx.AsyncClient, cfg: Config, method: str, params: dict[str, str]) -> dict[str, Any]:
    if not cfg.key or not cfg.secret:
        raise ProviderError("last.fm: no API key and secret configured", transient=False)
    form = {**params, "method": method, "api_key": cfg.key}
    form["api_sig"] = sign(form, cfg.secret)
    form["format"] = "json"
    data = await fetch_json(http, "POST", cfg.url, data=form)
    _raise_error(data, method)
    return data


@dataclass(frozen=True, slots=True)
class Play:
    """One play to forward: tags of the track and when it started (seconds since the epoch)."""

    artist: str
    title: str
    album: str
    album_artist: str
    duration_s: int
    track_no: int | None
    mbid: str
    started_at: int


def _track_params(p: Play, suffix: str = "") -> dict[str, str]:
    out = {f"artist{suffix}": p.artist, f"track{suffix}": p.title}
    if p.album:
        out[f"album{suffix}"] = p.album
    if p.album_artist and p.album_artist != p.artist:
        out[f"albumArtist{suffix}"] = p.album_artist
    if p.duration_s:
        out[f"duration{suffix}"] = str(p.duration_s)
    if p.track_no:
        out[f"trackNumber{suffix}"] = str(p.track_no)
    if p.mbid:
        out[f"mbid{suffix}"] = p.mbid
    return out


async def scrobble(http: httpx.AsyncClient, cfg: Config, session: str, plays: list[Play]) -> None:
    """track.scrobble of up to SCROBBLE_BATCH plays (array notation `artist[0]` …)."""
    params = {"sk": session}
    for n, p in enumerate(plays[:SCROBBLE_BATCH]):
        params.update(_track_params(p, f"[{n}]"))
        params[f"timestamp[{n}]"] = str(p.started_at)
    await _post_signed(http, cfg, "track.scrobble", params)


async def now_playing(http: httpx.AsyncClient, cfg: Config, session: str, play: Play) -> None:
    """track.updateNowPlaying."""
    await _post_signed(http, cfg, "track.updateNowPlaying", {"sk": session, **_track_params(play)})
