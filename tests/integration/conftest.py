"""Fixtures shared by the integration tests that write or need two music folders.

`two_folder_template` is the test library (folder 1) plus a small second folder, scanned
once per module with the two users; tests never use it directly but clone it: `own_db` is
a database of the test's own, `own` a validating client over an app on it. The shared
`library_db` stays untouched.
"""

from __future__ import annotations

import itertools
import os
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import Subsonic, add_users, clone_db, make_app
from tests.integration.s3_server import MotoServer

EXTRA_ARTIST = "Quuxtone Ensemble"
ARTICLES = ("the ", "el ", "la ", "los ", "las ", "le ", "les ")
BULK_ALBUM = 7_000_000_000_000  # first id of the albums bulk_up inserts
_clone = itertools.count()


def album_of(manifest: Any) -> dict[str, tuple[str, str]]:
    """Oracle of the album each readable manifest file lands in: path → (album artist, album
    name). Tagged files: ALBUMARTIST, else the display artist, else "[Unknown Artist]", and the
    album tag. Files without an album tag: one album per folder named after it, whose album
    artist is that of the folder's first such file in path order (issue 6 §4)."""
    def artist_of(e: Any) -> str:
        return e.album_artist or e.artist_display or (e.artists or ["[Unknown Artist]"])[0]

    out: dict[str, tuple[str, str]] = {}
    folder_artist: dict[str, str] = {}
    for e in sorted((e for e in manifest.files if e.readable), key=lambda e: e.path):
        if e.album:
            out[e.path] = (artist_of(e), e.album)
        else:
            folder = e.path.rpartition("/")[0]
            artist = folder_artist.setdefault(folder, artist_of(e))
            out[e.path] = (artist, folder.rpartition("/")[2] or "music")
    return out


# An oracle for browse order written independently of orbsonic.ids.fold and
# orbsonic.library.indexing, so the tests check the server rather than restate it.
def fold(text: str) -> str:
    """Accent- and case-insensitive form (what a human means by "sorts like")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def strip_article(key: str) -> str:
    for a in ARTICLES:
        if key.startswith(a) and len(key) > len(a):
            return key[len(a):]
    return key


def sort_key(text: str) -> str:
    """Folded text without a leading article: where a name sorts in browse lists."""
    return strip_article(fold(text))


def write_extra_folder(root: Path) -> None:
    """A second music folder: one album by a new artist, one album by Björk."""
    from dataclasses import replace

    from bench.tagwrite import TrackTags, default_template_dir, load_templates, retag
    from bench.templates import FORMATS

    templates = load_templates(["flac16", "mp3_v24"], default_template_dir())
    base = TrackTags(artists=(EXTRA_ARTIST,), album_artist=EXTRA_ARTIST, album="Quuxtone Live", date="1975",
                     genres=("Rock", "Krautrock"))
    for n, (fmt, title) in enumerate([("flac16", "Quuxtone Opening"), ("mp3_v24", "Quuxtone Closing")], 1):
        path = root / EXTRA_ARTIST / "1975 - Quuxtone Live" / f"{n:02d} {title}.{FORMATS[fmt][0]}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(retag(templates[fmt], fmt, replace(base, title=title, track_no=n, track_total=2)))
    path = root / "Björk" / "1995 - Post Extras" / "01 Isobel Demo.flac"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(retag(templates["flac16"], "flac16", TrackTags(
        title="Isobel Demo", artists=("Björk",), album_artist="Björk", album="Post Extras", date="1995",
        genres=("Electronic",), track_no=1)))


def clone_from(pg: Any, url: str) -> str:
    """A copy of the database at `url` (CREATE DATABASE … TEMPLATE; nothing may be connected to it)."""
    name = url.rsplit("/", 1)[1]
    new = f"{name}_c{os.getpid()}_{next(_clone)}"
    with psycopg.connect(pg.url, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {new} TEMPLATE {name}")
    return url.rsplit("/", 1)[0] + "/" + new


Library = tuple[str, tuple[Path, Path]]  # (database URL, (folder 1, folder 2))


def two_folder_library(pg: Any, template_url: str, root: Path, tmp_path_factory: pytest.TempPathFactory) -> Library:
    """The test library (folder 1) plus a small second folder, scanned, with the two users.
    Never served directly: tests clone it (test_browsing, test_search and test_annotation
    build their own with this)."""
    from orbsonic.scanner.scanner import scan

    extra = tmp_path_factory.mktemp("extra") / "extra"
    write_extra_folder(extra)
    url = clone_db(pg, template_url)
    report = scan(url, [root, extra], workers=2)
    assert report.added > 0 and not report.errors, report
    add_users(url, tmp_path_factory.mktemp("data"))
    return url, (root, extra)


@contextmanager
def serve(url: str, folders: tuple[Path, ...], data_dir: Path) -> Iterator[Subsonic]:
    """A validating client over an app (lifespan run) on the database at `url`."""
    from starlette.testclient import TestClient

    with TestClient(make_app(url, data_dir, folders)) as client:
        yield Subsonic(client)


@pytest.fixture(scope="module")
def two_folder_template(pg: Any, template_url: str, test_library: tuple[Path, Any],
                        tmp_path_factory: pytest.TempPathFactory) -> Library:
    return two_folder_library(pg, template_url, test_library[0], tmp_path_factory)


@pytest.fixture
def own_db(pg: Any, two_folder_template: Library) -> str:
    """A database of this test's own: a clone of the two-folder library."""
    return clone_from(pg, two_folder_template[0])


@pytest.fixture
def own(own_db: str, two_folder_template: Library, tmp_path: Path) -> Iterator[Subsonic]:
    """A client over an app on `own_db` (two music folders)."""
    with serve(own_db, two_folder_template[1], tmp_path) as client:
        yield client



def bulk_up(url: str, n_albums: int = 520, n_tracks: int = 1100) -> None:
    """Add synthetic albums and tracks (genre "Bulk") straight into a database, so that the
    size caps (500) can be observed."""
    with psycopg.connect(url) as conn:
        conn.execute(
            """INSERT INTO albums (id, folder_id, name, sort_name, sort_key, artist_name, year, created_at,
                                   song_count, search_text)
               SELECT %s + g, 1, 'Bulk ' || lpad(g::text, 4, '0'), 'Bulk ' || g, 'bulk ' || lpad(g::text, 4, '0'),
                      'Bulk Artist', 2000, now(), 1, 'bulk ' || g
                 FROM generate_series(1, %s) g""", (BULK_ALBUM, n_albums))
        conn.execute(
            """INSERT INTO tracks (folder_id, directory_id, path, size, mtime_ns, suffix, content_type, title,
                                   sort_title, album_id, pid, created_at, year, search_text)
               SELECT 1, (SELECT directory_id FROM tracks ORDER BY id LIMIT 1), 'bulk/' || g || '.flac', 1, 0,
                      'flac', 'audio/flac', 'Bulk ' || g, 'Bulk ' || g, %s + 1 + g %% %s, md5(g::text), now(), 2000,
                      'bulk ' || g
                 FROM generate_series(1, %s) g""", (BULK_ALBUM, n_albums, n_tracks))
        conn.execute("INSERT INTO genres (id, name, song_count, album_count) VALUES (%s, 'Bulk', %s, 0)",
                     (_genre_id("Bulk"), n_tracks))
        conn.execute("INSERT INTO track_genres SELECT id, 1, %s FROM tracks WHERE path LIKE 'bulk/%%'",
                     (_genre_id("Bulk"),))


def _genre_id(name: str) -> int:
    from orbsonic.ids import fold as _fold
    from orbsonic.ids import key_id

    return key_id("genre", _fold(name))


def unvalidated(client: Subsonic, method: str, key: str, sub: str, **params: Any) -> list[dict[str, Any]]:
    """`method` in JSON without schema validation (big pages validate slowly; shapes are
    checked elsewhere): the `sub` list of payload `key`."""
    r = client.http.get(f"/rest/{method}", params={**client.auth(), "f": "json", **params})
    body = r.json()["subsonic-response"]
    assert body["status"] == "ok", body
    return body[key].get(sub, [])


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """A moto_server on loopback for the test module (import this fixture by name)."""
    server = MotoServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3_config_reset() -> Iterator[None]:
    """The process-wide S3 connection (orbsonic.storage.s3.configure) is per test: S3 test
    modules use it with `pytestmark = pytest.mark.usefixtures("s3_config_reset")`."""
    yield
    from orbsonic.storage import s3

    s3.configure(None)
