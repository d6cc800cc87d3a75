"""What the benchmark records of the machine it ran on (CPU, RAM, disk, kernel, Python,
load) and the machine-wide disk-read counter (bench/run.py, bench/target.py)."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def machine_info(work: Path) -> dict[str, Any]:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    disk = "?"
    try:
        out = (
            subprocess.run(["df", "-hT", str(work)], capture_output=True, text=True)
            .stdout.splitlines()[-1]
            .split()
        )
        dev = out[0]
        rot = "?"
        name = Path(dev).name.rstrip("0123456789")
        rot_file = Path(f"/sys/block/{name}/queue/rotational")
        if rot_file.is_file():
            rot = "rotational" if rot_file.read_text().strip() == "1" else "non-rotational"
        disk = f"{dev} ({out[1]}, {out[2]}, {rot})"
    except (OSError, IndexError):
        pass
    commit = (
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or "?"
    )
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "disk": disk,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit + ("+local changes" if dirty else ""),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


def disk_read_mb() -> float:
    """MB read from block devices so far, machine-wide (/proc/vmstat pgpgin is in KiB)."""
    for line in Path("/proc/vmstat").read_text().splitlines():
        if line.startswith("pgpgin "):
            return int(line.split()[1]) / 1024
    return 0.0
