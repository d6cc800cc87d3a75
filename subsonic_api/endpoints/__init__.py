"""Subsonic endpoint groups; importing this package registers every handler."""

from subsonic_api.endpoints import (  # noqa: F401
    annotation,
    browsing,
    lists,
    lyrics,
    media,
    playlists,
    queue,
    searching,
    sharing,
    system,
    transcoding,
    users,
)
