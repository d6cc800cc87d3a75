"""Format-neutral decoding of raw tag values, used by `orbsonic.scanner.tags`.

Every helper takes what mutagen hands out (str, bytes, int, bool, tuples) and returns a
clean Python value. None of them raises on odd input: a value that cannot be decoded
becomes None (or an empty tuple), and helpers that take a `warnings` list append a short
note to it for the scan log. All patterns are compiled once, at import.
"""

from __future__ import annotations

import functools
import math
import re
import struct
from collections.abc import Iterable, Sequence

INT32_MAX = 2**31 - 1

# XML 1.0 forbids C0 controls other than tab/LF/CR, U+FFFE, U+FFFF and lone surrogates.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_GENRE_SEPARATORS = re.compile(r"\s*[;/,\x00]\s*")
_NUMBER_PAIR = re.compile(r"^\s*(\d+)\s*(?:(?:/|of)\s*(\d*)\s*)?$", re.IGNORECASE)
_DATE = re.compile(
    r"^\s*(\d{4})(?:([-./])(\d{1,2})(?:\2(\d{1,2}))?)?"  # 2003, 2003-05, 2003-05-04, 2003.05.04
    r"(?:[T ]\d{1,2}(?::\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?)?\s*$"  # optional time
)
_COMPACT_DATE = re.compile(r"^\s*(\d{4})(\d{2})(\d{2})\s*$")  # 20030504
_FLOAT_PREFIX = re.compile(r"^\s*([+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)?)")
_TRUE_WORDS = frozenset({"1", "true", "yes", "y", "on", "t"})
_ADVISORY = {1: "explicit", 4: "explicit", 2: "clean"}


def clean_text(value: object) -> str | None:
    """Text fit for XML and the database: XML-illegal characters removed, whitespace
    stripped, "" → None. bytes are decoded as UTF-8 (invalid bytes replaced); other
    objects go through str(). Idempotent: clean_text(clean_text(x)) == clean_text(x).
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    elif not isinstance(value, str):
        value = str(value)
    value = _XML_ILLEGAL.sub("", value).strip()
    return value or None


def dedupe(values: Iterable[str], casefold: bool = False) -> tuple[str, ...]:
    """Values in first-seen order without repeats (compared case-insensitively when
    `casefold`, keeping the first spelling)."""
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        key = value.casefold() if casefold else value
        if key not in seen:
            seen.add(key)
            out.append(value)
    return tuple(out)


def as_text(value: object) -> str:
    """A tag value as text: bytes decoded as UTF-8 (bad bytes replaced), others str()-ed."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else str(value)


def clean_list(values: Iterable[object]) -> tuple[str, ...]:
    """Multi-valued text: each value split on NUL (ID3/APE multi-value separator),
    cleaned, empties dropped, exact duplicates removed."""
    out: list[str] = []
    for value in values:
        for part in as_text(value).split("\x00"):
            text = clean_text(part)
            if text:
                out.append(text)
    return dedupe(out)


_FEAT_WORDS = frozenset({"feat.", "ft.", "featuring", "feat", "ft"})


class NameSplitter:
    """Splits artist/composer tags into names on configured separators (setting
    `artist_separators`), keeping the names of `exceptions` (`artist_separator_exceptions`,
    e.g. "AC/DC") whole. A separator with a space on a side needs whitespace there
    (" / " splits "A / B", not "AC/DC"); without one, any whitespace is allowed (";" splits
    "A;B" and "A ; B"). Matching ignores case. When "feat."-like words are separators, the
    bracketed "Title (feat. X)" form is split too."""

    def __init__(self, separators: Sequence[str], exceptions: Sequence[str] = ()) -> None:
        parts = []
        for sep in separators:
            core = sep.strip()
            if not core:
                continue
            before = r"\s+" if sep[:1].isspace() else r"\s*"
            after = r"\s+" if sep[-1:].isspace() else r"\s*"
            parts.append(before + re.escape(core) + after)
        # Longest first, so " featuring " wins over " feat".
        parts.sort(key=len, reverse=True)
        self._split = re.compile("|".join(parts), re.IGNORECASE) if parts else None
        feats = [s.strip() for s in separators if s.strip().lower() in _FEAT_WORDS]
        # "Title (feat. X)" / "A [ft. B]": the bracketed guest becomes one more name.
        self._bracket = (re.compile(r"\s*[(\[]\s*(?:" + "|".join(re.escape(w) for w in feats)
                                    + r")\s+([^)\]]+?)\s*[)\]]", re.IGNORECASE) if feats else None)
        self._feat = f" {feats[0]} " if feats else ""
        names = sorted((e.strip() for e in exceptions if e.strip()), key=len, reverse=True)
        self._exceptions = (re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)",
                                       re.IGNORECASE)
                            if names else None)

    def split_one(self, value: str) -> list[str]:
        """One cleaned tag value → its names (exceptions kept whole, empties dropped)."""
        kept: list[str] = []
        if self._exceptions is not None:
            def hold(match: re.Match[str]) -> str:
                kept.append(match.group(0))
                return f"\x00{len(kept) - 1}\x00"
            value = self._exceptions.sub(hold, value)
        if self._bracket is not None:
            value = self._bracket.sub(lambda m: self._feat + m.group(1), value)
        pieces = self._split.split(value) if self._split is not None else [value]
        out = []
        for piece in pieces:
            if kept:
                piece = re.sub("\x00(\\d+)\x00", lambda m: kept[int(m.group(1))], piece)
            text = clean_text(piece)
            if text:
                out.append(text)
        return out


@functools.lru_cache(maxsize=8)
def splitter_for(separators: tuple[str, ...], exceptions: tuple[str, ...]) -> NameSplitter:
    """The (cached) NameSplitter of one configuration."""
    return NameSplitter(separators, exceptions)


DEFAULT_SPLITTER = splitter_for((" / ", "; ", " feat. ", " ft. ", " featuring "), ("AC/DC",))


def split_names(values: Iterable[object], splitter: NameSplitter | None = None) -> tuple[str, ...]:
    """Artist/composer names from one or more tag values: each value is split on NUL
    (ID3v2.4/APE multi-values, always) and on the separators of `splitter` (default:
    " / ", "; ", " feat. ", " ft. ", " featuring ", case-insensitive, and bracketed
    "(feat. X)"), never on a bare "," or "&" ("Earth, Wind & Fire" stays whole)."""
    splitter = splitter or DEFAULT_SPLITTER
    out: list[str] = []
    for value in clean_list(values):
        out += splitter.split_one(value)
    return dedupe(out)


def display_name(values: Iterable[object]) -> str | None:
    """An ARTIST tag as written: a single value unchanged (cleaned), several values joined
    with " / "; None when there is nothing."""
    names = clean_list(values)
    return " / ".join(names) if names else None


def split_genres(values: Iterable[object]) -> tuple[str, ...]:
    """Genres split on ";", "/", "," and NUL, cleaned, deduplicated case-insensitively
    (the first spelling wins)."""
    out: list[str] = []
    for value in values:
        for part in _GENRE_SEPARATORS.split(as_text(value)):
            text = clean_text(part)
            if text:
                out.append(text)
    return dedupe(out, casefold=True)


def _small_int(number: int) -> int | None:
    """A positive number that fits a PostgreSQL integer, else None."""
    return number if 0 < number <= INT32_MAX else None


def parse_number_pair(value: object, warnings: list[str] | None = None,
                      label: str = "number") -> tuple[int | None, int | None]:
    """Track/disc numbering. "2/10" → (2, 10); "2" → (2, None); "2/" → (2, None);
    (2, 10) tuples (MP4 trkn/disk) and ints pass through. Zero, negative or out-of-int32
    numbers become None. Non-numeric text ("one", "A1") → (None, None) plus a warning.
    """
    if isinstance(value, bool):
        return None, None
    if isinstance(value, int):
        return _small_int(value), None
    if isinstance(value, tuple):
        first = value[0] if len(value) > 0 and isinstance(value[0], int) else 0
        second = value[1] if len(value) > 1 and isinstance(value[1], int) else 0
        return _small_int(first), _small_int(second)
    text = clean_text(value)
    if text is None:
        return None, None
    match = _NUMBER_PAIR.match(text)
    if match is None:
        if warnings is not None:
            warnings.append(f"{label} {text[:40]!r} is not a number")
        return None, None
    total = match.group(2)
    return _small_int(int(match.group(1))), (_small_int(int(total)) if total else None)


def parse_int(value: object, warnings: list[str] | None = None, label: str = "number") -> int | None:
    """A positive whole number (BPM, totals): ints pass, "120", "120.6" → 121, "3/3" → 3.
    Anything else → None plus a warning."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _small_int(value)
    if isinstance(value, tuple):
        return parse_number_pair(value)[0]
    text = clean_text(value)
    if text is None:
        return None
    number = parse_float(text)
    if number is None:
        first, _ = parse_number_pair(text)
        if first is None and warnings is not None:
            warnings.append(f"{label} {text[:40]!r} is not a number")
        return first
    return _small_int(round(number))


def parse_float(value: object) -> float | None:
    """Leading decimal number of a value: "-6.5 dB" → -6.5, "0,98" → 0.98, "+3 dB" → 3.0.
    None when there is no number or it is not finite."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = clean_text(value)
        if text is None:
            return None
        match = _FLOAT_PREFIX.match(text)
        if match is None:
            return None
        try:
            number = float(match.group(1).replace(",", "."))
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def parse_gain(value: object) -> float | None:
    """ReplayGain gain in dB ("-6.5 dB", "+3.20 dB", "-6.5"); implausible (|g| > 100) → None."""
    number = parse_float(value)
    return number if number is not None and abs(number) <= 100.0 else None


def parse_peak(value: object) -> float | None:
    """ReplayGain peak as a linear amplitude ("0.988", "1.2"); negative or > 100 → None."""
    number = parse_float(value)
    return number if number is not None and 0.0 <= number <= 100.0 else None


def parse_bool(value: object) -> bool:
    """Compilation-style flags: True for True, non-zero ints, "1", "true", "yes"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    text = clean_text(value)
    return text is not None and text.lower() in _TRUE_WORDS


def parse_advisory(value: object) -> str:
    """iTunes advisory (ITUNESADVISORY / MP4 rtng): 1 or 4 → "explicit", 2 → "clean", else ""."""
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if number is None:
        text = clean_text(value)
        if text is None:
            return ""
        lowered = text.lower()
        if lowered in ("explicit", "clean"):
            return lowered
        number = int(text) if text.isdigit() and len(text) < 4 else None
    return _ADVISORY.get(number, "") if number is not None else ""


def parse_date(value: object, warnings: list[str] | None = None, label: str = "date") -> str | None:
    """A tag date normalised to "YYYY", "YYYY-MM" or "YYYY-MM-DD".

    Accepts "2003", "2003-05", "2003-05-04", "2009-09-04 14:20", "1987-03-31T07:00:00Z",
    "2003.05.04" and "20030504". A month or day out of range drops the finer parts. The
    year must be plausible (1000–2999). Anything else ("Oct 3, 1995") → None plus a warning.
    """
    text = clean_text(value)
    if text is None:
        return None
    match = _DATE.match(text)
    if match is not None:
        year, month, day = match.group(1), match.group(3), match.group(4)
    else:
        match = _COMPACT_DATE.match(text)
        if match is None:
            if warnings is not None:
                warnings.append(f"{label} {text[:40]!r} is not a date")
            return None
        year, month, day = match.group(1), match.group(2), match.group(3)
    if not 1000 <= int(year) <= 2999:
        if warnings is not None:
            warnings.append(f"{label} {text[:40]!r} has an implausible year")
        return None
    if month is None or not 1 <= int(month) <= 12:
        return year
    if day is None or not 1 <= int(day) <= 31:
        return f"{year}-{int(month):02d}"
    return f"{year}-{int(month):02d}-{int(day):02d}"


def year_of(date: str | None) -> int | None:
    """Year of a normalised date (the first four digits when they are 1000–2999)."""
    if not date or len(date) < 4 or not date[:4].isdigit():
        return None
    year = int(date[:4])
    return year if 1000 <= year <= 2999 else None


def first_text(values: Sequence[object]) -> str | None:
    """The first value that is non-empty after cleaning, or None."""
    for value in values:
        text = clean_text(value)
        if text is not None:
            return text
    return None


_MBID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def parse_mbid(value: object) -> str | None:
    """A MusicBrainz identifier (a UUID), lower-cased; None when the value is not one."""
    text = clean_text(value)
    if text is None:
        return None
    text = text.lower()
    return text if _MBID.match(text) else None


_MIME_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"),
               (b"BM", "image/bmp"), (b"II*\x00", "image/tiff"), (b"MM\x00*", "image/tiff"))


def image_mime(data: bytes, declared: str | None) -> str:
    """The MIME type of image bytes: sniffed from the magic bytes (JPEG, PNG, GIF, BMP, TIFF,
    WebP), else the declared type when it is an image/* one, else application/octet-stream."""
    for magic, mime in _MIME_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    declared = (declared or "").strip().lower()
    if declared in ("jpg", "jpeg", "image/jpg"):
        return "image/jpeg"
    if declared in ("png",):
        return "image/png"
    return declared if declared.startswith("image/") else "application/octet-stream"


def parse_asf_picture(data: bytes) -> tuple[int, str, bytes] | None:
    """An ASF WM/Picture value: (picture type, declared MIME, image bytes), or None when too
    short. Layout: type u8, size u32le, MIME and description as NUL-terminated UTF-16LE."""
    if len(data) < 9:
        return None
    kind, size = struct.unpack_from("<BI", data)
    pos = 5
    texts = []
    for _ in range(2):
        end = pos
        while end + 1 < len(data) and data[end:end + 2] != b"\x00\x00":
            end += 2
        texts.append(data[pos:end].decode("utf-16-le", "replace"))
        pos = end + 2
    return kind, texts[0], data[pos:pos + size]
