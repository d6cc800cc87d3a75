"""S3 music folders against a real moto[server] on loopback (tests/integration/s3_server.py):
the storage's ranged reads, the scan of an `s3://bucket/prefix` folder, stream/download/covers
over it (proxied with Range, or redirected to a presigned URL), an indexed object that is gone
(70), a missing bucket, refused keys, the store being down (clean errors, nothing removed)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.testclient import TestClient

from orbsonic.errors import NotFound
from orbsonic.ids import public_id
from orbsonic.scanner.scanner import scan
from orbsonic.storage import ingest as ingest_mod
from orbsonic.storage import s3
from orbsonic.storage.ingest import ingest
from tests.conftest import Subsonic, add_users, clone_db, make_app
from tests.integration.native_client import Native, api_key_for
from tests.integration.s3_server import MotoServer

pytestmark = pytest.mark.usefixtures("s3_config_reset")

KEYS = {"s3_access_key": "testing", "s3_secret_key": "testing", "s3_region": "us-east-1", "s3_secure": False}


def config_of(server: MotoServer, **kw: Any) -> s3.S3Config:
    values = {"endpoint": server.endpoint, "access_key": "testing", "secret_key": "testing",
              "region": "us-east-1", "secure": False, "timeout_s": 3.0, **kw}
    return s3.S3Config(**values)


@pytest.fixture(scope="module")
def s3_library(moto: MotoServer, test_library: tuple[Path, Any]) -> str:
    """The test library ingested into s3://music/lib."""
    report = ingest(test_library[0], "s3://music/lib", config=config_of(moto))
    assert report.copied == report.files > 0 and report.skipped == 0
    return "s3://music/lib"


@pytest.fixture(scope="module")
def s3_db(pg: Any, template_url: str, moto: MotoServer, s3_library: str,
          tmp_path_factory: pytest.TempPathFactory) -> str:
    """The S3 copy of the test library scanned into a database of its own, with the two users."""
    url = clone_db(pg, template_url)
    s3.configure(config_of(moto))
    report = scan(url, [s3_library], workers=2)
    s3.configure(None)
    assert report.added > 0 and not report.errors, report
    add_users(url, tmp_path_factory.mktemp("s3data"))
    return url


def client_for(db: str, data_dir: Path, server: MotoServer, folder: str, **kw: Any) -> TestClient:
    settings = {**KEYS, "s3_endpoint": server.endpoint, **kw}
    return TestClient(make_app(db, data_dir, (folder,), **settings))


@pytest.fixture
def s3_api(s3_db: str, moto: MotoServer, s3_library: str, tmp_path: Path) -> Iterator[Subsonic]:
    with client_for(s3_db, tmp_path, moto, s3_library) as http:
        yield Subsonic(http)


def tracks_of(url: str) -> set[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return set(conn.execute("""SELECT path, title, duration_ms, size, codec, has_picture, pid, album_id
                                     FROM tracks""").fetchall())


def track_id(url: str, path: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT id FROM tracks WHERE path = %s", (path,)).fetchone()
    assert row is not None, path
    return public_id("tr", row[0])


def make_bucket(storage: s3.S3Storage) -> None:
    if not storage.client.bucket_exists(storage.bucket):
        storage.client.make_bucket(storage.bucket)


def some_track(url: str, suffix: str = "flac") -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT path FROM tracks WHERE suffix = %s ORDER BY size DESC, path LIMIT 1",
                           (suffix,)).fetchone()
    assert row is not None
    return row[0]


# ---------------------------------------------------------------- the storage itself

def test_ranged_reads_walk_and_errors(moto: MotoServer) -> None:
    storage = s3.S3Storage(config_of(moto), "music", "unit")
    make_bucket(storage)
    data = bytes(range(256)) * 12_000  # 3 MB
    info = storage.put("a/b c.flac", data)
    assert (info.size, info.s3_etag) == (len(data), hashlib.md5(data).hexdigest())
    assert storage.stat("a/b c.flac") == info  # a HEAD and a PUT's answer agree (mtime_ns too)
    assert [o.key for o in storage.walk()] == ["a/b c.flac"]
    assert [o.mtime_ns for o in storage.walk()] == [info.mtime_ns]  # a LIST agrees with a HEAD
    with storage.open("a/b c.flac") as fh:
        fh.seek(1000)
        assert fh.read(10) == data[1000:1010]
        fh.seek(-128, 2)
        assert fh.read(200) == data[-128:]
        assert fh.read(1) == b""
        assert fh.fetched < 3 * s3.READAHEAD  # small reads fetch small ranges, not the object
        fh.seek(0)
        assert fh.read() == data
    assert b"".join(storage.open_range("a/b c.flac", 5, 500_000, chunk=65536)) == data[5:500_000]
    with pytest.raises(NotFound):
        storage.stat("a/missing.flac")
    with pytest.raises(NotFound):
        storage.open("../escape.flac")
    with pytest.raises(s3.StorageUnavailable):
        list(s3.S3Storage(config_of(moto), "no-such-bucket").walk())
    with pytest.raises(s3.StorageUnavailable):
        s3.S3Storage(config_of(moto), "no-such-bucket").check()
    storage.delete("a/b c.flac")
    storage.delete("a/b c.flac")  # missing is fine
    assert list(storage.walk()) == []


def test_tags_of_a_large_file_are_read_with_few_bytes(moto: MotoServer, tmp_path: Path) -> None:
    """mutagen (tags, FLAC seek index, audio checksum) through S3File fetches a small part of a
    large file, and finds what it finds in the local file."""
    from orbsonic.scanner.tags import read_track

    path = tmp_path / "noise.flac"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "anoisesrc=d=60:c=white:a=0.5",
                    "-ac", "2", "-c:a", "flac", "-metadata", "title=Noise", "-metadata", "artist=Static",
                    str(path)], check=True)
    storage = s3.S3Storage(config_of(moto), "music", "big")
    make_bucket(storage)
    with path.open("rb") as fh:
        storage.put("noise.flac", fh, path.stat().st_size)
    size = path.stat().st_size
    assert size > 8_000_000
    with storage.open("noise.flac") as fh:
        remote = read_track("s3://music/big/noise.flac", fh=fh)
        fetched = fh.fetched
    local = read_track(path)
    assert remote == local and remote.title == "Noise" and remote.artists == ("Static",)
    assert remote.props.seek_index
    assert remote.audio_hash == local.audio_hash
    assert fetched < size // 4, (fetched, size)
    print(f"tags of a {size} B FLAC read with {fetched} B fetched")


# ---------------------------------------------------------------- scanning

def test_scan_of_an_s3_folder_matches_the_local_scan(s3_db: str, library_db: str) -> None:
    assert tracks_of(s3_db) == tracks_of(library_db)
    with psycopg.connect(s3_db) as conn:
        assert conn.execute("SELECT path, name FROM music_folders").fetchall() == [("s3://music/lib", "lib")]
        covers = conn.execute("SELECT count(*) FROM albums WHERE cover_kind = 1").fetchone()[0]
    with psycopg.connect(library_db) as conn:
        local_covers = conn.execute("SELECT count(*) FROM albums WHERE cover_kind = 1").fetchone()[0]
    assert covers == local_covers > 0  # folder images found in the listing


def test_rescan_diffs_by_etag_size_and_mtime(pg: Any, template_url: str, moto: MotoServer,
                                             test_library: tuple[Path, Any]) -> None:
    config = config_of(moto)
    ingest(test_library[0], "s3://music/rescan", config=config)
    s3.configure(config)
    url = clone_db(pg, template_url)
    first = scan(url, ["s3://music/rescan"], workers=1)
    again = scan(url, ["s3://music/rescan"], workers=1)
    assert (again.added, again.updated, again.removed, again.read) == (0, 0, 0, 0)
    assert again.unchanged == first.files_seen
    storage = s3.folder_storage("s3://music/rescan")
    path = some_track(url, "mp3")
    old = b"".join(storage.open_range(path, 0, storage.stat(path).size))
    storage.put(path, old)  # the same bytes again: a new LastModified (or at least the same ETag)
    storage.delete(some_track(url, "ogg"))
    changed = scan(url, ["s3://music/rescan"], workers=1)
    assert changed.removed == 1
    assert changed.read <= 1 and changed.added == 0


# ---------------------------------------------------------------- stream, download, covers

def test_stream_with_range_and_download(s3_api: Subsonic, s3_db: str, test_library: tuple[Path, Any]) -> None:
    path = some_track(s3_db)
    data = (test_library[0] / path).read_bytes()
    ident = track_id(s3_db, path)
    whole = s3_api.raw("stream", fmt=None, id=ident, format="raw")
    assert whole.status_code == 200 and whole.content == data, whole.content[:300]
    assert whole.headers["accept-ranges"] == "bytes"
    part = s3_api.raw("stream", fmt=None, id=ident, format="raw", headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206 and part.content == data[100:1100]
    assert part.headers["content-range"] == f"bytes 100-1099/{len(data)}"
    tail = s3_api.raw("stream", fmt=None, id=ident, format="raw", headers={"Range": "bytes=-50"})
    assert tail.status_code == 206 and tail.content == data[-50:]
    assert s3_api.raw("stream", fmt=None, id=ident, format="raw",
                      headers={"Range": f"bytes={len(data)}-"}).status_code == 416
    head = s3_api.raw("stream", fmt=None, id=ident, format="raw", http_method="HEAD")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    down = s3_api.raw("download", fmt=None, id=ident)
    assert down.status_code == 200 and down.content == data
    assert "attachment" in down.headers["content-disposition"]


def test_covers_from_s3(s3_api: Subsonic, s3_db: str, test_library: tuple[Path, Any]) -> None:
    with psycopg.connect(s3_db) as conn:
        album, cover_path = conn.execute("""SELECT id, cover_path FROM albums WHERE cover_kind = 1
                                             ORDER BY id LIMIT 1""").fetchone()
        embedded = conn.execute("SELECT id FROM tracks WHERE has_picture ORDER BY id LIMIT 1").fetchone()[0]
    cover = s3_api.ok("getAlbum", id=public_id("al", album))["album"]["coverArt"]
    original = s3_api.raw("getCoverArt", fmt=None, id=cover)
    assert original.status_code == 200 and original.content == (test_library[0] / cover_path).read_bytes()
    small = s3_api.raw("getCoverArt", fmt=None, id=cover, size=64)
    assert small.status_code == 200 and small.headers["content-type"].startswith("image/")
    song_cover = s3_api.ok("getSong", id=public_id("tr", embedded))["song"]["coverArt"]
    picture = s3_api.raw("getCoverArt", fmt=None, id=song_cover)
    assert picture.status_code == 200 and picture.headers["content-type"].startswith("image/")
    assert len(picture.content) > 100


def test_redirect_to_a_presigned_url(s3_db: str, moto: MotoServer, s3_library: str, tmp_path: Path,
                                     test_library: tuple[Path, Any]) -> None:
    path = some_track(s3_db)
    data = (test_library[0] / path).read_bytes()
    with client_for(s3_db, tmp_path, moto, s3_library, s3_redirect=True) as http:
        api = Subsonic(http)
        r = http.get("/rest/stream", params={**api.auth(), "id": track_id(s3_db, path), "format": "raw"},
                     follow_redirects=False)
        assert r.status_code == 302
        location = r.headers["location"]
        assert location.startswith(f"http://{moto.endpoint}/music/lib/") and "X-Amz-Signature=" in location
        assert httpx.get(location).content == data
        ranged = httpx.get(location, headers={"Range": "bytes=10-19"})
        assert ranged.status_code == 206 and ranged.content == data[10:20]
        d = http.get("/rest/download", params={**api.auth(), "id": track_id(s3_db, path)}, follow_redirects=False)
        assert d.status_code == 302
        api.fail("stream", 70, id="tr-999999999")  # unknown ids are still 70, not a redirect


# ---------------------------------------------------------------- failures

def test_an_indexed_object_that_is_gone_is_70(pg: Any, template_url: str, moto: MotoServer,
                                              test_library: tuple[Path, Any], tmp_path: Path) -> None:
    config = config_of(moto)
    ingest(test_library[0], "s3://music/gone", config=config)
    url = clone_db(pg, template_url)
    s3.configure(config)
    assert scan(url, ["s3://music/gone"], workers=1).added > 0
    add_users(url, tmp_path)
    path = some_track(url)
    s3.folder_storage("s3://music/gone").delete(path)
    with client_for(url, tmp_path, moto, "s3://music/gone") as http:
        api = Subsonic(http)
        api.fail("stream", 70, id=track_id(url, path), format="raw")
        api.fail("download", 70, id=track_id(url, path))
        native = Native(http, api_key_for(url, "admin"))
        assert native.problem("GET", f"/stream/{track_id(url, path)}", 404)["code"] == "not-found"
        other = some_track(url, "mp3")
        ok = native.call("GET", f"/stream/{track_id(url, other)}", headers={"Range": "bytes=0-9"})
        assert ok.status_code == 206 and len(ok.content) == 10


def test_a_missing_bucket_adds_and_removes_nothing(fresh_db: str, moto: MotoServer) -> None:
    s3.configure(config_of(moto))
    report = scan(fresh_db, ["s3://no-such-bucket/music"], workers=1)
    assert report.added == report.removed == 0
    assert any("cannot be listed" in e and "NoSuchBucket" in e for e in report.errors), report.errors


def test_the_store_being_down(pg: Any, template_url: str, test_library: tuple[Path, Any],
                              tmp_path: Path) -> None:
    """Streams, downloads and covers answer a clean error while the store is down; a scan then
    removes nothing; when the store comes back empty (a missing bucket), still nothing."""
    server = MotoServer().start()
    try:
        config = config_of(server)
        ingest(test_library[0], "s3://music/lib", config=config)
        url = clone_db(pg, template_url)
        s3.configure(config)
        before = scan(url, ["s3://music/lib"], workers=1)
        assert before.added > 0
        add_users(url, tmp_path)
        count = len(tracks_of(url))
        path = some_track(url)
        with client_for(url, tmp_path, server, "s3://music/lib") as http:
            api = Subsonic(http)
            with psycopg.connect(url) as conn:
                album = conn.execute("SELECT id FROM albums WHERE cover_kind = 1 ORDER BY id LIMIT 1").fetchone()[0]
            cover = api.ok("getAlbum", id=public_id("al", album))["album"]["coverArt"]
            native = Native(http, api_key_for(url, "admin"))
            server.stop()
            err = api.fail("stream", 0, id=track_id(url, path), format="raw")
            assert err["message"] == "object store unavailable"
            api.fail("download", 0, id=track_id(url, path))
            r = api.raw("getCoverArt", fmt="json", id=cover)
            assert r.status_code == 200 and r.json()["subsonic-response"]["status"] == "failed"
            assert api.ok("getSong", id=track_id(url, path))  # the library itself still answers
            assert native.problem("GET", f"/stream/{track_id(url, path)}", 503)["code"] == "unavailable"
        report = scan(url, ["s3://music/lib"], workers=1)
        assert report.removed == 0 and any("cannot be listed" in e for e in report.errors)
        assert len(tracks_of(url)) == count
        server.start()  # back, but empty: the bucket is missing
        report = scan(url, ["s3://music/lib"], workers=1)
        assert report.removed == 0 and any("NoSuchBucket" in e for e in report.errors)
        assert len(tracks_of(url)) == count
    finally:
        server.stop()


def test_wrong_keys_are_refused_and_remove_nothing(pg: Any, template_url: str,
                                                   test_library: tuple[Path, Any]) -> None:
    """moto accepts any credentials unless its IAM authentication is on: here it is, after the
    few unauthenticated requests that create a user and its keys (infra-notes §4: neither fake
    rejects a wrong secret by default)."""
    boto3 = pytest.importorskip("boto3")
    server = MotoServer(auth=True, free_actions=3).start()
    try:
        iam = boto3.client("iam", endpoint_url=f"http://{server.endpoint}", region_name="us-east-1",
                           aws_access_key_id="x", aws_secret_access_key="x")
        iam.create_user(UserName="orb")
        iam.put_user_policy(UserName="orb", PolicyName="s3", PolicyDocument=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
        key = iam.create_access_key(UserName="orb")["AccessKey"]
        good = config_of(server, access_key=key["AccessKeyId"], secret_key=key["SecretAccessKey"])
        ingest(test_library[0], "s3://music/lib", config=good)
        url = clone_db(pg, template_url)
        s3.configure(good)
        count = scan(url, ["s3://music/lib"], workers=1).added
        assert count > 0
        for bad in (config_of(server, access_key=key["AccessKeyId"], secret_key="wrong"),
                    config_of(server, access_key="AKIANOSUCHKEY000000", secret_key="wrong")):
            with pytest.raises(s3.StorageUnavailable) as exc:
                s3.S3Storage(bad, "music", "lib").check()
            assert exc.value.reason.split(":")[0] in ("SignatureDoesNotMatch", "InvalidAccessKeyId",
                                                      "AccessDenied", "InvalidClientTokenId")
            s3.configure(bad)
            report = scan(url, ["s3://music/lib"], workers=1)
            assert report.removed == 0 and any("cannot be listed" in e for e in report.errors)
            assert len(tracks_of(url)) == count
    finally:
        server.stop()


def test_an_endpoint_that_is_not_s3(fresh_db: str, pg: Any) -> None:
    """A wrong endpoint (here PostgreSQL's port: not HTTP at all) is 'unavailable', never a crash."""
    host_port = pg.url.split("@")[-1].split("/")[0]
    s3.configure(s3.S3Config(endpoint=host_port if ":" in host_port else "127.0.0.1:1", secure=False,
                             timeout_s=2.0))
    report = scan(fresh_db, ["s3://music/lib"], workers=1)
    assert report.added == report.removed == 0 and any("cannot be listed" in e for e in report.errors)


# ---------------------------------------------------------------- ingest

def test_ingest_dry_run_idempotent_and_resumable(moto: MotoServer, test_library: tuple[Path, Any],
                                                 tmp_path: Path) -> None:
    config = config_of(moto)
    src = tmp_path / "lib"
    subprocess.run(["cp", "-r", str(test_library[0]), str(src)], check=True)
    dest = "s3://ingest-bucket/music"  # the bucket does not exist yet
    dry = ingest(src, dest, dry_run=True, config=config)
    assert dry.dry_run and dry.copied == 0 and dry.planned == dry.files > 0
    assert not s3.client(config).bucket_exists("ingest-bucket")  # a dry run writes nothing

    # interrupted after 5 files (Ctrl-C): what was copied is whole, the rest is not there
    copied: list[int] = []

    def stop_after_five(n: int) -> None:
        copied.append(n)
        if len(copied) == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest(src, dest, config=config, progress=stop_after_five)
    storage = s3.folder_storage(dest, config)
    assert len(list(storage.walk())) == 5
    resumed = ingest(src, dest, config=config)
    assert (resumed.skipped, resumed.copied) == (5, dry.files - 5)
    again = ingest(src, dest, config=config)
    assert (again.skipped, again.copied) == (dry.files, 0)
    keys = {o.key: o.size for o in storage.walk()}
    assert keys == {k: p.stat().st_size for k, p, _ in ((k, p, s) for k, p, s in ingest_mod.local_files(src))}

    # a file changed in place with the same size is copied again (the checksum differs)
    changed = next(p for k, p, s in ingest_mod.local_files(src) if s > 100)
    raw = bytearray(changed.read_bytes())
    raw[50] ^= 0xFF
    changed.write_bytes(bytes(raw))
    after = ingest(src, dest, config=config)
    assert (after.copied, after.skipped) == (1, dry.files - 1)
    key = changed.relative_to(src).as_posix()
    assert b"".join(storage.open_range(key, 0, len(raw))) == bytes(raw)


def test_ingest_multipart_checksum(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files larger than a part go up in parts; their S3-style ETag (md5 of md5s, -N) is
    computed locally too, so a re-run skips them."""
    monkeypatch.setattr(ingest_mod, "PART_SIZE", 5 * 1024 * 1024)
    src = tmp_path / "big"
    src.mkdir()
    (src / "long.flac").write_bytes(bytes(range(256)) * (11 * 4096))  # 11 MiB: 3 parts
    config = config_of(moto)
    first = ingest(src, "s3://music/multipart", config=config)
    assert first.copied == 1
    etag = next(iter(s3.folder_storage("s3://music/multipart", config).walk())).s3_etag
    assert etag.endswith("-3") and etag == ingest_mod.local_etag(src / "long.flac")
    assert ingest(src, "s3://music/multipart", config=config).skipped == 1


def test_ingest_command(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                        capsys: pytest.CaptureFixture[str]) -> None:
    from orbsonic.cli import main

    src = tmp_path / "small"
    (src / "Artist").mkdir(parents=True)
    (src / "Artist" / "one.mp3").write_bytes(b"ID3" + b"\0" * 1000)
    (src / ".hidden").write_bytes(b"x")
    for k, v in {"ORBSONIC_S3_ENDPOINT": moto.endpoint, "ORBSONIC_S3_ACCESS_KEY": "testing",
                 "ORBSONIC_S3_SECRET_KEY": "testing", "ORBSONIC_S3_REGION": "us-east-1",
                 "ORBSONIC_S3_SECURE": "false", "ORBSONIC_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(k, v)
    assert main(["ingest", str(src), "s3://cli-bucket/x", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would copy Artist/one.mp3" in out and "1 to copy" in out and ".hidden" not in out
    assert main(["ingest", str(src), "s3://cli-bucket/x", "--quiet"]) == 0
    assert "1 copied" in capsys.readouterr().out
    assert main(["ingest", str(src), "s3://cli-bucket/x", "--quiet"]) == 0
    assert "0 copied" in capsys.readouterr().out
    assert main(["ingest", str(tmp_path / "nope"), "s3://cli-bucket/x"]) == 2
    assert main(["ingest", str(src), "s3://"]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_transcoding_reads_the_object_through_a_presigned_url(s3_api: Subsonic, s3_db: str) -> None:
    """ffmpeg gets no descriptor for an S3 object: it reads the presigned URL over HTTP."""
    r = s3_api.raw("stream", fmt=None, id=track_id(s3_db, some_track(s3_db)), format="mp3", maxBitRate=128)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/mpeg", r.content[:300]
    assert r.content[:3] == b"ID3" or r.content[0] == 0xFF
    assert len(r.content) > 10_000


def test_loudness_of_s3_tracks(pg: Any, template_url: str, moto: MotoServer, s3_library: str) -> None:
    """The R128 analysis reads an S3 object through its presigned URL (ffmpeg over HTTP)."""
    import asyncio

    from orbsonic.analysis import loudness

    url = clone_db(pg, template_url)
    s3.configure(config_of(moto))
    assert scan(url, [s3_library], workers=1).added > 0
    with psycopg.connect(url) as conn:
        album = conn.execute("""SELECT album_id FROM tracks WHERE suffix = 'flac' AND duration_ms > 0
                                 ORDER BY album_id LIMIT 1""").fetchone()[0]

    async def go() -> int:
        async with await psycopg.AsyncConnection.connect(url) as conn:
            return await loudness.analyse_album(conn, album, "ffmpeg")

    assert asyncio.run(go()) > 0
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT r128_loudness, r128_error FROM tracks WHERE album_id = %s", (album,)).fetchall()
    assert all(err is None for _, err in rows), rows  # (a silent track measures as no loudness)
    assert sum(lufs is not None for lufs, _ in rows) >= 2, rows


def test_an_object_replaced_after_open_is_not_read(moto: MotoServer) -> None:
    storage = s3.S3Storage(config_of(moto), "music", "replaced")
    make_bucket(storage)
    storage.put("x.mp3", b"a" * 100_000)
    fh = storage.open("x.mp3")
    assert fh.read(10) == b"a" * 10
    storage.put("x.mp3", b"b" * 100_000)
    fh.seek(50_000)
    with pytest.raises(NotFound):
        fh.read(10)
    fh.close()
