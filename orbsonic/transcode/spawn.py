"""Start a child process from the event loop without forking the server.

uvloop's `create_subprocess_exec` forks the whole server process (libuv's uv_spawn) on the
event loop thread: 50–125 ms per ffmpeg for a 150 MB worker on this machine, during which
the loop serves nobody. 50 players pressing play at once on `serve --workers 2` waited in
line behind 25 such forks each: first bytes after 10–25 s, and every running stream stalled
meanwhile (issue 8). `subprocess.Popen` starts the child with vfork (CPython ≥ 3.10 on
Linux): 1–2 ms, the parent's memory is never copied. Its pipes are then read as asyncio
streams, and its exit is watched through a pidfd on the loop (Linux ≥ 5.3; elsewhere a
short poll), so no thread waits per child.

`spawn` returns a `Child` with the part of asyncio.subprocess.Process that
orbsonic.transcode.ffmpeg uses: `pid`, `stdout`/`stderr` (StreamReader), `returncode`,
`kill()`, `await wait()`, and `close_pipes()` (asyncio's Process closes them itself).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Sequence

POLL_S = 0.05  # exit polling where there is no pidfd
STREAM_LIMIT = 64 * 1024  # asyncio.subprocess's: the same backpressure as before


class Child:
    """A started child: its output streams and its exit (see the module doc)."""

    def __init__(self, popen: subprocess.Popen[bytes], stdout: asyncio.StreamReader,
                 stderr: asyncio.StreamReader, transports: list[asyncio.BaseTransport]) -> None:
        self._popen = popen
        self.pid = popen.pid
        self.stdout, self.stderr = stdout, stderr
        self._transports = transports
        self._exited: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._watch()

    @property
    def returncode(self) -> int | None:
        return self._popen.returncode

    def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            fd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):
            loop.create_task(self._poll())
            return

        def exited() -> None:
            loop.remove_reader(fd)
            os.close(fd)
            self._reap()

        loop.add_reader(fd, exited)

    async def _poll(self) -> None:
        while self._popen.poll() is None:
            await asyncio.sleep(POLL_S)
        self._reap()

    def _reap(self) -> None:
        rc = self._popen.wait()  # exited already: returns at once
        if not self._exited.done():
            self._exited.set_result(rc)

    def kill(self) -> None:
        """SIGKILL (ProcessLookupError when it is gone, as asyncio's Process raises)."""
        if self._popen.returncode is not None:
            raise ProcessLookupError(self.pid)
        self._popen.kill()

    async def wait(self) -> int:
        """Its exit status, once it exited and was reaped."""
        return await asyncio.shield(self._exited)

    def close_pipes(self) -> None:
        """Close both pipes (what was not read is dropped). Call once done with the child:
        a pipe paused with unread output would otherwise stay open."""
        for transport in self._transports:
            transport.close()


async def spawn(args: Sequence[str], pass_fds: Sequence[int] = ()) -> Child:
    """Start `args` with stdin from /dev/null, stdout and stderr piped, `pass_fds` kept
    open in the child (close_fds for everything else). Raises OSError when it cannot be
    started (no such program, …), like asyncio.create_subprocess_exec."""
    loop = asyncio.get_running_loop()
    popen = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, pass_fds=tuple(pass_fds), close_fds=True)
    transports: list[asyncio.BaseTransport] = []
    streams = []
    try:
        for pipe in (popen.stdout, popen.stderr):
            reader = asyncio.StreamReader(limit=STREAM_LIMIT)
            transport, _ = await loop.connect_read_pipe(lambda r=reader: asyncio.StreamReaderProtocol(r), pipe)
            transports.append(transport)
            streams.append(reader)
    except BaseException:
        popen.kill()
        popen.wait()
        for transport in transports:
            transport.close()
        raise
    return Child(popen, streams[0], streams[1], transports)
