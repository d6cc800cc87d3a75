"""ffmpeg as an asyncio subprocess, with a concurrency limit shared by the workers.

The output is read from a pipe as the client takes it: when the client is slow, the pipe
fills and ffmpeg blocks (backpressure), so no file is ever buffered in the server. Every
process is killed and reaped (`FfmpegProcess.close`) when its response ends for any
reason — finished, failed, client gone — so there are no zombies. The input is the
already-opened, containment-checked file descriptor (`pass_fds` + `/proc/self/fd/N`):
ffmpeg never resolves the track's path itself (issue 6 §2).

The limit queues: a request waits up to `queue_wait_s` for a free slot, then fails with
TranscodeError (an error envelope, never a 5xx).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
from collections.abc import Sequence

from orbsonic.errors import TranscodeError
from orbsonic.kv.semaphore import Lease, MemorySemaphore, Semaphore
from orbsonic.transcode.decide import Format
from orbsonic.transcode.spawn import Child, spawn

log = logging.getLogger("orbsonic.transcode")
READ_CHUNK = 64 * 1024
FIRST_BYTE_TIMEOUT_S = 20.0  # a hung ffmpeg (unreadable input) is killed after this
STALL_TIMEOUT_S = 60.0  # no output for this long while the client waits: killed
# Niceness of an ffmpeg once its first bytes are out (`FfmpegProcess.started`). A fast reader
# keeps ffmpeg encoding at full speed, and 50 of them at nice 0 took the cores from the server
# and from every new ffmpeg still starting up: players pressing play then waited seconds
# for a first byte. Running encodes are far ahead of real time; the start and the event loop
# are what a listener waits on. Raising one's own niceness needs no privilege.
RUNNING_NICE = 10


@functools.lru_cache(maxsize=8)
def find_ffmpeg(setting: str = "") -> str | None:
    """The ffmpeg to use: the `ffmpeg` setting, else `ffmpeg` on the PATH, else the
    imageio-ffmpeg wheel's binary when installed; None when there is none."""
    if setting:
        return shutil.which(setting) or (setting if os.access(setting, os.X_OK) else None)
    exe = shutil.which("ffmpeg")
    if exe:
        return exe
    try:
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except Exception:  # noqa: BLE001  (not installed, or no binary for this platform)
        return None


# What each muxer keeps besides the audio (ffmpeg 5.1). An attached picture goes into MP3
# (ID3v2 APIC), FLAC (PICTURE block) and MP4 (covr); the Ogg muxer takes none. ID3v2 with
# an APIC needs a seek back to write its size: on a pipe the size leaves the picture out,
# which orbsonic/transcode/mp3head.py corrects as the stream passes (with the Info frame).
_PICTURE = frozenset({"mp3", "flac", "ipod"})
_PIPE_PICTURE = frozenset({"mp3", "flac", "ipod"})
# Muxer options for a seekable file (the cache entry) and for a pipe. The MP3 muxer writes
# its Xing/LAME frame (frame count, encoder delay and padding: gapless) only to seekable
# output; MP4 needs a fragmented layout with an empty moov to be written to a pipe, and
# `+faststart` (moov first) in a file so that a player can start before the end.
_FILE_OPTS = {"mp3": {"id3v2_version": "3"}, "ipod": {"movflags": "+faststart"}}
_PIPE_OPTS = {"mp3": {"id3v2_version": "3"},  # ID3v2.3: what older players (DSub) read best
              "ipod": {"movflags": "frag_keyframe+empty_moov+default_base_moof"}}


def followable(target: Format) -> bool:
    """Whether a cache entry of `target` can be streamed while ffmpeg still writes it: MP4
    cannot (its index moves to the front at the end); for the others only the header
    (MP3's Xing frame, FLAC's STREAMINFO) is rewritten at the end."""
    return target.container != "ipod"


def command(exe: str, input_path: str, target: Format, kbps: int, *, offset_s: int = 0,
            source_rate: int = 0, channels: int = 0, duration_s: int = 0,
            picture: bool = False, cache_fd: int | None = None) -> list[str]:
    """The ffmpeg argument list that writes `target` at `kbps` kbit/s to stdout.

    `-map 0:a:0`: the first audio stream; `picture` (the source embeds a cover) adds its
    first picture stream where the muxer keeps one; `-map_metadata 0`: tags kept where
    the muxer can write them; `-ss` before `-i`: a fast input seek (timeOffset). Sources
    above the encoder's highest rate are resampled to 48 kHz, no other resampling;
    `channels` > 0 downmixes; `duration_s` > 0 stops there (an HLS segment, whose MPEG-TS
    timestamps are shifted to its place in the song). `-threads 1`: one core per
    transcode, so many run side by side.

    `cache_fd` (an open descriptor passed to ffmpeg): one encode, two outputs (the `tee`
    muxer) — the complete file with picture and gapless header into that descriptor
    (`/proc/self/fd/N` opens the cache entry itself: seekable), and the pipe to stdout.
    """
    args = [exe, "-hide_banner", "-loglevel", "error", "-nostdin", "-threads", "1"]
    if offset_s > 0:
        args += ["-ss", str(offset_s)]
    pipe_picture = picture and target.container in _PIPE_PICTURE
    with_picture = pipe_picture or (picture and cache_fd is not None and target.container in _PICTURE)
    remote = input_path.startswith(("http://", "https://"))  # an S3 object's presigned URL
    args += ["-i", input_path if remote else f"file:{input_path}", "-map", "0:a:0"]
    if with_picture:
        args += ["-map", "0:v:0?", "-c:v", "copy", "-disposition:v:0", "attached_pic"]
    else:
        args += ["-vn"]
    args += ["-map_metadata", "0", "-threads", "1", "-c:a", target.codec]
    if kbps:
        args += ["-b:a", f"{kbps}k"]
    if source_rate > target.max_rate_hz:
        args += ["-ar", "48000"]
    if channels > 0:
        args += ["-ac", str(channels)]
    if duration_s > 0:
        args += ["-t", str(duration_s)]
    if target.container == "mpegts":
        args += ["-output_ts_offset", str(offset_s), "-muxdelay", "0", "-muxpreload", "0"]
    pipe_opts = dict(_PIPE_OPTS.get(target.container, {}))
    if cache_fd is None:
        for name, value in pipe_opts.items():
            args += [f"-{name}", value]
        return args + ["-f", target.container, "pipe:1"]
    if with_picture and not pipe_picture:
        pipe_opts["select"] = "a"  # the picture into the file only
    file_opts = _FILE_OPTS.get(target.container, {})

    def slave(opts: dict[str, str], url: str) -> str:
        spec = ":".join(f"{k}={v}" for k, v in {"f": target.container, **opts}.items())
        return f"[{spec}]{url}"

    return args + ["-f", "tee", slave(file_opts, f"/proc/self/fd/{cache_fd}") + "|" + slave(pipe_opts, "pipe:1")]


class FfmpegProcess:
    """One running ffmpeg. Read its output with `read`; always `close` it (idempotent)."""

    def __init__(self, proc: Child, lease: Lease,
                 registry: dict[int, FfmpegProcess]) -> None:
        self.proc = proc
        self.pid = proc.pid
        self._lease = lease
        self._registry = registry
        self._stderr = bytearray()
        self._stderr_task = asyncio.create_task(self._drain_stderr())
        self._closed = False
        registry[self.pid] = self

    async def _drain_stderr(self) -> None:
        """Keep reading stderr (a full stderr pipe would block ffmpeg); keep the last 2 KB."""
        assert self.proc.stderr is not None
        while chunk := await self.proc.stderr.read(4096):
            self._stderr += chunk
            del self._stderr[:-2048]

    @property
    def error_text(self) -> str:
        """ffmpeg's last error lines (for logs and error envelopes, no paths of ours)."""
        lines = bytes(self._stderr).decode("utf-8", "replace").strip().splitlines()
        return lines[-1][:200] if lines else ""

    def started(self) -> None:
        """Its first bytes are out: from now on it runs at RUNNING_NICE (lower priority than
        the server and than processes still starting). Best effort: a process already gone
        or a platform without priorities keeps what it has."""
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, self.pid, RUNNING_NICE)

    async def read(self, timeout: float = STALL_TIMEOUT_S) -> bytes:
        """The next chunk of output (≤ 64 KB); b"" at the end. Raises TranscodeError when
        ffmpeg produces nothing for `timeout` seconds."""
        assert self.proc.stdout is not None
        try:
            return await asyncio.wait_for(self.proc.stdout.read(READ_CHUNK), timeout)
        except TimeoutError:
            raise TranscodeError("the transcoder stalled") from None

    async def finish(self) -> int:
        """Wait for ffmpeg to exit after its output ended; its exit status."""
        rc = await self.proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._stderr_task, 5)
        return rc

    async def close(self) -> None:
        """Kill ffmpeg if it still runs, reap it, free its slot. Safe to call twice; shielded
        from cancellation so a client disconnect cannot leave a zombie."""
        if self._closed:
            return
        self._closed = True
        await asyncio.shield(self._close())

    async def _close(self) -> None:
        try:
            if self.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
            await self.proc.wait()
            self._stderr_task.cancel()
            self.proc.close_pipes()
        finally:
            self._registry.pop(self.pid, None)
            await self._lease.release()


class Transcoder:
    """Starts ffmpeg processes, at most `slots.limit` at once on this machine: the slots
    are a kv semaphore (orbsonic.kv.semaphore) shared by every worker, with leases that
    expire when a worker dies.

    `running` maps pid → process (what this worker transcodes now), `started` counts them
    all (tests and `check` read both).
    """

    def __init__(self, exe: str | None, slots: Semaphore | int, queue_wait_s: float) -> None:
        self.exe = exe
        self.slots: Semaphore = MemorySemaphore(slots) if isinstance(slots, int) else slots
        self.max_concurrent = self.slots.limit
        self.queue_wait_s = max(0.0, queue_wait_s)
        self.running: dict[int, FfmpegProcess] = {}
        self.started = 0  # processes started since the app started

    @property
    def available(self) -> bool:
        return self.exe is not None

    async def start(self, args: Sequence[str], pass_fds: Sequence[int] = ()) -> FfmpegProcess:
        """Run `args` (from `command`) with stdout piped. Waits for a free slot up to
        `queue_wait_s`; raises TranscodeError when none frees up or ffmpeg cannot start."""
        lease = await self.slots.acquire(self.queue_wait_s)
        if lease is None:
            raise TranscodeError(f"all {self.max_concurrent} transcoding slots are busy; "
                                 "try again shortly")
        try:
            proc = await spawn(args, pass_fds)  # not uvloop's fork of the server (spawn.py)
        except BaseException as exc:
            await lease.release()
            if isinstance(exc, OSError):
                log.error("cannot start ffmpeg %s: %s", args[0], exc)
                raise TranscodeError("the transcoder cannot be started") from None
            raise
        self.started += 1
        return FfmpegProcess(proc, lease, self.running)
