"""ListenBrainz submit-listens (https://listenbrainz.readthedocs.io/en/latest/users/api/core.html):
`POST {base}/1/submit-listens` with `Authorization: Token <user token>` and a JSON body
`{"listen_type": "single" | "import" | "playing_now", "payload": [listen, …]}`.

A listen is `{"listened_at": seconds, "track_metadata": {"artist_name", "track_name",
"release_name", "additional_info": {…}}}`; `playing_now` has no `listened_at`. One request
takes at most MAX_LISTENS listens (the API's MAX_LISTENS_PER_REQUEST).
"""

from __future__ import annotations

from typing import Any

import httpx

from orbsonic.integrations.http import ProviderError, fetch_json
from orbsonic.integrations.lastfm import Play

MAX_LISTENS = 1000
SUBMISSION_CLIENT = "Orbsonic"


def _listen(p: Play, *, with_time: bool) -> dict[str, Any]:
    info: dict[str, Any] = {"submission_client": SUBMISSION_CLIENT, "media_player": "Orbsonic"}
    if p.duration_s:
        info["duration_ms"] = p.duration_s * 1000
    if p.track_no:
        info["tracknumber"] = p.track_no
    if p.mbid:
        info["recording_mbid"] = p.mbid
    meta: dict[str, Any] = {"artist_name": p.artist, "track_name": p.title, "additional_info": info}
    if p.album:
        meta["release_name"] = p.album
    listen: dict[str, Any] = {"track_metadata": meta}
    if with_time:
        listen["listened_at"] = p.started_at
    return listen


async def submit(http: httpx.AsyncClient, base: str, token: str, plays: list[Play]) -> None:
    """Submit plays (≤ MAX_LISTENS): listen_type `single` for one, `import` for several.
    Raises ProviderError (HTTP 401: a bad token, not transient)."""
    if not plays:
        return
    body = {"listen_type": "single" if len(plays) == 1 else "import",
            "payload": [_listen(p, with_time=True) for p in plays[:MAX_LISTENS]]}
    await _post(http, base, token, body)


async def playing_now(http: httpx.AsyncClient, base: str, token: str, play: Play) -> None:
    """Tell ListenBrainz what the user is listening to now."""
    await _post(http, base, token, {"listen_type": "playing_now", "payload": [_listen(play, with_time=False)]})


async def _post(http: httpx.AsyncClient, base: str, token: str, body: dict[str, Any]) -> None:
    data = await fetch_json(http, "POST", base.rstrip("/") + "/1/submit-listens", json=body,
                            headers={"Authorization": f"Token {token}"})
    if data.get("status") != "ok":
        raise ProviderError(f"listenbrainz: unexpected answer {str(data)[:100]}")
