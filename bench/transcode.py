"""Transcoding and cover figures (issue 8): time to first byte of a cold transcode, many
concurrent real-time transcodes, a cached transcode against the original, a cold cover at a
pre-sized size.

The source is one 2-minute 44.1 kHz stereo FLAC of pink noise (the encoders' hard case;
ReplayGain-tagged so the loudness job skips it), hard-linked `COPIES` times into a music
folder of its own: every copy is its own track, so every request below is its own ffmpeg
and its own cache entry, at no disk cost.

* TTFB: a request for a track not transcoded yet, from the GET to the first audio byte,
  then the connection is closed (the server kills ffmpeg and discards the partial entry).
* Concurrent: `clients` players start at once, each on its own track, each reading as fast
  as the server sends for `seconds` after its first byte; per client, seconds of audio
  received (CBR: bytes × 8 / bitrate) over those wall seconds. Every client must stay above
  1× ("no client starved"); their times to first byte are reported beside.
* Cached vs original: one full transcode, then the cache entry (whole) and the original
  FLAC (a Range of the entry's length: the same bytes to move), MB/s and time to first byte.
* Cold cover at a pre-sized size: after the `covers.thumbnails` job has run, every album
  cover once at size 300 (made by the job, never requested).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from bench.load import Connection, percentile, run_load

COPIES = 64
SOURCE_S = 120
TITLE = "Transcode Bench"


def transcode_folder(work: Path, copies: int = COPIES) -> Path:
    """A folder of `copies` hard links of one FLAC (made once). Returns the folder."""
    folder = work / "transcode"
    src = work / "transcode-source.flac"
    if not src.is_file():
        tmp = src.with_suffix(".tmp.flac")
        noise = (f"anoisesrc=c=pink:a=0.1:d={SOURCE_S}:r=44100:seed=1[l];"
                 f"anoisesrc=c=pink:a=0.1:d={SOURCE_S}:r=44100:seed=2[r];[l][r]amerge=inputs=2")
        meta = {"title": TITLE, "artist": "Bench Noise", "album": TITLE, "REPLAYGAIN_TRACK_GAIN": "-6.00 dB",
                "REPLAYGAIN_TRACK_PEAK": "0.5", "REPLAYGAIN_ALBUM_GAIN": "-6.00 dB", "REPLAYGAIN_ALBUM_PEAK": "0.5"}
        subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-filter_complex", noise,
                        *[x for k, v in meta.items() for x in ("-metadata", f"{k}={v}")], "-c:a", "flac",
                        str(tmp)], check=True)
        tmp.rename(src)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(copies):
        link = folder / f"{i + 1:03d} {TITLE}.flac"
        if not link.exists():
            link.hardlink_to(src)
    return folder


async def _first_byte(host: str, port: int, path: str, timeout: float = 30) -> tuple[int, float]:
    """(status, seconds from sending the GET to the first body byte); the connection is then
    dropped, as a player does that skips."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status = int((await asyncio.wait_for(reader.readline(), timeout)).split()[1])
        chunked = False
        while (line := await asyncio.wait_for(reader.readline(), timeout)) not in (b"\r\n", b""):
            chunked |= line.lower().startswith(b"transfer-encoding: chunked")
        if chunked:
            await asyncio.wait_for(reader.readline(), timeout)  # the first chunk's size line
        await asyncio.wait_for(reader.readexactly(1), timeout)
        return status, time.perf_counter() - t0
    finally:
        writer.close()


async def _player(host: str, port: int, path: str, seconds: float, kbps: int) -> dict[str, Any]:
    """Read `path` as fast as it comes for `seconds` after its first byte (or to its end):
    time to first byte, and audio seconds received over wall seconds since that byte."""
    t0 = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    got, status, done = 0, 0, False
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        status = int((await reader.readline()).split()[1])
        while await reader.readline() not in (b"\r\n", b""):
            pass
        first = time.perf_counter()  # the server sends its headers with ffmpeg's first bytes
        stop = first + seconds
        while (left := stop - time.perf_counter()) > 0:
            try:
                data = await asyncio.wait_for(reader.read(256 * 1024), left)
            except TimeoutError:
                break
            if not data:
                done = True
                break
            got += len(data)  # chunk framing counted too: < 0.1 % of 64 KB chunks
    finally:
        writer.close()
    wall = time.perf_counter() - first
    audio_s = got * 8 / (kbps * 1000)
    return {"status": status, "bytes": got, "ttfb_s": first - t0, "wall_s": wall,
            "ratio": audio_s / wall if wall else 0.0, "finished": done}


_COVERS_WORKER = ("import asyncio, sys\n"
                  "from orbsonic.jobs import worker\n"
                  "asyncio.run(worker.run(sys.argv[1], queues=['covers'], wait=False,"
                  " install_signal_handlers=False))\n")


async def _thumbnails_done(url: str, timeout: float, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run the `covers` queue to empty, then wait until no covers.thumbnails job is queued or
    running (the scans queued one; the worker deletes it when it succeeds); the seconds waited
    and what jobs are left. The bench server runs without its job worker (bench/target.py:
    no analysis under the API figures), so the thumbnails get a worker of their own, with the
    server's environment (data dir, cover settings), that stops when the queue is empty."""
    t0 = time.perf_counter()
    counts: dict[str, int] = {}
    if env is not None:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _COVERS_WORKER, url, env=env,
                                                    stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.DEVNULL)
        try:
            await asyncio.wait_for(proc.wait(), timeout)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        while time.perf_counter() - t0 < timeout:
            cur = await conn.execute("""SELECT status::text, count(*) FROM procrastinate_jobs
                                         WHERE task_name = 'covers.thumbnails' GROUP BY 1""")
            counts = {status: n for status, n in await cur.fetchall()}
            if not counts.get("todo") and not counts.get("doing"):  # succeeded jobs are deleted
                break
            await asyncio.sleep(0.5)
    return {"waited_s": round(time.perf_counter() - t0, 1), "jobs": counts}


def _files(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")) if folder.is_dir() else 0


async def transcode_phase(host: str, port: int, api: Any, covers: list[str], db_url: str, *,
                          quick: bool, log: Any, clients: int = 50,
                          cover_cache: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Every figure of the module docstring ({"ttfb", "concurrent", "cached", "cover_presized"})."""
    out: dict[str, Any] = {}
    found = await api.call("search3", query=TITLE, songCount=COPIES + 10, albumCount=0, artistCount=0)
    songs = [s["id"] for s in found.get("searchResult3", {}).get("song", []) if s.get("title") == TITLE]
    await api.close()
    if len(songs) < clients + 4:
        raise RuntimeError(f"only {len(songs)} transcode bench tracks in the library")
    stream = lambda sid, **kw: api.path("stream", id=sid, **kw)  # noqa: E731

    # ---- cold cover at a pre-sized size
    waited = await _thumbnails_done(db_url, 600, env)
    paths = [api.path("getCoverArt", id=c, size=300) for c in covers[: (100 if quick else 1000)]]
    sized = cover_cache / "300" if cover_cache else None
    before = _files(sized) if sized else 0
    res = await run_load(host, port, paths, concurrency=1, max_requests=len(paths), seconds=3600,
                         keep_body=True, max_seconds=600)
    lat = sorted(res.latencies)
    out["cover_presized"] = {"requests": res.requests, "errors": res.errors, "thumbnail_job": waited,
                             # files the requests made: 0 when the job had made them all
                             "resized_on_request": _files(sized) - before if sized else None,
                             "p50_ms": round(percentile(lat, 50) * 1000, 2),
                             "p99_ms": round(percentile(lat, 99) * 1000, 2)}
    log(f"  cold cover at a pre-sized size: {out['cover_presized']}")

    # ---- time to first byte of a cold transcode
    n = 3 if quick else 10
    out["ttfb"] = {}
    for label, fmt, kbps in (("mp3 320", "mp3", 320), ("opus 128", "opus", 128)):
        times, bad = [], 0
        for sid in songs[:n]:
            status, secs = await _first_byte(host, port, stream(sid, format=fmt, maxBitRate=kbps))
            if status != 200:
                bad += 1
            times.append(secs)
            await asyncio.sleep(0.2)  # the previous ffmpeg is reaped
        times.sort()
        out["ttfb"][label] = {"requests": n, "errors": bad, "p50_ms": round(percentile(times, 50) * 1000, 1),
                              "max_ms": round(times[-1] * 1000, 1)}
        log(f"  transcode TTFB {label}: {out['ttfb'][label]}")

    # ---- concurrent real-time transcodes
    seconds = 5.0 if quick else 20.0
    out["concurrent"] = {}
    for label, fmt, kbps in (("mp3 192", "mp3", 192), ("opus 128", "opus", 128)):
        # timeOffset=1: a live transcode, never a cache entry, so each client is its own ffmpeg
        players = await asyncio.gather(*(_player(host, port, stream(sid, format=fmt, maxBitRate=kbps,
                                                                    timeOffset=1), seconds, kbps)
                                         for sid in songs[:clients]))
        ratios = sorted(p["ratio"] for p in players)
        ttfbs = sorted(p["ttfb_s"] for p in players)
        out["concurrent"][label] = {
            "clients": clients, "seconds": seconds, "errors": sum(p["status"] != 200 for p in players),
            "ttfb_p50_ms": round(percentile(ttfbs, 50) * 1000), "ttfb_max_ms": round(ttfbs[-1] * 1000),
            "ratio_min": round(ratios[0], 2), "ratio_p50": round(percentile(ratios, 50), 2),
            "ratio_max": round(ratios[-1], 2), "starved": sum(r < 1 for r in ratios),
            "finished": sum(p["finished"] for p in players)}
        log(f"  {clients} concurrent transcodes {label}: {out['concurrent'][label]}")
        await asyncio.sleep(1)

    # ---- a cached transcode against the original
    sid = songs[-1]
    cached_path, original_path = stream(sid, format="mp3", maxBitRate=320), stream(sid)
    conn = Connection(host, port, timeout=300)
    try:
        first = await conn.get(cached_path, keep_body=False)  # produces the entry
        if first.status != 200:
            raise RuntimeError(f"transcode answered {first.status}")
        side: dict[str, Any] = {"first_transcode_s": round(first.seconds, 2)}
        size = (await conn.get(cached_path, keep_body=False)).length  # the entry (not the pipe's bytes)
        # the original's first bytes, as many as the entry has: throughput at equal size
        same = {"Range": f"bytes=0-{size - 1}"}
        for name, path, hdrs, want in (("cached", cached_path, None, 200), ("original", original_path, same, 206)):
            replies = [await conn.get(path, hdrs, keep_body=False) for _ in range(5 if quick else 20)]
            if any(r.status != want or r.length != size for r in replies):
                raise RuntimeError(f"{name} answered {[(r.status, r.length) for r in replies]}")
            tt = sorted(r.ttfb for r in replies)
            rates = sorted(r.length / 1e6 / r.seconds for r in replies)
            side[name] = {"bytes": replies[0].length, "length_header": "content-length" in replies[-1].headers,
                          "ttfb_p50_ms": round(percentile(tt, 50) * 1000, 2),
                          "mb_s_median": round(percentile(rates, 50), 1)}
        out["cached"] = side
    finally:
        await conn.close()
    log(f"  cached transcode vs original: {out['cached']}")
    return out


def targets(main: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """The issue's targets this run measured: (target, measured, met)."""
    tr = main.get("transcode")
    if not tr:
        return []
    out: list[tuple[str, str, bool | None]] = []
    for label, r in tr["ttfb"].items():
        out.append((f"Transcode time to first byte ≤ 300 ms, FLAC → {label} (p50)",
                    f"{r['p50_ms']:.0f} ms (max {r['max_ms']:.0f} ms, {r['requests']} cold requests)",
                    r["p50_ms"] <= 300 and not r["errors"]))
    for label, r in tr["concurrent"].items():
        out.append((f"≥ 50 concurrent real-time transcodes ({label}), no client starved",
                    f"{r['clients']} clients: slowest {r['ratio_min']:.2f}× real time, median "
                    f"{r['ratio_p50']:.2f}×, {r['starved']} below 1×, {r['errors']} errors",
                    r["clients"] >= 50 and not r["starved"] and not r["errors"]))
    c = tr["cached"]
    out.append(("A cached transcode served at the speed of an original",
                f"{c['cached']['mb_s_median']:,.0f} MB/s vs {c['original']['mb_s_median']:,.0f} MB/s; TTFB "
                f"{c['cached']['ttfb_p50_ms']:.2f} vs {c['original']['ttfb_p50_ms']:.2f} ms",
                c["cached"]["ttfb_p50_ms"] <= max(2 * c["original"]["ttfb_p50_ms"], 5)))
    cv = tr["cover_presized"]
    out.append(("Cold cover at a pre-sized size ≤ 5 ms (p50)",
                f"{cv['p50_ms']:.2f} ms ({cv['requests']} covers, {cv.get('resized_on_request')} resized on request)",
                cv["p50_ms"] <= 5 and not cv["errors"] and not cv.get("resized_on_request")))
    return out


def section(main: dict[str, Any]) -> list[str]:
    """The RESULTS.md section of these figures."""
    tr = main.get("transcode")
    if not tr:
        return []
    L = ["## Transcoding and covers", "", "| figure | value |", "|---|---|"]
    for label, r in tr["ttfb"].items():
        L.append(f"| cold transcode FLAC → {label}, time to first byte (p50 / max of {r['requests']}) | "
                 f"{r['p50_ms']:.0f} / {r['max_ms']:.0f} ms |")
    for label, r in tr["concurrent"].items():
        L.append(f"| {r['clients']} concurrent live transcodes → {label}, {r['seconds']:.0f} s: audio received / "
                 f"wall time (slowest / median / fastest) | {r['ratio_min']:.2f}× / {r['ratio_p50']:.2f}× / "
                 f"{r['ratio_max']:.2f}× ({r['starved']} below 1×, {r['errors']} errors) |")
        L.append(f"| … their time to first byte, all starting at once (p50 / max) | "
                 f"{r['ttfb_p50_ms']:,} / {r['ttfb_max_ms']:,} ms |")
    c = tr["cached"]
    for name in ("cached", "original"):
        x = c[name]
        what = "cached MP3 320 transcode" if name == "cached" else "original FLAC, its first as many bytes"
        L.append(f"| {what} ({x['bytes'] / 1e6:.1f} MB): MB/s (median) · TTFB p50 | "
                 f"{x['mb_s_median']:,.0f} MB/s · {x['ttfb_p50_ms']:.2f} ms |")
    cv = tr["cover_presized"]
    L.append(f"| cold cover at a pre-sized size (300 px, made by the thumbnail job), c=1, p50 / p99 | "
             f"{cv['p50_ms']:.2f} / {cv['p99_ms']:.2f} ms ({cv['requests']} covers, {cv['errors']} errors, "
             f"{cv.get('resized_on_request')} resized on request) |")
    L += ["", f"Source: a {SOURCE_S} s 44.1 kHz stereo FLAC of pink noise, hard-linked as one track per client "
          "(bench/transcode.py). Concurrent clients read as fast as the server sends, with timeOffset=1 "
          "(live, uncached: one ffmpeg each); the server runs with transcode_max_concurrent=64.", ""]
    return L
