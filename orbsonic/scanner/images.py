"""Which files the scanner treats as audio (and their MIME types), and which image in a folder
is its cover."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
IMAGE_SUFFIXES: frozenset[str] = frozenset({"jpg", "jpeg", "png", "webp", "gif", "bmp"})

# Cover names, best first (setting `cover_names`): only an image whose stem is one of these,
# or the folder's own name (the album's name: "Abbey Road/Abbey Road.jpg"), is a folder cover.
# An arbitrary `image.jpg` or a booklet scan is not (issue 8, "Cover art").
DEFAULT_COVER_NAMES: tuple[str, ...] = ("cover", "folder", "front", "album", "albumart")


def _split(name: str) -> tuple[str, str]:
    stem, dot, suffix = name.rpartition(".")
    return (stem, suffix.lower()) if dot else (name, "")


def cover_names() -> tuple[str, ...]:
    """The `cover_names` setting of this process (the scan child inherits the server's
    environment and config file); the defaults when the settings cannot be read."""
    from orbsonic.config import load_settings
    from orbsonic.errors import ConfigError

    try:
        return load_settings().cover_names
    except ConfigError:
        return DEFAULT_COVER_NAMES


def find_folder_image(filenames: Iterable[str], dir_name: str = "",
                      names: Sequence[str] = DEFAULT_COVER_NAMES) -> str | None:
    """The folder cover among the file names of one directory (names only, no paths), or None.

    Images are names whose extension is in IMAGE_SUFFIXES (case-insensitive). Only a stem
    in `names` (case-insensitive; earlier ranks first) or equal to `dir_name`, the
    directory's own name (ranked after `names`), makes a cover; "albumartsmall" and other
    names are not covers. Ties go to the alphabetically first name (case-insensitive, then
    exact), so "Cover.jpg" and "cover.png" resolve the same way on every scan.
    """
    rank_of = {stem.lower(): rank for rank, stem in reversed(list(enumerate(names)))}
    own = dir_name.strip().lower()
    best: tuple[int, str, str] | None = None
    for name in filenames:
        stem, suffix = _split(name)
        if suffix not in IMAGE_SUFFIXES or not stem or stem.startswith("._"):
            continue
        lowered = stem.strip().lower()
        rank = rank_of.get(lowered, len(names) if own and lowered == own else None)
        if rank is None:
            continue
        key = (rank, name.lower(), name)
        if best is None or key < best:
            best = key
    return best[2] if best is not None else None


def is_audio_name(name: str) -> bool:
    """True when the file name's extension is one of AUDIO_SUFFIXES (case-insensitive)."""
    return _split(name)[1] in AUDIO_SUFFIXES
