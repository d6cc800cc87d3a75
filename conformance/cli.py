"""``python -m conformance URL --user U --password P [--api-key K] [--json REPORT]``.

Runs every check against the Subsonic server at URL and prints one row per endpoint and per
check, then a summary line. Exit status: 0 when nothing failed, 1 when something did, 2 when
the server cannot be reached or refuses the credentials (nothing else can be judged then).

Order: ping (agreeing on a protocol version: a server that answers 30 "server must upgrade" is
retried with the version it reports), the envelope kind (OpenSubsonic or plain Subsonic, which
selects the schemas), ``getOpenSubsonicExtensions``, fixture discovery, the endpoint probes,
the binary endpoints, auth modes, error codes, Range, then the round trips (which clean up).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from conformance.checks import check_auth, check_errors, check_ranges
from conformance.client import Server
from conformance.fixtures import discover
from conformance.probes import probe_binary, run_probes
from conformance.report import as_json, render, summary
from conformance.roundtrips import run_round_trips
from conformance.runner import Runner

__all__ = ["EXTENSION_ENDPOINTS", "main", "run"]

# Endpoints an advertised extension promises (OpenSubsonic extension pages).
EXTENSION_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "sonicSimilarity": ("getSonicSimilarTracks", "findSonicPath"),
    "indexBasedQueue": ("getPlayQueueByIndex", "savePlayQueueByIndex"),
    "getPodcastEpisode": ("getPodcastEpisode",),
    "songLyrics": ("getLyricsBySongId",),
    "transcoding": ("getTranscodeDecision", "getTranscodeStream"),
    "apiKeyAuthentication": ("tokenInfo",),
}


def _preflight(r: Runner) -> str | None:
    """Agree on a version, read the envelope kind and the extensions; an error text or None."""
    s = r.server
    try:
        answer = s.call("ping")
    except httpx.HTTPError as exc:
        return f"cannot reach {s.rest}: {exc}"
    if answer.status == "failed" and answer.code == 30 and answer.envelope:
        s.version = answer.envelope.get("version", s.version)
        answer = s.call("ping")
    if answer.status != "ok" or answer.envelope is None:
        return f"ping with the given credentials answers {answer.describe()}"
    r.legacy = answer.envelope.get("openSubsonic") is not True
    if not r.legacy:
        ext = s.call("getOpenSubsonicExtensions")
        for item in (ext.envelope or {}).get("openSubsonicExtensions", []) or []:
            if isinstance(item, dict) and "name" in item:
                r.extensions[item["name"]] = list(item.get("versions", []))
    r.fixtures["user"] = s.user
    r.fixtures["server"] = {k: answer.envelope.get(k) for k in ("version", "type", "serverVersion")}
    return None


def _claims(r: Runner) -> None:
    for ext, endpoints in EXTENSION_ENDPOINTS.items():
        if not r.has(ext):
            continue
        for name in endpoints:
            row = r.rows[name]
            if row.status == "n/i":
                r.fail(name, f"advertised by the {ext} extension but not implemented")


def _unexercised(r: Runner) -> None:
    """Endpoints no probe or round trip reached (a trip stopped at a method the server lacks):
    one bare call tells "not implemented" from "implemented, not exercised"."""
    for name, row in list(r.rows.items()):
        if row.kind == "endpoint" and row.status == "skip" and row.skipped is None:
            answer = r.server.call(name, {})
            if r.not_implemented(answer):
                row.not_implemented = True
            else:
                row.skipped = "not exercised: the round trip that uses it stopped before it"


def run(server: Server, log: object = None) -> Runner:
    """Run every check against ``server``; returns the runner (its ``rows`` are the report)."""
    r = Runner(server)
    problem = _preflight(r)
    if problem:
        r.fail("connection", problem)
        return r
    r.ok("connection", f"{r.fixtures['server']}; extensions: {', '.join(sorted(r.extensions)) or 'none'}")
    discover(r)
    run_probes(r)
    probe_binary(r)
    check_auth(r)
    check_errors(r)
    check_ranges(r)
    run_round_trips(r)
    _unexercised(r)
    _claims(r)
    return r


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance",
                                     description="Judge a Subsonic/OpenSubsonic server against the "
                                                 "Subsonic XSD and the OpenSubsonic OpenAPI schemas.")
    parser.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:4040")
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--api-key", default=None, help="an OpenSubsonic API key (apiKeyAuthentication)")
    parser.add_argument("--json", type=Path, default=None, metavar="REPORT", help="also write the report as JSON")
    parser.add_argument("--client", default="conformance", help="the c= client name (default conformance)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    args = parser.parse_args(argv)
    server = Server(args.url, args.user, args.password, api_key=args.api_key, client_name=args.client,
                    timeout=args.timeout)
    started = time.monotonic()
    try:
        r = run(server)
    finally:
        server.close()
    rows = list(r.rows.values())
    print(render(rows))
    line = summary(rows)
    print(line)
    if args.json is not None:
        meta = {"url": args.url, "server": r.fixtures.get("server"), "legacy": r.legacy,
                "extensions": r.extensions, "requests": server.calls,
                "seconds": round(time.monotonic() - started, 1)}
        args.json.write_text(json.dumps(as_json(rows, meta), indent=1) + "\n")
    if r.rows.get("connection") is not None and r.rows["connection"].status == "fail":
        return 2
    return 1 if line.startswith("FAIL") else 0


if __name__ == "__main__":
    sys.exit(main())
