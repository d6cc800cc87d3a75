"""Uploads (docs/native-api.md "Upload"; upload role): `POST /uploads` with the file as the body
(`X-Orb-Filename`) or as the `file` part of multipart/form-data → 201 Track.

The bytes go to a hidden temp file in the upload folder (the scanner's walk skips dot-files,
so a scan never sees a half-written upload), capped at `upload_max_mb` (413), checked to be
audio with mutagen (415), then renamed to a sanitised, unused name (no path parts; "name (2).flac"
when taken) and picked up by an incremental scan (which reads only new or changed files; the
scanner has no single-file mode). Any failure or a client that goes away removes the temp file:
a rejected or interrupted upload leaves nothing. The upload folder is the `upload_dir` setting
(default `Uploads` in the first music folder; it must lie inside a music folder to be scanned).
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import unicodedata
from pathlib import Path

import mutagen
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from native_api.errors import problem
from native_api.models_playlists import Track, track_of
from native_api.registry import Ctx, route
from orbsonic.errors import BadParam
from orbsonic.library import tracks
from orbsonic.scanner.images import AUDIO_SUFFIXES
from orbsonic.scanner.scanner import scan
from orbsonic.state import AppState

TAG = "upload"
CHUNK = 1024 * 1024
_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


class Refused(Exception):
    """An upload refused with an HTTP status (413, 415, 503) and a message."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status, self.code = status, code
        super().__init__(detail)


def upload_folder(state: AppState) -> tuple[Path, Path]:
    """(upload folder, the music folder holding it). Raises Refused(503) when uploads are off,
    there is no music folder, or the folder is outside every music folder."""
    s = state.settings
    folders = [Path(f).resolve() for f in s.music_folders]
    if s.upload_dir.strip().lower() == "off":
        raise Refused(503, "uploads-disabled", "uploads are turned off on this server (setting upload_dir)")
    if not s.upload_dir.strip():
        if not folders:
            raise Refused(503, "uploads-disabled", "no music folder to upload into (set upload_dir)")
        return folders[0] / "Uploads", folders[0]
    target = Path(s.upload_dir).expanduser().resolve()
    for root in folders:
        if target == root or root in target.parents:
            return target, root
    raise Refused(503, "uploads-disabled", "the upload folder (upload_dir) is not inside a music folder")


def safe_name(raw: str) -> str:
    """A file name from a client's: its last path part, no control or reserved characters, no
    leading dots, at most 200 characters, an audio suffix. Raises BadParam."""
    name = unicodedata.normalize("NFC", raw.replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE.sub("_", name).strip().lstrip(".").strip()
    stem, dot, suffix = name.rpartition(".")
    if not dot or not stem or suffix.lower() not in AUDIO_SUFFIXES:
        raise BadParam("filename", f"{raw[:100]!r} is not an audio file name (e.g. name.flac)")
    return stem[: 200 - len(suffix) - 1] + "." + suffix.lower()


def _free_name(folder: Path, name: str) -> Path:
    stem, _, suffix = name.rpartition(".")
    candidate, n = folder / name, 1
    while candidate.exists():
        n += 1
        candidate = folder / f"{stem} ({n}).{suffix}"
    return candidate


def _is_audio(path: Path) -> bool:
    try:
        f = mutagen.File(path)
    except Exception:  # noqa: BLE001  (any parse failure means "not audio")
        return False
    return f is not None and getattr(f.info, "length", 0) > 0


async def _receive(ctx: Ctx, tmp: Path, cap: int) -> str:
    """Write the upload's bytes to `tmp`; return the client's file name."""
    request = ctx.request
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    declared = request.headers.get("content-length", "")
    if (
        declared.isascii()
        and declared.isdigit()
        and int(declared) > cap + (64 * 1024 if ctype.startswith("multipart/") else 0)
    ):
        raise Refused(413, "too-large", f"larger than the upload limit of {cap} bytes")
    if ctype == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        part = form.get("file")
        if not isinstance(part, UploadFile) or not part.filename:
            raise BadParam("file", "multipart/form-data needs a `file` part with a file name")
        size = 0
        with open(tmp, "xb") as out:
            while chunk := await part.read(CHUNK):
                size += len(chunk)
                if size > cap:
                    raise Refused(413, "too-large", f"larger than the upload limit of {cap} bytes")
                out.write(chunk)
        return part.filename
    name = request.headers.get("x-orb-filename")
    if not name:
        raise BadParam("X-Orb-Filename", "missing: the file's name (e.g. song.flac)")
    safe_name(name)  # refuse a bad name before reading the body
    size = 0
    with open(tmp, "xb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            if size > cap:
                raise Refused(413, "too-large", f"larger than the upload limit of {cap} bytes")
            out.write(chunk)
    return name


async def _scan_new(state: AppState, path: Path) -> None:
    """An incremental scan that picks the new file up; waits (up to 60 s) for a running scan."""
    url, folders = state.scans.database_url, state.scans.music_folders or list(state.settings.music_folders)
    for _ in range(120):
        report = await asyncio.to_thread(scan, url, folders, workers=1)
        if not report.already_running:
            return
        await asyncio.sleep(0.5)
    raise Refused(503, "scan-busy", "a library scan is running; the upload is kept and appears after it")


@route(
    "POST",
    "/uploads",
    summary="Upload an audio file into the upload folder",
    tag=TAG,
    role="upload",
    response=Track,
    status=201,
    errors=(400, 403, 413, 415, 503),
)
async def upload(ctx: Ctx) -> Response | Track:
    """Body: the file (`X-Orb-Filename: name.flac`), or multipart/form-data with `file`."""
    try:
        folder, root = upload_folder(ctx.state)
        cap = ctx.state.settings.upload_max_mb * 1024 * 1024
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".orb-upload-{secrets.token_hex(8)}.part"
        try:
            name = safe_name(await _receive(ctx, tmp, cap))
            if not await asyncio.to_thread(_is_audio, tmp):
                raise Refused(
                    415, "unsupported-media-type", f"{name} is not an audio file this server can read"
                )
            while True:
                final = _free_name(folder, name)
                try:
                    os.link(tmp, final)  # never replaces an existing file (unlike rename)
                    break
                except FileExistsError:  # taken meanwhile by a concurrent upload
                    continue
        finally:
            tmp.unlink(missing_ok=True)
    except Refused as exc:
        return problem(exc.status, exc.code, str(exc))
    except ClientDisconnect:
        raise
    await _scan_new(ctx.state, final)
    rel = final.relative_to(root).as_posix()
    cur = await ctx.conn.execute(
        "SELECT t.id FROM tracks t JOIN music_folders f ON f.id = t.folder_id"
        " WHERE f.path = %s AND t.path = %s",
        (str(root), rel),
    )
    row = await cur.fetchone()
    if row is None:  # the scanner could not read it after all: do not keep it
        final.unlink(missing_ok=True)
        return problem(415, "unsupported-media-type", f"{name} could not be read as audio")
    rows = await tracks.hydrate(ctx.conn, [row[0]], ctx.me.id)
    return track_of(rows[0])
