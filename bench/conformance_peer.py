"""Run the conformance suite against supysonic 0.7.9 on the generated test library.

    .venv/bin/python -m bench.conformance_peer [--work DIR] [--port P]

Builds the test library (bench.libgen.build_test_library), installs supysonic into
``WORK/supysonic-venv`` (bench.peer, shared/docs/infra-notes.md §7), scans it, serves it on a
loopback port, runs ``python -m conformance`` against it and prints the report as the Markdown
table the README's "Conformance suite" section quotes (the JSON report is kept in WORK).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.libgen import build_test_library
from bench.peer import PASSWORD, USER, Supysonic, ensure_supysonic


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("bench/out/conformance-peer"))
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    library = work / "library"
    if not library.is_dir():
        build_test_library(library)
    venv = ensure_supysonic(work)
    port = args.port or _free_port()
    with Supysonic(venv, work / "supysonic-home", library) as peer:
        peer.prepare()
        peer.scan()
        # startScan/getScanStatus talk to supysonic's daemon (infra-notes §7 runs without it).
        daemon = subprocess.Popen([str(venv / "bin" / "supysonic-daemon")], cwd=peer.home, env=peer._env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        peer.serve(port)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/rest/ping.view", timeout=2)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        report = work / "supysonic-report.json"
        proc = subprocess.run([sys.executable, "-m", "conformance", base, "--user", USER, "--password",
                               PASSWORD, "--json", str(report)], capture_output=True, text=True)
        daemon.terminate()
        daemon.wait(10)
    print(proc.stdout)
    from conformance.report import markdown
    from conformance.runner import Row

    data = json.loads(report.read_text())
    rows = []
    for item in data["rows"]:
        row = Row(item["name"], item["kind"])
        if item["status"] == "pass":
            row.passes, row.notes = 1, [item["reason"]] if item["reason"] else []
        elif item["status"] == "fail":
            row.failures = item["failures"]
        elif item["status"] == "n/i":
            row.not_implemented = True
        else:
            row.skipped = item["reason"]
        rows.append(row)
    print(markdown(rows))
    print(data["summary"])
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
