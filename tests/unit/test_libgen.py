"""bench.libgen: the fixed test library and the synthetic benchmark library.

Tags are read back with mutagen through a small reference reader (`_read`) that knows the
Picard-style mapping bench/tagwrite.py writes, so these tests check the files, not the
generator's own bookkeeping. Templates are encoded once per test session (~0.5 s).
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import mutagen
import pytest
from mutagen.flac import FLAC, Picture
from mutagen.id3 import ID3
from mutagen.mp4 import MP4
from mutagen.wave import WAVE
from PIL import Image

from bench.libgen import (
    DEFAULT_MIX,
    GenStats,
    Manifest,
    build_test_library,
    generate_library,
    main,
    plan_library,
    touch_fraction,
)
from bench.tagwrite import AUDIO_SUFFIXES, TrackTags, load_templates, read_title, retag, retitle
from bench.templates import FORMATS

# ---------------------------------------------------------------------------- reference reader


def _id3_text(tags: Any, key: str) -> list[str]:
    frame = tags.get(key) if tags is not None else None
    return [str(t) for t in frame.text] if frame else []


def _first(values: list[Any]) -> Any:
    return values[0] if values else None


def _num(value: str | None) -> tuple[int | None, int | None]:
    if not value:
        return None, None
    n, _, total = value.partition("/")
    return int(n), int(total) if total else None


def _read(path: Path) -> dict[str, Any]:
    """Format-neutral view of a file's tags: title, artists, album, album_artist, track,
    track_total, disc, disc_total, year, genres (split on ";"), compilation, cover,
    sort_artist, mbid_recording, rg_track_gain."""
    suffix = path.suffix[1:]
    out: dict[str, Any] = {}
    tags: Any
    if suffix in ("mp3", "wav"):
        tags = ID3(path) if suffix == "mp3" else WAVE(path).tags
        artists = _id3_text(tags, "TXXX:ARTISTS") or _id3_text(tags, "TPE1")
        track, track_total = _num(_first(_id3_text(tags, "TRCK")))
        disc, disc_total = _num(_first(_id3_text(tags, "TPOS")))
        date = _first(_id3_text(tags, "TDRC"))
        genres = _id3_text(tags, "TCON")
        ufid = tags.get("UFID:http://musicbrainz.org") if tags is not None else None
        rg = _id3_text(tags, "TXXX:REPLAYGAIN_TRACK_GAIN")
        out.update(title=_first(_id3_text(tags, "TIT2")), album=_first(_id3_text(tags, "TALB")),
                   album_artist=_first(_id3_text(tags, "TPE2")), compilation=bool(_id3_text(tags, "TCMP")),
                   cover=bool(tags and tags.getall("APIC")), sort_artist=_first(_id3_text(tags, "TSOP")),
                   mbid_recording=ufid.data.decode() if ufid else None, rg_track_gain=rg[0] if rg else None)
    elif suffix == "m4a":
        tags = MP4(path).tags or {}

        def free(key: str) -> list[str]:
            return [bytes(v).decode() for v in tags.get("----:com.apple.iTunes:" + key, [])]

        artists = free("ARTISTS") or list(tags.get("\xa9ART", []))
        (track, track_total), = tags.get("trkn", [(None, None)])
        (disc, disc_total), = tags.get("disk", [(None, None)])
        date = _first(tags.get("\xa9day"))
        genres = list(tags.get("\xa9gen", []))
        rg = free("replaygain_track_gain")
        out.update(title=_first(tags.get("\xa9nam")), album=_first(tags.get("\xa9alb")),
                   album_artist=_first(tags.get("aART")), compilation=bool(tags.get("cpil")),
                   cover=bool(tags.get("covr")), sort_artist=_first(tags.get("soar")),
                   mbid_recording=_first(free("MusicBrainz Track Id")), rg_track_gain=rg[0] if rg else None)
        track_total, disc_total = track_total or None, disc_total or None
    else:
        audio: Any = mutagen.File(path)
        tags = audio.tags or {}

        def get(key: str) -> list[str]:
            return list(tags.get(key, [])) if audio.tags is not None else []

        artists = get("artists") or get("artist")
        track, track_total = _num(_first(get("tracknumber")))[0], _num(_first(get("tracktotal")))[0]
        disc, disc_total = _num(_first(get("discnumber")))[0], _num(_first(get("disctotal")))[0]
        date = _first(get("date"))
        genres = get("genre")
        pictures = audio.pictures if isinstance(audio, FLAC) else get("metadata_block_picture")
        rg = get("replaygain_track_gain")
        out.update(title=_first(get("title")), album=_first(get("album")),
                   album_artist=_first(get("albumartist")), compilation=get("compilation") == ["1"],
                   cover=bool(pictures), sort_artist=_first(get("artistsort")),
                   mbid_recording=_first(get("musicbrainz_trackid")), rg_track_gain=rg[0] if rg else None)
    out.update(artists=artists, track=track, track_total=track_total, disc=disc, disc_total=disc_total,
               year=int(str(date)[:4]) if date else None,
               genres=[g for s in genres for g in str(s).split(";")])
    return out


def _files(root: Path) -> dict[str, bytes]:
    """Relative path -> sha1 of every file under root, hidden directories excluded."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            p = Path(dirpath, name)
            out[p.relative_to(root).as_posix()] = hashlib.sha1(p.read_bytes()).digest()
    return out


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("templates")
    load_templates(FORMATS, path)
    return path


@pytest.fixture(scope="module")
def test_lib(tmp_path_factory: pytest.TempPathFactory, template_dir: Path) -> tuple[Path, Manifest]:
    root = tmp_path_factory.mktemp("testlib")
    return root, build_test_library(root, template_dir=template_dir)


@pytest.fixture(scope="module")
def bench_libs(tmp_path_factory: pytest.TempPathFactory, template_dir: Path) -> dict[str, Any]:
    """The same 300-track library twice (2 workers, then 1) plus one with another seed."""
    roots = {k: tmp_path_factory.mktemp(k) for k in ("a", "b", "c")}
    stats = {"a": generate_library(roots["a"], 300, seed=7, workers=2, template_dir=template_dir),
             "b": generate_library(roots["b"], 300, seed=7, workers=1, template_dir=template_dir),
             "c": generate_library(roots["c"], 300, seed=8, workers=1, template_dir=template_dir)}
    return {"roots": roots, "stats": stats}


# ---------------------------------------------------------------------------- test library

def test_test_library_matches_manifest_on_disk(test_lib: tuple[Path, Manifest]) -> None:
    root, manifest = test_lib
    assert set(_files(root)) == {e.path for e in manifest.files} | set(manifest.images)
    assert 40 <= len(manifest.files) + len(manifest.images) <= 60
    assert Manifest.from_json(manifest.to_json()) == manifest
    assert {e.format for e in manifest.files if e.format} == set(FORMATS)
    readable = sum(1 for e in manifest.files if e.readable)
    assert manifest.n_readable_audio == readable == manifest.n_audio_files - 1  # broken.flac


def test_test_library_tags_read_back(test_lib: tuple[Path, Manifest]) -> None:
    root, manifest = test_lib
    checked = 0
    for e in manifest.files:
        if not e.readable or e.title is None:
            continue
        got = _read(root / e.path)
        want = {"title": e.title, "artists": e.artists, "album": e.album, "album_artist": e.album_artist,
                "track": e.track, "track_total": e.track_total, "disc": e.disc, "disc_total": e.disc_total,
                "year": e.year, "genres": e.genres, "compilation": e.compilation,
                "cover": e.has_embedded_cover,
                "sort_artist": e.extra.get("sort_artist"), "mbid_recording": e.extra.get("mbid_recording")}
        assert {k: got[k] for k in want} == want, e.path
        if "rg_track_gain" in e.extra:
            assert got["rg_track_gain"] == f"{e.extra['rg_track_gain']:.2f} dB"
        checked += 1
    assert checked >= 38


def test_test_library_audio_properties(test_lib: tuple[Path, Manifest]) -> None:
    root, manifest = test_lib
    for e in manifest.files:
        if e.readable and e.format:
            info = mutagen.File(root / e.path).info
            rate = getattr(info, "sample_rate", 48000)  # mutagen's OggOpusInfo has none: Opus is 48 kHz
            assert rate == e.sample_rate == FORMATS[e.format][2], e.path
            if e.bit_depth:
                assert info.bits_per_sample == e.bit_depth, e.path
    hires = [e for e in manifest.files if e.format == "flac24_192"]
    assert hires and all((e.sample_rate, e.bit_depth) == (192000, 24) for e in hires)


def test_test_library_special_cases(test_lib: tuple[Path, Manifest]) -> None:
    root, m = test_lib
    # multi-valued fields are present as such in the files
    assert FLAC(root / "Björk/2001 - Vespertine/02 Cocoon.flac")["ARTISTS"] == ["Björk", "Thom Yorke"]
    assert FLAC(root / "Björk/2001 - Vespertine/02 Cocoon.flac")["ARTIST"] == ["Björk feat. Thom Yorke"]
    id3 = ID3(root / "The Beatles/1969 - Abbey Road/02 Something.mp3")
    assert id3.version[1] == 4 and id3["TPE1"].text == ["The Beatles", "Billy Preston"]
    assert ID3(root / "The Beatles/1969 - Abbey Road/03 Octopus's Garden.mp3")["TCON"].text == ["Rock;Pop"]
    assert ID3(root / "Motörhead/1980 - Ace of Spades/01 Ace of Spades.mp3").version[1] == 3
    assert FLAC(root / "Björk/2001 - Vespertine/01 Hidden Place.flac")["GENRE"] == ["Electronic", "Art Pop"]
    ogg = mutagen.File(root / "Sigur Rós/1999 - Ágætis byrjun/01 Svefn-g-englar.ogg")
    assert Picture(base64.b64decode(ogg["METADATA_BLOCK_PICTURE"][0])).mime == "image/jpeg"
    assert m.entry("Björk/2001 - Vespertine/02 Cocoon.flac").artist_display == "Björk feat. Thom Yorke"
    # albums: multi-disc in one folder and split into CD1/CD2, compilation, unicode, leading article
    assert ["Pink Floyd", "The Wall"] in m.albums and ["Nine Inch Nails", "The Fragile"] in m.albums
    fragile = [e for e in m.files if e.album == "The Fragile"]
    assert {(e.disc, e.disc_total) for e in fragile} == {(1, 2), (2, 2)} and len({Path(e.path).parent for e in
                                                                                  fragile}) == 2
    comp = [e for e in m.files if e.album_artist == "Various Artists"]
    assert len(comp) == 4 and all(e.compilation for e in comp) and len({e.artists[0] for e in comp}) == 4
    assert {"Björk", "Sigur Rós", "坂本龍一", "Motörhead", "The Beatles"} <= set(m.artists)
    assert any("😀" in (e.title or "") for e in m.files)
    beatles = m.entry("The Beatles/1969 - Abbey Road/01 Come Together.mp3")
    assert beatles.extra["sort_artist"] == "Beatles, The"
    vesp = m.entry("Björk/2001 - Vespertine/01 Hidden Place.flac").extra
    assert vesp["original_date"] == "2001-05-17" and "lyrics" in vesp and vesp["bpm"] == 92
    # missing tags
    untagged = m.entry("Unsorted/untagged track.flac")
    assert untagged.title is None and untagged.expected_title == "untagged track"
    assert not FLAC(root / untagged.path).tags
    assert m.entry("Unsorted/Single Without Album.ogg").album is None
    assert m.entry("Unsorted/B-Side Without Number.mp3").track is None
    assert "TRCK" not in ID3(root / "Unsorted/B-Side Without Number.mp3")
    # corrupt and non-audio files
    broken = m.entry("Unsorted/broken.flac")
    assert broken.is_corrupt and not broken.readable
    with pytest.raises(mutagen.MutagenError):
        FLAC(root / broken.path)
    truncated = m.entry("Unsorted/truncated.mp3")
    assert truncated.is_corrupt and truncated.readable and ID3(root / truncated.path)["TIT2"].text == [
        "Truncated Download"]
    assert not m.entry("Unsorted/notes.txt").is_audio
    assert "Loose Track.m4a" in {e.path for e in m.files}


def test_test_library_covers(test_lib: tuple[Path, Manifest]) -> None:
    root, m = test_lib
    names = {Path(i).name for i in m.images}
    assert {"cover.jpg", "folder.png", "front.jpg"} <= names
    colours = set()
    for image in m.images:
        with Image.open(root / image) as img:
            colours.add(img.convert("RGB").getpixel((10, 10)))
    assert len(colours) == len(m.images)  # distinct per album
    miles = [e for e in m.files if e.album == "Kind of Blue"]
    assert miles and not any(e.has_embedded_cover or e.folder_cover for e in miles)
    assert m.entry("Nine Inch Nails/1999 - The Fragile/CD2/01 The Way Out Is Through.mp3").folder_cover == \
        "Nine Inch Nails/1999 - The Fragile/cover.jpg"
    kinds = {e.format for e in m.files if e.has_embedded_cover}
    assert {"flac16", "mp3_v23", "mp3_v24", "ogg", "opus", "m4a_aac"} <= kinds


# ---------------------------------------------------------------------------- benchmark library

def test_generate_library_is_deterministic(bench_libs: dict[str, Any]) -> None:
    roots = bench_libs["roots"]
    a, b, c = (_files(roots[k]) for k in "abc")
    assert len([p for p in a if p.rsplit(".", 1)[-1] in AUDIO_SUFFIXES]) == 300
    assert a == b  # same seed: same paths and same bytes (shared templates), whatever the worker count
    assert set(a) != set(c)
    for rel in sorted(a)[:: 25]:
        if rel.rsplit(".", 1)[-1] in AUDIO_SUFFIXES:
            assert _read(roots["a"] / rel) == _read(roots["b"] / rel)
    stats: GenStats = bench_libs["stats"]["a"]
    assert stats.audio_files == 300 and stats.files == len(a) and stats.formats.keys() <= DEFAULT_MIX.keys()
    assert stats.bytes == sum((roots["a"] / p).stat().st_size for p in a)


def test_generate_library_structure(bench_libs: dict[str, Any]) -> None:
    root = bench_libs["roots"]["a"]
    rels = [p for p in _files(root) if p.rsplit(".", 1)[-1] in AUDIO_SUFFIXES]
    tags = {rel: _read(root / rel) for rel in rels}
    assert all(len(Path(rel).parts) == 3 for rel in rels)  # Artist/Year - Album/D-TT Title.ext
    assert any(t["disc_total"] and t["disc_total"] > 1 and t["disc"] == 2 for t in tags.values())
    comp = [t for t in tags.values() if t["album_artist"] == "Various Artists"]
    assert comp and all(t["compilation"] for t in comp) and len({t["artists"][0] for t in comp}) > 1
    assert sum(len(t["artists"]) > 1 for t in tags.values()) >= 10
    assert sum(len(t["genres"]) > 1 for t in tags.values()) >= 10
    assert any(t["cover"] for t in tags.values()) and any(root.glob("*/*/cover.jpg"))
    assert len({Path(r).suffix for r in rels}) >= 3
    albums = {(t["album_artist"], t["album"]) for t in tags.values()}
    for rel, t in tags.items():
        assert 1950 <= t["year"] <= 2025 and t["title"] and (t["album_artist"], t["album"]) in albums
        assert Path(rel).name.startswith(f"{t['disc'] or 1}-{t['track']:02d} ")
    stats: GenStats = bench_libs["stats"]["a"]
    assert stats.compilations >= 1 and stats.multi_disc_albums >= 1 and stats.multi_artist_tracks >= 10


def test_plan_library_sizes_and_errors() -> None:
    albums, artists = plan_library(1234, seed=3)
    assert sum(sum(a.discs) for a in albums) == 1234
    assert all(8 <= sum(a.discs) <= 27 for a in albums)
    assert len({a.dir.casefold() for a in albums}) == len(albums)
    assert len(artists) == 2 * 12 and len(set(artists)) == len(artists)
    assert plan_library(1234, seed=3) == (albums, artists)
    assert {a.fmt for a in plan_library(500, formats=["ogg", "opus"])[0]} <= {"ogg", "opus"}
    with pytest.raises(ValueError):
        plan_library(0)
    with pytest.raises(KeyError):
        plan_library(10, formats=["nope"])


def test_touch_fraction_changes_exactly_the_chosen_files(tmp_path: Path, template_dir: Path) -> None:
    roots = [tmp_path / "x", tmp_path / "y"]
    for root in roots:
        generate_library(root, 120, seed=5, workers=1, template_dir=template_dir)
    before = _files(roots[0])
    sizes = {p: (roots[0] / p).stat().st_size for p in before}
    titles = {p: _read(roots[0] / p)["title"] for p in before if not p.endswith(".jpg")}
    touched = touch_fraction(roots[0], 0.1, seed=3)
    after = _files(roots[0])
    rel = {p.relative_to(roots[0]).as_posix() for p in touched}
    assert len(rel) == 12
    assert {p for p in before if before[p] != after[p]} == rel
    for p in rel:
        assert (roots[0] / p).stat().st_size != sizes[p]
        assert _read(roots[0] / p)["title"] == f"{titles[p]} [touched 3]"
    assert {p.relative_to(roots[1]).as_posix() for p in touch_fraction(roots[1], 0.1, seed=3)} == rel
    assert touch_fraction(roots[0], 0.0) == []
    with pytest.raises(ValueError):
        touch_fraction(roots[0], 1.5)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_retitle_roundtrip_changes_size(template_dir: Path, fmt: str) -> None:
    data = retag(load_templates([fmt], template_dir)[fmt], fmt, TrackTags(title="Old", artists=("A",)))
    suffix = FORMATS[fmt][0]
    assert read_title(data, suffix) == "Old"
    new = retitle(data, suffix, "Oldx")
    assert read_title(new, suffix) == "Oldx" and len(new) != len(data)
    assert mutagen.File(io.BytesIO(new)) is not None


def test_cli(tmp_path: Path, template_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "bench"), "--tracks", "40", "--workers", "1", "--formats", "ogg,mp3_v24:3",
                 "--no-covers", "--template-dir", str(template_dir)]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("40 files (40 audio") and "files/s" in line
    assert main([str(tmp_path / "lib"), "--test-library", "--template-dir", str(template_dir)]) == 0
    manifest = Manifest.from_json((tmp_path / "lib" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest.n_readable_audio > 30 and "files/s" in capsys.readouterr().out
