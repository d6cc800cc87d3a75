"""orbsonic.storage.local: keys, containment on the opened descriptor, reads, writes, walk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from orbsonic.errors import NotFound
from orbsonic.storage import LocalStorage, Storage


@pytest.fixture
def tree(tmp_path: Path) -> tuple[LocalStorage, Path]:
    root, outside = tmp_path / "music", tmp_path / "outside"
    (root / "a").mkdir(parents=True)
    outside.mkdir()
    (root / "a/one.mp3").write_bytes(b"0123456789")
    (outside / "secret.mp3").write_bytes(b"secret")
    (root / "a/link-in.mp3").symlink_to(root / "a/one.mp3")
    (root / "a/link-out.mp3").symlink_to(outside / "secret.mp3")
    (root / "dirlink").symlink_to(outside, target_is_directory=True)
    os.mkfifo(root / "a/fifo.mp3")
    return LocalStorage(root), outside


def test_open_stat_and_ranges(tree: tuple[LocalStorage, Path]) -> None:
    storage, _ = tree
    _as_storage: Storage = storage  # LocalStorage satisfies the protocol (checked by type checkers)
    with storage.open("a/one.mp3") as fh:
        assert fh.info.size == 10 and fh.read() == b"0123456789"
        assert Path(fh.local_path).read_bytes() == b"0123456789"  # /proc/self/fd/N reopens it
    info = storage.stat("a/one.mp3")
    assert info.etag.startswith('"') and info.etag == storage.stat("a/one.mp3").etag
    assert b"".join(storage.open_range("a/one.mp3", 2, 7, chunk=2)) == b"23456"
    assert storage.open("a/link-in.mp3").read() == b"0123456789"  # a link that stays inside


@pytest.mark.parametrize("key", ["a/link-out.mp3", "dirlink/secret.mp3", "a/fifo.mp3", "a", "missing.mp3",
                                 "../outside/secret.mp3", "/etc/passwd", "a/\x00.mp3", ""])
def test_refused(tree: tuple[LocalStorage, Path], key: str) -> None:
    storage, _ = tree
    with pytest.raises(NotFound):
        storage.open(key)


def test_allowed_outside_root(tree: tuple[LocalStorage, Path]) -> None:
    storage, outside = tree
    allowed = LocalStorage(storage.root, [outside])
    assert allowed.open("a/link-out.mp3").read() == b"secret"
    assert allowed.open("dirlink/secret.mp3").read() == b"secret"
    with pytest.raises(NotFound):
        allowed.open("a/fifo.mp3")


def test_put_walk_delete(tree: tuple[LocalStorage, Path]) -> None:
    storage, _ = tree
    info = storage.put("b/new.mp3", b"abc")
    assert info.size == 3 and storage.open("b/new.mp3").read() == b"abc"
    keys = sorted(i.key for i in storage.walk())
    assert keys == ["a/link-in.mp3", "a/one.mp3", "b/new.mp3"]  # no outside link, no FIFO
    storage.delete("b/new.mp3")
    storage.delete("b/new.mp3")  # missing is fine
    with pytest.raises(NotFound):
        storage.stat("b/new.mp3")
