"""Subsonic endpoint groups; importing this package registers every handler."""

from subsonic_api.endpoints import (  # noqa: F401
    annotation,
    avatars,
    browsing,
    chat,
    jukebox,
    lists,
    lyrics,
    media,
    playlists,
    podcasts,
    queue,
    radio,
    searching,
    sharing,
    system,
    transcoding,
    users,
    videos,
    info,
    sonic,
)
