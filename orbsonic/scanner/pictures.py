"""Embedded pictures of an audio file (cover art): every picture mutagen finds in FLAC,
ID3, MP4, ASF, APEv2 and Vorbis comments, and the best one, with tinytag as the fallback
(orbsonic/covers.py; `orbsonic.scanner.tags` re-exports `read_picture`)."""

from __future__ import annotations

import base64
import os
from typing import Any, BinaryIO

import mutagen
from mutagen.apev2 import APEv2
from mutagen.asf import ASFTags
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4Cover, MP4Tags
from tinytag import TinyTag

from . import tagvalues as tv


def _pictures(audio: Any) -> list[tuple[int, str | None, bytes]]:
    """(picture type, declared MIME, bytes) of every embedded picture, in file order."""
    found: list[tuple[int, str | None, bytes]] = []
    if isinstance(audio, FLAC):
        found += [(int(p.type), p.mime, p.data) for p in audio.pictures]
    tags = audio.tags
    if isinstance(tags, ID3):
        found += [(int(f.type), f.mime, f.data) for f in tags.getall("APIC")]
    elif isinstance(tags, MP4Tags):
        for cover in tags.get("covr", []):
            mime = "image/png" if getattr(cover, "imageformat", 0) == MP4Cover.FORMAT_PNG else "image/jpeg"
            found.append((3, mime, bytes(cover)))
    elif isinstance(tags, ASFTags):
        for key, value in tags:
            if key == "WM/Picture":
                picture = tv.parse_asf_picture(bytes(value.value))
                if picture is not None:
                    found.append(picture)
    elif isinstance(tags, APEv2):
        for key in ("Cover Art (Front)", "Cover Art (Other)"):
            if key in tags and tags[key].kind == 1:
                raw = tags[key].value
                found.append((3 if "Front" in key else 0, None, raw.partition(b"\x00")[2] or raw))
    elif isinstance(tags, list):
        for key, value in tags:
            lowered = key.lower()
            if lowered in ("metadata_block_picture", "coverart"):
                try:
                    raw = base64.b64decode(value)
                    if lowered == "coverart":
                        found.append((3, None, raw))
                    else:
                        picture = Picture(raw)
                        found.append((int(picture.type), picture.mime, picture.data))
                except Exception:  # noqa: BLE001, S112 - bad base64 or picture block: skip this one
                    continue
    return [p for p in found if p[2]]


def read_picture(path: str | os.PathLike[str] | BinaryIO) -> tuple[bytes, str] | None:
    """The best embedded picture of an audio file (a path, or a seekable binary file object
    such as an S3 object) as (image bytes, MIME type): the first front cover (picture type
    3), else the first picture. None when the file has no picture or cannot be read (never
    raises for unreadable files)."""
    source: Any = path if hasattr(path, "read") else os.fspath(path)  # type: ignore[arg-type]
    try:
        audio = mutagen.File(source)
        pictures = _pictures(audio) if audio is not None else []
    except Exception:  # noqa: BLE001 - unreadable file: try tinytag
        pictures = []
    if not pictures:
        try:
            if isinstance(source, str):
                image = TinyTag.get(source, image=True).images.any
            else:
                source.seek(0)
                image = TinyTag.get(file_obj=source, image=True).images.any
        except Exception:  # noqa: BLE001 - no picture rather than an error
            return None
        if image is None or not image.data:
            return None
        return bytes(image.data), tv.image_mime(bytes(image.data), image.mime_type)
    best = next((p for p in pictures if p[0] == 3), pictures[0])
    return best[2], tv.image_mime(best[2], best[1])
