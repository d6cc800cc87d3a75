"""orbsonic.scanner.tags / tagvalues: round trips per format, parsers, the realworld corpus."""

from __future__ import annotations

import base64
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import mutagen
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutagen import id3
from mutagen.flac import FLAC, Picture
from mutagen.mp4 import MP4, MP4Cover, MP4FreeForm

from bench.templates import FORMATS
from orbsonic.scanner import tags as tags_module
from orbsonic.scanner import tagvalues as tv
from orbsonic.scanner.images import AUDIO_SUFFIXES
from orbsonic.scanner.model import TrackInfo, UnreadableFile
from orbsonic.scanner.tags import FIELDS, read_picture, read_track

MB = {
    "recording": "8b882575-08a5-4452-a7a7-cbb8a1531f9e",
    "track": "c29f3a57-b439-46fd-a2e2-93776b1371e0",
    "album": "9e873859-8aa4-4790-b985-5a953e8ef628",
    "group": "1d1b0c4a-6a7e-4a3f-9b1c-2f0e7d6c5b4a",
    "artist1": "7cf0ea9d-86b9-4dad-ba9e-2355a64899ea",
    "artist2": "0383dadf-2a4e-4d10-a46a-e9e041da8eb3",
    "albumartist": "89ad4ac3-39f7-470e-963a-56509c546377",
}
PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
       b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"

# What every format's full tag set reads back as (format-specific differences in EXPECT_DIFF).
EXPECTED: dict[str, Any] = {
    "title": "Whole Lotta Test",
    "artists": ("Earth, Wind & Fire", "Jane Doe"),
    "artist_display": "EWF feat. Jane",
    "album": "The Album",
    "album_artists": ("Earth, Wind & Fire", "Jane Doe"),
    "album_artist_display": "Earth, Wind & Fire / Jane Doe",
    "composers": ("Bach", "Händel"),
    "genres": ("Rock", "Pop", "Jazz", "Funk"),
    "track_no": 2, "track_total": 10, "disc_no": 1, "disc_total": 2,
    "disc_subtitle": "Disc One",
    "year": 2009, "date": "2009-09-04", "original_date": "1987-03-31", "release_date": "2010-01-02",
    "compilation": True,
    "comment": "A comment",
    "lyrics": "la la\nla",
    "bpm": 120,
    "explicit_status": "explicit",
    "isrc": ("USABC1234567",),
    "moods": ("Happy",),
    "groupings": ("Group",),
    "record_labels": ("Label",),
    "release_types": ("album",),
    "sort_title": "Whole Lotta Test, The", "sort_album": "Album, The", "sort_artist": "EWF",
    "sort_album_artist": "Earth Wind Fire",
    "rg_track_gain": -6.5, "rg_track_peak": 0.988, "rg_album_gain": -7.25, "rg_album_peak": 1.0,
    "mbid_recording": MB["recording"], "mbid_track": MB["track"], "mbid_album": MB["album"],
    "mbid_release_group": MB["group"], "mbid_artists": (MB["artist1"], MB["artist2"]),
    "mbid_album_artists": (MB["albumartist"],),
    "has_picture": True,
}
EXPECT_DIFF: dict[str, dict[str, Any]] = {}  # none so far: mutagen keeps v2.4-only frames in v2.3 files


def vorbis_tags(genre_values: list[str]) -> dict[str, list[str]]:
    return {
        "TITLE": ["Whole Lotta Test"], "ARTIST": ["EWF feat. Jane"],
        "ARTISTS": ["Earth, Wind & Fire", "Jane Doe"], "ALBUM": ["The Album"],
        "ALBUMARTIST": ["Earth, Wind & Fire", "Jane Doe"], "COMPOSER": ["Bach / Händel"],
        "GENRE": genre_values, "TRACKNUMBER": ["2/10"], "DISCNUMBER": ["1"], "DISCTOTAL": ["2"],
        "DISCSUBTITLE": ["Disc One"], "DATE": ["2009-09-04 14:20"], "ORIGINALDATE": ["1987-03-31"],
        "RELEASEDATE": ["2010-01-02"], "COMPILATION": ["1"], "COMMENT": ["A comment"],
        "UNSYNCEDLYRICS": ["la la\nla"], "BPM": ["120"], "ITUNESADVISORY": ["1"], "ISRC": ["USABC1234567"],
        "MOOD": ["Happy"], "GROUPING": ["Group"], "LABEL": ["Label"], "RELEASETYPE": ["album"],
        "TITLESORT": ["Whole Lotta Test, The"], "ALBUMSORT": ["Album, The"], "ARTISTSORT": ["EWF"],
        "ALBUMARTISTSORT": ["Earth Wind Fire"],
        "REPLAYGAIN_TRACK_GAIN": ["-6.50 dB"], "REPLAYGAIN_TRACK_PEAK": ["0.988000"],
        "replaygain_album_gain": ["-7.25 dB"], "REPLAYGAIN_ALBUM_PEAK": ["1.000000"],
        "MUSICBRAINZ_TRACKID": [MB["recording"]], "MUSICBRAINZ_RELEASETRACKID": [MB["track"]],
        "MUSICBRAINZ_ALBUMID": [MB["album"]], "MUSICBRAINZ_RELEASEGROUPID": [MB["group"]],
        "MUSICBRAINZ_ARTISTID": [MB["artist1"], MB["artist2"]],
        "MUSICBRAINZ_ALBUMARTISTID": [MB["albumartist"]],
    }


def make_picture(kind: int, mime: str, data: bytes) -> Picture:
    picture = Picture()
    picture.type, picture.mime, picture.data, picture.desc = kind, mime, data, ""
    return picture


def write_vorbis(path: Path) -> None:
    audio = mutagen.File(path)
    if audio.tags is None:
        audio.add_tags()
    for key, values in vorbis_tags(["Rock; Pop", "rock", "Jazz/Funk"]).items():
        audio.tags[key] = values
    if isinstance(audio, FLAC):
        audio.add_picture(make_picture(4, "image/jpeg", JPEG))
        audio.add_picture(make_picture(3, "image/png", PNG))
    else:
        blocks = [make_picture(4, "image/jpeg", JPEG), make_picture(3, "image/png", PNG)]
        audio.tags["METADATA_BLOCK_PICTURE"] = [base64.b64encode(p.write()).decode("ascii") for p in blocks]
    audio.save()


def write_id3(path: Path, version: int) -> None:
    audio = mutagen.File(path)
    if audio.tags is None:
        audio.add_tags()
    tags = audio.tags
    txxx = {
        "ARTISTS": ["Earth, Wind & Fire", "Jane Doe"], "ITUNESADVISORY": ["1"],
        "MusicBrainz Album Type": ["album"],
        "replaygain_track_gain": ["-6.50 dB"], "REPLAYGAIN_TRACK_PEAK": ["0.988000"],
        "REPLAYGAIN_ALBUM_GAIN": ["-7.25 dB"], "REPLAYGAIN_ALBUM_PEAK": ["1.000000"],
        "MusicBrainz Release Track Id": [MB["track"]], "MusicBrainz Album Id": [MB["album"]],
        "MusicBrainz Release Group Id": [MB["group"]],
        "MusicBrainz Artist Id": [MB["artist1"], MB["artist2"]],
        "MusicBrainz Album Artist Id": [MB["albumartist"]], "ALBUMARTISTSORT": ["Earth Wind Fire"],
    }
    for desc, values in txxx.items():
        tags.add(id3.TXXX(encoding=3, desc=desc, text=values))
    for frame in (
        id3.TIT2(encoding=3, text="Whole Lotta Test"), id3.TPE1(encoding=3, text="EWF feat. Jane"),
        id3.TALB(encoding=3, text="The Album"), id3.TPE2(encoding=3, text=["Earth, Wind & Fire", "Jane Doe"]),
        id3.TCOM(encoding=3, text="Bach / Händel"),
        id3.TCON(encoding=3, text=["Rock; Pop", "rock", "Jazz/Funk"]),
        id3.TRCK(encoding=3, text="2/10"), id3.TPOS(encoding=3, text="1/2"),
        id3.TSST(encoding=3, text="Disc One"),
        id3.TDRC(encoding=3, text="2009-09-04 14:20"), id3.TDOR(encoding=3, text="1987-03-31"),
        id3.TDRL(encoding=3, text="2010-01-02"), id3.TCMP(encoding=3, text="1"),
        id3.COMM(encoding=3, lang="eng", desc="", text="A comment"),
        id3.COMM(encoding=3, lang="eng", desc="iTunNORM", text=" 0000 0000"),
        id3.USLT(encoding=3, lang="eng", desc="", text="la la\nla"), id3.TBPM(encoding=3, text="120"),
        id3.TSRC(encoding=3, text="USABC1234567"), id3.TMOO(encoding=3, text="Happy"),
        id3.TIT1(encoding=3, text="Group"), id3.TPUB(encoding=3, text="Label"),
        id3.TSOT(encoding=3, text="Whole Lotta Test, The"), id3.TSOA(encoding=3, text="Album, The"),
        id3.TSOP(encoding=3, text="EWF"),
        id3.UFID(owner="http://musicbrainz.org", data=MB["recording"].encode()),
        id3.APIC(encoding=3, mime="image/jpeg", type=4, desc="back", data=JPEG),
        id3.APIC(encoding=3, mime="image/png", type=3, desc="front", data=PNG),
    ):
        tags.add(frame)
    audio.save(v2_version=version, v23_sep=None)


def write_mp4(path: Path) -> None:
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()

    def ff(*values: str) -> list[MP4FreeForm]:
        return [MP4FreeForm(v.encode()) for v in values]

    audio.tags.update({
        "\xa9nam": ["Whole Lotta Test"], "\xa9ART": ["EWF feat. Jane"], "\xa9alb": ["The Album"],
        "aART": ["Earth, Wind & Fire", "Jane Doe"], "\xa9wrt": ["Bach / Händel"],
        "\xa9gen": ["Rock; Pop", "rock", "Jazz/Funk"], "trkn": [(2, 10)], "disk": [(1, 2)],
        "\xa9day": ["2009-09-04T14:20:00Z"], "cpil": True, "\xa9cmt": ["A comment"], "\xa9lyr": ["la la\nla"],
        "tmpo": [120], "rtng": [1], "\xa9grp": ["Group"], "sonm": ["Whole Lotta Test, The"],
        "soal": ["Album, The"], "soar": ["EWF"], "soaa": ["Earth Wind Fire"],
        "covr": [MP4Cover(JPEG, MP4Cover.FORMAT_JPEG), MP4Cover(PNG, MP4Cover.FORMAT_PNG)],
    })
    freeform = {
        "ARTISTS": ff("Earth, Wind & Fire", "Jane Doe"), "DISCSUBTITLE": ff("Disc One"),
        "ORIGINALDATE": ff("1987-03-31"), "RELEASEDATE": ff("2010-01-02"), "ISRC": ff("USABC1234567"),
        "MOOD": ff("Happy"), "LABEL": ff("Label"), "MusicBrainz Album Type": ff("album"),
        "replaygain_track_gain": ff("-6.50 dB"), "replaygain_track_peak": ff("0.988000"),
        "replaygain_album_gain": ff("-7.25 dB"), "replaygain_album_peak": ff("1.000000"),
        "MusicBrainz Track Id": ff(MB["recording"]), "MusicBrainz Release Track Id": ff(MB["track"]),
        "MusicBrainz Album Id": ff(MB["album"]), "MusicBrainz Release Group Id": ff(MB["group"]),
        "MusicBrainz Artist Id": ff(MB["artist1"], MB["artist2"]),
        "MusicBrainz Album Artist Id": ff(MB["albumartist"]),
    }
    for name, values in freeform.items():
        audio.tags[f"----:com.apple.iTunes:{name}"] = values
    audio.save()


def write_full_tags(name: str, path: Path) -> None:
    """Write the EXPECTED tag set in the native tag family of template format `name`."""
    if name.startswith("flac") or name in ("ogg", "opus"):
        write_vorbis(path)
    elif name.startswith("m4a"):
        write_mp4(path)
    else:
        write_id3(path, 3 if name == "mp3_v23" else 4)


PROPS = {  # format: (suffix, content type, codec)
    "flac16": ("flac", "audio/flac", "flac"), "flac24_96": ("flac", "audio/flac", "flac"),
    "flac24_192": ("flac", "audio/flac", "flac"), "mp3_v23": ("mp3", "audio/mpeg", "mp3"),
    "mp3_v24": ("mp3", "audio/mpeg", "mp3"), "ogg": ("ogg", "audio/ogg", "vorbis"),
    "opus": ("opus", "audio/ogg", "opus"), "m4a_aac": ("m4a", "audio/mp4", "aac"),
    "m4a_alac": ("m4a", "audio/mp4", "alac"), "wav": ("wav", "audio/wav", "pcm"),
}


@pytest.fixture(scope="session")
def tagged(templates: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each template with the full tag set written, once per session."""
    folder = tmp_path_factory.mktemp("tagged")
    out = {}
    for name, template in templates.items():
        path = folder / template.name
        shutil.copyfile(template, path)
        write_full_tags(name, path)
        out[name] = path
    return out


@pytest.mark.parametrize("name", list(FORMATS))
def test_round_trip(tagged: dict[str, Path], name: str) -> None:
    track = read_track(tagged[name])
    expected = {**EXPECTED, **EXPECT_DIFF.get(name, {})}
    actual = {key: getattr(track, key) for key in expected}
    assert actual == expected
    assert track.warnings == []


@pytest.mark.parametrize("name", list(FORMATS))
def test_props(templates: dict[str, Path], name: str) -> None:
    track = read_track(templates[name])
    suffix, content_type, codec = PROPS[name]
    _suffix, _args, rate, bits = FORMATS[name]
    props = track.props
    assert (props.suffix, props.content_type, props.codec) == (suffix, content_type, codec)
    assert props.sample_rate == rate
    assert props.bit_depth == bits
    assert props.channels == 2
    assert 950 <= props.duration_ms <= 1100
    assert props.bitrate is not None and props.bitrate > 0
    if suffix == "flac":
        assert props.total_samples == rate
        assert props.audio_offset is not None and props.seek_index is not None
        assert len(props.seek_index) == 16
    else:
        assert props.total_samples is props.audio_offset is props.seek_index is None


@pytest.mark.parametrize("name", list(FORMATS))
def test_untagged_templates_read_empty(templates: dict[str, Path], name: str) -> None:
    track = read_track(templates[name])
    assert (track.title, track.artists, track.genres) == (None, (), ())
    assert (track.track_no, track.year, track.date) == (None, None, None)
    assert track.has_picture is False and track.compilation is False and track.explicit_status == ""


@pytest.mark.parametrize("name", list(FORMATS))
def test_read_picture_prefers_the_front_cover(tagged: dict[str, Path], templates: dict[str, Path],
                                              name: str) -> None:
    assert read_picture(templates[name]) is None
    picture = read_picture(tagged[name])
    if name.startswith("m4a"):  # covr has no picture types: the first image wins
        assert picture == (JPEG, "image/jpeg")
    else:
        assert picture == (PNG, "image/png")


def test_read_picture_of_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "x.mp3"
    path.write_bytes(b"\x00" * 100)
    assert read_picture(path) is None
    assert read_picture(tmp_path / "missing.flac") is None


# ---- single-feature cases ----

def vorbis_file(copy_template, **values: list[str] | str) -> Path:
    path = copy_template("flac16")
    audio = FLAC(path)
    if audio.tags is None:
        audio.add_tags()
    for key, value in values.items():
        audio.tags[key] = value
    audio.save()
    return path


@pytest.mark.parametrize("advisory, expected", [("1", "explicit"), ("2", "clean"), ("0", ""), ("x", "")])
def test_vorbis_advisory(copy_template, advisory: str, expected: str) -> None:
    assert read_track(vorbis_file(copy_template, ITUNESADVISORY=advisory)).explicit_status == expected


@pytest.mark.parametrize("rating, expected", [(1, "explicit"), (4, "explicit"), (2, "clean"), (0, "")])
def test_mp4_rating(copy_template, rating: int, expected: str) -> None:
    path = copy_template("m4a_aac")
    audio = MP4(path)
    if audio.tags is None:
        audio.add_tags()
    audio.tags["rtng"] = [rating]
    audio.save()
    assert read_track(path).explicit_status == expected


def test_text_cleaning_and_totals(copy_template) -> None:
    path = vorbis_file(copy_template, TITLE="\x00Some\x00 title\x00", ARTIST=["A / B", "C feat. D"],
                       TRACKNUMBER="3", TOTALTRACKS="12", DISCNUMBER="A1", DATE="Oct 3, 1995",
                       ORIGINALDATE="1995", GENRE="Rock\x00Pop\x00rock", COMMENT="  ", LYRICS="x\ufffey")
    track = read_track(path)
    assert track.title == "Some title"
    assert track.artists == ("A", "B", "C", "D")
    assert track.artist_display == "A / B / C feat. D"
    assert (track.track_no, track.track_total, track.disc_no, track.disc_total) == (3, 12, None, None)
    assert (track.date, track.original_date, track.year) == (None, "1995", 1995)
    assert track.genres == ("Rock", "Pop")
    assert track.comment is None and track.lyrics == "xy"
    assert any("'A1'" in w for w in track.warnings) and any("Oct 3, 1995" in w for w in track.warnings)


def test_year_tag_and_album_artist_spelling(copy_template) -> None:
    track = read_track(vorbis_file(copy_template, YEAR="2003", **{"ALBUM ARTIST": "Someone"}))
    assert (track.date, track.year, track.album_artists, track.album_artist_display) == (
        "2003", 2003, ("Someone",), "Someone")


def test_id3v23_year_and_date_frames(copy_template) -> None:
    path = copy_template("mp3_v23")
    tags = id3.ID3()
    tags.add(id3.TYER(encoding=0, text="2003"))
    tags.add(id3.TDAT(encoding=0, text="0405"))
    tags.save(path, v2_version=3)
    track = read_track(path)
    assert (track.date, track.year) == ("2003-05-04", 2003)


def test_zero_length_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    with pytest.raises(UnreadableFile, match="empty"):
        read_track(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="cannot open"):
        read_track(tmp_path / "nope.mp3")


@pytest.mark.parametrize("suffix", ["mp3", "flac", "m4a", "txt"])
def test_garbage_is_unreadable(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"garbage.{suffix}"
    path.write_bytes(os.urandom(5000).replace(b"\xff", b"\x00"))
    with pytest.raises(UnreadableFile) as info:
        read_track(path)
    assert info.value.reason


def test_tinytag_fallback(tagged: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise ZeroDivisionError("float division by zero")

    monkeypatch.setattr(tags_module.mutagen, "File", broken)
    track = read_track(tagged["mp3_v24"])
    assert track.title == "Whole Lotta Test"
    assert track.album == "The Album"
    assert (track.track_no, track.track_total, track.year) == (2, 10, 2009)
    assert track.props.codec == "mp3" and track.props.sample_rate == 44100 and track.props.duration_ms > 900
    assert any("ZeroDivisionError" in w for w in track.warnings)


@pytest.mark.parametrize("error", [ZeroDivisionError, MemoryError, IndexError, RecursionError])
def test_both_libraries_failing(tagged: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                error: type[Exception]) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise error("boom")

    monkeypatch.setattr(tags_module.mutagen, "File", broken)
    monkeypatch.setattr(tags_module.TinyTag, "get", broken)
    with pytest.raises(UnreadableFile) as info:
        read_track(tagged["flac16"])
    assert error.__name__ in info.value.reason and "tinytag" in info.value.reason


def test_tag_decoding_bug_is_contained(tagged: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise IndexError("list index out of range")

    monkeypatch.setattr(tags_module, "_decode_tags", broken)
    monkeypatch.setattr(tags_module.TinyTag, "get", broken)
    with pytest.raises(UnreadableFile, match="IndexError"):
        read_track(tagged["ogg"])


def test_field_table_is_complete() -> None:
    # year: from the dates; the others are not tags (audio checksum, lyrics sets and sidecars)
    names = set(TrackInfo.__slots__) - {"props", "warnings", "year", "audio_hash", "lyrics_entries",
                                        "lyrics_sig"}
    assert set(FIELDS) == names
    for field in FIELDS.values():
        for keys in (field.id3, field.mp4, field.vorbis, field.asf, field.ape):
            assert isinstance(keys, tuple) and all(isinstance(key, str) for key in keys)


def test_speed(templates: dict[str, Path], tagged: dict[str, Path], tmp_path: Path) -> None:
    """≥ 1,000 small files per second per core leaves room for the database work."""
    files = []
    for i in range(20):
        for path in list(tagged.values()) + list(templates.values()):
            dest = tmp_path / f"{i}-{path.parent.name}-{path.name}"
            shutil.copyfile(path, dest)
            files.append(dest)
    for path in files[:20]:
        read_track(path)
    start = time.perf_counter()
    for path in files:
        read_track(path)
    per_file = (time.perf_counter() - start) / len(files)
    assert per_file < 0.002, f"{per_file * 1000:.2f} ms per file"


# ---- parser properties ----

@given(st.integers(1, tv.INT32_MAX), st.integers(1, tv.INT32_MAX),
       st.sampled_from(["/", " / ", "/ ", " of "]))
def test_number_pairs(number: int, total: int, sep: str) -> None:
    assert tv.parse_number_pair(f"{number}{sep}{total}") == (number, total)
    assert tv.parse_number_pair(f" {number:03d} ") == (number, None)
    assert tv.parse_number_pair((number, total)) == (number, total)


@given(st.text(max_size=20))
def test_number_parser_total(text: str) -> None:
    warnings: list[str] = []
    number, total = tv.parse_number_pair(text, warnings)
    for value in (number, total):
        assert value is None or 0 < value <= tv.INT32_MAX
    zeros = re.fullmatch(r"\s*0+\s*(?:/\s*0*\s*)?", text)  # "0", "0/0": unset, not an error
    if number is None and total is None and tv.clean_text(text) is not None and not zeros:
        assert warnings


@pytest.mark.parametrize("text", ["one", "A1", "2a", "-3", "1/2/3", "½"])
def test_non_numbers(text: str) -> None:
    warnings: list[str] = []
    assert tv.parse_number_pair(text, warnings) == (None, None)
    assert warnings


@given(st.dates(), st.sampled_from(["", " 14:20", "T07:00:00Z", "T07:00:00+02:00", " 01:02:03.5"]))
def test_dates(day: Any, suffix: str) -> None:
    if not 1000 <= day.year <= 2999:
        assert tv.parse_date(day.isoformat() + suffix) is None
        return
    assert tv.parse_date(day.isoformat() + suffix) == day.isoformat()
    assert tv.parse_date(day.isoformat()[:7]) == day.isoformat()[:7]
    assert tv.parse_date(f"{day.year:04d}") == f"{day.year:04d}"
    assert tv.year_of(tv.parse_date(day.isoformat())) == day.year


@pytest.mark.parametrize("text, expected", [
    ("2009-09-04 14:20", "2009-09-04"), ("1987-03-31T07:00:00Z", "1987-03-31"), ("2003", "2003"),
    ("2003-05", "2003-05"), ("2003.05.04", "2003-05-04"), ("20030504", "2003-05-04"), ("2003-13-01", "2003"),
    ("Oct 3, 1995", None), ("0000", None), ("", None), ("1995 or so", None), ("3000", None),
])
def test_date_examples(text: str, expected: str | None) -> None:
    assert tv.parse_date(text) == expected


_DATE_SHAPE = re.compile(r"^[12]\d{3}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")


@given(st.text(max_size=30))
def test_date_parser_total(text: str) -> None:
    date = tv.parse_date(text)
    assert date is None or _DATE_SHAPE.match(date)


# Brackets are left out: "X [feat. Y]" is itself a credit form ("[ feat. 0]" is one credit).
name_text = st.text(st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                  exclude_characters=";/()[]"),
                    min_size=1, max_size=12).filter(lambda s: s.lower() not in ("feat.", "ft.", "featuring"))


@given(st.lists(name_text, min_size=1, max_size=5, unique_by=str.lower),
       st.sampled_from([" / ", "; ", " feat. ", " Ft. ", " FEATURING "]))
def test_artist_splitting(names: list[str], sep: str) -> None:
    assert tv.split_names([sep.join(names)]) == tv.dedupe(names)
    assert tv.split_names(names) == tv.dedupe(names)


@pytest.mark.parametrize("value, expected", [
    ("Earth, Wind & Fire", ("Earth, Wind & Fire",)), ("AC/DC", ("AC/DC",)), ("A (feat. B)", ("A", "B")),
    ("A [ft. B & C]", ("A", "B & C")), ("Simon & Garfunkel", ("Simon & Garfunkel",)), ("A;B", ("A;B",)),
    ("Aft. B", ("Aft. B",)), ("A/B / C", ("A/B", "C")),
])
def test_artist_examples(value: str, expected: tuple[str, ...]) -> None:
    assert tv.split_names([value]) == expected


@given(st.lists(st.text(max_size=15), max_size=6))
def test_genre_splitting(values: list[str]) -> None:
    genres = tv.split_genres(values)
    assert len({g.casefold() for g in genres}) == len(genres)
    for genre in genres:
        assert genre and genre == genre.strip() and not set(genre) & set(";/,\x00")


_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


@given(st.one_of(st.text(), st.binary()))
def test_clean_text(value: str | bytes) -> None:
    cleaned = tv.clean_text(value)
    assert cleaned is None or (cleaned and not _ILLEGAL.search(cleaned) and cleaned == cleaned.strip())
    assert tv.clean_text(cleaned) == cleaned
    cleaned.encode("utf-8") if cleaned else None  # no lone surrogates left


@pytest.mark.parametrize("value, expected", [
    ("-6.5 dB", -6.5), ("+3.20 dB", 3.2), ("0", 0.0), ("-7,25 dB", -7.25), ("dB", None), ("nan", None),
    ("1e400", None), ("-200 dB", None),
])
def test_gain(value: str, expected: float | None) -> None:
    assert tv.parse_gain(value) == expected


# ---- the realworld corpus ----

def test_realworld_corpus(realworld_dir: Path) -> None:
    """Every audio file reads or raises UnreadableFile with a reason; nothing else, no hang."""
    files = [p for p in sorted(realworld_dir.rglob("*"))
             if p.is_file() and p.suffix.lower().lstrip(".") in AUDIO_SUFFIXES]
    assert len(files) > 300
    unreadable = {}
    for path in files:
        start = time.perf_counter()
        try:
            track = read_track(path)
        except UnreadableFile as exc:
            assert exc.reason.strip()
            unreadable[path.relative_to(realworld_dir).as_posix()] = exc.reason
        else:
            assert isinstance(track, TrackInfo)
            for text in (track.title, track.artist_display, track.album, track.comment, track.lyrics):
                assert text is None or not _ILLEGAL.search(text)
        assert time.perf_counter() - start < 5, path
    assert "mutagen/ooming-header.flac" in unreadable
    assert "mutagen/emptyfile.mp3" in unreadable
    assert len(unreadable) < len(files) // 4


def test_realworld_known_cases(realworld_dir: Path) -> None:
    def read(name: str) -> TrackInfo:
        return read_track(realworld_dir / name)

    issue133 = read("supysonic/issue133.flac")
    assert issue133.title == "Some title"
    assert read("supysonic/issue139.mp3").genres == ()
    assert read("supysonic/folder__silence.mp3").track_no is None
    lyrics = read("supysonic/lyrics__withlyrics.mp3").lyrics
    assert lyrics and "\x00" not in lyrics
    for suffix in ("aiff", "alac.m4a", "ape", "dsf", "flac", "m4a", "mp3", "mpc", "ogg", "opus", "wma", "wv"):
        track = read(f"mediafile/full.{suffix}")
        assert track.title == "full", suffix
        assert (track.track_no, track.track_total, track.disc_no, track.disc_total) == (2, 3, 4, 5), suffix
        assert (track.year, track.bpm, track.lyrics, track.composers) == (
            2001, 6, "the lyrics", ("the composer",)), suffix
        assert track.mbid_recording == "8b882575-08a5-4452-a7a7-cbb8a1531f9e", suffix
        assert track.record_labels == ("the label",) and track.compilation, suffix
    wav = read("mediafile/full.wav")
    assert (wav.title, wav.track_no, wav.track_total) == ("full", 2, 3)
    for suffix in ("alac.m4a", "ape", "flac", "m4a", "mpc", "ogg", "opus", "wma", "wv", "dsf", "mp3"):
        track = read(f"mediafile/unparseable.{suffix}")
        assert (track.date, track.year) == (None, None), suffix
    partial = read("mediafile/partial.flac")
    assert (partial.track_no, partial.track_total, partial.disc_no, partial.disc_total) == (2, None, 4, None)
    assert read("mediafile/space_time.mp3").date == "2009-09-04"
    assert read("mediafile/t_time.m4a").date == "1987-03-31"
    assert read("mediafile/year.ogg").year is not None
    bad_tyer = read("mutagen/bad-TYER-frame.mp3")  # invalid TYER dropped, TIT2 kept
    assert bad_tyer.title and (bad_tyer.date, bad_tyer.year) == (None, None)
    assert read("mutagen/apev2-lyricsv2.mp3").year is None  # TDRC "0000"
    for name in ("mediafile/image.flac", "mediafile/image.mp3", "mediafile/image.m4a", "mediafile/image.ogg",
                 "mediafile/image.wma", "mediafile/image.ape", "supysonic/formats__silence.flac",
                 "supysonic/formats__silence.ogg", "supysonic/formats__silence.m4a"):
        assert read(name).has_picture, name
        picture = read_picture(realworld_dir / name)
        assert picture is not None and picture[1] in ("image/png", "image/jpeg"), name
    assert read_picture(realworld_dir / "mediafile/image.mp3")[1] == "image/png"  # type: ignore[index]
    assert read("mutagen/alac.m4a").props.codec == "alac"
    oldape = read("mediafile/oldape.ape")  # header claims 24 Hz and ~40.8 million seconds
    assert (oldape.title, oldape.props.duration_ms, oldape.props.sample_rate) == ("full", 0, None)
    assert any("implausible sample rate" in w for w in oldape.warnings)
    mp1 = read("tinytag/mpeg1_44_1khz.mp1")  # mutagen does not know layer I: tinytag reads it
    assert mp1.props.codec == "mp1" and mp1.props.duration_ms > 0
    multi = read("tinytag/multi_value.m4a")
    assert multi.artists == ("some artist", "another artist", "yet another artist")
    assert multi.artist_display == "some artist / another artist / yet another artist"
    with pytest.raises(UnreadableFile, match="ZeroDivisionError"):
        read("tinytag/zero_value_properties.spx")
