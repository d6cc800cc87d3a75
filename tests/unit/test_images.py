"""orbsonic.scanner.images: folder cover choice and the audio suffix list."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orbsonic.scanner.images import AUDIO_SUFFIXES, IMAGE_SUFFIXES, find_folder_image, is_audio_name


@pytest.mark.parametrize("names, expected", [
    ([], None),
    (["01 song.flac", "notes.txt"], None),
    (["folder.jpg", "cover.jpg"], "cover.jpg"),
    (["Folder.JPG", "front.png", "album.jpg"], "Folder.JPG"),
    (["front.png", "album.jpg", "albumart.jpg"], "front.png"),
    # only covers by name: an arbitrary image is not a folder cover (issue 8)
    (["AlbumArtSmall.jpg", "AlbumArt_{guid}_Large.jpg"], None),
    (["AlbumArtSmall.jpg"], None),
    (["scan2.jpg", "Scan1.JPG", "song.mp3"], None),
    (["image.jpg"], None),
    (["back.webp", "disc.gif"], None),
    (["cover.bmp", "cover.tiff", "z.jpeg"], "cover.bmp"),
    (["booklet.jpg", "Front.gif"], "Front.gif"),
    (["._cover.jpg", "folder.jpg"], "folder.jpg"),
    (["COVER.PNG", "cover.jpg"], "cover.jpg"),
    (["Cover.jpg", "cover.jpg"], "Cover.jpg"),
    ([".jpg", "cover"], None),
])
def test_find_folder_image(names: list[str], expected: str | None) -> None:
    assert find_folder_image(names) == expected
    assert find_folder_image(iter(names)) == expected


def test_the_folders_own_name_is_a_cover_after_the_listed_names() -> None:
    assert find_folder_image(["image.jpg", "Abbey Road.png"], "Abbey Road") == "Abbey Road.png"
    assert find_folder_image(["abbey road.png", "folder.jpg"], "Abbey Road") == "folder.jpg"
    assert find_folder_image(["image.jpg"], "Abbey Road") is None


def test_the_cover_names_are_configurable_and_ordered() -> None:
    files = ["cover.jpg", "Front.png", "sleeve.jpg"]
    assert find_folder_image(files, names=("sleeve", "front")) == "sleeve.jpg"
    assert find_folder_image(files, names=("front", "sleeve")) == "Front.png"
    assert find_folder_image(["cover.jpg"], names=("front",)) is None


def test_suffix_lists() -> None:
    expected = {"flac", "mp3", "ogg", "oga", "opus", "m4a", "m4b", "mp4", "aac", "wav", "aif", "aiff", "wma",
                "asf", "ape", "wv", "mpc", "dsf", "dff", "spx", "tta", "mp2", "mp1", "ac3", "eac3", "ofr",
                "ofs", "tak", "3g2"}
    for suffix in expected:
        assert suffix in AUDIO_SUFFIXES
    assert all(s == s.lower() and not s.startswith(".") for s in AUDIO_SUFFIXES | IMAGE_SUFFIXES)
    assert not AUDIO_SUFFIXES & IMAGE_SUFFIXES
    assert is_audio_name("01 Track.FLAC") and not is_audio_name("cover.jpg") and not is_audio_name("flac")


names = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/\x00"),
                min_size=1, max_size=12)
suffixes = st.sampled_from(["jpg", "JPEG", "png", "webp", "gif", "bmp", "txt", "flac", "mp3", ""])


@given(st.lists(st.tuples(names, suffixes).map(lambda p: f"{p[0]}.{p[1]}" if p[1] else p[0]), max_size=15),
       st.randoms())
@settings(suppress_health_check=[HealthCheck.too_slow])  # a loaded CI machine
def test_choice_is_an_image_and_order_independent(files: list[str], rnd: random.Random) -> None:
    chosen = find_folder_image(files)
    shuffled = list(files)
    rnd.shuffle(shuffled)
    assert find_folder_image(shuffled) == chosen
    covers = ("cover", "folder", "front", "album", "albumart")
    if chosen is None:
        assert not any(f.rpartition(".")[2].lower() in IMAGE_SUFFIXES and "." in f and not f.startswith("._")
                       and f.rpartition(".")[0].strip().lower() in covers for f in files)
    else:
        assert chosen in files
        assert chosen.rpartition(".")[2].lower() in IMAGE_SUFFIXES
        assert chosen.rpartition(".")[0].strip().lower() in covers
