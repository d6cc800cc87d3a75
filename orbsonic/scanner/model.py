"""What the tag reader hands the scanner: one `TrackInfo` per audio file.

Produced by `orbsonic.scanner.tags.read_track(path)` (worker processes, so everything
here must pickle cheaply) and consumed by `orbsonic.scanner.writer`. Text values are
already cleaned of XML-illegal characters and stripped; empty strings become None;
multi-valued fields are tuples without empty or duplicate entries.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Default artist separators (scanner.artist_separators): a separator written with a space on
# a side needs whitespace there ("A / B" splits, "AC/DC" does not); matching ignores case.
DEFAULT_ARTIST_SEPARATORS = (" / ", "; ", " feat. ", " ft. ", " featuring ")
DEFAULT_ARTIST_EXCEPTIONS = ("AC/DC",)


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """How tags are interpreted (settings `tag_legacy_encoding`, `artist_separators`,
    `artist_separator_exceptions`). Pickled to the tag-reading workers.

    legacy_encoding: "auto" (detect GBK/Big5/Shift-JIS/CP1251 … in ID3 Latin-1 frames whose
    text is not plausible Latin-1), "off" (take Latin-1 frames as Latin-1), or a Python codec
    name used for every Latin-1 frame that is not plain ASCII.
    """

    legacy_encoding: str = "auto"
    artist_separators: tuple[str, ...] = DEFAULT_ARTIST_SEPARATORS
    artist_exceptions: tuple[str, ...] = DEFAULT_ARTIST_EXCEPTIONS


class UnreadableFile(Exception):
    """The file cannot be indexed. `reason` is a short human-readable cause for the log."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(slots=True)
class AudioProps:
    """Stream properties. Units: ms, Hz, kbps, bits; None where the format has no such thing."""

    suffix: str                      # lower-case file extension without the dot: "flac"
    content_type: str                # MIME type: "audio/flac", "audio/mpeg", "audio/mp4" …
    codec: str                       # "flac", "mp3", "aac", "alac", "vorbis", "opus", "pcm", …
    duration_ms: int = 0
    bitrate: int | None = None       # kbps
    sample_rate: int | None = None   # Hz
    bit_depth: int | None = None     # lossless formats only
    channels: int | None = None
    total_samples: int | None = None  # FLAC STREAMINFO (0 = unknown → None)
    audio_offset: int | None = None  # FLAC: byte offset of the first audio frame
    seek_index: bytes | None = None  # FLAC: big-endian u64 (sample, byte offset) pairs


@dataclass(frozen=True, slots=True)
class LyricsEntry:
    """One set of lyrics of a track (OpenSubsonic structuredLyrics).

    `lines`: (start ms or None, text) in order; start is None for every line of unsynced
    lyrics. `lang`: ISO 639 code as found, "xxx" when unknown. `source`: where it came from
    ("uslt", "sylt", "tag", "lrc", "txt"); `offset_ms` was already applied to the starts.
    """

    source: str
    lang: str
    synced: bool
    lines: tuple[tuple[int | None, str], ...]
    display_artist: str | None = None
    display_title: str | None = None


@dataclass(slots=True)
class TrackInfo:
    """All tag data of one audio file, format-neutral (see tags.FIELDS for the mapping)."""

    props: AudioProps
    title: str | None = None
    artists: tuple[str, ...] = ()          # ARTISTS (multi) or the split ARTIST tag
    artist_display: str | None = None      # ARTIST as written, "A feat. B"
    album: str | None = None
    album_artists: tuple[str, ...] = ()
    album_artist_display: str | None = None
    composers: tuple[str, ...] = ()
    genres: tuple[str, ...] = ()
    track_no: int | None = None
    track_total: int | None = None
    disc_no: int | None = None
    disc_total: int | None = None
    disc_subtitle: str | None = None
    year: int | None = None
    date: str | None = None                # "YYYY", "YYYY-MM" or "YYYY-MM-DD"
    original_date: str | None = None
    release_date: str | None = None
    compilation: bool = False
    comment: str | None = None
    lyrics: str | None = None
    bpm: int | None = None
    explicit_status: str = ""              # "explicit", "clean" or ""
    isrc: tuple[str, ...] = ()
    moods: tuple[str, ...] = ()
    groupings: tuple[str, ...] = ()
    record_labels: tuple[str, ...] = ()
    release_types: tuple[str, ...] = ()
    album_version: str | None = None
    sort_title: str | None = None
    sort_album: str | None = None
    sort_artist: str | None = None
    sort_album_artist: str | None = None
    rg_track_gain: float | None = None     # dB
    rg_track_peak: float | None = None
    rg_album_gain: float | None = None
    rg_album_peak: float | None = None
    mbid_recording: str | None = None      # MUSICBRAINZ_TRACKID (recording)
    mbid_track: str | None = None          # MUSICBRAINZ_RELEASETRACKID
    mbid_album: str | None = None
    mbid_release_group: str | None = None
    mbid_artists: tuple[str, ...] = ()
    mbid_album_artists: tuple[str, ...] = ()
    has_picture: bool = False              # an embedded cover is present
    audio_hash: str | None = None          # checksum of the audio stream (tags excluded), for moves
    lyrics_entries: tuple[LyricsEntry, ...] = ()  # embedded and sidecar lyrics (scanner.lyrics)
    lyrics_sig: str | None = None          # the sidecars read (name, size, mtime), to notice changes
    warnings: list[str] = field(default_factory=list)  # non-fatal oddities, for the log
