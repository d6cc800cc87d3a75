"""The stream decision (orbsonic.transcode.decide), the Range parser and the transcode cache's
producer/follower/prune protocol, on real files."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbsonic.http.ranges import Unsatisfiable, parse_range
from orbsonic.transcode.cache import TranscodeCache
from orbsonic.transcode.decide import FORMATS, RAW, Source, decide, parse_format

FLAC = Source("flac", "flac", 900, 200_000, 44100)
MP3_128 = Source("mp3", "mp3", 128, 200_000, 44100)
ALAC = Source("m4a", "alac", 700, 200_000, 44100)


def test_parse_format() -> None:
    assert parse_format("MP3") == "mp3" and parse_format("vorbis") == "ogg" and parse_format("raw") == RAW
    assert parse_format("xyz") is None and parse_format("") is None and parse_format(None) is None


def test_direct_when_acceptable_and_within() -> None:
    assert not decide(FLAC, fmt=None).transcode
    assert not decide(FLAC, fmt=None, max_kbps=1_000_000).transcode
    assert not decide(MP3_128, fmt="mp3", max_kbps=128).transcode
    assert not decide(FLAC, fmt=RAW, max_kbps=64, user_max_kbps=64).transcode
    assert not decide(FLAC, fmt="flac", max_kbps=128).transcode  # lossless asked: no bitrate to meet


def test_transcode_when_over_the_limit_or_other_format() -> None:
    d = decide(FLAC, fmt="mp3", max_kbps=128, client="DSub")
    assert d.target is FORMATS["mp3"] and d.kbps == 128
    d = decide(FLAC, fmt=None, max_kbps=96)
    assert d.target is FORMATS["mp3"] and d.kbps == 96
    assert decide(ALAC, fmt="opus").target is FORMATS["opus"]
    assert decide(MP3_128, fmt="opus").kbps == 128  # not above the lossy source's own bitrate


def test_limits_combine_and_clamp() -> None:
    assert decide(FLAC, fmt=None, max_kbps=320, user_max_kbps=96).kbps == 96
    assert decide(FLAC, fmt="mp3", max_kbps=1).kbps == 32
    assert decide(FLAC, fmt="mp3", max_kbps=1_000_000).kbps == 320
    assert decide(FLAC, fmt="opus", max_kbps=1_000_000).kbps == 256


def test_client_profiles() -> None:
    assert decide(FLAC, fmt=None, client="Jamstash").target is FORMATS["mp3"]
    assert not decide(MP3_128, fmt=None, client="Jamstash").transcode
    assert decide(FLAC, fmt=None, client="Symfonium", max_kbps=128).target is FORMATS["opus"]


def test_offset_transcodes_into_the_same_family() -> None:
    d = decide(MP3_128, fmt=None, offset_s=30)
    assert d.target is FORMATS["mp3"] and d.offset_s == 30 and d.kbps == 128
    assert decide(FLAC, fmt=None, offset_s=5).target is FORMATS["flac"]
    assert decide(FLAC, fmt=RAW, offset_s=5).target is None


# ---------------------------------------------------------------------------- Range parser

@given(size=st.integers(1, 10_000), first=st.integers(0, 12_000), length=st.integers(1, 12_000))
def test_parse_range_single(size: int, first: int, length: int) -> None:
    header = f"bytes={first}-{first + length - 1}"
    if first >= size:
        with pytest.raises(Unsatisfiable):
            parse_range(header, size)
        return
    assert parse_range(header, size) == [(first, min(first + length, size))]


@given(st.lists(st.tuples(st.integers(0, 500), st.integers(0, 500)), min_size=1, max_size=8))
def test_parse_range_sets_are_sorted_merged_and_inside(pairs: list[tuple[int, int]]) -> None:
    size = 400
    header = "bytes=" + ",".join(f"{a}-{a + b}" for a, b in pairs)
    try:
        ranges = parse_range(header, size)
    except Unsatisfiable:
        assert all(a >= size for a, _ in pairs)
        return
    assert ranges == sorted(ranges)
    for (_, e1), (s2, _) in itertools.pairwise(ranges):
        assert e1 < s2
    assert all(0 <= s < e <= size for s, e in ranges)


@pytest.mark.parametrize("header", ["items=0-5", "bytes=abc", "bytes=", "bytes=5-1", "bytes=0-x",
                                    "bytes=" + "9" * 5000 + "-", "bytes=" + ",".join(["0-1"] * 101)])
def test_parse_range_ignored(header: str) -> None:
    assert parse_range(header, 1000) == []


# ---------------------------------------------------------------------------- cache protocol

def test_one_producer_and_followers(tmp_path: Path) -> None:
    cache = TranscodeCache(tmp_path, 10**6)
    producer = cache.produce("ab12", "mp3")
    assert producer is not None
    assert cache.produce("ab12", "mp3") is None  # the lock is held: no second producer
    producer.write(b"hello ")
    follower = cache.follow("ab12", "mp3")
    assert follower is not None
    assert follower.read() == b"hello " and follower.read() == b""
    assert not follower.producer_done()
    assert cache.lookup("ab12", "mp3") is None  # unfinished: never served as complete
    producer.write(b"world")
    producer.commit()
    assert follower.read() == b"world" and follower.producer_done() and follower.complete
    follower.close()
    hit = cache.lookup("ab12", "mp3")
    assert hit is not None and hit.read_bytes() == b"hello world"


def test_a_request_waits_for_a_producer_between_its_lock_and_its_part(tmp_path: Path) -> None:
    """The race CI hit: the producer holds the lock but has not created `.part` yet; a second
    request must follow it (not start a second ffmpeg for the same key)."""
    import asyncio
    import fcntl

    from orbsonic.transcode.response import FollowResponse, _produce_or_follow

    cache = TranscodeCache(tmp_path, 10**6)
    final, part, lock = cache._paths("cd34", "mp3")
    final.parent.mkdir(parents=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a producer in another process, before its os.open(part)

    async def race() -> tuple[object, object]:
        async def create_part() -> None:
            await asyncio.sleep(0.2)
            part.write_bytes(b"frames")
        task = asyncio.create_task(create_part())
        got = await _produce_or_follow(cache, "cd34", FORMATS["mp3"], {})
        await task
        return got

    producer, answer = asyncio.run(race())
    os.close(fd)
    assert producer is None and isinstance(answer, FollowResponse)
    answer.follower.close()
    # an MP4 cannot be followed: that request transcodes for itself at once
    fd = os.open(lock, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    part.unlink()
    assert asyncio.run(_produce_or_follow(cache, "cd34", FORMATS["m4a"], {})) == (None, None)
    os.close(fd)


def test_abort_leaves_nothing(tmp_path: Path) -> None:
    cache = TranscodeCache(tmp_path, 10**6)
    producer = cache.produce("cd34", "opus")
    assert producer is not None
    producer.write(b"partial")
    follower = cache.follow("cd34", "opus")
    assert follower is not None
    producer.abort()
    assert follower.read() == b"partial" and follower.producer_done() and not follower.complete
    assert cache.lookup("cd34", "opus") is None
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert cache.produce("cd34", "opus") is not None  # the key is free again


def test_prune_skips_entries_being_written(tmp_path: Path) -> None:
    cache = TranscodeCache(tmp_path, 1000)
    for n, key in enumerate(("aa01", "aa02", "aa03")):
        p = cache.produce(key, "mp3")
        assert p is not None
        p.write(b"x" * 600)
        p.commit()
        final = cache.lookup(key, "mp3")
        assert final is not None
        os.utime(final, (1000 + n, 1000 + n))
    busy = cache.produce("aa04", "mp3")
    assert busy is not None
    busy.write(b"y" * 5000)  # in progress: neither counted nor removed
    assert cache.prune() == 2
    assert [k for k in ("aa01", "aa02", "aa03") if cache.lookup(k, "mp3")] == ["aa03"]
    busy.commit()
    assert cache.lookup("aa04", "mp3") is not None


def test_prune_removes_what_a_crashed_producer_left(tmp_path: Path) -> None:
    cache = TranscodeCache(tmp_path, 10**6)
    left = cache.produce("bb01", "mp3")
    assert left is not None
    left.write(b"z" * 100)
    live = cache.produce("bb02", "mp3")
    assert live is not None
    for part in tmp_path.rglob(".*.part"):
        os.utime(part, (1000, 1000))
    left._unlock()  # the producer's process died: its flock is gone, its .part is not
    cache.prune()
    names = sorted(p.name for p in tmp_path.rglob(".*.part"))
    assert names == [".bb02.part"]  # still locked by a live producer: kept
    live.abort()


def test_m4a_is_aac_in_mp4() -> None:
    """`format=m4a` is AAC in MP4 (audio/mp4); an AAC .m4a is sent as it is for m4a or aac."""
    from orbsonic.transcode.profiles import SourceInfo, decide_for_client, parse_params, transcode_details

    assert parse_format("m4a") == "m4a" and FORMATS["m4a"].content_type == "audio/mp4"
    d = decide(FLAC, fmt="m4a", max_kbps=192)
    assert d.target is FORMATS["m4a"] and d.kbps == 192
    aac = Source("m4a", "aac", 256, 200_000, 44100)
    assert not decide(aac, fmt="m4a").transcode and not decide(aac, fmt="aac").transcode
    # ClientInfo: AAC in an mp4 container → m4a; in aac/adts → ADTS
    src = SourceInfo("flac", "flac", 900_000, 44100, 16, 2)
    who = {"name": "Test", "platform": "Test"}
    mp4 = decide_for_client(who | {"transcodingProfiles": [{"container": "mp4", "audioCodec": "aac",
                                                            "protocol": "http"}]}, src)
    assert mp4.target is FORMATS["m4a"] and parse_params(mp4.params)[0] is FORMATS["m4a"]
    assert transcode_details(mp4, src)["container"] == "mp4"
    adts = decide_for_client(who | {"transcodingProfiles": [{"container": "aac", "audioCodec": "aac"}]}, src)
    assert adts.target is FORMATS["aac"] and transcode_details(adts, src)["container"] == "aac"
