"""Lyrics at scan time: embedded frames and tags, and `.lrc` / `.txt` sidecar files.

Everything becomes `LyricsEntry` values (OpenSubsonic structuredLyrics, docs/subsonic-spec.md
§5.4), stored by the writer in `track_lyrics` and served by getLyricsBySongId / getLyrics:

* ID3 `USLT` → unsynced (lang from the frame); ID3 `SYLT` (lyrics type, ms or MPEG-frame
  timestamps) → synced;
* Vorbis `LYRICS` / `UNSYNCEDLYRICS` / `SYNCEDLYRICS`, APE `Lyrics`, MP4 `©lyr`, ASF
  `WM/Lyrics`: LRC text (most lines start with `[mm:ss.xx]`) is parsed as synced, other text
  is unsynced, one line per text line;
* sidecars next to the audio file: `song.lrc` (synced; `[offset:±ms]` applied to the
  starts — positive shows lyrics earlier, as in LRC and OpenSubsonic), `song.<lang>.lrc`
  (one entry per language: `song.en.lrc`, `song.de.lrc`) and `song.txt` / `song.<lang>.txt`
  (unsynced). Sidecar text is UTF-8 (a BOM is skipped), else Latin-1.

Pure functions over text and mutagen tag objects; no database.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, BinaryIO

from orbsonic.scanner.encodings import redecode
from orbsonic.scanner.model import LyricsEntry

SIDECAR_SUFFIXES = frozenset({"lrc", "txt"})
UNKNOWN_LANG = "xxx"
MAX_SIDECAR_BYTES = 1 << 20      # a lyrics file is small; a 1 GB "song.txt" is not lyrics
MAX_LINES = 5000

_STAMP = re.compile(r"\[(\d{1,3}):(\d{1,2})(?:[.:](\d{1,3}))?\]")
_LEADING_STAMPS = re.compile(r"^\s*((?:\[\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?\]\s*)+)(.*)$")
_META = re.compile(r"^\s*\[([a-zA-Z#]+):(.*)\]\s*$")
_WORD_STAMP = re.compile(r"<\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?>")
_LANG = re.compile(r"^[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})?$")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # not str.splitlines: U+2028 or \x1c inside a line is text
_TAG_KEYS = ("lyrics", "unsyncedlyrics", "syncedlyrics", "\xa9lyr", "wm/lyrics")


def _ms(minutes: str, seconds: str, fraction: str | None) -> int:
    frac = 0
    if fraction:
        frac = int(fraction) * (10 ** (3 - len(fraction)))  # ".5" 500 ms, ".05" 50 ms, ".005" 5 ms
    return (int(minutes) * 60 + int(seconds)) * 1000 + frac


def looks_like_lrc(text: str) -> bool:
    """True when most non-empty, non-metadata lines start with an LRC timestamp."""
    stamped = plain = 0
    for line in _LINE_BREAK.split(text):
        if not line.strip() or (_META.match(line) and not _LEADING_STAMPS.match(line)):
            continue
        if _LEADING_STAMPS.match(line):
            stamped += 1
        else:
            plain += 1
    return stamped > 0 and stamped >= plain


def parse_lrc(text: str) -> tuple[list[tuple[int, str]], dict[str, str]]:
    """LRC text → (lines as (start ms, text) sorted by start, metadata tags lower-cased).

    `[mm:ss]`, `[mm:ss.x]`, `[mm:ss.xx]`, `[mm:ss.xxx]` and `[mm:ss:xx]` stamps; several
    stamps on one line repeat it; enhanced-LRC word stamps `<mm:ss.xx>` are removed; lines
    without a stamp are ignored. `[offset:+ms]` is applied (positive = earlier, clamped at
    0) and reported in the metadata. Never raises."""
    meta: dict[str, str] = {}
    timed: list[tuple[int, int, str]] = []
    for n, line in enumerate(_LINE_BREAK.split(text)):
        match = _LEADING_STAMPS.match(line)
        if match is None:
            tag = _META.match(line)
            if tag is not None:
                meta.setdefault(tag.group(1).lower(), tag.group(2).strip())
            continue
        words = _WORD_STAMP.sub("", match.group(2)).strip()
        for stamp in _STAMP.finditer(match.group(1)):
            timed.append((_ms(*stamp.groups()), n, words))
        if len(timed) >= MAX_LINES:
            break
    offset = 0
    raw = meta.get("offset", "").strip()
    if re.fullmatch(r"[+-]?\d{1,7}", raw):
        offset = int(raw)
    timed.sort()
    return [(max(0, start - offset), words) for start, _n, words in timed], meta


def _plain_lines(text: str) -> tuple[tuple[None, str], ...]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    while lines and not lines[0].strip():
        lines.pop(0)
    return tuple((None, line.rstrip()) for line in lines[:MAX_LINES])


def _lang(value: Any) -> str:
    text = str(value or "").strip()
    if not text or text.lower() in ("xxx", "und", "\x00\x00\x00") or not _LANG.match(text):
        return UNKNOWN_LANG
    return text.lower()


def from_text(text: str, source: str, lang: str = UNKNOWN_LANG) -> LyricsEntry | None:
    """Lyrics from one tag value or file: synced when it is LRC text, else unsynced lines.
    None when there is no text."""
    text = text.lstrip("\ufeff")
    if not text.strip():
        return None
    if looks_like_lrc(text):
        lines, meta = parse_lrc(text)
        if lines:
            return LyricsEntry(source, _lang(meta.get("la")) if lang == UNKNOWN_LANG else lang, True,
                               tuple(lines), meta.get("ar") or None, meta.get("ti") or None)
    lines = _plain_lines(text)
    return LyricsEntry(source, lang, False, lines) if lines else None


def _sylt(frame: Any, sample_rate: int | None, legacy: str | None) -> LyricsEntry | None:
    if getattr(frame, "type", 1) not in (0, 1):  # 1 = lyrics, 0 = other; not chords, events …
        return None
    fmt = getattr(frame, "format", 2)
    lines = []
    for text, stamp in frame.text or ():
        if fmt == 2:
            start = int(stamp)
        elif fmt == 1 and sample_rate:
            start = round(int(stamp) * 1152 * 1000 / sample_rate)  # MPEG frames of 1152 samples
        else:
            return None
        text = str(text).strip("\r\n")
        lines.append((start, redecode(text, legacy) if legacy else text))
    lines.sort(key=lambda pair: pair[0])
    return LyricsEntry("sylt", _lang(frame.lang), True, tuple(lines[:MAX_LINES])) if lines else None


def embedded(tags: Any, sample_rate: int | None = None, legacy: str | None = None) -> list[LyricsEntry]:
    """Lyrics entries of a mutagen tag object (ID3, MP4, Vorbis, APE, ASF); [] for none.
    `legacy`: the code page of the tag's ID3 Latin-1 frames (orbsonic.scanner.encodings)."""
    from mutagen.apev2 import APEv2
    from mutagen.id3 import ID3

    out: list[LyricsEntry] = []
    if tags is None:
        return out
    if isinstance(tags, ID3):
        for frame in tags.getall("SYLT"):
            entry = _sylt(frame, sample_rate, legacy if frame.encoding == 0 else None)
            if entry is not None:
                out.append(entry)
        for frame in tags.getall("USLT"):
            text = str(frame.text)
            if legacy and frame.encoding == 0:
                text = redecode(text, legacy)
            entry = from_text(text, "uslt", _lang(frame.lang))
            if entry is not None:
                out.append(entry)
        return out
    if isinstance(tags, APEv2):
        items: Iterable[tuple[str, Any]] = ((k, v.value if v.kind == 0 else None) for k, v in tags.items())
    elif isinstance(tags, list):  # Vorbis comments
        items = tags
    elif hasattr(tags, "items"):  # MP4Tags, ASFTags
        items = ((k, v) for k, vs in tags.items() for v in (vs if isinstance(vs, list) else [vs]))
    else:
        return out
    for key, value in items:
        if key.lower() not in _TAG_KEYS or value is None:
            continue
        value = getattr(value, "value", value)
        text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        entry = from_text(text, "tag")
        if entry is not None:
            out.append(entry)
    return out


def matching_sidecars(audio_name: str, names: Sequence[str]) -> list[tuple[str, str]]:
    """(sidecar name, lang) of the `.lrc`/`.txt` names that belong to `audio_name`: same stem,
    or stem + "." + a language code ("song.en.lrc")."""
    stem = audio_name.rpartition(".")[0] or audio_name
    out = []
    for name in names:
        base, dot, suffix = name.rpartition(".")
        if not dot or suffix.lower() not in SIDECAR_SUFFIXES:
            continue
        if base == stem:
            out.append((name, UNKNOWN_LANG))
        elif base.startswith(stem + ".") and _LANG.match(base[len(stem) + 1:]):
            out.append((name, _lang(base[len(stem) + 1:])))
    return sorted(out)


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _open_local(audio_path: str, name: str) -> BinaryIO:
    return open(os.path.join(os.path.dirname(audio_path), name), "rb")


def from_sidecars(audio_path: str, names: Sequence[str],
                  open_sidecar: Callable[[str, str], BinaryIO] = _open_local
                  ) -> tuple[list[LyricsEntry], list[str]]:
    """(entries, warnings) of the sidecar files `names` (already matched to the audio file,
    in its directory). `open_sidecar(audio_path, name)` opens one (default: the local file
    next to the audio file; an S3 folder passes its storage's open). A sidecar that cannot be
    read (OSError, NotFound: e.g. gone since the listing) is a warning, not an error; other
    exceptions (orbsonic.storage.StorageUnavailable) escape, so that the caller keeps what the
    library holds rather than dropping lyrics it could not read."""
    from orbsonic.errors import NotFound

    entries: list[LyricsEntry] = []
    warnings: list[str] = []
    for name, lang in matching_sidecars(audio_path.rpartition("/")[2], names):
        try:
            with open_sidecar(audio_path, name) as fh:
                data = fh.read(MAX_SIDECAR_BYTES + 1)
        except OSError as exc:
            warnings.append(f"lyrics {name}: {exc.strerror or exc}")
            continue
        except NotFound:
            warnings.append(f"lyrics {name}: gone since the listing")
            continue
        if len(data) > MAX_SIDECAR_BYTES:
            warnings.append(f"lyrics {name}: larger than {MAX_SIDECAR_BYTES} bytes, ignored")
            continue
        text = _decode(data)
        if name.lower().endswith(".lrc"):
            entry = from_text(text, "lrc", lang)
        else:
            lines = _plain_lines(text.lstrip("\ufeff"))
            entry = LyricsEntry("txt", lang, False, lines) if lines else None
        if entry is not None:
            entries.append(entry)
    return entries, warnings
