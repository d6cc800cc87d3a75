"""An S3 bucket prefix as a Storage (`s3://bucket/prefix` music folders), with the `minio` client.

Keys are object names relative to the prefix. Every read is a ranged GET: `S3File` is a
seekable file object whose reads fetch only what is asked for plus a small read-ahead
(READAHEAD), so mutagen reading tags touches a few kilobytes of a 40 MB FLAC, while a
sequential reader (a stream, a download) gets one GET streamed to the end, never buffered
whole. Errors are translated once, here:

* NoSuchKey (404) → `orbsonic.errors.NotFound` (Subsonic 70);
* everything else (connection refused, timeouts, NoSuchBucket, AccessDenied, bad keys) →
  `StorageUnavailable`, a clean "object store unavailable" error and never a reason to
  take an object for deleted (the scanner removes nothing on it).

The connection settings (`s3_endpoint`, `s3_access_key`, …) are one `S3Config` per process:
`configure()` at start-up (orbsonic.app), or read from the settings on first use (the scan
child, the CLI).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, BinaryIO

from orbsonic.errors import NotFound, Unavailable
from orbsonic.storage.base import ObjectInfo

log = logging.getLogger("orbsonic.storage")

SCHEME = "s3://"
READAHEAD = 32 * 1024  # a random read fetches at least this much (tag parsers read in small steps)
MAX_WINDOW = 4 * 1024 * 1024
CHUNK = 256 * 1024
_MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchVersion", "PreconditionFailed")  # the last: replaced


class StorageUnavailable(Unavailable):
    """The object store cannot be reached or refuses us (down, missing bucket, wrong keys).
    The message is safe to show to clients; `reason` is for the log."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__("object store unavailable")


def is_s3(root: object) -> bool:
    """True when a music folder (str or Path) names an S3 prefix (`s3://bucket/prefix`)."""
    return isinstance(root, str) and root.startswith(SCHEME)


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of `s3://bucket/prefix` (prefix without slashes at either end; may be
    ""). Raises ValueError for anything else."""
    if not url.startswith(SCHEME):
        raise ValueError(f"not an s3:// URL: {url!r}")
    bucket, _, prefix = url[len(SCHEME):].partition("/")
    if not bucket or "\x00" in url:
        raise ValueError(f"no bucket in {url!r}")
    return bucket, prefix.strip("/")


def normalize_url(url: str) -> str:
    """The canonical spelling of an S3 folder: `s3://bucket` or `s3://bucket/prefix`."""
    bucket, prefix = parse_url(url)
    return f"{SCHEME}{bucket}/{prefix}" if prefix else f"{SCHEME}{bucket}"


@dataclass(frozen=True, slots=True)
class S3Config:
    """How to reach the object store. `endpoint` is host[:port] (no scheme); `secure` uses
    https; `redirect` answers stream/download with a 302 to a presigned URL valid
    `presign_ttl_s` seconds instead of proxying the bytes; `timeout_s` bounds connects and
    reads so a store that is down fails fast."""

    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    region: str = ""
    secure: bool = True
    redirect: bool = False
    presign_ttl_s: int = 3600
    timeout_s: float = 10.0

    @classmethod
    def from_settings(cls, settings: Any) -> S3Config:
        """The S3 part of orbsonic.config.Settings: each field from the setting `s3_<field>`
        (`presign_ttl_s` from `s3_presign_ttl`, seconds); `timeout_s` has no setting. Named once
        here, so a field and its setting cannot drift apart (tests/unit/test_s3_settings.py
        also checks the defaults agree)."""
        return cls(**{f.name: getattr(settings, setting_of(f.name)) for f in fields(cls)
                      if hasattr(settings, setting_of(f.name))})


def setting_of(field_name: str) -> str:
    """The orbsonic.config setting an S3Config field comes from (`presign_ttl_s` → `s3_presign_ttl`)."""
    return "s3_" + field_name.removesuffix("_s")


_config: S3Config | None = None
_config_lock = threading.Lock()


def configure(config: S3Config | None) -> None:
    """Set this process's S3 connection (None: read the settings again on next use)."""
    global _config
    with _config_lock:
        _config = config


def current_config() -> S3Config:
    """This process's S3Config: the configured one, else from the settings (defaults when
    they cannot be read)."""
    global _config
    with _config_lock:
        if _config is None:
            from orbsonic.config import load_settings
            from orbsonic.errors import ConfigError

            try:
                _config = S3Config.from_settings(load_settings())
            except ConfigError:
                _config = S3Config()
        return _config


@functools.lru_cache(maxsize=16)
def client(config: S3Config) -> Any:
    """The (thread-safe, pooled) minio client of `config`. Few retries and short timeouts:
    a store that is down must answer a request with an error within seconds."""
    import urllib3
    from minio import Minio

    if not config.endpoint:
        raise StorageUnavailable("no s3_endpoint configured")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(config.timeout_s, 5.0), read=config.timeout_s),
        maxsize=32, retries=urllib3.Retry(total=1, backoff_factor=0.1, connect=1, read=0,
                                          status_forcelist=(502, 503, 504)))
    return Minio(config.endpoint, access_key=config.access_key or None, secret_key=config.secret_key or None,
                 region=config.region or None, secure=config.secure, http_client=http)


# A forked child (the scanner's tag readers) must not share the parent's pooled sockets.
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=client.cache_clear)


def translate(exc: BaseException, key: str) -> Exception:
    """The domain error of a minio/urllib3 failure on object `key`."""
    from minio.error import S3Error

    if isinstance(exc, S3Error):
        if exc.code in _MISSING:
            return NotFound("object", key)
        return StorageUnavailable(f"{exc.code}: {exc.message}")
    return StorageUnavailable(f"{type(exc).__name__}: {exc}")


def _info(key: str, size: int, last_modified: Any, etag: str | None) -> S3ObjectInfo:
    """ObjectInfo of a listed or HEADed object. `mtime_ns` is LastModified in whole seconds
    (a HEAD has no finer one, a LIST may) plus a number below 10⁹ taken from the ETag: a
    stat of the object and its listing agree, and an object replaced within the same second
    by one of the same size still differs (the scanner's size/mtime diff sees ETags)."""
    etag = (etag or "").strip('"')
    seconds = int(last_modified.timestamp()) if last_modified is not None else 0
    nanos = int(hashlib.md5(etag.encode(), usedforsecurity=False).hexdigest()[:8], 16) % 1_000_000_000
    return S3ObjectInfo(key, int(size or 0), seconds * 1_000_000_000 + nanos, etag)


@dataclass(frozen=True, slots=True)
class S3ObjectInfo(ObjectInfo):
    """ObjectInfo with the store's own ETag (`s3_etag`, unquoted: the MD5 of the bytes for a
    single-part upload, `<md5>-<parts>` for a multipart one). The HTTP `etag` property stays
    the size/mtime one, as for local files."""

    s3_etag: str = ""


class S3Storage:
    """Objects below `prefix` in `bucket`. Thread-safe (the minio client is)."""

    def __init__(self, config: S3Config, bucket: str, prefix: str = "") -> None:
        self.config = config
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.root = f"{SCHEME}{bucket}/{self.prefix}" if self.prefix else f"{SCHEME}{bucket}"

    def __repr__(self) -> str:
        return f"S3Storage({self.root!r})"

    @property
    def client(self) -> Any:
        return client(self.config)

    def name_of(self, key: str) -> str:
        """The object name of `key` (lexically checked like a local path). Raises NotFound."""
        if not key or "\x00" in key or key.startswith("/") or ".." in key.split("/"):
            raise NotFound("object", key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, key: str, fn: Any, *args: Any, **kw: Any) -> Any:
        try:
            return fn(*args, **kw)
        except Exception as exc:  # noqa: BLE001  (every client failure becomes a domain error)
            raise translate(exc, key) from None

    # ------------------------------------------------------------ reading

    def stat(self, key: str) -> S3ObjectInfo:
        """Size, mtime and ETag of `key` (a HEAD). Raises NotFound or StorageUnavailable."""
        st = self._call(key, self.client.stat_object, self.bucket, self.name_of(key))
        return _info(key, st.size, st.last_modified, st.etag)

    def open(self, key: str) -> S3File:
        """A seekable reader of `key` (a HEAD now, ranged GETs as it is read). Raises NotFound
        or StorageUnavailable."""
        return S3File(self, key, self.stat(key))

    def get(self, name: str, offset: int, length: int, key: str = "", etag: str = "") -> Any:
        """An open urllib3 response of bytes [offset, offset+length) of object `name`
        (length 0: to the end), of the version with `etag` if given (else NotFound: the
        object was replaced). The caller closes it."""
        headers = {"If-Match": f'"{etag}"'} if etag else None
        return self._call(key or name, self.client.get_object, self.bucket, name, offset=offset, length=length,
                          request_headers=headers)

    def open_range(self, key: str, start: int, end: int, chunk: int = CHUNK) -> Iterator[bytes]:
        """Bytes [start, end) of `key` from one GET, in chunks of at most `chunk` bytes."""
        if end <= start:
            return
        resp = self.get(self.name_of(key), start, end - start, key)
        try:
            while True:
                data = self._call(key, resp.read, chunk)
                if not data:
                    return
                yield data
        finally:
            resp.close()
            resp.release_conn()

    def walk(self, prefix: str = "") -> Iterator[S3ObjectInfo]:
        """Every object below `prefix`. Raises StorageUnavailable (also part-way through: a
        caller must not take what it did not see for deleted)."""
        base = f"{self.prefix}/" if self.prefix else ""
        if prefix:
            base += prefix.strip("/") + "/"
        try:
            for obj in self.client.list_objects(self.bucket, prefix=base or None, recursive=True):
                if obj.is_dir or obj.object_name.endswith("/"):
                    continue
                yield _info(obj.object_name[len(self.prefix) + 1 if self.prefix else 0:],  # type: ignore[misc]
                            obj.size, obj.last_modified, obj.etag)
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, base) from None

    def names(self, prefix: str = "") -> list[str]:
        """Names of the objects directly below `prefix` (one LIST, not recursive; sub-prefixes
        left out). Raises StorageUnavailable."""
        base = f"{self.prefix}/" if self.prefix else ""
        if prefix:
            base += prefix.strip("/") + "/"
        try:
            return [obj.object_name[len(base):]
                    for obj in self.client.list_objects(self.bucket, prefix=base or None, recursive=False)
                    if not obj.is_dir and not obj.object_name.endswith("/")]
        except Exception as exc:  # noqa: BLE001
            raise translate(exc, base) from None

    def check(self) -> None:
        """Raise StorageUnavailable unless the bucket exists and answers (one request)."""
        if not self._call(self.bucket, self.client.bucket_exists, self.bucket):
            raise StorageUnavailable(f"NoSuchBucket: {self.bucket}")

    def presigned_url(self, key: str) -> str:
        """A GET URL for `key` valid `presign_ttl_s` seconds (no request is made)."""
        return self._call(key, self.client.presigned_get_object, self.bucket, self.name_of(key),
                          expires=timedelta(seconds=max(1, self.config.presign_ttl_s)))

    # ------------------------------------------------------------ writing

    def put(self, key: str, data: bytes | BinaryIO, length: int = -1,
            metadata: dict[str, str] | None = None) -> S3ObjectInfo:
        """Store `data` under `key` (S3 PUTs are atomic: readers see the old or the whole new
        object). `length` -1 with a stream: multipart upload of unknown length."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            data, length = io.BytesIO(bytes(data)), len(data)
        self._call(key, self.client.put_object, self.bucket, self.name_of(key), data, length,
                   part_size=0 if length >= 0 else 16 * 1024 * 1024, metadata=metadata)
        return self.stat(key)

    def delete(self, key: str) -> None:
        """Remove `key`; missing is fine."""
        self._call(key, self.client.remove_object, self.bucket, self.name_of(key))


class S3File(io.RawIOBase):
    """A seekable, read-only view of one object, reading through ranged GETs.

    A small read at a new position fetches max(n, READAHEAD) bytes (the window doubles, up
    to MAX_WINDOW, while reads continue where the last fetch ended); a read of CHUNK bytes
    or more opens one GET to the end of the object and streams it (a stream or a download:
    one request, bytes as they are read). `info` is the object's stat at
    open time; reads ask for that version only (If-Match its ETag: a replaced object reads
    as NotFound, never as other bytes under the old size)."""

    def __init__(self, storage: S3Storage, key: str, info: S3ObjectInfo) -> None:
        super().__init__()
        self.storage, self.key, self.info = storage, key, info
        self.name = key  # mutagen and tinytag guess the format from the extension too
        self._name = storage.name_of(key)
        self._pos = 0
        self._buf = b""  # bytes [_buf_at, _buf_at + len(_buf)) of the object
        self._buf_at = 0
        self._resp: Any = None  # an open streaming GET, positioned at _resp_at
        self._resp_at = 0
        self._sequential = False
        self._window = READAHEAD
        self.requests = 0  # GETs made, and bytes received (for tests and diagnostics)
        self.fetched = 0

    @property
    def local_path(self) -> str:
        """A presigned URL: ffmpeg reads it over HTTP (with its own ranged GETs)."""
        return self.storage.presigned_url(self.key)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise io.UnsupportedOperation("an S3 object has no file descriptor")

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0, /) -> int:
        if whence == os.SEEK_SET:
            pos = offset
        elif whence == os.SEEK_CUR:
            pos = self._pos + offset
        elif whence == os.SEEK_END:
            pos = self.info.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise OSError(22, "negative seek position")
        self._pos = pos
        return pos

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def read(self, n: int = -1, /) -> bytes:
        size = self.info.size
        if n is None or n < 0:
            n = size - self._pos
        n = min(n, size - self._pos)
        if n <= 0:
            return b""
        out = bytearray()
        while n > 0:
            got = self._from_buffer(n) or self._from_stream(n) or self._fetch(n)
            if not got:
                break
            out += got
            n -= len(got)
        return bytes(out)

    def _from_buffer(self, n: int) -> bytes:
        at = self._pos - self._buf_at
        if not 0 <= at < len(self._buf):
            return b""
        data = self._buf[at:at + n]
        self._pos += len(data)
        if at + len(data) == len(self._buf):
            self._sequential = True  # the reader ran off the end of the read-ahead: it streams
        return data

    def _from_stream(self, n: int) -> bytes:
        if self._resp is None or self._resp_at != self._pos:
            return b""
        data = self.storage._call(self.key, self._resp.read, n)
        if not data:
            self._drop_stream()
            return b""
        self._pos += len(data)
        self._resp_at += len(data)
        self.fetched += len(data)
        return data

    def _fetch(self, n: int) -> bytes:
        self._drop_stream()
        self.requests += 1
        if n >= CHUNK:
            # a streaming reader (RangeResponse reads CHUNK at a time): one GET to the end,
            # read as the caller reads, never buffered
            self._resp = self.storage.get(self._name, self._pos, 0, self.key, self.info.s3_etag)
            self._resp_at = self._pos
            return self._from_stream(n)
        # a tag parser: the bytes asked for plus a read-ahead that doubles while it reads on
        # (a large ID3 picture, a FLAC seek table) and starts small again after a seek
        self._window = min(self._window * 2, MAX_WINDOW) if self._sequential else READAHEAD
        self._sequential = False
        length = min(max(n, self._window), self.info.size - self._pos)
        resp = self.storage.get(self._name, self._pos, length, self.key, self.info.s3_etag)
        try:
            self._buf = self.storage._call(self.key, resp.read)
        finally:
            resp.close()
            resp.release_conn()
        self.fetched += len(self._buf)
        self._buf_at = self._pos
        return self._from_buffer(n)

    def _drop_stream(self) -> None:
        if self._resp is not None:
            resp, self._resp = self._resp, None
            try:
                resp.close()  # an unfinished body: the connection is not reused
                resp.release_conn()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        self._drop_stream()
        self._buf = b""
        super().close()


@functools.lru_cache(maxsize=256)
def _storage(config: S3Config, url: str) -> S3Storage:
    bucket, prefix = parse_url(url)
    return S3Storage(config, bucket, prefix)


def folder_storage(url: str, config: S3Config | None = None) -> S3Storage:
    """The S3Storage of an `s3://bucket/prefix` music folder (this process's S3Config by
    default). Raises ValueError for a malformed URL."""
    return _storage(config or current_config(), normalize_url(url))


def open_url(url: str, config: S3Config | None = None) -> S3File:
    """Open `s3://bucket/name` (the whole object name after the bucket)."""
    bucket, name = parse_url(url)
    return folder_storage(f"{SCHEME}{bucket}", config).open(name)


def md5_of(fh: BinaryIO, block: int = 1024 * 1024) -> str:
    """Hex MD5 of a file read from its current position (the ETag of a single-part upload)."""
    digest = hashlib.md5(usedforsecurity=False)
    while data := fh.read(block):
        digest.update(data)
    return digest.hexdigest()
