"""orbsonic.podcasts.feed: feeds in several dialects in, channel fields and audio items out;
documents that are no feed refused."""

from __future__ import annotations

from datetime import datetime, UTC

import pytest

from orbsonic.podcasts.feed import FeedError, parse, parse_duration

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Atom Cast</title><subtitle>Episodes in Atom</subtitle><id>urn:x</id>
  <updated>2024-03-01T00:00:00Z</updated>
  <entry><title>Atom one</title><id>urn:a1</id><updated>2024-03-01T08:30:00Z</updated>
    <link rel="enclosure" type="audio/ogg" length="99" href="http://h.example/a1.ogg"/></entry>
  <entry><title>Only a link</title><id>urn:a2</id><updated>2024-03-02T08:30:00Z</updated>
    <link rel="alternate" href="http://h.example/page"/></entry>
</feed>"""

RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
<title>R &amp; D</title><description>&lt;b&gt;Bold&lt;/b&gt; claims</description>
<image><url>http://h.example/img.jpg</url><title>x</title><link>http://h.example</link></image>
<item><title>No guid</title><enclosure url="http://h.example/e1.mp3" length="" type=""/>
  <itunes:duration>1:02:03</itunes:duration><pubDate>Tue, 02 Jan 2024 03:04:05 +0100</pubDate></item>
<item><title>Video</title><enclosure url="http://h.example/v.mp4" type="video/mp4"/></item>
<item><title>Dupe</title><guid>g</guid><enclosure url="http://h.example/d1.mp3" type="audio/mpeg"/></item>
<item><title>Dupe again</title><guid>g</guid><enclosure url="http://h.example/d2.mp3" type="audio/mpeg"/></item>
<item><title>PDF</title><enclosure url="http://h.example/notes.pdf" type="application/pdf"/></item>
</channel></rss>"""


def test_atom_feed() -> None:
    feed = parse(ATOM, "http://h.example/atom")
    assert (feed.title, feed.description, feed.image_url) == ("Atom Cast", "Episodes in Atom", None)
    [item] = feed.items  # the entry without an enclosure is no episode
    assert (item.guid, item.title, item.audio_url, item.mime_type, item.length) == (
        "urn:a1", "Atom one", "http://h.example/a1.ogg", "audio/ogg", 99)
    assert item.published == datetime(2024, 3, 1, 8, 30, tzinfo=UTC)


def test_rss_feed_with_itunes_tags() -> None:
    feed = parse(RSS)
    assert feed.title == "R & D" and feed.description == "Bold claims"
    assert feed.image_url == "http://h.example/img.jpg"
    assert [i.title for i in feed.items] == ["No guid", "Video", "Dupe"]  # PDF skipped, dupe guid once
    first = feed.items[0]
    assert first.guid == "http://h.example/e1.mp3"  # no guid: the enclosure URL keys the item
    assert first.duration_s == 3723 and first.length is None
    assert first.published == datetime(2024, 1, 2, 2, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize("doc", [b"", b"   ", b"<html><body>Not found</body></html>", b"\x00\x01\x02garbage",
                                 b'{"json": true}', b"<rss version='2.0'><channel></channel></rss>"])
def test_not_a_feed(doc: bytes) -> None:
    with pytest.raises(FeedError):
        parse(doc)


@pytest.mark.parametrize(("text", "seconds"), [("3723", 3723), ("62:03", 3723), ("1:02:03", 3723),
                                               ("1:02:03.5", 3723), ("", None), ("abc", None),
                                               ("1:2:3:4", None), ("٣", None), (None, None)])
def test_durations(text: str | None, seconds: int | None) -> None:
    assert parse_duration(text) == seconds
