"""Properties of the scanner's small parsers (issue 6 §4): the audio-stream checksum ignores
tags and never raises, legacy-encoding detection leaves Latin-1 alone and catches
double-byte text, the artist splitter honours separators and exceptions."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.tagwrite import default_template_dir, load_templates, retitle
from bench.templates import FORMATS
from orbsonic.scanner.audiohash import audio_hash
from orbsonic.scanner.encodings import choose_encoding, plausible_latin1
from orbsonic.scanner.tagvalues import NameSplitter, split_names

WESTERN = ["Björk", "Motörhead", "Sigur Rós", "Ágætis byrjun", "Françoise Hardy", "Mötley Crüe",
           "Coração Vagabundo", "Ñoño", "Café Tacvba", "Déjà vu", "Für Elise", "Señor Coconut",
           "Måns Zelmerlöw", "Hüsker Dü", "Les Misérables", "Œuvre", "Ærøskøbing"]


@pytest.fixture(scope="module")
def templates() -> dict[str, Any]:
    return load_templates(FORMATS, default_template_dir())


@settings(max_examples=25, deadline=None)
@given(title=st.text(min_size=1, max_size=300).filter(lambda t: t.strip() and "\x00" not in t))
def test_audio_hash_ignores_the_tags(templates, title):
    for fmt, data in templates.items():
        suffix = FORMATS[fmt][0]
        try:
            changed = retitle(data, suffix, title)
        except ValueError:  # a title mutagen cannot store (lone surrogates …)
            continue
        assert changed != data
        before, after = audio_hash(io.BytesIO(data)), audio_hash(io.BytesIO(changed))
        assert before is not None and before == after, fmt


def test_audio_hash_tells_different_audio_apart(templates):
    hashes = {fmt: audio_hash(io.BytesIO(data)) for fmt, data in templates.items()}
    assert None not in hashes.values()
    assert len(set(hashes.values())) == len(hashes)


@given(st.binary(max_size=4096))
def test_audio_hash_never_raises(data):
    result = audio_hash(io.BytesIO(data))
    assert result is None or isinstance(result, str)


@given(st.sampled_from([b"ID3", b"OggS", b"fLaC", b"RIFF", b"FORM", b"\x00\x00\x00\x20ftyp",
                        b"\x30\x26\xb2\x75"]), st.binary(max_size=2048))
def test_audio_hash_never_raises_on_broken_containers(magic, rest):
    result = audio_hash(io.BytesIO(magic + rest))
    assert result is None or isinstance(result, str)


def test_realworld_hashes_do_not_raise(realworld_dir: Path):
    for path in sorted(realworld_dir.rglob("*")):
        if path.is_file():
            with open(path, "rb") as fh:
                result = audio_hash(fh)
            assert result is None or isinstance(result, str)


@pytest.mark.parametrize("text", WESTERN)
def test_western_latin1_is_plausible(text):
    assert plausible_latin1(text)
    assert choose_encoding([text, "Greatest Hits"], "auto") is None


@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5), min_size=2, max_size=12))
def test_gb2312_text_is_never_plausible_latin1(text):
    """GB2312 bytes are all high-bit: always runs of them."""
    try:
        raw = text.encode("gb2312")
    except UnicodeEncodeError:
        return
    assert not plausible_latin1(raw.decode("latin-1"))


@pytest.mark.parametrize(("text", "encoding"), [
    ("周杰倫 七里香", "big5"), ("一丁", "big5"), ("五月天 倔強", "big5"), ("鄧麗君 月亮代表我的心", "big5"),
    ("宇多田ヒカル First Love", "shift_jis"), ("椎名林檎 丸の内サディスティック", "shift_jis"),
    ("Би-2 Полковнику никто не пишет", "cp1251"), ("Кино", "cp1251")])
def test_legacy_samples_are_not_plausible_latin1(text, encoding):
    """Big5 and Shift-JIS trail bytes may be ASCII ("¤@" for 一); real titles still show."""
    assert not plausible_latin1(text.encode(encoding).decode("latin-1"))


@given(st.lists(st.text(alphabet="abcdefghij XYZ&,.", min_size=1, max_size=12).map(str.strip)
                .filter(lambda s: s and "feat" not in s.lower()), min_size=1, max_size=5, unique=True))
def test_names_joined_by_a_separator_split_back(names):
    for sep in (" / ", "; ", " feat. "):
        assert split_names([sep.join(names)]) == tuple(names)


def test_exceptions_survive_every_separator():
    splitter = NameSplitter(["/", ";", " & ", ","], ["AC/DC", "Earth, Wind & Fire", "Simon & Garfunkel"])
    assert split_names(["AC/DC/Earth, Wind & Fire; Simon & Garfunkel & Queen"], splitter) == (
        "AC/DC", "Earth, Wind & Fire", "Simon & Garfunkel", "Queen")
    # A name that merely contains an exception is not cut in two.
    assert split_names(["AC/DCX"], splitter) == ("AC", "DCX")
