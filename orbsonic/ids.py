"""Ids: internal 63-bit integers, public opaque strings.

Albums, artists, genres and directories get ids *derived from their natural key*
(`key_id`), so an album that disappears and comes back (an unmounted disk, a retag
that is later undone) gets the same id again and its stars and plays survive.
Tracks get sequence ids; moved files are matched by fingerprint in the scanner.

Public ids are `<kind>-<base36>`: `tr-2s`, `al-1y2p0ij32e8e7`. They never contain `;`
(DSub splits id lists on it) and are strings in JSON (Aurial, sunk, Amperfy).
Cover art ids add a version so that clients refetch a changed cover: `al-1y2p_k3j2`.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

from orbsonic.errors import BadParam

KINDS = {"tr": "track", "al": "album", "ar": "artist", "dr": "directory", "pl": "playlist",
         "pc": "podcast channel", "pe": "podcast episode"}
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
# Podcast channels and episodes (pc-…, pe-…) have ids of their own kind, so an episode id
# can never name a track (and a track id given for an episode is 70, not another item).
_PUBLIC_RE = re.compile(r"(tr|al|ar|dr|pl|pc|pe)-([0-9a-z]{1,13})")
_COVER_RE = re.compile(r"(tr|al|ar|dr|pl|pc)-([0-9a-z]{1,13})(?:_([0-9a-z]{1,13}))?")


def fold(text: str | None) -> str:
    """Accent- and case-insensitive form used for keys, sorting and search.

    "Björk" → "bjork", "Ǆ" → "dž". NFKD, combining marks dropped, casefolded,
    whitespace collapsed.
    """
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


def key_id(*parts: str) -> int:
    """A stable positive 63-bit id from a natural key (blake2b of the parts, \\x1f-joined)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1 or 1


def b36(n: int) -> str:
    """Base-36 text of a non-negative integer."""
    if n < 0:
        raise ValueError("negative id")
    if n == 0:
        return "0"
    out = []
    while n:
        n, r = divmod(n, 36)
        out.append(_ALPHABET[r])
    return "".join(reversed(out))


def public_id(kind: str, n: int) -> str:
    """Public id string for an internal id, e.g. public_id("al", 42) == "al-16"."""
    return f"{kind}-{b36(n)}"


def parse_id(text: str | None, *kinds: str, param: str = "id") -> tuple[str, int]:
    """Parse a public id into (kind, internal id).

    Raises BadParam when the text is not a public id or its kind is not one of `kinds`
    (any kind when none are given). Callers turn a missing row into NotFound.
    """
    m = _PUBLIC_RE.fullmatch((text or "").strip())
    if not m or (kinds and m.group(1) not in kinds):
        want = "/".join(f"{k}-…" for k in kinds) or "an id"
        raise BadParam(param, f"{text!r} is not {want}")
    n = int(m.group(2), 36)
    if n >= 1 << 63:
        raise BadParam(param, f"{text!r} is out of range")
    return m.group(1), n


def cover_id(kind: str, n: int, version: int | None = None) -> str:
    """Cover art id: the owner's public id plus a version (e.g. the source's mtime)."""
    base = public_id(kind, n)
    return f"{base}_{b36(version)}" if version else base


def parse_cover_id(text: str | None) -> tuple[str, int, str]:
    """Parse a cover art id into (kind, internal id, canonical text). Raises BadParam."""
    m = _COVER_RE.fullmatch((text or "").strip())
    if not m:
        raise BadParam("id", f"{text!r} is not a cover art id")
    n = int(m.group(2), 36)
    if n >= 1 << 63:
        raise BadParam("id", f"{text!r} is out of range")
    return m.group(1), n, m.group(0)
