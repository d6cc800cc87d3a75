"""Command-line options of `python -m bench.run` (bench/run.py): the parser, and the
defaults that depend on `--quick`. Raises SystemExit (argparse) on a bad combination."""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The options of `argv` (sys.argv when None), with the quick-run defaults filled in."""
    p = argparse.ArgumentParser(
        prog="python -m bench.run", description="Orbsonic benchmark (see bench/run.py)"
    )
    p.add_argument("--tracks", type=int, default=100_000, help="size of the main library (default 100000)")
    p.add_argument("--peer-tracks", type=int, default=10_000, help="size of the side-by-side library")
    p.add_argument("--work", type=Path, default=ROOT / "bench" / "out", help="work dir (default bench/out)")
    p.add_argument("--skip-peer", action="store_true", help="no supysonic comparison")
    p.add_argument("--skip-maneki", action="store_true", help="no maneki in the side-by-side run")
    p.add_argument("--quick", action="store_true", help="very short measurements (smoke run)")
    p.add_argument("--results", type=Path, help="Markdown output (default <work>/RESULTS.md)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--seconds", type=float, help="seconds per scenario and concurrency (default 3, quick 0.3)"
    )
    p.add_argument("--workers", type=int, default=1, help="orbsonic serve --workers (default 1)")
    p.add_argument("--clients", type=int, default=200, help="concurrent range streams (default 200)")
    p.add_argument("--stream-seconds", type=float, help="range-stream test length (default 10, quick 1)")
    p.add_argument("--sql-tracks", type=int,
                   help="also measure the API on a library of this many tracks generated in SQL "
                        "(bench/sqllib.py; e.g. 1000000)")
    p.add_argument("--sql-only", action="store_true",
                   help="only the SQL library (with --sql-tracks): no file library, no peer")
    p.add_argument("--sql-probe-only", action="store_true",
                   help="with --sql-tracks: only the server-side figures of the SQL library "
                        "(bench/sqlprobe.py), no HTTP scenarios")
    p.add_argument("--no-sql-probe", action="store_true",
                   help="with --sql-tracks: no bench/sqlprobe.py figures")
    p.add_argument("--playlist-size", type=int,
                   help="entries of the getPlaylist scenario's playlist (default 5000, quick 500)")
    p.add_argument("--transcode-clients", type=int, default=50,
                   help="concurrent live transcodes (default 50; 0 skips the transcoding figures)")
    p.add_argument(
        "--no-warm",
        action="store_true",
        help="do not read the library into the page cache before the cold scan",
    )
    p.add_argument("--scan-only", action="store_true",
                   help="only the scan figures on the --tracks library of real files (bench/scanbig.py)")
    p.add_argument("--scan-baseline", type=int,
                   help="with --scan-only: first the same figures on this library size (e.g. 100000)")
    p.add_argument("--streams-only", action="store_true",
                   help="only the stream phase (bench/scaling.py): scan --tracks, serve, 200 range streams")
    p.add_argument("--stream-workers", type=lambda v: [int(x) for x in v.split(",")], default=[1],
                   help="with --streams-only: serve --workers values to measure in turn (e.g. 1,2)")
    p.add_argument("--paced-listeners", type=int, default=0,
                   help="with --streams-only: also this many paced player-like listeners (bench/paced.py; "
                        "e.g. 200); --clients 0 leaves out the closed-loop range streams")
    p.add_argument("--paced-seconds", type=float, default=30.0, help="paced listeners' run (default 30)")
    p.add_argument("--replicas-only", action="store_true",
                   help="only replica scaling (bench/scaling.py): getAlbumList2 with 1 then 2 replicas")
    p.add_argument("--replica-concurrency", type=int, default=16, help="with --replicas-only (default 16)")
    p.add_argument("--client-loop", choices=("uvloop", "asyncio"), default="uvloop",
                   help="the load generator's event loop (default uvloop: about half the client CPU per "
                        "request, which on 2 shared cores is CPU the servers under test get back)")
    args = p.parse_args(argv)
    args.seconds = args.seconds or (0.3 if args.quick else 3.0)
    args.stream_seconds = args.stream_seconds or (1.0 if args.quick else 10.0)
    args.playlist_size = args.playlist_size or (500 if args.quick else 5000)
    if args.sql_only and not args.sql_tracks:
        p.error("--sql-only needs --sql-tracks N")
    if args.quick and args.clients == 200:
        args.clients = 20
    return args
