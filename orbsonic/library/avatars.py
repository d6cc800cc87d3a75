"""User avatars (Subsonic getAvatar, docs/subsonic-spec.md §3 Media retrieval): one image per
user, set with `orbsonic user avatar NAME FILE`, stored in PostgreSQL (bytea) so that every
worker and replica serves it. getAvatar has no `size` parameter: the image is served as set.

Images are checked when set (Pillow must decode them; JPEG, PNG, GIF or WebP; at most
MAX_BYTES and MAX_PIXELS), so that getAvatar never hands a client something that is not one.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from psycopg import AsyncConnection
from psycopg.rows import class_row

from orbsonic.errors import BadParam, NotFound

MAX_BYTES = 2 * 1024 * 1024
MAX_PIXELS = 4096 * 4096
_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp"}


@dataclass(frozen=True, slots=True)
class Avatar:
    """An avatar: the image bytes as set and their MIME type."""

    content_type: str
    data: bytes


def image_type(data: bytes) -> str:
    """The MIME type of an image Pillow decodes. Raises BadParam when `data` is not a JPEG,
    PNG, GIF or WebP image, is larger than MAX_BYTES or has more than MAX_PIXELS pixels."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > MAX_BYTES:
        raise BadParam("file", f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or ""
            if img.width * img.height > MAX_PIXELS:
                raise BadParam("file", "has too many pixels")
            img.verify()
    except BadParam:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise BadParam("file", "is not an image") from None
    if fmt not in _MIME:
        raise BadParam("file", f"a {fmt or 'unknown'} image; use JPEG, PNG, GIF or WebP")
    return _MIME[fmt]


async def set_avatar(conn: AsyncConnection, username: str, data: bytes) -> str:
    """Store (or replace) a user's avatar; returns its MIME type. Raises NotFound (no such
    user), BadParam (not an acceptable image)."""
    mime = image_type(data)
    cur = await conn.execute(
        """INSERT INTO user_avatars (user_id, content_type, data)
           SELECT id, %s, %s FROM users WHERE username = %s
           ON CONFLICT (user_id) DO UPDATE SET content_type = excluded.content_type, data = excluded.data,
               changed_at = now()""", (mime, data, username))
    if cur.rowcount == 0:
        raise NotFound("user", username)
    return mime


async def get(conn: AsyncConnection, username: str) -> Avatar:
    """A user's avatar. Raises NotFound when the user does not exist or has none."""
    async with conn.cursor(row_factory=class_row(Avatar)) as cur:
        await cur.execute("""SELECT a.content_type, a.data
                               FROM user_avatars a JOIN users u ON u.id = a.user_id
                              WHERE u.username = %s""", (username,))
        row = await cur.fetchone()
    if row is None:
        raise NotFound("avatar of user", username)
    return row
