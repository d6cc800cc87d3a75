"""orbsonic.scanner.flacinfo: STREAMINFO, audio offset and the seek index."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mutagen.flac import FLAC, SeekPoint, SeekTable

from orbsonic.scanner import flacinfo
from orbsonic.scanner.flacinfo import (
    FlacError,
    build_seek_index,
    decode_seek_index,
    encode_seek_index,
    parse_frame_header,
    parse_streaminfo,
)
from orbsonic.scanner.tags import read_track


class CountingReader(io.FileIO):
    """A file object that counts the bytes read through it."""

    bytes_read = 0

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def streaminfo_of(path: Path) -> flacinfo.StreamInfo:
    with open(path, "rb") as fh:
        return parse_streaminfo(fh)


def assert_valid_index(path: Path, index: bytes, frames: list[tuple[int, int]] | None = None,
                       ) -> list[tuple[int, int]]:
    """Sorted, starts at (0, audio_offset), and every entry is a real frame header whose
    first sample is the recorded one (re-parsed here, and checked against ffprobe)."""
    info = streaminfo_of(path)
    entries = decode_seek_index(index)
    assert entries[0] == (0, info.audio_offset)
    assert entries == sorted(entries)
    assert len({s for s, _ in entries}) == len(entries)
    assert [o for _, o in entries] == sorted({o for _, o in entries})
    data = path.read_bytes()
    for sample, offset in entries:
        header = parse_frame_header(data, offset, info)
        assert header is not None, f"no frame header at {offset}"
        assert header.first_sample == sample
    if frames is not None:
        assert set(entries) <= set(frames)
    return entries


def add_seektable(path: Path, points: list[tuple[int, int]], placeholders: int = 0) -> None:
    """Give `path` a SEEKTABLE of absolute (sample, offset) points (made relative here)."""
    audio = FLAC(path)
    audio_offset = streaminfo_of(path).audio_offset
    table = SeekTable(None)
    table.seekpoints = [SeekPoint(s, o - audio_offset, 8192) for s, o in points]
    table.seekpoints += [SeekPoint(0xFFFFFFFFFFFFFFFF, 0, 0)] * placeholders
    audio.metadata_blocks = [b for b in audio.metadata_blocks if not isinstance(b, SeekTable)]
    audio.metadata_blocks.insert(1, table)
    audio.save()
    assert streaminfo_of(path).audio_offset == audio_offset  # padding absorbed the new block


def all_frames(path: Path, ffprobe_frames) -> list[tuple[int, int]]:
    """Every frame of a FLAC file: ffprobe's list, else a full sequential scan."""
    frames = ffprobe_frames(path)
    if frames is not None:
        return frames
    info = streaminfo_of(path)
    data = path.read_bytes()
    found, pos = [], info.audio_offset
    while pos < len(data) - 16:
        header = parse_frame_header(data, pos, info)
        if header is not None and (not found or header.first_sample > found[-1][0]):
            found.append((header.first_sample, pos))
            pos += header.length
        else:
            pos += 1
    return found


@pytest.mark.parametrize("name, rate, bits, samples", [
    ("flac16", 44100, 16, 44100), ("flac24_96", 96000, 24, 96000), ("flac24_192", 192000, 24, 192000),
])
def test_streaminfo_of_templates(templates: dict[str, Path], name: str, rate: int, bits: int,
                                 samples: int) -> None:
    info = streaminfo_of(templates[name])
    assert (info.sample_rate, info.bits_per_sample) == (rate, bits)
    assert (info.channels, info.total_samples) == (2, samples)
    assert info.min_blocksize <= info.max_blocksize
    assert len(info.md5) == 16
    assert info.audio_offset > 42
    data = templates[name].read_bytes()
    assert parse_frame_header(data, info.audio_offset, info).first_sample == 0  # type: ignore[union-attr]


def test_small_file_yields_only_the_first_entry(templates: dict[str, Path]) -> None:
    path = templates["flac16"]
    info = streaminfo_of(path)
    assert decode_seek_index(build_seek_index(path, info, info.audio_offset, path.stat().st_size)) == [
        (0, info.audio_offset)]


def test_sparse_sampling_without_seektable(long_flac: Path, ffprobe_frames) -> None:
    info = streaminfo_of(long_flac)
    assert info.seekpoints is None
    size = long_flac.stat().st_size
    with CountingReader(long_flac) as fh:
        index = build_seek_index(fh, info, info.audio_offset, size)
        assert fh.bytes_read < size / 4  # sampled, never read whole
    entries = assert_valid_index(long_flac, index, ffprobe_frames(long_flac))
    expected = (size - info.audio_offset) // flacinfo.SPARSE_STEP
    assert expected - 2 <= len(entries) - 1 <= expected
    assert entries[-1][0] > info.total_samples * 0.8


def test_sampling_caps_the_number_of_points(long_flac: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flacinfo, "SPARSE_STEP", 8 * 1024)
    monkeypatch.setattr(flacinfo, "MAX_POINTS", 40)
    info = streaminfo_of(long_flac)
    entries = assert_valid_index(long_flac, build_seek_index(long_flac, info))
    assert 30 <= len(entries) <= 41


@pytest.fixture
def flac_with_seektable(long_flac: Path, tmp_path: Path,
                        ffprobe_frames) -> tuple[Path, list[tuple[int, int]]]:
    path = tmp_path / "seek.flac"
    shutil.copyfile(long_flac, path)
    points = all_frames(path, ffprobe_frames)[::10]
    add_seektable(path, points, placeholders=3)
    return path, points


def test_index_from_seektable(flac_with_seektable: tuple[Path, list[tuple[int, int]]]) -> None:
    path, points = flac_with_seektable
    info = streaminfo_of(path)
    assert len(info.seekpoints or ()) == len(points)  # placeholders dropped
    with CountingReader(path) as fh:
        index = build_seek_index(fh, info)
        assert fh.bytes_read < 1024
    assert assert_valid_index(path, index) == points


def test_wrong_seektable_falls_back_to_sampling(long_flac: Path, tmp_path: Path, ffprobe_frames) -> None:
    path = tmp_path / "bad-seek.flac"
    shutil.copyfile(long_flac, path)
    frames = all_frames(path, ffprobe_frames)
    add_seektable(path, [frames[0]] + [(s, o + 3) for s, o in frames[5::10]])
    info = streaminfo_of(path)
    entries = assert_valid_index(path, build_seek_index(path, info), ffprobe_frames(path))
    assert len(entries) > 5


def test_metaflac_seektable(long_flac: Path, tmp_path: Path) -> None:
    metaflac = shutil.which("metaflac")
    if metaflac is None:
        pytest.skip("metaflac (Debian package flac) is not installed")
    path = tmp_path / "metaflac.flac"
    shutil.copyfile(long_flac, path)
    subprocess.run([metaflac, "--add-seekpoint=2s", str(path)], check=True)
    info = streaminfo_of(path)
    assert info.seekpoints
    entries = assert_valid_index(path, build_seek_index(path, info))
    assert len(entries) >= 14


def test_read_track_stores_the_index(long_flac: Path, ffprobe_frames) -> None:
    track = read_track(long_flac)
    info = streaminfo_of(long_flac)
    assert track.props.total_samples == 30 * 96000 == info.total_samples
    assert track.props.audio_offset == info.audio_offset
    assert track.props.seek_index is not None
    assert len(assert_valid_index(long_flac, track.props.seek_index, ffprobe_frames(long_flac))) > 5
    assert track.warnings == []


def test_prepended_id3_tag(templates: dict[str, Path], tmp_path: Path) -> None:
    original = templates["flac16"].read_bytes()
    payload = b"TIT2\x00\x00\x00\x05\x00\x00\x03abcd" + b"\x00" * 100
    size = len(payload)
    syncsafe = bytes([(size >> 21) & 0x7F, (size >> 14) & 0x7F, (size >> 7) & 0x7F, size & 0x7F])
    path = tmp_path / "id3.flac"
    path.write_bytes(b"ID3\x04\x00\x00" + syncsafe + payload + original)
    base = streaminfo_of(templates["flac16"])
    info = streaminfo_of(path)
    assert info.audio_offset == base.audio_offset + 10 + size
    assert info.total_samples == base.total_samples
    assert_valid_index(path, build_seek_index(path, info))
    track = read_track(path)
    assert track.props.audio_offset == info.audio_offset


def test_truncated_in_metadata_raises(templates: dict[str, Path], tmp_path: Path) -> None:
    data = templates["flac16"].read_bytes()
    for cut in (0, 3, 4, 20, 41):
        path = tmp_path / f"cut{cut}.flac"
        path.write_bytes(data[:cut])
        with open(path, "rb") as fh, pytest.raises(FlacError):
            parse_streaminfo(fh)


def test_no_audio_after_metadata_raises(templates: dict[str, Path], tmp_path: Path) -> None:
    data = templates["flac16"].read_bytes()
    info = streaminfo_of(templates["flac16"])
    path = tmp_path / "noaudio.flac"
    path.write_bytes(data[:info.audio_offset])
    with pytest.raises(FlacError):
        build_seek_index(path, streaminfo_of(path))


def test_truncated_audio_still_indexes(long_flac: Path, tmp_path: Path) -> None:
    path = tmp_path / "half.flac"
    path.write_bytes(long_flac.read_bytes()[:3_000_000])
    entries = assert_valid_index(path, build_seek_index(path, streaminfo_of(path)))
    assert all(offset < 3_000_000 for _, offset in entries)
    track = read_track(path)  # mutagen reads STREAMINFO; the file is still indexed
    assert track.props.codec == "flac"


@pytest.mark.parametrize("data", [b"", b"fLaC", b"garbage" * 100, b"fLaC\x00\x00\x00\x22" + b"\x00" * 34,
                                  b"fLaC\x80\x00\x00\x05abcde", b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f"])
def test_garbage_raises(data: bytes) -> None:
    with pytest.raises(FlacError):
        parse_streaminfo(io.BytesIO(data))


def test_corrupt_first_frame_is_a_flac_error_but_a_readable_track(templates: dict[str, Path],
                                                                    tmp_path: Path) -> None:
    info = streaminfo_of(templates["flac16"])
    data = bytearray(templates["flac16"].read_bytes())
    data[info.audio_offset:info.audio_offset + 8] = b"\x00" * 8
    path = tmp_path / "corrupt.flac"
    path.write_bytes(bytes(data))
    with pytest.raises(FlacError):
        build_seek_index(path, info)
    track = read_track(path)
    assert track.props.seek_index is None
    assert track.props.total_samples == 44100
    assert any(w.startswith("flac:") for w in track.warnings)


def test_realworld_variable_blocksize(realworld_dir: Path) -> None:
    path = realworld_dir / "mutagen" / "variable-block.flac"
    if not path.exists():
        pytest.skip("variable-block.flac not in the corpus")
    info = streaminfo_of(path)
    data = path.read_bytes()
    header = parse_frame_header(data, info.audio_offset, info)
    assert header is not None and header.variable and header.first_sample == 0


def test_realworld_short_picture_block(realworld_dir: Path) -> None:
    """A PICTURE block whose header declares too few bytes (mutagen issue 106): its real
    length is computed, so the audio offset is right."""
    path = realworld_dir / "mutagen" / "106-short-picture-block-size.flac"
    if not path.exists():
        pytest.skip("106-short-picture-block-size.flac not in the corpus")
    info = streaminfo_of(path)
    assert parse_frame_header(path.read_bytes(), info.audio_offset, info) is not None
    track = read_track(path)
    assert track.warnings == [] and track.has_picture and track.props.seek_index is not None


def test_decode_rejects_bad_length() -> None:
    with pytest.raises(FlacError):
        decode_seek_index(b"\x00" * 17)


@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=300))
def test_seek_index_round_trip(entries: list[tuple[int, int]]) -> None:
    data = encode_seek_index(entries)
    assert len(data) == 16 * len(entries)
    assert decode_seek_index(data) == entries


@given(st.binary(max_size=64), st.integers(0, 70))
def test_frame_header_parser_never_raises(data: bytes, pos: int) -> None:
    info = flacinfo.StreamInfo(4096, 4096, 0, 0, 44100, 2, 16, 0, b"\x00" * 16, 0)
    header = parse_frame_header(b"\xff\xf8" + data, pos, info)
    assert header is None or header.length >= 6


@given(st.binary(max_size=300))
def test_streaminfo_parser_only_raises_flac_error(data: bytes) -> None:
    for blob in (data, b"fLaC" + data):
        try:
            parse_streaminfo(io.BytesIO(blob))
        except FlacError:
            pass
