"""Audio libraries for tests and benchmarks, made from templates retagged in memory.

* `build_test_library(root)` writes the small fixed library the integration tests scan
  (~50 files: every format, multi-disc, compilation, multi-valued and unicode tags, covers,
  missing tags, corrupt and non-audio files) and returns a `Manifest` of what it wrote.
* `generate_library(root, n_tracks, seed=…)` writes a synthetic benchmark library of any
  size (`root/<Artist>/<Year> - <Album>/<D>-<TT> <Title>.<ext>`), deterministic per seed,
  split by album over worker processes; `touch_fraction(root, f, seed=…)` retitles a sample.
* CLI: `python -m bench.libgen OUT --tracks N [--seed S] [--workers W] [--formats a,b]
  [--no-covers]`, or `python -m bench.libgen OUT --test-library` (also writes OUT/manifest.json).

Every file is written once from bytes built in memory (bench/tagwrite.py). Templates are
encoded with ffmpeg once per cache directory (bench/templates.py).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.tagwrite import (
    DEFAULT_MIX,
    FEAT_SEPARATORS,
    GENRES,
    Cover,
    TrackTags,
    audio_files,
    benchmark_covers,
    default_template_dir,
    format_weights,
    load_templates,
    parse_formats,
    random_title,
    render_cover,
    retag,
    safe_name,
    touch_fraction,
    unique_artists,
)
from bench.templates import FORMATS

__all__ = ["DEFAULT_MIX", "GenStats", "Manifest", "ManifestEntry", "audio_files", "build_test_library",
           "default_template_dir", "generate_library", "plan_library", "touch_fraction"]
VARIOUS = "Various Artists"

# ---------------------------------------------------------------------------- manifest

_EXTRA = ("date", "original_date", "comment", "lyrics", "bpm", "sort_artist", "sort_album_artist",
          "rg_track_gain", "rg_track_peak", "rg_album_gain", "rg_album_peak", "mbid_recording",
          "mbid_track", "mbid_album", "mbid_artists", "mbid_album_artists", "genre_joined")


@dataclass(slots=True)
class ManifestEntry:
    """One file written by `build_test_library`, with the tags written into it.

    `path` is relative to the library root, "/"-separated. `format` is a bench.templates
    format name (None for corrupt and non-audio files). `readable`: a tag reader should
    index it. `expected_title` is the title tag, or the file stem when there is none.
    `folder_cover` is the folder image a server should find for it (relative path).
    `extra` holds the other written tags under TrackTags field names (JSON types only).
    """

    path: str
    format: str | None
    is_audio: bool
    is_corrupt: bool = False
    readable: bool = False
    title: str | None = None
    expected_title: str | None = None
    artists: list[str] = field(default_factory=list)
    artist_display: str | None = None
    album: str | None = None
    album_artist: str | None = None
    disc: int | None = None
    disc_total: int | None = None
    track: int | None = None
    track_total: int | None = None
    year: int | None = None
    genres: list[str] = field(default_factory=list)
    compilation: bool = False
    has_embedded_cover: bool = False
    folder_cover: str | None = None
    sample_rate: int | None = None
    bit_depth: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Manifest:
    """Everything `build_test_library` wrote, plus expectations derived from it.

    `albums`: sorted [album artist, album] pairs of readable files with an album (album
    artist falls back to the artist string). `artists`: track artists (multi-values split);
    `album_artists`, `genres`: sorted unique names. `images`: folder image paths.
    """

    files: list[ManifestEntry]
    images: list[str]
    albums: list[list[str]] = field(default_factory=list)
    artists: list[str] = field(default_factory=list)
    album_artists: list[str] = field(default_factory=list)
    genres: list[str] = field(default_factory=list)
    n_audio_files: int = 0
    n_readable_audio: int = 0

    def __post_init__(self) -> None:
        ok = [e for e in self.files if e.readable]
        self.albums = sorted(map(list, {(e.album_artist or e.artist_display or (e.artists or [""])[0],
                                         e.album) for e in ok if e.album}))
        self.artists = sorted({a for e in ok for a in e.artists})
        self.album_artists = sorted({e.album_artist for e in ok if e.album_artist})
        self.genres = sorted({g for e in ok for g in e.genres})
        self.n_audio_files = sum(e.is_audio for e in self.files)
        self.n_readable_audio = len(ok)

    def entry(self, path: str) -> ManifestEntry:
        """The entry for relative `path`; KeyError if absent."""
        return {e.path: e for e in self.files}[path]

    def to_json(self, indent: int | None = 1) -> str:
        """The manifest as a JSON document (`from_json` reads it back)."""
        return json.dumps(asdict(self), ensure_ascii=False, indent=indent)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Parse `to_json` output; derived fields are recomputed."""
        data = json.loads(text)
        return cls([ManifestEntry(**e) for e in data["files"]], data["images"])


def _entry(rel: str, fmt: str, tags: TrackTags | None) -> ManifestEntry:
    _suffix, _args, rate, bits = FORMATS[fmt]
    e = ManifestEntry(rel, fmt, True, readable=True, sample_rate=rate, bit_depth=bits,
                      expected_title=Path(rel).stem)
    if tags is not None:
        e.title, e.artists, e.artist_display = tags.title, list(tags.artists), tags.artist_display
        e.album, e.album_artist, e.genres = tags.album, tags.album_artist, list(tags.genres)
        e.disc, e.disc_total, e.track, e.track_total = (tags.disc_no, tags.disc_total, tags.track_no,
                                                        tags.track_total)
        e.year, e.compilation = tags.year, tags.compilation
        e.has_embedded_cover = tags.cover is not None and fmt != "wav"
        e.expected_title = tags.title or e.expected_title
        for name in _EXTRA:
            value = getattr(tags, name)
            if value not in (None, ()):
                e.extra[name] = list(value) if isinstance(value, tuple) else value
    return e


# ---------------------------------------------------------------------------- test library

def _mbid(key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"orbsonic-test:{key}"))


class _TestLibWriter:
    """Accumulates the test library: writes files and records manifest entries."""

    def __init__(self, root: Path, templates: dict[str, bytes]) -> None:
        self.root, self.templates = root, templates
        self.entries: list[ManifestEntry] = []
        self.images: dict[str, str] = {}  # directory -> image path, both relative

    def write(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def track(self, rel: str, fmt: str, tags: TrackTags | None, *, keep: float = 1.0) -> None:
        """Write one tagged file; `keep` < 1 truncates it to that fraction (marked corrupt)."""
        data = retag(self.templates[fmt], fmt, tags)
        self.write(rel, data[: int(len(data) * keep)])
        self.entries.append(_entry(rel, fmt, tags))
        self.entries[-1].is_corrupt = keep < 1

    def image(self, rel: str, cover: Cover) -> None:
        self.write(rel, cover.data)
        self.images[str(Path(rel).parent.as_posix())] = rel

    def album(self, folder: str, fmt: str, titles: Sequence[str], base: TrackTags,
              overrides: Mapping[int, Mapping[str, Any]] | None = None, *, disc: int | None = None,
              mbids: bool = False, image: tuple[str, Cover] | None = None) -> None:
        """Tracks 1..len(titles) of one disc ("NN Title.ext", or "D-NN Title.ext" when `disc`
        and `base.disc_total` say multi-disc in one folder); `overrides[n]` replaces fields of
        track n; `image` is (file name, cover) of a folder image."""
        total, ext = len(titles), FORMATS[fmt][0]
        prefix = f"{disc}-" if disc and not folder.rsplit("/", 1)[-1].startswith("CD") else ""
        for n, title in enumerate(titles, 1):
            tags = replace(base, title=title, track_no=n, track_total=total, disc_no=disc or base.disc_no)
            if mbids:
                key = f"{base.album}/{disc}/{n}"
                tags = replace(tags, mbid_recording=_mbid("rec" + key), mbid_track=_mbid("trk" + key))
            if overrides and n in overrides:
                tags = replace(tags, **overrides[n])
            self.track(f"{folder}/{prefix}{n:02d} {safe_name(title)}.{ext}", fmt, tags)
        if image:
            self.image(f"{folder}/{image[0]}", image[1])

    def manifest(self) -> Manifest:
        for e in self.entries:
            parent = Path(e.path).parent
            image = self.images.get(parent.as_posix())
            if image is None and parent.name.upper().startswith("CD"):
                image = self.images.get(parent.parent.as_posix())
            e.folder_cover = image
        return Manifest(self.entries, sorted(self.images.values()))


def _artist(name: str, **kw: Any) -> TrackTags:
    """Base tags for a single-artist album by `name` (also its album artist)."""
    return TrackTags(artists=(name,), album_artist=name, **kw)


def build_test_library(root: str | os.PathLike[str], *, template_dir: str | os.PathLike[str] | None = None
                       ) -> Manifest:
    """Write the fixed integration-test library under `root` (created; should be empty).

    Deterministic names and tags; audio bytes come from the template cache (default
    `default_template_dir()`). Returns the manifest; raises subprocess.CalledProcessError
    if ffmpeg cannot encode a missing template.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    lib = _TestLibWriter(root, load_templates(FORMATS, template_dir or default_template_dir()))

    def cov(rgb: tuple[int, int, int], fmt: str = "JPEG") -> Cover:
        return render_cover(rgb, size=48, fmt=fmt)

    bjork, beatles = (_mbid("bjork"),), (_mbid("beatles"),)
    lib.album("Björk/2001 - Vespertine", "flac16", ["Hidden Place", "Cocoon", "It's Not Up to You"], _artist(
        "Björk", album="Vespertine", date="2001-08-27", original_date="2001-05-17",
        genres=("Electronic", "Art Pop"), cover=cov((200, 40, 40), "PNG"), mbid_album=_mbid("vespertine"),
        mbid_artists=bjork, mbid_album_artists=bjork, rg_album_gain=-7.25, rg_album_peak=0.998,
        comment="test comment"),
        {1: {"lyrics": "Through the warmth\nof the hidden place", "rg_track_gain": -6.5,
             "rg_track_peak": 0.987654, "bpm": 92},
         2: {"artists": ("Björk", "Thom Yorke"), "artist_display": "Björk feat. Thom Yorke",
             "mbid_artists": (*bjork, _mbid("thom"))}}, mbids=True, image=("cover.jpg", cov((240, 120, 120))))
    lib.album("Sigur Rós/1999 - Ágætis byrjun", "ogg", ["Svefn-g-englar", "Starálfur", "Olsen Olsen"],
              _artist("Sigur Rós", album="Ágætis byrjun", date="1999-06-12", genres=("Post-Rock", "Ambient"),
        cover=cov((40, 160, 60)), lyrics="Tjú, tjú\nvonlenska"), {3: {"genre_joined": "Post-Rock;Ambient"}},
        image=("folder.png", cov((120, 220, 140), "PNG")))
    lib.album("坂本龍一/1983 - 戦場のメリークリスマス", "opus",
              ["戦場のメリークリスマス", "The Seed and the Sower"],
              _artist("坂本龍一", album="戦場のメリークリスマス", date="1983", genres=("Soundtrack",),
                      sort_artist="Sakamoto, Ryuichi", sort_album_artist="Sakamoto, Ryuichi",
                      cover=cov((40, 60, 200))), image=("front.jpg", cov((130, 150, 250))))
    lib.album("Motörhead/1980 - Ace of Spades", "mp3_v23", ["Ace of Spades", "Love Me Like a Reptile",
                                                            "Shoot You"],
              _artist("Motörhead", album="Ace of Spades", date="1980-11-08", genres=("Heavy Metal",), bpm=140,
                      cover=cov((90, 90, 90)), comment="ID3v2.3 file", lyrics="The ace of spades"))
    lib.album("The Beatles/1969 - Abbey Road", "mp3_v24", ["Come Together", "Something", "Octopus's Garden"],
              _artist("The Beatles", album="Abbey Road", date="1969-09-26", original_date="1969-09-26",
                      genres=("Rock", "Pop"), sort_artist="Beatles, The", sort_album_artist="Beatles, The",
                      cover=cov((230, 200, 30)), mbid_album=_mbid("abbey"), mbid_artists=beatles,
                      mbid_album_artists=beatles, rg_track_gain=-3.1, rg_track_peak=0.91, rg_album_gain=-3.4,
                      rg_album_peak=0.95),
              {2: {"artists": ("The Beatles", "Billy Preston"), "mbid_artists": (*beatles, _mbid("preston"))},
               3: {"genre_joined": "Rock;Pop"}}, mbids=True, image=("cover.jpg", cov((250, 230, 120))))
    lib.album("Daft Punk/2013 - Random Access Memories", "m4a_aac",
              ["Give Life Back to Music", "Get Lucky", "Touch"],
              _artist("Daft Punk", album="Random Access Memories", date="2013-05-17",
                      genres=("Disco", "Electronic"), cover=cov((20, 20, 20)), bpm=116),
              {2: {"artists": ("Daft Punk", "Pharrell Williams", "Nile Rodgers"),
                   "artist_display": "Daft Punk feat. Pharrell Williams & Nile Rodgers"},
               3: {"genre_joined": "Disco;Funk", "genres": ("Disco", "Funk")}}, mbids=True)
    lib.album("Miles Davis/1959 - Kind of Blue", "m4a_alac", ["So What", "Blue in Green"],  # no cover at all
              _artist("Miles Davis", album="Kind of Blue", date="1959-08-17", genres=("Jazz",)))
    lib.album("Nils Frahm/2015 - Solo", "flac24_96", ["Ballet Mecanique", "Wall"],
              _artist("Nils Frahm", album="Solo", date="2015", genres=("Modern Classical",)),
              image=("cover.jpg", cov((180, 90, 30))))
    lib.album("Ólafur Arnalds/2020 - Some Kind of Peace", "flac24_192", ["Loom", "Woven Song"],
              _artist("Ólafur Arnalds", album="Some Kind of Peace", date="2020-11-06", genres=("Ambient",),
                      cover=cov((90, 30, 120))))
    lib.album("Aphex Twin/1992 - Selected Ambient Works", "wav", ["Xtal", "Tha"],
              _artist("Aphex Twin", album="Selected Ambient Works", date="1992"))
    d = "Pink Floyd/1979 - The Wall"
    base = _artist("Pink Floyd", album="The Wall", date="1979-11-30", genres=("Progressive Rock", "Rock"),
                   disc_total=2, cover=cov((240, 240, 240)))
    lib.album(d, "flac16", ["In the Flesh?", "The Thin Ice"], base, disc=1)
    lib.album(d, "flac16", ["Hey You", "Is There Anybody Out There?"], base, disc=2,
              image=("front.jpg", cov((200, 200, 160))))
    d = "Nine Inch Nails/1999 - The Fragile"
    base = _artist("Nine Inch Nails", album="The Fragile", date="1999-09-21", genres=("Industrial",),
                   disc_total=2)
    lib.album(f"{d}/CD1", "mp3_v24", ["Somewhat Damaged", "The Day the World Went Away"], base, disc=1)
    lib.album(f"{d}/CD2", "mp3_v24", ["The Way Out Is Through", "Into the Void"], base, disc=2)
    lib.image(f"{d}/cover.jpg", cov((150, 20, 20)))
    comp = TrackTags(album="Orbsonic Sampler", album_artist="Various Artists", compilation=True, date="2005",
                     track_total=4, cover=cov((255, 0, 200)), mbid_album=_mbid("sampler"))
    for n, (fmt, artist, title, genre) in enumerate([
            ("flac16", "Portishead", "Glory Box", "Trip-Hop"),
            ("mp3_v24", "Massive Attack", "Teardrop", "Trip-Hop"),
            ("m4a_aac", "Röyksopp", "Smile 😀", "Electronic"),
            ("ogg", "The Chemical Brothers", "Galvanize", "Big Beat")], 1):
        lib.track(f"Various Artists/2005 - Orbsonic Sampler/{n:02d} {title}.{FORMATS[fmt][0]}", fmt,
                  replace(comp, title=title, artists=(artist,), track_no=n, genres=(genre,)))
    lib.track("Unsorted/untagged track.flac", "flac16", None)
    lib.track("Unsorted/Single Without Album.ogg", "ogg", TrackTags(
        title="Single Without Album", artists=("Zoë Keating",), date="2010", genres=("Cello",)))
    lib.track("Unsorted/B-Side Without Number.mp3", "mp3_v24", _artist(
        "Motörhead", title="B-Side Without Number", album="Rarities", date="1981", genres=("Heavy Metal",)))
    lib.track("Unsorted/truncated.mp3", "mp3_v24", _artist(  # tag intact, audio cut short: still readable
        "Massive Attack", title="Truncated Download", album="Mezzanine", date="1998",
        cover=cov((10, 10, 60))), keep=0.66)
    lib.write("Unsorted/broken.flac", random.Random(0).randbytes(8192))
    lib.entries.append(ManifestEntry("Unsorted/broken.flac", None, True, is_corrupt=True))
    lib.write("Unsorted/notes.txt", b"Not audio. The scanner must skip this file.\n")
    lib.entries.append(ManifestEntry("Unsorted/notes.txt", None, False))
    lib.track("Loose Track.m4a", "m4a_alac", _artist(
        "Björk", title="Loose Track", album="Loose Ends", date="2004", track_no=1, genres=("Electronic",),
        cover=cov((0, 200, 200))))
    return lib.manifest()


# ---------------------------------------------------------------------------- benchmark library

@dataclass(slots=True)
class AlbumPlan:
    """One benchmark album, planned in the parent: `dir` relative to the root, `discs` = tracks
    per disc, `embed`/`folder` index the pre-rendered covers (-1: none), `seed` for its tracks."""

    dir: str
    artist: str
    title: str
    date: str
    original_date: str | None
    fmt: str
    discs: tuple[int, ...]
    genre: str
    compilation: bool
    embed: int
    folder: int
    seed: int
    mbid_album: str | None
    mbid_artist: str | None


@dataclass(slots=True)
class GenStats:
    """What `generate_library` wrote. `seconds` excludes nothing (templates included)."""

    files: int = 0                 # all files: audio + folder images
    audio_files: int = 0
    images: int = 0
    bytes: int = 0
    seconds: float = 0.0
    albums: int = 0
    album_artists: int = 0         # distinct album artists, "Various Artists" included
    compilations: int = 0
    multi_disc_albums: int = 0
    multi_artist_tracks: int = 0
    multi_genre_tracks: int = 0
    formats: dict[str, int] = field(default_factory=dict)  # tracks per format

    @property
    def files_per_s(self) -> float:
        """Audio files written per second of wall time."""
        return self.audio_files / self.seconds if self.seconds else 0.0

    def add(self, other: GenStats) -> None:
        """Accumulate a worker's file, byte and track counters (not the album counts) into self."""
        for name in ("files", "audio_files", "images", "bytes", "multi_artist_tracks", "multi_genre_tracks"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.formats = dict(Counter(self.formats) + Counter(other.formats))

    def summary(self) -> str:
        """One line: files, bytes, seconds, files/s."""
        return (f"{self.files} files ({self.audio_files} audio, {self.images} images, {self.albums} albums), "
                f"{self.bytes / 1e6:.1f} MB, {self.seconds:.2f} s, {self.files_per_s:.0f} files/s")


def plan_library(n_tracks: int, seed: int = 1, formats: Sequence[str] | Mapping[str, float] = DEFAULT_MIX,
                 covers: bool = True, n_covers: int = 8) -> tuple[list[AlbumPlan], list[str]]:
    """Albums and artist pool of a benchmark library of exactly `n_tracks` tracks.

    Returns (albums, artists): ≈ n/100 album artists with a long tail, albums of 8–20
    tracks, per block of 20 albums one multi-disc album and one compilation. Pure function
    of its arguments. Raises ValueError for n_tracks < 1, KeyError for unknown formats.
    """
    if n_tracks < 1:
        raise ValueError("n_tracks must be >= 1")
    names, weights = format_weights(formats)
    rng = random.Random(f"orbsonic-libgen:{seed}")
    n_artists = max(3, round(n_tracks / 100))
    taken = {VARIOUS.casefold()}
    artists = unique_artists(rng, 2 * n_artists, taken)  # first half album artists, second half guests
    mbids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n_artists)]
    albums: list[AlbumPlan] = []
    dirs: set[str] = set()
    remaining, i, special = n_tracks, 0, (-1, -1)
    while remaining > 0:
        if i % 20 == 0:
            special = tuple(rng.sample(range(20), 2))  # type: ignore[assignment]
        size = rng.randint(8, 20)
        size = remaining if remaining - size < 8 else size
        remaining -= size
        compilation = i % 20 == special[1]
        a = i if i < n_artists else int(n_artists * rng.random() ** 1.6)
        artist = VARIOUS if compilation else artists[a]
        discs: tuple[int, ...] = (size,)
        if i % 20 == special[0] and size >= 4:
            n_discs = 2 if rng.random() < 0.8 or size < 6 else 3
            discs = tuple(size // n_discs + (k < size % n_discs) for k in range(n_discs))
        year = rng.randint(1950, 2025)
        full_date = rng.random() < 0.3
        date = f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}" if full_date else str(year)
        original = str(rng.randint(1950, year)) if rng.random() < 0.1 else None
        title = random_title(rng)
        folder = f"{safe_name(artist)}/{year} - {safe_name(title)}"
        k = 2
        while folder.casefold() in dirs:
            folder, k = f"{safe_name(artist)}/{year} - {safe_name(title)} ({k})", k + 1
        dirs.add(folder.casefold())
        r = rng.random()
        cover_idx = rng.randrange(n_covers)
        embed = cover_idx if covers and (r < 0.40 or 0.80 <= r < 0.85) else -1
        folder_img = cover_idx if covers and 0.40 <= r < 0.85 else -1
        has_mb = rng.random() < 0.7
        albums.append(AlbumPlan(
            folder, artist, title if k == 2 else f"{title} ({k - 1})", date, original,
            rng.choices(names, weights)[0], discs, rng.choice(GENRES), compilation, embed, folder_img,
            rng.getrandbits(63), str(uuid.UUID(int=rng.getrandbits(128), version=4)) if has_mb else None,
            None if compilation or not has_mb else mbids[a]))
        i += 1
    return albums, artists


def _album_tracks(a: AlbumPlan, artists: Sequence[str], cover: Cover | None
                  ) -> Iterable[tuple[str, TrackTags]]:
    """(file name, tags) for every track of album `a`; deterministic in `a.seed`."""
    rng = random.Random(a.seed)
    n_discs = len(a.discs)
    disc_tag = n_discs > 1 or rng.random() < 0.6
    rg = rng.random() < 0.5
    album_gain = round(rng.uniform(-12, 2), 2)
    ext = FORMATS[a.fmt][0]
    for d, count in enumerate(a.discs, 1):
        for n in range(1, count + 1):
            title = random_title(rng)
            main = rng.choice(artists) if a.compilation else a.artist
            names: tuple[str, ...] = (main,)
            display = None
            if rng.random() < 0.10:
                guest = rng.choice(artists)
                if guest != main:
                    names, display = (main, guest), f"{main}{rng.choice(FEAT_SEPARATORS)}{guest}"
            genres: tuple[str, ...] = (a.genre,)
            joined = None
            if rng.random() < 0.10:
                other = rng.choice(GENRES)
                if other != a.genre:
                    genres = (a.genre, other)
                    joined = f"{a.genre};{other}" if rng.random() < 0.3 else None
            gain = round(rng.uniform(-12, 2), 2) if rg else None
            tags = TrackTags(
                title=title, artists=names, artist_display=display, album=a.title, album_artist=a.artist,
                genres=genres, genre_joined=joined, track_no=n, track_total=count,
                disc_no=d if disc_tag else None, disc_total=n_discs if disc_tag else None, date=a.date,
                original_date=a.original_date, compilation=a.compilation,
                sort_artist=f"{main[4:]}, The" if main.startswith("The ") else None, rg_track_gain=gain,
                rg_track_peak=0.95 if rg else None, rg_album_gain=album_gain if rg else None,
                rg_album_peak=0.99 if rg else None, mbid_album=a.mbid_album,
                mbid_recording=str(uuid.UUID(int=rng.getrandbits(128), version=4)) if a.mbid_album else None,
                mbid_album_artists=(a.mbid_artist,) if a.mbid_artist else (), cover=cover)
            yield f"{d}-{n:02d} {safe_name(title)}.{ext}", tags


_STATE: dict[str, Any] = {}  # per worker process: root, templates, covers, artists


def _init_worker(root: str, templates: dict[str, bytes], covers: list[Cover], artists: list[str]) -> None:
    _STATE.update(root=Path(root), templates=templates, covers=covers, artists=artists)


def _write_albums(albums: Sequence[AlbumPlan]) -> GenStats:
    """Write `albums` under the worker's root; returns counters (no timing)."""
    st = GenStats()
    root, templates, covers = _STATE["root"], _STATE["templates"], _STATE["covers"]
    for a in albums:
        folder = root / a.dir
        folder.mkdir(parents=True, exist_ok=True)
        template = templates[a.fmt]
        for name, tags in _album_tracks(a, _STATE["artists"], covers[a.embed] if a.embed >= 0 else None):
            data = retag(template, a.fmt, tags)
            with open(folder / name, "wb") as fh:
                fh.write(data)
            st.audio_files += 1
            st.bytes += len(data)
            st.multi_artist_tracks += len(tags.artists) > 1
            st.multi_genre_tracks += len(tags.genres) > 1
        st.formats[a.fmt] = st.formats.get(a.fmt, 0) + sum(a.discs)
        if a.folder >= 0:
            data = covers[a.folder].data
            (folder / "cover.jpg").write_bytes(data)
            st.images += 1
            st.bytes += len(data)
    st.files = st.audio_files + st.images
    return st


def generate_library(root: str | os.PathLike[str], n_tracks: int, *, seed: int = 1,
                     formats: Sequence[str] | Mapping[str, float] = DEFAULT_MIX, workers: int = 2,
                     covers: bool = True, progress: bool = False,
                     template_dir: str | os.PathLike[str] | None = None, seconds: float = 1.0) -> GenStats:
    """Write a synthetic library of exactly `n_tracks` audio files under `root`.

    `formats`: format names (equal weights; repeat a name to weigh it) or a mapping name →
    weight; one format per album. Same seed ⇒ same paths and tags. `workers` > 1 uses that
    many forked processes (split by album). Templates are cached in `template_dir`
    (default `root/.templates`); `seconds` is their length (shorter = smaller library).
    Existing files at the same paths are overwritten.
    Raises ValueError (n_tracks < 1), KeyError (unknown format).
    """
    t0 = time.perf_counter()
    root = Path(root)
    albums, artists = plan_library(n_tracks, seed, formats, covers)
    templates = load_templates({a.fmt for a in albums}, template_dir or root / ".templates", seconds)
    cover_list = benchmark_covers() if covers else []
    init = (str(root), templates, cover_list, artists)
    chunks = [albums[k:k + 16] for k in range(0, len(albums), 16)]
    total, last = GenStats(), t0
    with contextlib.ExitStack() as stack:
        if workers <= 1:
            _init_worker(*init)
            results: Iterable[GenStats] = map(_write_albums, chunks)
        else:  # the pool is terminated on exit, after every result has arrived
            pool = stack.enter_context(multiprocessing.get_context("fork").Pool(workers, _init_worker, init))
            results = pool.imap_unordered(_write_albums, chunks)
        for part in results:
            total.add(part)
            if progress and time.perf_counter() - last > 2:
                last = time.perf_counter()
                print(f"  {total.audio_files}/{n_tracks} tracks, {total.audio_files / (last - t0):.0f}/s",
                      file=sys.stderr, flush=True)
    total.albums, total.album_artists = len(albums), len({a.artist for a in albums})
    total.compilations, total.multi_disc_albums = sum(a.compilation for a in albums), sum(
        len(a.discs) > 1 for a in albums)
    total.seconds = time.perf_counter() - t0
    return total


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point (see the module docstring). Returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m bench.libgen", description=__doc__.split("\n")[0])
    p.add_argument("out", type=Path, help="library root to write")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--tracks", type=int, help="benchmark library with this many tracks")
    mode.add_argument("--test-library", action="store_true", help="fixed test library + manifest.json")
    mode.add_argument("--touch", type=float, metavar="FRACTION", help="retitle part of an existing library")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--formats", type=parse_formats, default=None, help="a,b or a:40,b:10 (default: mix)")
    p.add_argument("--no-covers", action="store_true")
    p.add_argument("--template-dir", type=Path, default=None)
    p.add_argument("--seconds", type=float, default=1.0, help="template (track) length in seconds")
    p.add_argument("--progress", action="store_true")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.test_library:
        manifest = build_test_library(args.out, template_dir=args.template_dir)
        (args.out / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
        paths = [e.path for e in manifest.files] + manifest.images
        size = sum((args.out / rel).stat().st_size for rel in paths)
        secs = time.perf_counter() - t0
        print(GenStats(len(paths), manifest.n_audio_files, len(manifest.images), size, secs,
                       len(manifest.albums)).summary())
    elif args.touch is not None:
        changed = touch_fraction(args.out, args.touch, seed=args.seed)
        secs = time.perf_counter() - t0
        print(f"{len(changed)} files retitled, {secs:.2f} s, {len(changed) / max(secs, 1e-9):.0f} files/s")
    else:
        stats = generate_library(args.out, args.tracks, seed=args.seed, formats=args.formats or DEFAULT_MIX,
                                 workers=args.workers, covers=not args.no_covers, progress=args.progress,
                                 template_dir=args.template_dir, seconds=args.seconds)
        print(stats.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
