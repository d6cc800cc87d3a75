"""Outside services: Last.fm, MusicBrainz (metadata) and ListenBrainz/Last.fm (scrobbles).

Each provider is off unless configured (an API key, a base URL, a user's token), talks plain
HTTP through `httpx` with the `provider_timeout` and a size limit (orbsonic/integrations/http.py),
and raises `ProviderError` for anything but a well-formed answer — down, slow, garbage — so its
callers (background jobs only, never a request handler) keep what they had. The jobs live in
refresh.py (metadata cache) and forwarding.py (scrobbles), both listed in jobs.TASK_MODULES.
"""
