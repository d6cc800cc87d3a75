"""Internet radio stations: one list shared by every user, managed by admins
(getInternetRadioStations, create/update/deleteInternetRadioStation; docs/subsonic-spec.md §3
Internet radio).

URLs are checked before they are stored: a client hands `streamUrl` straight to its player
and `homePageUrl` to a browser, so only absolute http(s) URLs with a host are accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.errors import BadParam, NotFound

MAX_NAME = 200  # characters
MAX_URL = 2048  # characters: what browsers and most proxies accept in a URL


@dataclass(frozen=True, slots=True)
class Station:
    """An internet radio station row."""

    id: int
    name: str
    stream_url: str
    homepage_url: str | None


def check_name(name: str) -> str:
    """The station name, stripped. Raises BadParam when empty or longer than MAX_NAME."""
    name = name.strip()
    if not name:
        raise BadParam("name", "must not be empty")
    if len(name) > MAX_NAME:
        raise BadParam("name", f"longer than {MAX_NAME} characters")
    return name


def check_url(param: str, url: str) -> str:
    """An absolute http:// or https:// URL with a host, at most MAX_URL characters, stripped.
    Raises BadParam otherwise (javascript:, file:, relative URLs, control characters)."""
    url = url.strip()
    if len(url) > MAX_URL:
        raise BadParam(param, f"longer than {MAX_URL} characters")
    if any(ord(c) < 0x20 or ord(c) == 0x7F or c.isspace() for c in url):
        raise BadParam(param, "contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        raise BadParam(param, "is not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or not port_ok:
        raise BadParam(param, "must be an absolute http:// or https:// URL")
    return url


async def list_all(conn: AsyncConnection) -> list[Station]:
    """Every station by name (case-insensitive), id tiebreak."""
    async with conn.cursor(row_factory=class_row(Station)) as cur:
        await cur.execute("SELECT id, name, stream_url, homepage_url FROM internet_radio_stations"
                          " ORDER BY lower(name), id")
        return await cur.fetchall()


async def create(conn: AsyncConnection, name: str, stream_url: str, homepage_url: str | None) -> int:
    """Add a station; returns its id. Raises BadParam (name or URLs invalid)."""
    row = await (await conn.execute(
        "INSERT INTO internet_radio_stations (name, stream_url, homepage_url) VALUES (%s, %s, %s)"
        " RETURNING id",
        (check_name(name), check_url("streamUrl", stream_url),
         check_url("homepageUrl", homepage_url) if homepage_url else None))).fetchone()
    assert row is not None
    return int(row[0])


async def update(conn: AsyncConnection, station_id: int, name: str, stream_url: str,
                 homepage_url: str | None) -> None:
    """Replace a station's name and URLs (no homepage URL clears it, as Subsonic does).
    Raises NotFound, BadParam."""
    cur = await conn.execute(
        "UPDATE internet_radio_stations SET name = %s, stream_url = %s, homepage_url = %s WHERE id = %s",
        (check_name(name), check_url("streamUrl", stream_url),
         check_url("homepageUrl", homepage_url) if homepage_url else None, station_id))
    if cur.rowcount == 0:
        raise NotFound("internet radio station", station_id)


async def delete(conn: AsyncConnection, station_id: int) -> None:
    """Delete a station. Raises NotFound."""
    cur = await conn.execute("DELETE FROM internet_radio_stations WHERE id = %s", (station_id,))
    if cur.rowcount == 0:
        raise NotFound("internet radio station", station_id)
