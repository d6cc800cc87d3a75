"""Retag audio template bytes in memory with mutagen: the write half of bench/libgen.py.

A template is one short untagged file per format (bench/templates.py). `load_templates`
encodes the missing ones into a cache directory once and returns their bytes with the
encoder's own tags stripped. `retag(template, fmt, tags)` returns new file bytes carrying
a format-neutral `TrackTags`; `retitle(data, suffix, title)` changes only the title of an
existing file, and `touch_fraction(root, f)` does that to a sample of a library on disk.
Also here: covers (`render_cover`), format-mix weights and the word lists and name
generators of the synthetic library (`random_artist`, `random_title`, `GENRES`).

Tag names follow MusicBrainz Picard's mapping (Vorbis comments for FLAC/Ogg/Opus, ID3v2.3
or v2.4 frames for MP3 and WAV, iTunes atoms and `----:com.apple.iTunes:` free-form atoms
for M4A). Pitfall (infra-notes §6): mutagen on a BytesIO needs the position at 0 before
both load and save, or FLAC raises "file said 4 bytes, read 0 bytes".
"""

from __future__ import annotations

import base64
import functools
import io
import os
import random
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mutagen import MutagenError, id3
from mutagen.flac import FLAC, Picture
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm
from mutagen.oggopus import OggOpus
from mutagen.oggvorbis import OggVorbis
from mutagen.wave import WAVE

from bench.templates import FORMATS, encode_template

#: tagging family of each template format
KIND: dict[str, str] = {
    "flac16": "flac", "flac24_96": "flac", "flac24_192": "flac", "mp3_v23": "id3", "mp3_v24": "id3",
    "ogg": "vorbis", "opus": "opus", "m4a_aac": "mp4", "m4a_alac": "mp4", "wav": "wav",
}
#: file suffixes (without dot) that are audio for the generator
AUDIO_SUFFIXES = frozenset(suffix for suffix, *_ in FORMATS.values())
_ITUNES = "----:com.apple.iTunes:"
_MB_ORG = "http://musicbrainz.org"


@dataclass(frozen=True, slots=True)
class Cover:
    """An encoded image: `data` bytes in `mime` ("image/jpeg" or "image/png"), size in pixels."""

    data: bytes
    mime: str
    width: int
    height: int



def render_cover(rgb: tuple[int, int, int], *, size: int = 64, fmt: str = "JPEG", stripes: int = 0) -> Cover:
    """Draw a `size`×`size` cover in colour `rgb` (0–255 each), optionally with `stripes`
    lighter diagonal bands so JPEGs are not trivially small. `fmt` is "JPEG" or "PNG".
    Distinct colours let tests tell which image a server returned."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (size, size), rgb)
    if stripes:
        draw = ImageDraw.Draw(img)
        light = tuple(min(255, c + 70) for c in rgb)
        step = max(2, 2 * size // stripes)
        for x in range(-size, size, step):
            band = [(x, 0), (x + step // 2, 0), (x + size + step // 2, size), (x + size, size)]
            draw.polygon(band, fill=light)
    buf = io.BytesIO()
    img.save(buf, format=fmt, quality=85) if fmt == "JPEG" else img.save(buf, format=fmt)
    return Cover(buf.getvalue(), "image/png" if fmt == "PNG" else "image/jpeg", size, size)


@functools.lru_cache(maxsize=256)
def _flac_picture(cover: Cover) -> Picture:
    pic = Picture()
    pic.type, pic.mime, pic.desc = 3, cover.mime, "Front cover"
    pic.width, pic.height, pic.depth, pic.data = cover.width, cover.height, 24, cover.data
    return pic


@functools.lru_cache(maxsize=256)
def _vorbis_picture(cover: Cover) -> str:
    return base64.b64encode(_flac_picture(cover).write()).decode("ascii")


@dataclass(slots=True)
class TrackTags:
    """Format-neutral tags to write. Field names follow orbsonic.scanner.model.TrackInfo.

    `artist_display` is the ARTIST/id3.TPE1/©ART string ("A feat. B"); when None the `artists`
    themselves are written there as multiple values. `artists` with more than one name are
    also written to ARTISTS (id3.TXXX:ARTISTS, ----:ARTISTS). `genre_joined` ("Rock;Pop") replaces
    the multi-valued `genres` in the file while `genres` keeps the expected split values.
    Dates are "YYYY" or "YYYY-MM-DD". Gains are dB, peaks linear amplitude.
    """

    title: str | None = None
    artists: tuple[str, ...] = ()
    artist_display: str | None = None
    album: str | None = None
    album_artist: str | None = None
    genres: tuple[str, ...] = ()
    genre_joined: str | None = None
    track_no: int | None = None
    track_total: int | None = None
    disc_no: int | None = None
    disc_total: int | None = None
    date: str | None = None
    original_date: str | None = None
    compilation: bool = False
    comment: str | None = None
    lyrics: str | None = None
    bpm: int | None = None
    sort_artist: str | None = None
    sort_album_artist: str | None = None
    rg_track_gain: float | None = None
    rg_track_peak: float | None = None
    rg_album_gain: float | None = None
    rg_album_peak: float | None = None
    mbid_recording: str | None = None
    mbid_track: str | None = None
    mbid_album: str | None = None
    mbid_artists: tuple[str, ...] = ()
    mbid_album_artists: tuple[str, ...] = ()
    cover: Cover | None = None

    @property
    def year(self) -> int | None:
        """Year of `date`, or None."""
        return int(self.date[:4]) if self.date else None

    def _artist_field(self) -> list[str]:
        return [self.artist_display] if self.artist_display else list(self.artists)

    def _genre_field(self) -> list[str]:
        return [self.genre_joined] if self.genre_joined else list(self.genres)

    def _rg(self) -> list[tuple[str, str]]:
        out = []
        for key, value, unit in (("TRACK_GAIN", self.rg_track_gain, " dB"),
                                 ("TRACK_PEAK", self.rg_track_peak, ""),
                                 ("ALBUM_GAIN", self.rg_album_gain, " dB"),
                                 ("ALBUM_PEAK", self.rg_album_peak, "")):
            if value is not None:
                out.append((f"REPLAYGAIN_{key}", f"{value:.2f}{unit}" if unit else f"{value:.6f}"))
        return out


def _vorbis_pairs(t: TrackTags, *, picture: bool) -> list[tuple[str, str]]:
    """Vorbis comment (key, value) pairs; repeated keys are multi-values."""
    pairs: list[tuple[str, str]] = []
    add = pairs.append
    if t.title is not None:
        add(("TITLE", t.title))
    pairs += [("ARTIST", a) for a in t._artist_field()]
    if len(t.artists) > 1 or (t.artist_display and t.artists):
        pairs += [("ARTISTS", a) for a in t.artists]
    single = (("ALBUM", t.album), ("ALBUMARTIST", t.album_artist), ("DATE", t.date),
              ("ORIGINALDATE", t.original_date), ("COMMENT", t.comment), ("LYRICS", t.lyrics),
              ("ARTISTSORT", t.sort_artist), ("ALBUMARTISTSORT", t.sort_album_artist),
              ("MUSICBRAINZ_TRACKID", t.mbid_recording), ("MUSICBRAINZ_RELEASETRACKID", t.mbid_track),
              ("MUSICBRAINZ_ALBUMID", t.mbid_album))
    pairs += [(k, v) for k, v in single if v is not None]
    numbers = (("TRACKNUMBER", t.track_no), ("TRACKTOTAL", t.track_total if t.track_no else None),
               ("DISCNUMBER", t.disc_no), ("DISCTOTAL", t.disc_total if t.disc_no else None), ("BPM", t.bpm))
    pairs += [(k, str(v)) for k, v in numbers if v is not None]
    pairs += [("GENRE", g) for g in t._genre_field()]
    pairs += [("MUSICBRAINZ_ARTISTID", m) for m in t.mbid_artists]
    pairs += [("MUSICBRAINZ_ALBUMARTISTID", m) for m in t.mbid_album_artists]
    pairs += t._rg()
    if t.compilation:
        add(("COMPILATION", "1"))
    if picture and t.cover is not None:
        add(("METADATA_BLOCK_PICTURE", _vorbis_picture(t.cover)))
    return pairs


def _numpair(n: int | None, total: int | None) -> str | None:
    return None if n is None else (f"{n}/{total}" if total else str(n))


def _id3_frames(t: TrackTags, *, picture: bool = True) -> list[id3.Frame]:
    """ID3v2.4 frames (mutagen down-converts dates and joins lists with "/" for v2.3)."""
    frames: list[id3.Frame] = []
    add = frames.append
    text = ((id3.TIT2, t.title), (id3.TALB, t.album), (id3.TPE2, t.album_artist), (id3.TDRC, t.date),
            (id3.TDOR, t.original_date),
            (id3.TRCK, _numpair(t.track_no, t.track_total)), (id3.TPOS, _numpair(t.disc_no, t.disc_total)),
            (id3.TSOP, t.sort_artist), (id3.TSO2, t.sort_album_artist),
            (id3.TBPM, None if t.bpm is None else str(t.bpm)))
    frames += [cls(encoding=3, text=[v]) for cls, v in text if v is not None]
    if t.artists or t.artist_display:
        add(id3.TPE1(encoding=3, text=t._artist_field()))
    if len(t.artists) > 1 or (t.artist_display and t.artists):
        add(id3.TXXX(encoding=3, desc="ARTISTS", text=list(t.artists)))
    if t.genres or t.genre_joined:
        add(id3.TCON(encoding=3, text=t._genre_field()))
    if t.compilation:
        add(id3.TCMP(encoding=3, text=["1"]))
    if t.mbid_recording:
        add(id3.UFID(owner=_MB_ORG, data=t.mbid_recording.encode("ascii")))
    txxx = (("MusicBrainz Album Id", [t.mbid_album] if t.mbid_album else []),
            ("MusicBrainz Release Track Id", [t.mbid_track] if t.mbid_track else []),
            ("MusicBrainz Artist Id", list(t.mbid_artists)),
            ("MusicBrainz Album Artist Id", list(t.mbid_album_artists)))
    frames += [id3.TXXX(encoding=3, desc=d, text=v) for d, v in txxx if v]
    frames += [id3.TXXX(encoding=3, desc=k, text=[v]) for k, v in t._rg()]
    if t.comment is not None:
        add(id3.COMM(encoding=3, lang="eng", desc="", text=[t.comment]))
    if t.lyrics is not None:
        add(id3.USLT(encoding=3, lang="eng", desc="", text=t.lyrics))
    if picture and t.cover is not None:
        add(id3.APIC(encoding=3, mime=t.cover.mime, type=3, desc="Front cover", data=t.cover.data))
    return frames


def _mp4_items(t: TrackTags) -> dict[str, list[Any]]:
    """iTunes atoms; free-form atoms carry UTF-8 bytes."""
    items: dict[str, list[Any]] = {}
    plain = (("\xa9nam", t.title), ("\xa9alb", t.album), ("aART", t.album_artist), ("\xa9day", t.date),
             ("\xa9cmt", t.comment), ("\xa9lyr", t.lyrics), ("soar", t.sort_artist),
             ("soaa", t.sort_album_artist))
    items.update((k, [v]) for k, v in plain if v is not None)
    if t.artists or t.artist_display:
        items["\xa9ART"] = t._artist_field()
    if t.genres or t.genre_joined:
        items["\xa9gen"] = t._genre_field()
    if t.track_no is not None:
        items["trkn"] = [(t.track_no, t.track_total or 0)]
    if t.disc_no is not None:
        items["disk"] = [(t.disc_no, t.disc_total or 0)]
    if t.bpm is not None:
        items["tmpo"] = [t.bpm]
    if t.compilation:
        items["cpil"] = True  # type: ignore[assignment]  # mutagen wants a bare bool here
    free: list[tuple[str, Sequence[str]]] = [
        ("ARTISTS", t.artists if len(t.artists) > 1 or (t.artist_display and t.artists) else ()),
        ("ORIGINALDATE", [t.original_date] if t.original_date else []),
        ("MusicBrainz Track Id", [t.mbid_recording] if t.mbid_recording else []),
        ("MusicBrainz Release Track Id", [t.mbid_track] if t.mbid_track else []),
        ("MusicBrainz Album Id", [t.mbid_album] if t.mbid_album else []),
        ("MusicBrainz Artist Id", t.mbid_artists), ("MusicBrainz Album Artist Id", t.mbid_album_artists),
    ]
    free += [(k.lower(), [v]) for k, v in t._rg()]
    for key, values in free:
        if values:
            items[_ITUNES + key] = [MP4FreeForm(v.encode("utf-8")) for v in values]
    if t.cover is not None:
        kind = MP4Cover.FORMAT_PNG if t.cover.mime == "image/png" else MP4Cover.FORMAT_JPEG
        items["covr"] = [MP4Cover(t.cover.data, imageformat=kind)]
    return items


def retag(template: bytes, fmt: str, tags: TrackTags | None) -> bytes:
    """Bytes of `template` (an untagged file of format `fmt`, see `KIND`) carrying `tags`.

    `tags=None` returns the template unchanged (a file without any tags). Raises KeyError
    for an unknown format and mutagen errors if the template is not a valid file.
    """
    if tags is None:
        return template
    kind = KIND[fmt]
    bio = io.BytesIO(template)
    if kind == "id3":
        frames = id3.ID3()
        for frame in _id3_frames(tags):
            frames.add(frame)
        frames.save(bio, v2_version=3 if fmt == "mp3_v23" else 4)
        return bio.getvalue()
    audio: Any
    if kind == "flac":
        audio = FLAC(bio)
        if audio.tags is None:
            audio.add_tags()
        audio.tags.extend(_vorbis_pairs(tags, picture=False))
        if tags.cover is not None:
            audio.add_picture(_flac_picture(tags.cover))
    elif kind in ("vorbis", "opus"):
        audio = OggVorbis(bio) if kind == "vorbis" else OggOpus(bio)
        audio.tags.extend(_vorbis_pairs(tags, picture=True))
    elif kind == "mp4":
        audio = MP4(bio)
        if audio.tags is None:
            audio.add_tags()
        audio.tags.update(_mp4_items(tags))
    else:  # wav: an "id3 " chunk, no picture
        audio = WAVE(bio)
        if audio.tags is None:
            audio.add_tags()
        for frame in _id3_frames(tags, picture=False):
            audio.tags.add(frame)
    bio.seek(0)
    audio.save(bio)
    return bio.getvalue()


def _open(bio: io.BytesIO, suffix: str) -> Any:
    """Load a mutagen object for `suffix` from `bio` (position 0 on return)."""
    bio.seek(0)
    cls: Callable[[io.BytesIO], Any] = {"flac": FLAC, "ogg": OggVorbis, "opus": OggOpus, "m4a": MP4,
                                        "mp3": id3.ID3, "wav": WAVE}[suffix]
    audio = cls(bio)
    bio.seek(0)
    return audio


def read_title(data: bytes, suffix: str) -> str | None:
    """The title tag of file bytes `data` with file suffix `suffix`, or None."""
    audio = _open(io.BytesIO(data), suffix)
    if suffix in ("mp3", "wav"):
        tags = audio if suffix == "mp3" else audio.tags
        frame = tags.get("TIT2") if tags is not None else None
        return str(frame.text[0]) if frame is not None and frame.text else None
    key = "\xa9nam" if suffix == "m4a" else "title"
    values = (audio.tags or {}).get(key)
    return str(values[0]) if values else None


def retitle(data: bytes, suffix: str, title: str) -> bytes:
    """File bytes `data` (suffix "flac", "mp3", …) with the title replaced by `title`.

    The result always differs in size from `data` (padding is adjusted when the new tag
    would fit the old padding), so size-based change detection sees the edit. Raises
    mutagen errors for unreadable files and KeyError for unknown suffixes.
    """
    for pad in (0, 37, 101):
        bio = io.BytesIO(data)
        audio = _open(bio, suffix)
        save_kw: dict[str, Any] = {"padding": lambda _info, pad=pad: pad}
        if suffix == "mp3":
            audio.delall("TIT2")
            audio.add(id3.TIT2(encoding=3, text=[title]))
            save_kw["v2_version"] = 3 if audio.version[1] == 3 else 4
        elif suffix == "wav":
            if audio.tags is None:
                audio.add_tags()
            audio.tags.delall("TIT2")
            audio.tags.add(id3.TIT2(encoding=3, text=[title]))
        else:
            if audio.tags is None:
                audio.add_tags()
            audio.tags["\xa9nam" if suffix == "m4a" else "TITLE"] = [title]
        audio.save(bio, **save_kw)
        out = bio.getvalue()
        if len(out) != len(data):
            return out
    return out


def _drop_riff_chunks(data: bytes, chunk_id: bytes) -> bytes:
    """RIFF/WAVE bytes without top-level chunks `chunk_id` (ffmpeg's LIST/INFO "ISFT=Lavf…")."""
    out, pos = [data[:12]], 12
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos + 4:pos + 8], "little")
        end = min(len(data), pos + 8 + size + (size & 1))  # chunks are padded to even sizes
        if data[pos:pos + 4] != chunk_id:
            out.append(data[pos:end])
        pos = end
    body = b"".join(out)
    return body[:4] + (len(body) - 8).to_bytes(4, "little") + body[8:]


def strip_tags(data: bytes, fmt: str) -> bytes:
    """Template bytes without the encoder's tags (ffmpeg writes "encoder=Lavf…")."""
    kind = KIND[fmt]
    bio = io.BytesIO(data)
    if kind == "id3":
        id3.ID3().delete(bio)
        return bio.getvalue()
    if kind == "wav":
        return _drop_riff_chunks(data, b"LIST")
    audio: Any = {"flac": FLAC, "vorbis": OggVorbis, "opus": OggOpus, "mp4": MP4}[kind](bio)
    if audio.tags is not None:
        audio.tags.clear()
    bio.seek(0)
    audio.save(bio, padding=lambda _info: 0)
    return bio.getvalue()


def template_path(cache_dir: Path, fmt: str, seconds: float) -> Path:
    """Cache file of template `fmt` of length `seconds` in `cache_dir`."""
    return cache_dir / f"{fmt}-{seconds:g}s.{FORMATS[fmt][0]}"


def load_templates(formats: Iterable[str], cache_dir: str | os.PathLike[str],
                   seconds: float = 1.0) -> dict[str, bytes]:
    """Untagged template bytes per format name, encoding missing ones into `cache_dir` once.

    Encoding runs ffmpeg in parallel threads and renames into place, so concurrent callers
    sharing a cache never read half-written files. Raises KeyError for unknown formats and
    subprocess.CalledProcessError when ffmpeg fails.
    """
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    names = sorted(set(formats))
    for name in names:
        FORMATS[name]  # raises KeyError early for an unknown format

    def ensure(name: str) -> bytes:
        path = template_path(cache, name, seconds)
        if not path.exists():
            tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.{path.suffix.lstrip('.')}")
            encode_template(name, tmp, seconds=seconds)
            os.replace(tmp, path)
        return strip_tags(path.read_bytes(), name)

    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(ensure, names), strict=True))


#: default format mix of the benchmark library (weights in percent, one format per album)
DEFAULT_MIX: Mapping[str, float] = MappingProxyType(
    {"flac16": 40, "flac24_96": 10, "mp3_v24": 15, "mp3_v23": 10, "ogg": 8, "opus": 7, "m4a_aac": 10})


def format_weights(formats: Sequence[str] | Mapping[str, float]) -> tuple[list[str], list[float]]:
    """(names, weights) of a format mix: names with equal weights (repeats add up) or name → weight.

    Raises KeyError for a name not in bench.templates.FORMATS.
    """
    items = list(formats.items()) if isinstance(formats, Mapping) else list(Counter(formats).items())
    for name, _w in items:
        if name not in FORMATS:
            raise KeyError(f"unknown format {name!r}; known: {', '.join(FORMATS)}")
    return [n for n, _ in items], [float(w) for _, w in items]


def parse_formats(text: str) -> dict[str, float]:
    """CLI format mix: "a,b" → equal weights; "a:40,b:10" → explicit weights (name → weight)."""
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, weight = part.partition(":")
        out[name] = out.get(name, 0) + (float(weight) if weight else 1.0)
    return out


# ---------------------------------------------------------------------------- names for synthetic libraries

def _words(text: str, sep: str | None = None) -> tuple[str, ...]:
    return tuple(text.split(sep))


GENRES = _words("Rock|Pop|Jazz|Blues|Classical|Electronic|Hip-Hop|R&B|Soul|Funk|Disco|House|Techno|"
                "Trance|Ambient|Drum & Bass|Dubstep|Reggae|Ska|Punk|Post-Punk|Hardcore|Heavy Metal|"
                "Death Metal|Black Metal|Doom|Grunge|Indie Rock|Shoegaze|Dream Pop|Synthpop|"
                "New Wave|Folk|Country|Bluegrass|Americana|Gospel|Latin|Salsa|Bossa Nova|Samba|"
                "Tango|Flamenco|Afrobeat|Highlife|K-Pop|J-Pop|City Pop|Chanson|Schlager|Opera|"
                "Baroque|Minimalism|Soundtrack|Trip-Hop|Lo-Fi|Noise|Experimental|Post-Rock|"
                "Krautrock", "|")
_FIRST = _words("Anna Ben Clara David Elena Felix Greta Hugo Iris Jonas Karin Leo Maya Nils Omar "
                "Paula Quinn Rosa Sam Tara Ugo Vera Will Xenia Yuri Zoe Ada Bruno Carmen Dmitri")
_LAST = _words("Adams Baker Carter Diaz Evans Fischer Garcia Hughes Ivanov Jensen Kowalski Lopez "
               "Moreau Novak Olsen Petrov Quist Rossi Schmidt Tanaka Underwood Varga Weber Young "
               "Zimmer")
_ADJ = _words("Silent Electric Golden Broken Velvet Hollow Crimson Distant Frozen Wild Neon Paper "
              "Glass Midnight Lonely Burning Hidden Quiet Restless Silver Wandering Empty Faded "
              "Bright Secret Northern Sleeping")
_NOUN = _words("River Mountain Machine Garden Mirror Ocean Engine Signal Harbor Forest Shadow Echo "
               "Lantern Desert Window Comet Orchid Anchor Circuit Meadow Tower Voyage Ember "
               "Harvest Compass Island Letter Season")
_UNI = _words("Björk|Sigur Rós|Motörhead|Ærøskøbing|Łódź|Dvořák|São Paulo|Þórir|Zoë|Café|Ångström|"
              "Ñandú|Москва|Ночь|Δέλτα|Άνεμος|東京|坂本龍一|夜明け|서울|İstanbul|Şarkı|Čaj|Œuvre|"
              "Fjörður|Mañana|Görlitz|Øresund", "|")
_EMOJI = _words("🎸 🌙 🔥 🎹 ✨ 🌊 💿")
FEAT_SEPARATORS = (" feat. ", " & ", ", ", " ft. ", " with ")
_SAFE = str.maketrans({c: "_" for c in '/\\:*?"<>|'} | {chr(i): "_" for i in range(32)})


def safe_name(name: str) -> str:
    """A path component for `name`: no separators or control characters, ≤ 100 chars."""
    return name.translate(_SAFE).strip().rstrip(".")[:100].strip() or "_"


def random_artist(rng: random.Random) -> str:
    """An artist name: "First Last", "The Adj Nouns", "Adj Noun", … ~12 % with non-ASCII words."""
    r = rng.random()
    if r < 0.35:
        return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
    if r < 0.50:
        return f"The {rng.choice(_ADJ)} {rng.choice(_NOUN)}s"
    if r < 0.75:
        return f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}"
    if r < 0.88:
        return f"{rng.choice(_NOUN)} {rng.choice(_NOUN)}"
    return rng.choice((f"{rng.choice(_UNI)}", f"{rng.choice(_UNI)} {rng.choice(_NOUN)}",
                       f"{rng.choice(_FIRST)} {rng.choice(_UNI)}"))


def random_title(rng: random.Random) -> str:
    """A title from the word lists; ~7 % contain a non-ASCII word, ~1 % end with an emoji."""
    r = rng.random()
    title = (f"{rng.choice(_ADJ)} {rng.choice(_NOUN)}" if r < 0.45 else f"{rng.choice(_NOUN)}" if r < 0.6 else
             f"{rng.choice(_NOUN)} of the {rng.choice(_ADJ)} {rng.choice(_NOUN)}" if r < 0.8 else
             f"The {rng.choice(_NOUN)}" if r < 0.93 else f"{rng.choice(_UNI)} {rng.choice(_NOUN)}")
    return f"{title} {rng.choice(_EMOJI)}" if rng.random() < 0.01 else title


def unique_artists(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    """`n` random artist names unique case-insensitively (" 2", " 3"… appended); adds them to `taken`."""
    names = []
    for _ in range(n):
        name = base = random_artist(rng)
        k = 2
        while name.casefold() in taken:
            name, k = f"{base} {k}", k + 1
        taken.add(name.casefold())
        names.append(name)
    return names


def benchmark_covers(n: int = 8) -> list[Cover]:
    """`n` pre-rendered 300×300 striped JPEG covers (13–22 KB each), reused across albums."""
    rng = random.Random("orbsonic-covers")
    colours = [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(n)]
    return [render_cover(rgb, size=300, stripes=8 + i) for i, rgb in enumerate(colours)]


def default_template_dir() -> Path:
    """Shared template cache: $ORBSONIC_TEMPLATE_DIR or <tmp>/orbsonic-bench-templates."""
    env = os.environ.get("ORBSONIC_TEMPLATE_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "orbsonic-bench-templates"


# ---------------------------------------------------------------------------- editing existing files

def audio_files(root: str | os.PathLike[str]) -> list[Path]:
    """Audio files under `root` (by suffix), sorted, skipping hidden directories (.templates)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        out += [Path(dirpath, f) for f in filenames if f.rsplit(".", 1)[-1].lower() in AUDIO_SUFFIXES]
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def touch_fraction(root: str | os.PathLike[str], fraction: float, *, seed: int = 1) -> list[Path]:
    """Retitle a deterministic sample of `fraction` (0–1) of the audio files under `root`.

    The new title is the old one (or the file stem) plus " [touched <seed>]"; every changed
    file gets a new size and mtime. Files mutagen cannot read are skipped. Returns the
    changed paths, sorted. Raises ValueError when fraction is outside [0, 1].
    """
    if not 0 <= fraction <= 1:
        raise ValueError("fraction must be within [0, 1]")
    files = audio_files(root)
    k = round(len(files) * fraction) or (1 if fraction and files else 0)
    changed = []
    for path in sorted(random.Random(f"orbsonic-touch:{seed}").sample(files, k)):
        data = path.read_bytes()
        suffix = path.suffix[1:].lower()
        try:
            new = retitle(data, suffix, f"{read_title(data, suffix) or path.stem} [touched {seed}]")
        except (MutagenError, ValueError):
            continue
        with open(path, "wb") as fh:
            fh.write(new)
        changed.append(path)
    return changed
