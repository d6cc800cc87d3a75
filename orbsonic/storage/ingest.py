"""`orbsonic ingest DIR s3://bucket/prefix`: copy a local library into an S3 bucket.

* Idempotent: an object already there with the same size and checksum is skipped. The
  checksum is the S3 ETag as the store computes it for our upload: the MD5 of the bytes for
  files up to PART_SIZE (one PUT), `md5(md5(part₁)…md5(partₙ))-n` for larger ones (a
  multipart upload with parts of PART_SIZE), computed locally the same way.
* Resumable: every object is written by one atomic PUT (or a completed multipart upload), so
  an interrupted run leaves whole objects only; running it again skips them and continues
  with the rest.
* `--dry-run` lists and compares but writes nothing (not even the bucket).
* Progress: a tqdm bar of bytes to copy (off with `--quiet` or when stderr is not a tty).

Hidden files and directories (".*") and anything that is not a regular file are not copied;
links are followed only when they stay inside DIR (the scanner's rule).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import mimetypes
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orbsonic.errors import OrbsonicError
from orbsonic.storage import s3

log = logging.getLogger("orbsonic.ingest")

PART_SIZE = 16 * 1024 * 1024  # multipart part size (S3: ≥ 5 MiB); also what the local ETag assumes
Progress = Callable[[int], None]  # bytes just copied


@dataclass
class IngestReport:
    """What an ingest did (or, with dry_run, would do). Sizes in bytes."""

    dry_run: bool = False
    files: int = 0
    copied: int = 0
    skipped: int = 0
    bytes_copied: int = 0
    bytes_total: int = 0
    planned: int = 0  # files to copy
    to_copy: list[str] = field(default_factory=list)  # keys copied (or to be copied), first 10,000


def local_etag(path: str | os.PathLike[str], size: int | None = None, part_size: int | None = None) -> str:
    """The ETag S3 gives the file at `path` when `ingest` uploads it (unquoted; parts of
    `part_size`, default PART_SIZE)."""
    size = os.path.getsize(path) if size is None else size
    part_size = part_size or PART_SIZE
    with open(path, "rb") as fh:
        if size <= part_size:
            return s3.md5_of(fh)
        digests = []
        while block := fh.read(part_size):
            digests.append(hashlib.md5(block, usedforsecurity=False).digest())
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


def local_files(root: Path) -> Iterator[tuple[str, Path, int]]:
    """(key, path, size) of every regular, non-hidden file below `root`, in key order."""
    real_root = os.path.realpath(root)
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            real = os.path.realpath(path)
            if not (real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)):
                log.warning("not copied: %s links outside %s", path, root)
                continue
            try:
                if not path.is_file():
                    continue
                size = path.stat().st_size
            except OSError as exc:
                log.warning("not copied: %s: %s", path, exc.strerror or exc)
                continue
            yield path.relative_to(root).as_posix(), path, size


def ingest(source: str | os.PathLike[str], dest: str, *, dry_run: bool = False,
           config: s3.S3Config | None = None, progress: Progress | None = None,
           on_total: Callable[[int], None] | None = None) -> IngestReport:
    """Copy the files below local directory `source` to the S3 folder `dest`
    (`s3://bucket/prefix`), skipping objects already there with the same size and ETag.
    `on_total(bytes)` is called once the bytes to copy are known; `progress(n)` after each
    uploaded file. Raises OrbsonicError for a source that is not a directory or a malformed
    URL, StorageUnavailable when the store cannot be reached or refuses us."""
    root = Path(source).expanduser()
    if not root.is_dir():
        raise OrbsonicError(f"{root} is not a directory")
    try:
        storage = s3.folder_storage(dest, config)
    except ValueError as exc:
        raise OrbsonicError(str(exc)) from None
    report = IngestReport(dry_run=dry_run)
    existing = _existing(storage, create=not dry_run)
    plan: list[tuple[str, Path, int]] = []
    for key, path, size in local_files(root):
        report.files += 1
        there = existing.get(key)
        if there is not None and there[0] == size and there[1] == local_etag(path, size):
            report.skipped += 1
            continue
        plan.append((key, path, size))
    report.bytes_total = sum(p[2] for p in plan)
    report.planned = len(plan)
    report.to_copy = [p[0] for p in plan[:10_000]]
    if on_total:
        on_total(report.bytes_total)
    if dry_run:
        return report
    for key, path, size in plan:
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        with open(path, "rb") as fh:
            storage._call(key, storage.client.put_object, storage.bucket, storage.name_of(key), fh, size,
                          content_type=ctype, part_size=PART_SIZE)
        report.copied += 1
        report.bytes_copied += size
        if progress:
            progress(size)
    return report


def _existing(storage: s3.S3Storage, *, create: bool) -> dict[str, tuple[int, str]]:
    """key → (size, ETag) of the objects already below the prefix. A missing bucket is made
    when `create`, else it holds nothing."""
    try:
        storage.check()
    except s3.StorageUnavailable as exc:
        if not exc.reason.startswith("NoSuchBucket"):
            raise
        if create:
            storage._call(storage.bucket, storage.client.make_bucket, storage.bucket,
                          location=storage.config.region or None)
            log.info("created bucket %s", storage.bucket)
        return {}
    return {o.key: (o.size, o.s3_etag) for o in storage.walk()}


# ---------------------------------------------------------------- command line

def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    """Register `orbsonic ingest` on the CLI's subparsers."""
    p = sub.add_parser("ingest", parents=[common], help="copy a local library into an S3 bucket",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("source", metavar="DIR", help="the local music folder")
    p.add_argument("dest", metavar="s3://bucket/prefix", help="where to put it (settings s3_*)")
    p.add_argument("--dry-run", action="store_true", help="say what would be copied, copy nothing")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def command(settings: Any, args: argparse.Namespace) -> int:
    """`orbsonic ingest`: run `ingest` with a progress bar and print a summary."""
    from tqdm import tqdm

    bar: Any = None

    def on_total(total: int) -> None:
        nonlocal bar
        if not args.dry_run and not args.quiet and total:
            bar = tqdm(total=total, unit="B", unit_scale=True, desc="ingest",
                       disable=None)  # None: off when stderr is not a terminal

    try:
        report = ingest(args.source, args.dest, dry_run=args.dry_run, config=s3.S3Config.from_settings(settings),
                        progress=lambda n: bar.update(n) if bar else None, on_total=on_total)
    except s3.StorageUnavailable as exc:
        raise OrbsonicError(f"{args.dest}: object store unavailable ({exc.reason})") from None
    finally:
        if bar is not None:
            bar.close()
    if report.dry_run:
        for key in report.to_copy:
            print(f"would copy {key}")
        print(f"{report.files} files: {report.planned} to copy ({report.bytes_total} bytes), "
              f"{report.skipped} already there (dry run: nothing copied)")
    else:
        print(f"{report.files} files: {report.copied} copied ({report.bytes_copied} bytes), "
              f"{report.skipped} already there")
    return 0
