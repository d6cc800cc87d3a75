"""Orbsonic under test: its own embedded PostgreSQL in the bench work dir, `orbsonic scan`
and `orbsonic serve --no-scan` as subprocesses (so that files/s, peak RSS and server RSS
are those of the real commands).

    with BenchCluster(work / "pg") as cluster:
        url = cluster.fresh_database("bench_100000")
        orb = Orbsonic(url, work / "orbsonic-data-100000")
        report = orb.scan([library])               # wall time, files/s, peak RSS of the tree
        orb.serve(port); ...; orb.stop()
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from bench.load import TreeSampler, children, cpu_seconds, proc_status_kb
from orbsonic.db.embedded import EmbeddedPostgres

USER, PASSWORD = "bench", "bench-pass"
_SCAN_LINE = re.compile(
    r"scanned (\d+) folder\(s\) in ([\d.]+) s: (\d+) files, (\d+) read \((\d+) files/s\), "
    r"(\d+) added, (\d+) updated, (\d+) removed, (\d+) skipped"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BenchCluster:
    """The bench's PostgreSQL cluster (default settings: durable, 128 MB shared buffers)."""

    def __init__(self, cluster_dir: Path) -> None:
        self.pg = EmbeddedPostgres(cluster_dir)

    def __enter__(self) -> BenchCluster:
        self.pg.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.pg.stop()

    @property
    def url(self) -> str:
        return self.pg.url

    def fresh_database(self, name: str) -> str:
        """Drop and create database `name`; returns its URL."""
        admin = self.url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url.rsplit("/", 1)[0] + "/" + name

    def version(self) -> str:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        return str(row[0]) if row else "?"

    def postmaster_pid(self) -> int:
        text = (self.pg.data_dir / "postmaster.pid").read_text()
        return int(text.split()[0])

    def cpu_seconds(self) -> float:
        """CPU time of the postmaster and all its backends so far (those alive now)."""
        pid = self.postmaster_pid()
        return cpu_seconds([pid, *children(pid)])


class Orbsonic:
    def __init__(self, url: str, data_dir: Path, *, workers: int = 1,
                 extra_env: dict[str, str] | None = None) -> None:
        self.url, self.data_dir, self.workers = url, data_dir, workers
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ORBSONIC_")}
        env.update(
            DATABASE_URL=self.url,
            ORBSONIC_DATA_DIR=str(self.data_dir),
            ORBSONIC_LOG_LEVEL="WARNING",
            ORBSONIC_ADMIN_USER=USER,
            ORBSONIC_ADMIN_PASSWORD=PASSWORD,
            PYTHONUNBUFFERED="1",
            # No background jobs while measuring: the loudness analysis of a fresh 10k library
            # (ffmpeg per track, minutes of both cores) would run under every API figure, and the
            # peers do no such work. Their answers carry ReplayGain from tags only, like the peers'.
            ORBSONIC_JOB_WORKER="false",
        )
        env.update(self.extra_env)
        return env

    def reset_data_dir(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)

    def scan(self, folders: list[Path], *, full: bool = False) -> dict[str, Any]:
        """Run `orbsonic scan` and sample its process tree; returns the figures."""
        cmd = [sys.executable, "-m", "orbsonic", "scan", "--quiet", *map(str, folders)]
        if full:
            cmd.append("--full")
        from bench.machine import disk_read_mb

        d0 = disk_read_mb()
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        with TreeSampler(proc.pid) as sampler:
            out, err = proc.communicate()
        wall = time.perf_counter() - t0
        disk = disk_read_mb() - d0
        text = out.decode(errors="replace")
        if proc.returncode != 0:
            raise RuntimeError(f"orbsonic scan failed ({proc.returncode}):\n{text}\n{err.decode()[-3000:]}")
        m = _SCAN_LINE.search(text)
        if not m:
            raise RuntimeError(f"unexpected scan output: {text!r}")
        files, read, seconds = int(m.group(3)), int(m.group(4)), float(m.group(2))
        return {
            "wall_s": round(wall, 2),
            "scan_s": seconds,
            "files": files,
            "read": read,
            "added": int(m.group(6)),
            "updated": int(m.group(7)),
            "removed": int(m.group(8)),
            "skipped": int(m.group(9)),
            "files_per_s": round(read / wall, 1) if read else 0.0,
            "peak_rss_mb": round(sampler.peak_rss_kb / 1024, 1),
            "peak_pss_mb": round(sampler.peak_pss_kb / 1024, 1),
            "main_hwm_mb": round(sampler.root_hwm_kb / 1024, 1),
            "processes": sampler.max_procs,
            "disk_read_mb": round(disk),
            "warnings": err.decode(errors="replace").count("warning"),
        }

    def serve(self, port: int | None = None, timeout: float = 60) -> int:
        self.port = port or free_port()
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115  (closed with the process)
        cmd = [
            sys.executable,
            "-m",
            "orbsonic",
            "serve",
            "--no-scan",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
        ]
        if self.workers > 1:
            cmd += ["--workers", str(self.workers)]
        self.proc = subprocess.Popen(cmd, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        wait_http(self.port, "/rest/ping.view", timeout, self.proc)
        return self.port

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid, *children(self.proc.pid)]

    def rss_mb(self) -> float:
        return sum(proc_status_kb(p, "VmRSS") for p in self.pids()) / 1024

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def wait_http(port: int, path: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Wait until the server answers `path` with any HTTP response."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
                if s.recv(12).startswith(b"HTTP/"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"no answer on port {port} within {timeout} s")
