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
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.responses import Response

from native_api.errors import problem
from native_api.models_playlists import Track, track_of
from native_api.registry import Ctx, route
from orbsonic.errors import BadParam, Conflict, NotAuthorized, NotFound
from orbsonic.library import tracks
from orbsonic.scanner.images import AUDIO_SUFFIXES
from orbsonic.scanner.scanner import scan
from orbsonic.state import AppState

TAG = "upload"
CHUNK = 1024 * 1024
STALE_S = 86400  # an upload session unfinished this long (s) is dropped at the user's next one
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


async def _folder_for(ctx: Ctx) -> tuple[Path, Path]:
    """The upload folder, checked against the caller's folder access: a user who could not read
    the uploaded track is refused (403) before any byte is written."""
    folder, root = upload_folder(ctx.state)
    if ctx.me.folder_ids is not None:
        cur = await ctx.conn.execute("SELECT id FROM music_folders WHERE path = %s", (str(root),))
        row = await cur.fetchone()
        if row is None or not ctx.me.may_read_folder(row[0]):
            raise NotAuthorized("the upload folder is outside your music folders")
    folder.mkdir(parents=True, exist_ok=True)
    return folder, root


async def _keep(ctx: Ctx, tmp: Path, name: str, folder: Path, root: Path) -> Track:
    """Validate the complete temp file as audio, give it its final unused name, scan it in and
    answer its Track. Raises Refused(415). The caller removes `tmp`."""
    if not await asyncio.to_thread(_is_audio, tmp):
        raise Refused(415, "unsupported-media-type", f"{name} is not an audio file this server can read")
    while True:
        final = _free_name(folder, name)
        try:
            os.link(tmp, final)  # never replaces an existing file (unlike rename)
            break
        except FileExistsError:  # taken meanwhile by a concurrent upload
            continue
    tmp.unlink(missing_ok=True)
    await _scan_new(ctx.state, final)
    cur = await ctx.conn.execute(
        "SELECT t.id FROM tracks t JOIN music_folders f ON f.id = t.folder_id"
        " WHERE f.path = %s AND t.path = %s",
        (str(root), final.relative_to(root).as_posix()),
    )
    row = await cur.fetchone()
    if row is None:  # the scanner could not read it after all: do not keep it
        final.unlink(missing_ok=True)
        raise Refused(415, "unsupported-media-type", f"{name} could not be read as audio")
    rows = await tracks.hydrate(ctx.conn, [row[0]], ctx.me.id)
    return track_of(rows[0])


@route("POST", "/uploads", summary="Upload an audio file into the upload folder", tag=TAG, role="upload",
       response=Track, status=201, errors=(400, 403, 413, 415, 503))
async def upload(ctx: Ctx) -> Response | Track:
    """Body: the file (`X-Orb-Filename: name.flac`), or multipart/form-data with `file`."""
    try:
        folder, root = await _folder_for(ctx)
        tmp = folder / f".orb-upload-{secrets.token_hex(8)}.part"
        try:
            name = safe_name(await _receive(ctx, tmp, ctx.state.settings.upload_max_mb * 1024 * 1024))
            return await _keep(ctx, tmp, name, folder, root)
        finally:
            tmp.unlink(missing_ok=True)
    except Refused as exc:
        return problem(exc.status, exc.code, str(exc))


# --- Resumable sessions: POST a session, PATCH chunks at Upload-Offset, GET the offset ------


class NewSession(BaseModel):
    """POST /uploads/sessions: the file's name and its whole size in bytes."""

    model_config = ConfigDict(extra="forbid")
    filename: str = Field(min_length=1, max_length=1000)
    size: int = Field(gt=0)


class Session(BaseModel):
    """An upload in progress: `offset` bytes received of `size` (progress = offset / size);
    `track` is the new Track once the last chunk is in."""

    id: str
    filename: str
    size: int
    offset: int
    track: Track | None = None


def _part(folder: Path, session_id: str) -> Path:
    return folder / f".orb-upload-{session_id}.part"


async def _session(ctx: Ctx, *, lock: bool = False) -> tuple[str, str, int, int]:
    sid = ctx.path["session_id"]
    cur = await ctx.conn.execute(
        "SELECT id, filename, size, \"offset\" FROM upload_sessions WHERE id = %s AND user_id = %s"
        + (" FOR UPDATE" if lock else ""), (sid[:64], ctx.me.id))
    row = await cur.fetchone()
    if row is None:
        raise NotFound("upload session", sid[:64])
    return row


@route("POST", "/uploads/sessions", summary="Start a resumable upload", tag=TAG, role="upload",
       body=NewSession, response=Session, status=201, errors=(400, 403, 413, 503))
async def start_session(ctx: Ctx) -> Response | Session:
    b: NewSession = ctx.body
    name = safe_name(b.filename)
    try:
        folder, _ = await _folder_for(ctx)
        cap = ctx.state.settings.upload_max_mb * 1024 * 1024
        if b.size > cap:
            raise Refused(413, "too-large", f"larger than the upload limit of {cap} bytes")
    except Refused as exc:
        return problem(exc.status, exc.code, str(exc))
    # Sessions left unfinished for a day are abandoned: their part files go with them.
    cur = await ctx.conn.execute(
        "DELETE FROM upload_sessions WHERE user_id = %s AND created_at < now() - make_interval(secs => %s)"
        " RETURNING id", (ctx.me.id, STALE_S))
    for (old,) in await cur.fetchall():
        _part(folder, old).unlink(missing_ok=True)
    sid = secrets.token_hex(16)
    _part(folder, sid).touch(exist_ok=False)
    await ctx.conn.execute(
        "INSERT INTO upload_sessions (id, user_id, filename, size) VALUES (%s, %s, %s, %s)",
        (sid, ctx.me.id, name, b.size))
    return Session(id=sid, filename=name, size=b.size, offset=0)


@route("GET", "/uploads/sessions/{session_id}", summary="How much of a resumable upload has arrived",
       tag=TAG, role="upload", response=Session, errors=(404,))
async def get_session(ctx: Ctx) -> Session:
    sid, name, size, offset = await _session(ctx)
    return Session(id=sid, filename=name, size=size, offset=offset)


@route("PATCH", "/uploads/sessions/{session_id}", summary="Send the next chunk of a resumable upload",
       tag=TAG, role="upload", response=Session, errors=(400, 404, 409, 413, 415, 503))
async def send_chunk(ctx: Ctx) -> Response | Session:
    """Header `Upload-Offset` must be the session's offset (409 otherwise, with the offset to
    resume from); the body is appended. A chunk cut short is dropped whole (the offset stays),
    so the client resumes from `GET`'s offset. The last chunk answers the session with `track`."""
    sid, name, size, offset = await _session(ctx, lock=True)
    raw = ctx.request.headers.get("upload-offset", "")
    if not (raw.isascii() and raw.isdigit() and len(raw) < 19):
        raise BadParam("Upload-Offset", "missing or not a byte offset")
    if int(raw) != offset:
        raise Conflict(f"Upload-Offset {raw} is not the session's offset {offset}")
    try:
        folder, root = await _folder_for(ctx)
        part = _part(folder, sid)
        if not part.exists():
            raise NotFound("upload session", sid)
        received = offset
        try:
            with open(part, "r+b") as out:
                out.truncate(offset)
                out.seek(offset)
                async for chunk in ctx.request.stream():
                    received += len(chunk)
                    if received > size:
                        raise Refused(413, "too-large", f"more than the session's {size} bytes")
                    out.write(chunk)
        except BaseException:
            with open(part, "r+b") as out:
                out.truncate(offset)
            raise
        await ctx.conn.execute("UPDATE upload_sessions SET \"offset\" = %s WHERE id = %s", (received, sid))
        if received < size:
            return Session(id=sid, filename=name, size=size, offset=received)
        await ctx.conn.execute("DELETE FROM upload_sessions WHERE id = %s", (sid,))
        try:
            track = await _keep(ctx, part, name, folder, root)
        finally:
            part.unlink(missing_ok=True)
        return Session(id=sid, filename=name, size=size, offset=received, track=track)
    except Refused as exc:  # a 415 ends the session (deleted above; this answer commits it)
        return problem(exc.status, exc.code, str(exc))


@route("DELETE", "/uploads/sessions/{session_id}", summary="Abandon a resumable upload", tag=TAG,
       role="upload", status=204, errors=(404,))
async def delete_session(ctx: Ctx) -> Response:
    sid, *_ = await _session(ctx, lock=True)
    await ctx.conn.execute("DELETE FROM upload_sessions WHERE id = %s", (sid,))
    try:
        folder, _ = upload_folder(ctx.state)
        _part(folder, sid).unlink(missing_ok=True)
    except Refused:
        pass
    return Response(status_code=204)
