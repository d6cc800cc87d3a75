"""A minimal client of mpv's JSON IPC (https://mpv.io/manual/stable/#json-ipc) and the
spawning of the one mpv a server owns.

Protocol: newline-delimited JSON over a Unix socket. A request is
`{"command": [name, args...], "request_id": n}`; the reply carries the same request_id
and `error` ("success" or a reason) and `data`. Event lines (no request_id) are skipped.
One connection per command keeps workers independent (mpv serves many clients at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from orbsonic.errors import Unavailable

log = logging.getLogger("orbsonic.jukebox")
TIMEOUT_S = 5.0  # per command: mpv answers at once unless it is wedged


class PlayerError(Unavailable):
    """mpv is not running, did not start, or refused a command. The message is safe to show."""


async def command(socket_path: Path, *args: Any) -> Any:
    """Run one mpv command (`command(sock, "get_property", "pause")`) and return its `data`.
    Raises PlayerError when no mpv listens on `socket_path` or the command fails."""
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(str(socket_path)), TIMEOUT_S)
    except (TimeoutError, OSError) as e:
        raise PlayerError("the jukebox player is not running") from e
    try:
        writer.write(json.dumps({"command": list(args), "request_id": 1}).encode() + b"\n")
        await writer.drain()
        while True:
            line = await asyncio.wait_for(reader.readline(), TIMEOUT_S)
            if not line:
                raise PlayerError("the jukebox player closed the connection")
            msg = json.loads(line)
            if msg.get("request_id") == 1:
                break
    except (TimeoutError, OSError, ValueError) as e:
        raise PlayerError(f"the jukebox player did not answer ({type(e).__name__})") from e
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if msg.get("error") != "success":
        raise PlayerError(f"the jukebox player refused {args[0]}: {msg.get('error')}")
    return msg.get("data")


async def alive(socket_path: Path) -> bool:
    """True when an mpv answers on `socket_path`."""
    try:
        await command(socket_path, "get_property", "idle-active")
        return True
    except PlayerError:
        return False


async def spawn(mpv: str, socket_path: Path, audio_output: str,
                wait_s: float = 10.0) -> subprocess.Popen[bytes]:
    """Start `mpv --idle --no-video --ao=<audio_output> --input-ipc-server=<socket_path>` and wait
    until it answers. Raises PlayerError when it cannot be started or does not answer in `wait_s`."""
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()  # a stale socket of a player that died
    argv = [mpv, "--idle=yes", "--no-video", "--no-terminal", "--no-config", "--keep-open=no",
            f"--input-ipc-server={socket_path}"]
    if audio_output:
        argv.append(f"--ao={audio_output}")
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
    except OSError as e:
        raise PlayerError(f"cannot start the jukebox player {mpv!r}: {e.strerror}") from e
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        if proc.poll() is not None:
            raise PlayerError(f"the jukebox player exited at start (status {proc.returncode})")
        if await alive(socket_path):
            log.info("jukebox: mpv started (pid %s, socket %s)", proc.pid, socket_path)
            return proc
        await asyncio.sleep(0.05)
    stop(proc)
    raise PlayerError("the jukebox player did not start in time")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate an mpv this process started (kill after 3 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(3)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def socket_of(data_dir: Path) -> Path:
    """The socket of the server's mpv: one per data directory (a Unix socket path is limited
    to 107 bytes; a long data dir falls back to a hashed name in the runtime directory)."""
    path = data_dir / "jukebox" / "mpv.sock"
    if len(os.fsencode(path)) < 100:
        return path
    import hashlib
    digest = hashlib.blake2b(os.fsencode(data_dir.resolve()), digest_size=8).hexdigest()
    return Path(os.environ.get("XDG_RUNTIME_DIR") or "/tmp") / f"orbsonic-jukebox-{digest}.sock"
