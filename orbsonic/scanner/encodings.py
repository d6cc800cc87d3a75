"""Legacy 8-bit encodings in ID3 "Latin-1" frames.

ID3v2 text frames declare their encoding; encoding 0 means ISO-8859-1. Older taggers on
Chinese, Japanese, Korean and Russian systems wrote the system code page there instead
(GBK, Big5, Shift-JIS, EUC-KR, CP1251), so a Latin-1 decode gives mojibake: the tinytag
sample `chinese_id3.mp3` reads `½ÇÂäÖ®¸è` for 角落之歌. Such text is recognised by its
shape (runs of high-bit characters, or mostly high-bit letters: real Latin-1 text has an
accented letter here and there between ASCII ones), and only then the original bytes go
to charset-normalizer, restricted to the legacy code pages above. All frames of one file
are judged together: one tag was written by one program, and a longer sample detects
far better than a two-character name.

    enc = choose_encoding(["½ÇÂäÖ®¸è", "ËÕÔÆ"], "auto")   # → "gb18030"
    redecode("½ÇÂäÖ®¸è", enc)                            # → "角落之歌"
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Iterable

from charset_normalizer import from_bytes

# The code pages tried, in charset-normalizer's cp_isolation spelling. GB18030 is a superset
# of GBK and GB2312; CP1252 is not here: Latin-1-looking text never reaches the detector.
LEGACY_ENCODINGS = ("gb18030", "big5", "shift_jis", "euc_jp", "euc_kr", "cp1251", "koi8_r",
                    "cp1250", "cp1253", "cp1254", "cp1255", "cp1256", "cp874")
_C1 = range(0x80, 0xA0)
# ASCII that Big5 and Shift-JIS use as trail bytes but Western text never puts right after an
# accented letter.
_TRAIL_PUNCT = frozenset("@[\\]^_`{|}~")


def plausible_latin1(text: str) -> bool:
    """True when `text` (as decoded from Latin-1) reads like Latin-1: plain ASCII, or
    accented letters between ASCII ones. False for C1 controls, runs of three or more
    high-bit characters, more than half the letters high-bit ones, or two or more high-bit
    symbols glued to a following non-space character or high-bit characters followed by one
    of @[\\]^_`{|}~ (Big5 and Shift-JIS trail bytes are often ASCII: 一 in Big5 reads "¤@";
    a real "©" or "½" stands before a space or digit)."""
    run = high_letters = letters = glued = 0
    previous = ""
    for ch in text:
        code = ord(ch)
        if previous and ord(previous) >= 0xA1 and (
                ch in _TRAIL_PUNCT or (not previous.isalpha() and ord(previous) < 0xC0
                                       and not ch.isspace() and not ch.isdigit())):
            glued += 1
            if glued >= 2:
                return False
        previous = ch
        if code < 0x80:
            run = 0
            if ch.isalpha():
                letters += 1
            continue
        if code in _C1:
            return False
        run += 1
        if run >= 3:
            return False
        if ch.isalpha():
            letters += 1
            high_letters += 1
        elif code < 0xC0 and code != 0xA0 and run >= 2:
            # A symbol (½ ® ¸ ¤ …) right next to other high-bit characters: a byte of a
            # double-byte character, not a "©" standing on its own.
            return False
    return high_letters * 2 <= letters


def _script_penalty(text: str) -> float:
    """Extra doubt for decodings that mix scripts no real title mixes: Hangul with Han
    (GBK bytes read as EUC-KR), half-width katakana (bytes read as Shift-JIS)."""
    hangul = han = halfwidth = 0
    for ch in text:
        code = ord(ch)
        if 0xAC00 <= code <= 0xD7A3:
            hangul += 1
        elif 0x4E00 <= code <= 0x9FFF:
            han += 1
        elif 0xFF61 <= code <= 0xFF9F:
            halfwidth += 1
    penalty = 0.0
    if hangul and han:
        penalty += 0.2
    if halfwidth:
        penalty += 0.2
    return penalty


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) == "Cc" and ch not in "\t\n\r" for ch in text)


def detect(raw: bytes) -> str | None:
    """The most likely legacy code page of `raw` (see LEGACY_ENCODINGS), or None."""
    best: tuple[float, str] | None = None
    for match in from_bytes(raw, cp_isolation=list(LEGACY_ENCODINGS)):
        decoded = str(match)
        if _has_control(decoded):
            continue
        score = match.chaos + _script_penalty(decoded)
        if best is None or score < best[0]:
            best = (score, match.encoding)
    return best[1] if best is not None and best[0] < 0.3 else None


def choose_encoding(texts: Iterable[str], mode: str) -> str | None:
    """The code page to re-decode a file's Latin-1 frames with, or None to leave them.

    `texts`: the frames' text as mutagen decoded it (Latin-1). `mode`: "auto", "off", or a
    codec name (then every non-ASCII text uses it). Raises nothing.
    """
    if mode == "off":
        return None
    texts = [t for t in texts if t and not t.isascii()]
    if not texts:
        return None
    if mode != "auto":
        return mode
    sample = "\n".join(texts)
    if plausible_latin1(sample):
        return None
    try:
        raw = sample.encode("latin-1")
    except UnicodeEncodeError:
        return None
    return detect(raw)


def redecode(text: str, encoding: str) -> str:
    """`text` (a Latin-1 decode) decoded again as `encoding`; unchanged when it is ASCII or
    does not decode cleanly."""
    if text.isascii():
        return text
    try:
        return text.encode("latin-1").decode(encoding)
    except (UnicodeError, LookupError):
        return text


def valid_codec(name: str) -> bool:
    """True when `name` is a Python codec (for the setting's check)."""
    try:
        codecs.lookup(name)
    except LookupError:
        return False
    return True
