"""Library queries (tracks, albums, artists, folders, genres, search, annotations).

Protocol-agnostic: functions take an AsyncConnection and plain values and return rows
(dicts) or id lists. The Subsonic and native APIs shape these rows into responses.
"""
