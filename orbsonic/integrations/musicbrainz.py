"""MusicBrainz web service 2 (https://musicbrainz.org/doc/MusicBrainz_API): the MusicBrainz
ids of artists and releases whose tags carry none, by a search with a full score.

Only an exact match counts (score 100 and the same name, case- and accent-insensitive): a
wrong id is worse than none. Lucene special characters in names are escaped.
"""

from __future__ import annotations

import re

import httpx

from orbsonic.ids import fold
from orbsonic.integrations.http import fetch_json, text

_LUCENE = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')


def _quote(value: str) -> str:
    return '"' + _LUCENE.sub(r"\\\1", value) + '"'


async def artist_mbid(http: httpx.AsyncClient, base: str, name: str) -> str:
    """The MusicBrainz id of the artist called `name`, or "" (no exact match). Raises ProviderError."""
    data = await fetch_json(http, "GET", base.rstrip("/") + "/ws/2/artist",
                            params={"query": f"artist:{_quote(name)}", "fmt": "json", "limit": "5"})
    for item in data.get("artists") or []:
        if isinstance(item, dict) and item.get("score") == 100 and fold(text(item.get("name"))) == fold(name):
            return text(item.get("id"))
    return ""


async def release_mbid(http: httpx.AsyncClient, base: str, artist: str, album: str) -> str:
    """The MusicBrainz id of the release `album` by `artist`, or "". Raises ProviderError."""
    data = await fetch_json(http, "GET", base.rstrip("/") + "/ws/2/release",
                            params={"query": f"release:{_quote(album)} AND artist:{_quote(artist)}",
                                    "fmt": "json", "limit": "5"})
    for item in data.get("releases") or []:
        if isinstance(item, dict) and item.get("score") == 100 and fold(text(item.get("title"))) == fold(album):
            return text(item.get("id"))
    return ""
