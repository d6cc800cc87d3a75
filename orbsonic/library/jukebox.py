"""The jukebox (Subsonic jukeboxControl, docs/subsonic-spec.md §3 Jukebox): the server plays
a playlist on its own audio output through a local mpv (orbsonic.jukebox.mpv).

Who owns mpv. With several workers (and `orbsonic serve --workers N`) exactly one mpv may
play. The server's mpv is identified by its socket, one per data directory
(`<data_dir>/jukebox/mpv.sock`), and every worker talks to that socket. When nothing answers
there, a worker takes the PostgreSQL advisory lock JUKEBOX_LOCK for its transaction, looks
again (another worker may have won the race), and only then starts mpv — so two workers
never start two players. The worker that started mpv stops it when it shuts down
(`close_player`, from the app lifespan); the next command in any worker starts a new one
and restores the playlist from PostgreSQL. (The alternative, mpv as a child of
`orbsonic serve`, would need the command to know about the jukebox; the lock needs nothing.)

What lives where. The playlist (track ids), current index, playing flag and gain are in the
`jukebox_state` row, which every mutating command locks (FOR UPDATE), so that commands from
several workers apply one after the other. The live position, and the index mpv reached
by itself at the end of a track, are asked of mpv. Units: position and offset in seconds,
gain 0.0–1.0 (mpv volume = gain × 100).

Files are handed to mpv by path, after the storage seam's checks (folder_storage(...).open:
a regular file inside the music folder or an allowed root) and the user's folder access: a
track outside them is NotFound (70), as in stream.
"""

from __future__ import annotations

import asyncio
import atexit
import random
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import anyio
from psycopg import AsyncConnection

from orbsonic.auth.users import User
from orbsonic.config import Settings
from orbsonic.errors import BadParam, IndexOutOfRange, MissingParam, NotFound, Unavailable
from orbsonic.ids import public_id
from orbsonic.jukebox import mpv
from orbsonic.library import tracks
from orbsonic.storage.local import folder_storage

# pg_advisory_xact_lock key of the jukebox: b"orbjuke" as an integer.
JUKEBOX_LOCK = int.from_bytes(b"orbjuke", "big")
MAX_TRACKS = 1000  # playlist length cap
# mpv processes this process started, by socket (OS handles, not shared state: see above).
_STARTED: dict[Path, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class Status:
    """Subsonic JukeboxStatus: currentIndex (-1: none), playing, gain (0.0–1.0), position (s)."""

    current_index: int
    playing: bool
    gain: float
    position_s: int


def _socket(settings: Settings) -> Path:
    return mpv.socket_of(settings.data_dir)


def require_enabled(settings: Settings) -> None:
    """Raises Unavailable unless `jukebox_enabled` is set."""
    if not settings.jukebox_enabled:
        raise Unavailable("jukebox is not enabled on this server")


async def _state(conn: AsyncConnection, *, lock: bool) -> tuple[list[int], int, bool, float]:
    cur = await conn.execute("SELECT track_ids, current_index, playing, gain FROM jukebox_state"
                             + (" FOR UPDATE" if lock else ""))
    row = await cur.fetchone()
    assert row is not None  # inserted by migration 0018
    return list(row[0]), row[1], row[2], float(row[3])


async def _save(conn: AsyncConnection, ids: list[int], index: int, playing: bool, gain: float) -> None:
    await conn.execute("UPDATE jukebox_state SET track_ids = %s, current_index = %s, playing = %s, gain = %s,"
                       " changed_at = now()", (ids, index, playing, gain))


async def _path(conn: AsyncConnection, settings: Settings, track_id: int, user: User | None) -> str:
    """The checked file-system path of a track. Raises NotFound (unknown, outside the user's
    folders, or refused by the storage seam)."""
    info = await tracks.file_info(conn, track_id)
    if info is None or (user is not None and not user.may_read_folder(info["folder_id"])):
        raise NotFound("song", public_id("tr", track_id))
    storage = folder_storage(info["root"], settings.outside_roots)
    try:
        fh = await anyio.to_thread.run_sync(storage.open, info["path"])
    except NotFound:
        raise NotFound("file of song", public_id("tr", track_id)) from None
    with fh:
        return fh.name_real or storage.path_of(info["path"])


async def _paths(conn: AsyncConnection, settings: Settings, ids: list[int], user: User | None) -> list[str]:
    return [await _path(conn, settings, i, user) for i in ids]


async def _load(sock: Path, paths: list[str]) -> None:
    """Replace mpv's playlist with `paths` (nothing plays afterwards)."""
    await mpv.command(sock, "stop")  # also clears the playlist
    for p in paths:
        await mpv.command(sock, "loadfile", p, "append")


async def _player(conn: AsyncConnection, settings: Settings) -> Path:
    """The socket of a running mpv, starting it (and restoring the saved playlist, paused)
    when none answers. Raises PlayerError (an Unavailable)."""
    sock = _socket(settings)
    if await mpv.alive(sock):
        return sock
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (JUKEBOX_LOCK,))
    if await mpv.alive(sock):
        return sock
    old = _STARTED.pop(sock, None)
    if old is not None:
        await asyncio.to_thread(mpv.stop, old)
    _STARTED[sock] = await mpv.spawn(settings.jukebox_mpv or "mpv", sock, settings.jukebox_audio_output)
    ids, index, _, gain = await _state(conn, lock=False)
    await mpv.command(sock, "set_property", "volume", gain * 100)
    paths = []
    for i in ids:  # a file gone since it was added stays in the list (mpv skips it)
        try:
            paths.append(await _path(conn, settings, i, None))
        except NotFound:
            paths.append(f"/nonexistent/{i}")
    await _load(sock, paths)
    await _save(conn, ids, index, False, gain)  # a new player does not play on by itself
    return sock


async def _prop(sock: Path, name: str, default: object) -> object:
    try:
        value = await mpv.command(sock, "get_property", name)
    except mpv.PlayerError:  # "property unavailable": nothing loaded
        return default
    return default if value is None else value


async def status(conn: AsyncConnection, settings: Settings) -> Status:
    """The live status: from mpv when it runs, else the saved state (not playing).
    Raises Unavailable when the jukebox is disabled."""
    require_enabled(settings)
    ids, index, _, gain = await _state(conn, lock=False)
    sock = _socket(settings)
    if not await mpv.alive(sock):
        return Status(index if ids else -1, False, gain, 0)
    pos = int(await _prop(sock, "playlist-pos", -1))  # type: ignore[call-overload]
    idle = bool(await _prop(sock, "idle-active", True))
    paused = bool(await _prop(sock, "pause", True))
    position = float(await _prop(sock, "time-pos", 0.0))  # type: ignore[arg-type]
    volume = float(await _prop(sock, "volume", gain * 100))  # type: ignore[arg-type]
    return Status(pos, not idle and not paused and pos >= 0, round(volume / 100, 4), int(position))


async def playlist(conn: AsyncConnection, settings: Settings, user: User) -> tuple[Status, list[int]]:
    """The status and the playlist's track ids (action `get`). The jukebox is shared: songs
    another user added from folders `user` may not read are left out (currentIndex still
    counts them), so that no foreign item is revealed."""
    st = await status(conn, settings)
    ids = (await _state(conn, lock=False))[0]
    if user.folder_ids is not None and ids:
        cur = await conn.execute("SELECT id FROM tracks WHERE id = ANY(%s) AND folder_id = ANY(%s)",
                                 (ids, list(user.folder_ids)))
        readable = {r[0] for r in await cur.fetchall()}
        ids = [i for i in ids if i in readable]
    return st, ids


async def _play(sock: Path, index: int, offset_s: int) -> None:
    await mpv.command(sock, "set_property", "pause", False)
    await mpv.command(sock, "playlist-play-index", index)
    if offset_s > 0:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        while await _prop(sock, "time-pos", None) is None and loop.time() < deadline:
            await asyncio.sleep(0.02)  # seeking needs the file opened
        await mpv.command(sock, "seek", offset_s, "absolute")


async def _live_index(sock: Path, saved: int) -> int:
    pos = await _prop(sock, "playlist-pos", saved)
    return int(pos) if int(pos) >= 0 else saved  # type: ignore[call-overload]


async def control(conn: AsyncConnection, settings: Settings, user: User, action: str, *,
                  track_ids: Sequence[int] = (), index: int | None = None, offset_s: int = 0,
                  gain: float | None = None) -> None:
    """Apply a jukeboxControl action other than get/status: set, add (track_ids), start,
    stop, skip (index, offset_s), clear, remove (index), shuffle, setGain (gain 0.0–1.0).
    Raises Unavailable (disabled, or mpv failed), BadParam (unknown action, bad gain, too
    many songs), MissingParam (index for skip/remove, gain for setGain), IndexOutOfRange
    (index outside the playlist), NotFound (a track the user cannot read)."""
    require_enabled(settings)
    if action not in ("set", "add", "start", "stop", "skip", "clear", "remove", "shuffle", "setGain"):
        raise BadParam("action", f"unknown jukebox action {action!r}")
    new_paths = await _paths(conn, settings, list(track_ids), user) if action in ("set", "add") else []
    ids, current, playing, saved_gain = await _state(conn, lock=True)
    sock = await _player(conn, settings)
    current = await _live_index(sock, current)
    if action == "set":
        if len(track_ids) > MAX_TRACKS:
            raise BadParam("id", f"more than {MAX_TRACKS} songs")
        ids, current = list(track_ids), 0 if track_ids else -1
        await _load(sock, new_paths)
        if playing and ids:
            await _play(sock, 0, 0)
        playing = playing and bool(ids)
    elif action == "add":
        if len(ids) + len(track_ids) > MAX_TRACKS:
            raise BadParam("id", f"the jukebox playlist holds at most {MAX_TRACKS} songs")
        for p in new_paths:
            await mpv.command(sock, "loadfile", p, "append")
        ids += track_ids
        if current < 0 and ids:
            current = 0
    elif action == "start":
        if ids:
            current = max(current, 0)
            idle = bool(await _prop(sock, "idle-active", True))
            if idle:
                await _play(sock, current, 0)
            else:
                await mpv.command(sock, "set_property", "pause", False)
            playing = True
    elif action == "stop":
        await mpv.command(sock, "set_property", "pause", True)
        playing = False
    elif action == "skip":
        if index is None:
            raise MissingParam("index")
        if not 0 <= index < len(ids):
            raise IndexOutOfRange("index", f"{index} is not an entry of the jukebox playlist")
        await _play(sock, index, offset_s)
        current, playing = index, True
    elif action == "clear":
        await _load(sock, [])
        ids, current, playing = [], -1, False
    elif action == "remove":
        if index is None:
            raise MissingParam("index")
        if not 0 <= index < len(ids):
            raise IndexOutOfRange("index", f"{index} is not an entry of the jukebox playlist")
        await mpv.command(sock, "playlist-remove", index)
        del ids[index]
        if index < current or current >= len(ids):
            current -= 1
        current = await _live_index(sock, current) if ids else -1
    elif action == "shuffle":
        order = list(range(len(ids)))
        random.shuffle(order)
        ids = [ids[i] for i in order]
        await _load(sock, await _paths(conn, settings, ids, None))
        current = 0 if ids else -1
        if playing and ids:
            await _play(sock, 0, 0)
    elif action == "setGain":
        if gain is None:
            raise MissingParam("gain")
        if not 0.0 <= gain <= 1.0:
            raise BadParam("gain", "must be between 0.0 and 1.0")
        await mpv.command(sock, "set_property", "volume", gain * 100)
        saved_gain = gain
    await _save(conn, ids, current, playing, saved_gain)


def close_player(settings: Settings) -> None:
    """Stop the mpv of `settings`' data directory if this process started it (app shutdown)."""
    proc = _STARTED.pop(_socket(settings), None)
    if proc is not None:
        mpv.stop(proc)


def close_players() -> None:
    """Stop every mpv this process started (app shutdown, and at exit)."""
    while _STARTED:
        _, proc = _STARTED.popitem()
        mpv.stop(proc)


atexit.register(close_players)
