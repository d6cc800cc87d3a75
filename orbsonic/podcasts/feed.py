"""A podcast feed (RSS 2.0 with the iTunes tags, Atom, RSS 1.0 …) read with feedparser into
plain data: the channel's title, description and image, and one `Item` per entry that has an
audio enclosure. Pure: bytes in, data out, no I/O.

feedparser accepts almost anything ("bozo" feeds); a document it recognises as no feed
format, or a feed without a title and without audio items, is refused with `FeedError`, so
that an HTML error page served with 200 marks the channel `error` instead of emptying it.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, UTC
from typing import Any

import feedparser

MAX_TEXT = 20_000  # characters kept of a description (some feeds put whole transcripts there)
MAX_GUID = 2_000
_TAG = re.compile(r"<[^>]+>")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_AUDIO_SUFFIXES = (".mp3", ".m4a", ".aac", ".ogg", ".oga", ".opus", ".flac", ".wav", ".mp4")


class FeedError(Exception):
    """The document is not a podcast feed we can read; the message is shown to clients
    (PodcastChannel.errorMessage)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One episode as the feed describes it. `duration_s` from itunes:duration (None when
    absent or unreadable), `length` the enclosure's byte count as claimed (None when absent)."""

    guid: str
    title: str
    description: str | None
    audio_url: str
    mime_type: str | None
    length: int | None
    published: datetime | None
    duration_s: int | None


@dataclass(frozen=True, slots=True)
class Feed:
    """A parsed feed: channel fields and its audio items in feed order."""

    title: str
    description: str | None
    image_url: str | None
    items: tuple[Item, ...]


def clean(text: Any, limit: int = MAX_TEXT) -> str | None:
    """Plain text: HTML tags removed, XML-illegal characters dropped, whitespace collapsed,
    cut to `limit` characters; None when nothing is left."""
    if not isinstance(text, str):
        return None
    text = _CONTROL.sub("", _TAG.sub(" ", text))
    text = " ".join(text.split())
    return text[:limit] or None


def parse_duration(value: Any) -> int | None:
    """itunes:duration in seconds: `3723`, `62:03`, `1:02:03` (fractions dropped); None else."""
    if not isinstance(value, str):
        return None
    parts = value.strip().split(":")
    if not 1 <= len(parts) <= 3:
        return None
    total = 0
    for part in parts:
        head = part.split(".")[0].strip()
        if not head.isascii() or not head.isdigit() or len(head) > 7:
            return None
        total = total * 60 + int(head)
    return total if total < 10 * 24 * 3600 else None


def _published(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _enclosure(entry: Any) -> tuple[str, str | None, int | None] | None:
    """(url, type, length) of the entry's first audio enclosure, or None."""
    for link in entry.get("links") or ():
        if link.get("rel") != "enclosure" or not link.get("href"):
            continue
        mime = (link.get("type") or "").strip().lower() or None
        href = str(link["href"]).strip()
        audio = (mime or "").startswith("audio/") or (
            mime in (None, "application/octet-stream", "video/mp4")
            and href.lower().split("?")[0].endswith(_AUDIO_SUFFIXES))
        if not audio:
            continue
        try:
            length = int(str(link.get("length") or "").strip()) or None
        except ValueError:
            length = None
        return href, mime, length if length and 0 < length < 1 << 62 else None
    return None


def parse(data: bytes, url: str = "") -> Feed:
    """Read a feed document. Raises FeedError when it is not a feed (HTML, garbage, empty),
    or a feed with neither a title nor an audio item."""
    if not data.strip():
        raise FeedError("the feed is empty")
    parsed = feedparser.parse(data, response_headers={"content-location": url} if url else None)
    head = parsed.get("feed") or {}
    if not parsed.get("version"):
        reason = parsed.get("bozo_exception")
        raise FeedError("not an RSS or Atom feed" + (f" ({_short(reason)})" if reason else ""))
    items: list[Item] = []
    seen: set[str] = set()
    for entry in parsed.get("entries") or ():
        enclosure = _enclosure(entry)
        if enclosure is None:
            continue
        audio_url, mime, length = enclosure
        guid = (clean(entry.get("id"), MAX_GUID) or audio_url)[:MAX_GUID]
        if guid in seen:  # a feed listing one item twice: the first one counts
            continue
        seen.add(guid)
        items.append(Item(guid, clean(entry.get("title"), 1000) or audio_url.rsplit("/", 1)[-1],
                          clean(entry.get("summary") or entry.get("subtitle")), audio_url, mime, length,
                          _published(entry), parse_duration(entry.get("itunes_duration"))))
    title = clean(head.get("title"), 1000)
    if title is None and not items:
        raise FeedError("the feed has no title and no audio episodes")
    image = head.get("image") or {}
    image_url = image.get("href") or image.get("url") if isinstance(image, dict) else None
    return Feed(title or url, clean(head.get("subtitle") or head.get("summary")),
                str(image_url).strip() if image_url else None, tuple(items))


def _short(exc: Any) -> str:
    return str(exc).splitlines()[0][:200] if exc else ""
