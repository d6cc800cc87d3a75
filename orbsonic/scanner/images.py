"""Which files the scanner treats as audio (and their MIME types), and which image in a folder
is its cover."""

from __future__ import annotations

from collections.abc import Iterable

# Lower-case extensions without the dot.
AUDIO_SUFFIXES: frozenset[str] = frozenset({
    "flac", "mp3", "ogg", "oga", "opus", "m4a", "m4b", "mp4", "aac", "wav", "aif", "aiff",
    "wma", "asf", "ape", "wv", "mpc", "dsf", "dff", "spx", "tta", "mp2", "mp1", "ac3", "eac3",
    "ofr", "ofs", "tak", "3g2",
})
# MIME type served for each audio suffix.
AUDIO_CONTENT_TYPES: dict[str, str] = {
    "flac": "audio/flac", "mp3": "audio/mpeg", "mp2": "audio/mpeg", "mp1": "audio/mpeg",
    "ogg": "audio/ogg", "oga": "audio/ogg", "opus": "audio/ogg", "spx": "audio/ogg",
    "m4a": "audio/mp4", "m4b": "audio/mp4", "mp4": "audio/mp4", "aac": "audio/aac", "3g2": "audio/3gpp2",
    "wav": "audio/wav", "aif": "audio/aiff", "aiff": "audio/aiff", "wma": "audio/x-ms-wma",
    "asf": "audio/x-ms-wma", "ape": "audio/x-ape", "wv": "audio/x-wavpack", "mpc": "audio/x-musepack",
    "dsf": "audio/x-dsf", "dff": "audio/x-dsf", "tta": "audio/x-tta", "ac3": "audio/ac3",
    "eac3": "audio/eac3", "ofr": "audio/x-optimfrog", "ofs": "audio/x-optimfrog", "tak": "audio/x-tak",
}
IMAGE_SUFFIXES: frozenset[str] = frozenset({"jpg", "jpeg", "png", "webp", "gif"})

# Preferred stems, best first. "albumartsmall" (Windows Media Player's thumbnail) is not in
# the list on purpose: it only wins when nothing else is there.
_PREFERRED_STEMS = ("cover", "folder", "front", "album", "albumart")
_STEM_RANK = {stem: rank for rank, stem in enumerate(_PREFERRED_STEMS)}


def _split(name: str) -> tuple[str, str]:
    stem, dot, suffix = name.rpartition(".")
    return (stem, suffix.lower()) if dot else (name, "")


def find_folder_image(filenames: Iterable[str]) -> str | None:
    """The best cover image among the file names of one directory (names only, no paths),
    or None when there is no image.

    Images are names whose extension is in IMAGE_SUFFIXES (case-insensitive). Stems
    cover, folder, front, album, albumart rank first in that order; any other image
    follows, names containing "small" last. Ties go to the alphabetically first name
    (case-insensitive, then exact).
    """
    best: tuple[int, int, str, str] | None = None
    last = len(_PREFERRED_STEMS)
    for name in filenames:
        stem, suffix = _split(name)
        if suffix not in IMAGE_SUFFIXES or not stem or stem.startswith("._"):
            continue
        lowered = stem.lower()
        rank = _STEM_RANK.get(lowered, last)
        key = (rank, 1 if "small" in lowered else 0, name.lower(), name)
        if best is None or key < best:
            best = key
    return best[3] if best is not None else None


def is_audio_name(name: str) -> bool:
    """True when the file name's extension is one of AUDIO_SUFFIXES (case-insensitive)."""
    return _split(name)[1] in AUDIO_SUFFIXES
