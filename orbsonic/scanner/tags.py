"""Read one audio file into a `TrackInfo`, and its embedded picture, over mutagen.

`read_track` opens the file once, lets mutagen parse it, flattens the tags into one
lower-cased key → values view per family (`_view`), walks the field table of `tagfields`
(`FIELDS`, re-exported here), and decodes each value by its kind with the helpers of
`tagvalues`. Stream properties (codec, content type, length, rate …) come from mutagen's
info; FLAC files also get their seek index from `flacinfo`. Files mutagen cannot read go
through tinytag; files neither can read raise `UnreadableFile`. `read_picture` returns the
best embedded picture.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any, BinaryIO

import mutagen
from mutagen.apev2 import APEv2
from mutagen.asf import ASFTags
from mutagen.flac import FLAC
from mutagen.id3 import ID3
from mutagen.mp4 import MP4FreeForm, MP4Tags
from tinytag import TinyTag

from . import tagvalues as tv
from .flacinfo import FlacError, build_seek_index, parse_streaminfo
from .images import AUDIO_CONTENT_TYPES, AUDIO_SUFFIXES
from .audiohash import audio_hash
from .encodings import choose_encoding, redecode
from .lyrics import embedded as embedded_lyrics
from .model import AudioProps, ScanOptions, TrackInfo, UnreadableFile
from .pictures import read_picture
from .streamcheck import check_duration
from .tagfields import (
    ADVISORY,
    BOOL,
    DATE,
    DISPLAY,
    FIELDS,
    GAIN,
    GENRES,
    INT,
    LIST,
    MBID,
    MBIDS,
    NAMES,
    PAIR,
    PEAK,
    PICTURE,
    PLANS,
    PLANS_BY_NAME,
    TEXT,
    Field,
)

__all__ = ["FIELDS", "LOSSLESS_CODECS", "Field", "read_picture", "read_track"]


# ---- value decoders: (values, warnings, label) -> field value ----

def _first_pair(values: list[Any], warnings: list[str], label: str) -> tuple[int | None, int | None]:
    for value in values:
        pair = tv.parse_number_pair(value, warnings, label)
        if pair[0] is not None or pair[1] is not None:
            return pair
    return None, None


def _first_int(values: list[Any], warnings: list[str], label: str) -> int | None:
    for value in values:
        number = tv.parse_int(value, warnings, label)
        if number is not None:
            return number
    return None


def _first_date(values: list[Any], warnings: list[str], label: str) -> str | None:
    for value in values:
        date = tv.parse_date(value, warnings, label)
        if date is not None:
            return date
    return None


def _first_of(parse: Callable[[Any], Any]) -> Callable[[list[Any], list[str], str], Any]:
    def decode(values: list[Any], warnings: list[str], label: str) -> Any:
        for value in values:
            result = parse(value)
            if result is not None and result != "":
                return result
        return None
    return decode


def _mbids(values: list[Any], warnings: list[str], label: str) -> tuple[str, ...]:
    out = []
    for value in tv.clean_list(values):
        for part in value.replace(";", "/").split("/"):
            mbid = tv.parse_mbid(part)
            if mbid is not None:
                out.append(mbid)
            elif part.strip():
                warnings.append(f"{label} {part.strip()[:40]!r} is not a MusicBrainz id")
    return tv.dedupe(out)


def _mbid(values: list[Any], warnings: list[str], label: str) -> str | None:
    ids = _mbids(values, warnings, label)
    return ids[0] if ids else None


_DECODERS: dict[str, Callable[[list[Any], list[str], str], Any]] = {
    TEXT: lambda values, warnings, label: tv.first_text(values),
    LIST: lambda values, warnings, label: tv.clean_list(values),
    DISPLAY: lambda values, warnings, label: tv.display_name(values),
    GENRES: lambda values, warnings, label: tv.split_genres(values),
    PAIR: _first_pair,
    INT: _first_int,
    DATE: _first_date,
    BOOL: lambda values, warnings, label: any(tv.parse_bool(v) for v in values),
    GAIN: _first_of(tv.parse_gain),
    PEAK: _first_of(tv.parse_peak),
    ADVISORY: lambda values, warnings, label: _first_of(tv.parse_advisory)(values, warnings, label) or "",
    MBID: _mbid,
    MBIDS: _mbids,
    PICTURE: lambda values, warnings, label: bool(values),
}
_EMPTY = {LIST: (), NAMES: (), GENRES: (), MBIDS: (), BOOL: False, ADVISORY: "", PICTURE: False,
          PAIR: (None, None)}


# ---- per-family views: lower-cased key -> list of plain values ----

def _latin1_texts(tags: ID3) -> list[str]:
    """The texts of every frame stored as Latin-1 (ID3 encoding 0)."""
    out: list[str] = []
    for frame in tags.values():
        if getattr(frame, "encoding", None) != 0:
            continue
        text = getattr(frame, "text", None)
        if isinstance(text, str):
            out.append(text)
        elif isinstance(text, list):
            out += [t for t in text if isinstance(t, str)]
    return out


def _legacy_encoding(tags: Any, options: ScanOptions, warnings: list[str]) -> str | None:
    """The code page of an ID3 tag's Latin-1 frames when they are not Latin-1 (encodings)."""
    if not isinstance(tags, ID3):
        return None
    encoding = choose_encoding(_latin1_texts(tags), options.legacy_encoding)
    if encoding is not None:
        warnings.append(f"ID3 Latin-1 frames decoded as {encoding}")
    return encoding


def _id3_view(tags: ID3, encoding: str | None) -> dict[str, list[Any]]:
    view: dict[str, list[Any]] = {}
    for frame in tags.values():
        fid = frame.FrameID
        fix = encoding is not None and getattr(frame, "encoding", None) == 0
        if fid == "TXXX":
            key, values = "txxx:" + frame.desc.lower(), list(frame.text)
        elif fid == "UFID":
            key, values = "ufid:" + frame.owner.lower(), [frame.data]
        elif fid == "COMM":
            key = "comm:" + frame.desc.lower() if frame.desc else "comm"
            values = list(frame.text)
        elif fid == "USLT":
            key, values = "uslt", [frame.text]
        elif fid == "TCON":
            key, values = "tcon", frame.genres
        elif fid == "APIC":
            key, values = "apic", ([frame] if frame.data else [])
        elif hasattr(frame, "text") and isinstance(frame.text, list):
            key, values = fid.lower(), [str(t) for t in frame.text]  # ID3TimeStamp → "2003-05-04"
        else:
            continue
        if fix:
            values = [redecode(v, encoding) if isinstance(v, str) else v for v in values]  # type: ignore[arg-type]
        view.setdefault(key, []).extend(values)
    return view


def _mp4_value(value: Any) -> Any:
    if isinstance(value, MP4FreeForm):
        encoding = "utf-16-be" if value.dataformat == 2 else "utf-8"
        return bytes(value).decode(encoding, "replace")
    return value


def _mp4_view(tags: MP4Tags) -> dict[str, list[Any]]:
    view: dict[str, list[Any]] = {}
    for key, value in tags.items():
        values = value if isinstance(value, list) else [value]
        view.setdefault(key.lower(), []).extend(_mp4_value(v) for v in values)
    return view


def _pairs_view(pairs: Any, unwrap: bool) -> dict[str, list[Any]]:
    view: dict[str, list[Any]] = {}
    for key, value in pairs:
        view.setdefault(key.lower(), []).append(value.value if unwrap else value)
    return view


def _ape_view(tags: APEv2) -> dict[str, list[Any]]:
    view: dict[str, list[Any]] = {}
    for key, value in tags.items():
        values = list(value) if value.kind == 0 else [value.value]  # 0 = UTF-8 text, split on NUL
        view.setdefault(key.lower(), []).extend(values)
    return view


def _view(tags: Any, encoding: str | None) -> tuple[str, dict[str, list[Any]]] | None:
    """(family, view) of a mutagen tag object, or None for tags we do not map. `encoding`:
    the legacy code page of ID3 Latin-1 frames, if any."""
    if isinstance(tags, ID3):
        return "id3", _id3_view(tags, encoding)
    if isinstance(tags, MP4Tags):
        return "mp4", _mp4_view(tags)
    if isinstance(tags, ASFTags):
        return "asf", _pairs_view(tags, unwrap=True)
    if isinstance(tags, APEv2):
        return "ape", _ape_view(tags)
    if isinstance(tags, list):  # Vorbis comments (FLAC, Ogg *): a list of (key, value)
        return "vorbis", _pairs_view(tags, unwrap=False)
    return None


def _is_empty(result: Any) -> bool:
    return result is None or result is False or result == "" or result == () or result == (None, None)


def _decode_tags(family: str, view: dict[str, list[Any]], warnings: list[str],
                 splitter: tv.NameSplitter) -> dict[str, Any]:
    """Walk the field table for one family: TrackInfo keyword arguments."""
    out: dict[str, Any] = {}
    for name, kind, keys, split_from in PLANS[family]:
        decode = _DECODERS.get(kind, _DECODERS[LIST])  # NAMES: split with the configured splitter
        result = _EMPTY.get(kind)
        for key in keys:
            values = view.get(key)
            if values:
                result = tv.split_names(values, splitter) if kind == NAMES else decode(values, warnings, name)
                if not _is_empty(result):
                    break
        if split_from is not None and not result:
            for key in PLANS_BY_NAME[family][split_from]:
                values = view.get(key)
                if values:
                    result = tv.split_names(values, splitter)
                    break
        out[name] = result
    track_no, track_total = out.pop("track_no")
    disc_no, disc_total = out.pop("disc_no")
    out["track_no"], out["disc_no"] = track_no, disc_no
    out["track_total"] = out["track_total"] or track_total
    out["disc_total"] = out["disc_total"] or disc_total
    out["year"] = (tv.year_of(out["date"]) or tv.year_of(out["release_date"])
                   or tv.year_of(out["original_date"]))
    return out



# ---- stream properties ----

# Codec by mutagen class name (MP3, MP4, ASF, WAVE and AC3 are refined from their info).
_CLASS_CODECS = {
    "FLAC": "flac", "OggFLAC": "flac", "OggVorbis": "vorbis", "OggOpus": "opus", "OggSpeex": "speex",
    "OggTheora": "theora", "AIFF": "pcm", "MonkeysAudio": "ape", "WavPack": "wavpack", "Musepack": "mpc",
    "OptimFROG": "ofr", "TAK": "tak", "TrueAudio": "tta", "DSF": "dsd", "DSDIFF": "dsd", "AAC": "aac",
    "SMF": "midi", "AC3": "ac3",
}
# Codec by file suffix, for files read by tinytag.
_SUFFIX_CODECS = {
    "flac": "flac", "mp3": "mp3", "mp2": "mp2", "mp1": "mp1", "ogg": "vorbis", "oga": "vorbis",
    "opus": "opus", "spx": "speex", "m4a": "aac", "m4b": "aac", "mp4": "aac", "3g2": "aac", "aac": "aac",
    "wav": "pcm", "aif": "pcm", "aiff": "pcm", "wma": "wma", "asf": "wma",
}
_MP4_CODECS = {"alac": "alac", "ac-3": "ac3", "ec-3": "eac3", "mp4a.6b": "mp3", "mp4a.69": "mp3",
               "flac": "flac", "opus": "opus"}
_CODEC_TYPES = {"vorbis": "audio/ogg", "opus": "audio/ogg", "speex": "audio/ogg", "alac": "audio/mp4",
                "aac": "audio/mp4", "pcm": "audio/wav", "wma": "audio/x-ms-wma", "dsd": "audio/x-dsf"}
LOSSLESS_CODECS = frozenset({"flac", "alac", "pcm", "ape", "wavpack", "tta", "tak", "ofr", "dsd"})


def _codec(audio: Any) -> str:
    name = type(audio).__name__
    info = audio.info
    if name in ("MP3", "EasyMP3"):
        return {1: "mp1", 2: "mp2"}.get(getattr(info, "layer", 3), "mp3")
    if name in ("MP4", "EasyMP4"):
        codec = (getattr(info, "codec", "") or "").lower()
        return _MP4_CODECS.get(codec, "aac" if codec.startswith("mp4a.40") or not codec else codec)
    if name == "ASF":
        codec = f"{getattr(info, 'codec_name', '')} {getattr(info, 'codec_type', '')}".lower()
        return "mp3" if "mp3" in codec or "layer iii" in codec else "wma"
    if name == "WAVE":
        fmt = getattr(info, "audio_format", 1)
        return {0x55: "mp3", 0x50: "mp2", 0x11: "adpcm", 0x02: "adpcm"}.get(fmt, "pcm")
    if name == "AC3":
        return "eac3" if getattr(info, "codec", "") == "ec-3" else "ac3"
    return _CLASS_CODECS.get(name, name.lower())


def _content_type(suffix: str, codec: str) -> str:
    """MIME type by file suffix; by codec for unknown suffixes."""
    return (AUDIO_CONTENT_TYPES.get(suffix) or _CODEC_TYPES.get(codec)
            or AUDIO_CONTENT_TYPES.get(codec, "application/octet-stream"))


def _props(audio: Any, suffix: str, file_size: int, warnings: list[str]) -> AudioProps:
    """AudioProps from a mutagen FileType; absurd values are clamped or dropped with a warning."""
    info = audio.info
    codec = _codec(audio)
    length = float(getattr(info, "length", 0) or 0)
    duration_ms = round(length * 1000) if length > 0 and math.isfinite(length) else 0
    if duration_ms > tv.INT32_MAX:
        warnings.append(f"implausible duration {length:.0f} s, clamped")
        duration_ms = tv.INT32_MAX
    bitrate = round((getattr(info, "bitrate", 0) or 0) / 1000) or None
    if bitrate is None and length > 0.1:
        bitrate = round(file_size * 8 / length / 1000) or None
    rate = getattr(info, "sample_rate", None) or (48000 if codec == "opus" else None)
    if rate is not None and not 1000 <= rate <= 50_000_000:  # a garbage header: trust none of it
        warnings.append(f"implausible sample rate {rate} Hz: length and rate dropped")
        rate, duration_ms, bitrate = None, 0, None
    bits = getattr(info, "bits_per_sample", None) if codec in LOSSLESS_CODECS else None
    channels = getattr(info, "channels", None)
    props = AudioProps(
        suffix=suffix,
        content_type=_content_type(suffix, codec),
        codec=codec,
        duration_ms=duration_ms,
        bitrate=bitrate if bitrate and 0 < bitrate <= tv.INT32_MAX else None,
        sample_rate=int(rate) if rate else None,
        bit_depth=int(bits) if bits else None,
        channels=int(channels) if channels else None,
    )
    # FLAC's "bitrate" is derived from the file size by mutagen: no independent evidence.
    declared = None if isinstance(audio, FLAC) else (getattr(info, "bitrate", 0) or 0) / 1000
    check_duration(props, declared, file_size, warnings)
    return props


def _add_flac_facts(props: AudioProps, audio: FLAC, fh: BinaryIO, file_size: int,
                    warnings: list[str]) -> bytes | None:
    """STREAMINFO total samples, audio offset and seek index of a FLAC file (a FlacError
    becomes a warning: mutagen's info is still good enough to index the file). Returns the
    STREAMINFO MD5 (None when unreadable)."""
    props.total_samples = getattr(audio.info, "total_samples", 0) or None
    try:
        streaminfo = parse_streaminfo(fh)
        props.total_samples = streaminfo.total_samples or None
        props.audio_offset = streaminfo.audio_offset
        props.seek_index = build_seek_index(fh, streaminfo, file_size=file_size)
        return streaminfo.md5
    except FlacError as exc:
        warnings.append(f"flac: {exc}")
    except (OSError, MemoryError) as exc:
        warnings.append(f"flac: {type(exc).__name__}: {exc}")
    return None


# ---- reading ----

def _suffix(path: str) -> str:
    base = os.path.basename(path)
    return base.rpartition(".")[2].lower() if "." in base else ""


def _from_mutagen(audio: Any, fh: BinaryIO, suffix: str, file_size: int, options: ScanOptions) -> TrackInfo:
    warnings: list[str] = []
    props = _props(audio, suffix, file_size, warnings)
    md5 = _add_flac_facts(props, audio, fh, file_size, warnings) if isinstance(audio, FLAC) else None
    fields: dict[str, Any] = {}
    encoding = _legacy_encoding(audio.tags, options, warnings)
    found = _view(audio.tags, encoding) if audio.tags is not None else None
    if found is not None:
        fields = _decode_tags(found[0], found[1], warnings, _splitter(options))
    if isinstance(audio, FLAC) and audio.pictures:
        fields["has_picture"] = True
    if props.duration_ms == 0:
        warnings.append("no audio length (0 s)")
    entries = (tuple(embedded_lyrics(audio.tags, props.sample_rate, encoding))
               if audio.tags is not None else ())
    return TrackInfo(props=props, warnings=warnings, audio_hash=audio_hash(fh, md5, props.audio_offset),
                     lyrics_entries=entries, **fields)


def _splitter(options: ScanOptions) -> tv.NameSplitter:
    return tv.splitter_for(options.artist_separators, options.artist_exceptions)


def _from_tinytag(path: str, suffix: str, file_size: int, mutagen_reason: str,
                  options: ScanOptions) -> TrackInfo:
    """TrackInfo from tinytag, for files mutagen cannot read. Raises UnreadableFile when
    tinytag fails too or finds no audio stream."""
    try:
        tag = TinyTag.get(path)
    except Exception as exc:  # noqa: BLE001 - TinyTagException, OSError, and parser bugs alike
        raise UnreadableFile(f"{mutagen_reason}; tinytag: {type(exc).__name__}: {exc}") from None
    duration = float(tag.duration or 0)
    if not duration > 0:
        raise UnreadableFile(f"{mutagen_reason}; tinytag: no audio stream found")
    warnings = [f"read with tinytag ({mutagen_reason})"]
    codec = _SUFFIX_CODECS.get(suffix, suffix or "unknown")
    bits = tag.bitdepth if codec in LOSSLESS_CODECS else None
    props = AudioProps(
        suffix=suffix, content_type=_content_type(suffix, codec), codec=codec,
        duration_ms=min(round(duration * 1000), tv.INT32_MAX),
        bitrate=round(tag.bitrate) if tag.bitrate else None,
        sample_rate=int(tag.samplerate) if tag.samplerate else None,
        bit_depth=int(bits) if bits else None,
        channels=int(tag.channels) if tag.channels else None,
    )
    check_duration(props, tag.bitrate, file_size, warnings)
    splitter = _splitter(options)
    track_no, track_total = tv.parse_number_pair(tag.track, warnings, "track_no")
    disc_no, disc_total = tv.parse_number_pair(tag.disc, warnings, "disc_no")
    date = tv.parse_date(tag.year, warnings, "date")
    album_artist = tv.clean_text(tag.albumartist)
    return TrackInfo(
        props=props,
        title=tv.clean_text(tag.title),
        artists=tv.split_names([tag.artist] if tag.artist else [], splitter),
        artist_display=tv.clean_text(tag.artist),
        album=tv.clean_text(tag.album),
        album_artists=tv.split_names([album_artist] if album_artist else [], splitter),
        album_artist_display=album_artist,
        composers=tv.split_names([tag.composer] if tag.composer else [], splitter),
        genres=tv.split_genres([tag.genre] if tag.genre else []),
        track_no=track_no, track_total=tv.parse_int(tag.track_total) or track_total,
        disc_no=disc_no, disc_total=tv.parse_int(tag.disc_total) or disc_total,
        date=date, year=tv.year_of(date),
        comment=tv.clean_text(tag.comment),
        warnings=warnings,
        audio_hash=_hash_path(path),
    )


def _hash_path(path: str) -> str | None:
    try:
        with open(path, "rb") as fh:
            return audio_hash(fh)
    except OSError:
        return None


def _describe(exc: BaseException, path: str) -> str:
    """"mutagen.flac.error: file said 4 bytes, read 0 bytes", "mutagen: ZeroDivisionError: …"."""
    kind = type(exc)
    module = kind.__module__
    if module.startswith("mutagen"):
        name = ".".join(part for part in module.split(".") if not part.startswith("_")) + "." + kind.__name__
    else:
        name = "mutagen: " + kind.__name__
    text = str(exc).replace(repr(path), "").replace(path, "").strip(" :")
    return f"{name}: {text[:200]}" if text else name


def _mutagen_file(fh: BinaryIO, path: str) -> tuple[Any, str]:
    """(mutagen FileType or None, reason it is None)."""
    try:
        audio = mutagen.File(fh)
    except Exception as exc:  # noqa: BLE001 - MutagenError, ZeroDivisionError, struct.error, MemoryError …
        return None, _describe(exc, path)
    if audio is None:
        return None, "mutagen: unknown format"
    if audio.info is None:
        return None, "mutagen: no stream information"
    return audio, ""


def read_track(path: str | os.PathLike[str], options: ScanOptions | None = None,
               fh: BinaryIO | None = None) -> TrackInfo:
    """Tags and stream properties of one audio file.

    Opens the file once; mutagen parses it (not easy mode) and the tags are decoded
    through `FIELDS`. When mutagen raises or does not recognise a file whose extension is
    in AUDIO_SUFFIXES, tinytag is tried. Non-fatal oddities (non-numeric track numbers,
    unparseable dates, a damaged FLAC seek table …) go to `TrackInfo.warnings`.

    `options` (default ScanOptions()): legacy ID3 encodings and artist separators. Header
    lengths the file size cannot hold are corrected (orbsonic.scanner.streamcheck);
    `audio_hash` is a checksum of the audio stream without the tags (audiohash).

    Raises UnreadableFile (with a short reason) when the file cannot be indexed: it
    cannot be opened, is empty, or neither library can read it. Nothing else escapes.
    """
    path = os.fspath(path)
    options = options or ScanOptions()
    suffix = _suffix(path)
    if fh is not None:  # an already opened (remote) file: orbsonic.storage.s3.S3File
        return _read_open(fh, path, suffix, options)
    try:
        with open(path, "rb") as fh:
            file_size = os.fstat(fh.fileno()).st_size
            if file_size == 0:
                raise UnreadableFile("empty file (0 bytes)")
            audio, reason = _mutagen_file(fh, path)
            if audio is not None:
                try:
                    return _from_mutagen(audio, fh, suffix, file_size, options)
                except Exception as exc:  # noqa: BLE001 - a file must never stop the scan
                    reason = f"while decoding tags: {_describe(exc, path)}"
    except OSError as exc:
        raise UnreadableFile(f"cannot open: {exc.strerror or exc}") from None
    if suffix not in AUDIO_SUFFIXES:
        raise UnreadableFile(f"{reason} (extension .{suffix} is not audio)" if suffix else reason)
    return _from_tinytag(path, suffix, file_size, reason, options)


def _read_open(fh: BinaryIO, path: str, suffix: str, options: ScanOptions) -> TrackInfo:
    """read_track of a file object that has no path on disk (`path` names it in messages).
    tinytag is not tried: it opens paths. Raises UnreadableFile."""
    file_size = fh.seek(0, os.SEEK_END)
    fh.seek(0)
    if file_size == 0:
        raise UnreadableFile("empty file (0 bytes)")
    audio, reason = _mutagen_file(fh, path)
    if audio is None:
        raise UnreadableFile(reason)
    try:
        return _from_mutagen(audio, fh, suffix, file_size, options)
    except OSError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file must never stop the scan
        raise UnreadableFile(f"while decoding tags: {_describe(exc, path)}") from None


# ---- embedded pictures ----
