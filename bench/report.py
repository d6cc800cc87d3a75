"""results.json → the Markdown report (bench/RESULTS.md): tables, targets, ratios."""

from __future__ import annotations

from typing import Any

from bench import report_sql, transcode
from bench.report_native import native_section, native_targets
from bench.report_scan import scan_only_section, scan_only_targets
from bench.report_scaling import scaling_section
from bench.tables import api_table as _api_table
from bench.tables import fmt as _f
from bench.tables import kb as _kb
from bench.tables import rps as _rps
from bench.tables import table as _table

LOADGEN = (
    "bench/load.py: a small asyncio HTTP/1.1 client (standard library only), closed loop, one "
    "keep-alive connection per concurrent client, every response checked (HTTP status, Subsonic "
    '`status="ok"`, exact byte counts for ranges). It runs on the same 2 cores as the server; its '
    "own CPU use is the *load gen CPU* column (% of one core), next to the server's and PostgreSQL's."
)


def targets(res: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every target of the issue that this run measured."""
    out: list[tuple[str, str, bool | None]] = []
    main = res.get("main", {})
    n = main.get("tracks", 0)
    scan = main.get("scan", {})
    at = f" ({n:,} tracks)" if n != 100_000 else ""
    if scan:
        cold, noch = scan["cold"], scan["nochange"]
        out.append(
            (
                "Cold scan ≥ 1,000 files/s" + at,
                f"{cold['files_per_s']:,.0f} files/s ({cold['read']:,} files in {cold['wall_s']:.1f} s)",
                cold["files_per_s"] >= 1000,
            )
        )
        out.append(("No-change rescan of 100k ≤ 5 s" + at, f"{noch['wall_s']:.2f} s", noch["wall_s"] <= 5))
        peak = max(cold["peak_rss_mb"], scan["one_percent"]["peak_rss_mb"], noch["peak_rss_mb"])
        out.append(
            (
                "Scanner RSS ≤ 400 MB at 100k" + at,
                f"{peak:.0f} MB (sum of the process tree's RSS; PSS {cold['peak_pss_mb']:.0f} MB)",
                peak <= 400,
            )
        )
    sc = main.get("scenarios", {})

    def p50(names: list[str]) -> tuple[str, float] | None:
        vals = [(k, sc[k]["c1"]["p50_ms"]) for k in names if k in sc]
        return max(vals, key=lambda kv: kv[1]) if vals else None

    def err(names: list[str]) -> int:
        return sum(sc[k][c]["errors"] for k in names if k in sc for c in sc[k])

    empty = [k for k in sc if k.startswith('search3 ""')]
    if (w := p50(empty)) is not None:
        out.append(
            (
                'search3 `""` page of 500 ≤ 50 ms p50 at every offset' + at,
                f"worst {w[1]:.1f} ms ({w[0]})",
                w[1] <= 50 and not err(empty),
            )
        )
    lists = [k for k in sc if k.startswith("getAlbumList2")]
    if (w := p50(lists)) is not None:
        out.append(
            (
                "getAlbumList2 (any type) ≤ 20 ms p50" + at,
                f"worst {w[1]:.1f} ms ({w[0]})",
                w[1] <= 20 and not err(lists),
            )
        )
    for name, label, limit in (
        ("getRandomSongs", "getRandomSongs ≤ 20 ms", 20),
        ("getCoverArt cached", "getCoverArt cached ≤ 5 ms", 5),
        ("getSonicSimilarTracks", "getSonicSimilarTracks ≤ 50 ms", 50),
        ("findSonicPath", "findSonicPath ≤ 50 ms", 50),
    ):
        if name in sc:
            v = sc[name]["c1"]["p50_ms"]
            out.append((label + " (p50)" + at, f"{v:.2f} ms", v <= limit and not err([name])))
    for name in [k for k in sc if k.startswith("getPlaylist (")]:
        v = sc[name]["c1"]["p50_ms"]
        out.append((f"{name} ≤ 50 ms (p50)" + at, f"{v:.1f} ms", v <= 50 and not err([name])))
    sql = res.get("sql", {})
    ssc = sql.get("scenarios", {})
    if "getRandomSongs" in ssc:
        v = ssc["getRandomSongs"]["c1"]["p50_ms"]
        errs = sum(ssc["getRandomSongs"][c]["errors"] for c in ssc["getRandomSongs"])
        out.append((f"getRandomSongs ≤ 20 ms p50 at 1M tracks (SQL library of {sql['tracks']:,})",
                    f"{v:.2f} ms", (v <= 20 and not errs) if sql["tracks"] >= 1_000_000 else None))
    if "stream (whole track)" in sc:
        v = sc["stream (whole track)"]["c1"]["ttfb_p50_ms"]
        out.append(("stream time to first byte ≤ 5 ms (p50)" + at, f"{v:.2f} ms", v <= 5))
    peer = res.get("peer")
    if peer and "orbsonic" in peer and "supysonic" in peer:
        for group, pred in (
            ("getAlbumList2", lambda k: k.startswith("getAlbumList2")),
            ("search3", lambda k: k.startswith("search3")),
            ("getAlbum", lambda k: k == "getAlbum"),
        ):
            for c, label in (("c16", "concurrency 16"), ("c1", "concurrency 1")):
                vals = [(r[c], k) for k, r in ratio_rows(peer) if pred(k) and r[c]]
                if vals:
                    worst, name = min(vals)
                    out.append(
                        (
                            f"≥ 5× supysonic's requests/s on {group}, {label} ({peer['tracks']:,} tracks)",
                            f"worst {worst:.1f}× ({name}; {len(vals)} scenario(s))",
                            worst >= 5,
                        )
                    )
    out += transcode.targets(main)
    out += native_targets(main.get("native") or {}, at)
    rng = main.get("streams", {}).get("ranges")
    if rng:
        ok = rng["errors"] == 0 and rng["server_rss_peak_mb"] <= 400
        out.append(
            (
                f"{rng['clients']} concurrent range streams: zero errors, server RSS ≤ 400 MB",
                f"{rng['errors']} errors of {rng['requests']:,} requests, RSS peak "
                f"{rng['server_rss_peak_mb']:.0f} MB",
                ok,
            )
        )
    return out


def sql_section(res: dict[str, Any]) -> list[str]:
    """The API on the library generated in SQL (bench/sqllib.py), with how it was made."""
    sql = res.get("sql")
    if not sql:
        return []
    gen, lib = sql.get("generation", {}), sql.get("library", {})
    L = [f"## API on a library generated in SQL ({sql['tracks']:,} tracks)", ""]
    steps = ", ".join(f"{k} {v:.1f}" for k, v in gen.get("seconds", {}).items())
    cpu = (f"; CPU {gen['db_cpu_s']:.0f} s in PostgreSQL, {gen.get('python_cpu_s', 0):.0f} s in Python"
           if gen.get("db_cpu_s") else "")
    L += [
        f"bench/sqllib.py wrote {gen.get('tracks', 0):,} tracks, {gen.get('albums', 0):,} albums and "
        f"{gen.get('artists', 0):,} artists straight into the schema in {gen.get('total_s', 0):.0f} s "
        f"({steps}){cpu}: bench/libgen.py's plan, no audio files (so no stream or cover scenarios). "
        f"Seeded through the API: {sql.get('seeded')}; reads: {sql.get('seeded_reads')}.",
        "",
    ]
    L += _api_table(sql.get("scenarios", {}))
    L += report_sql.targets_table(sql) + report_sql.server_table(sql)
    L += [f"Discovery found {lib.get('albums', 0):,} albums and {lib.get('artists', 0):,} artists. Server RSS "
          f"{sql.get('rss_mb_before')} MB before, {sql.get('rss_mb_peak_api')} MB peak.", ""]
    return L


def empty_on_peer(peer: dict[str, Any], name: str, who: str = "supysonic") -> bool:
    """A per-user album list that the peer answered with no albums (nothing to compare)."""
    counts = peer[who].get("library", {}).get("list_counts", {})
    kind = name.split()[1] if name.startswith("getAlbumList2 ") else ""
    return counts.get(kind, 1) == 0


# Scenario → the library's list count (bench/api.py seed_annotations) that says how many
# entries its answer lists.
LISTED = {"getStarred2": "starred2"}


def fewer_on_peer(peer: dict[str, Any], name: str, who: str) -> bool:
    """A list the peer answered with less than half of Orbsonic's entries (maneki's getStarred2:
    4 KB against 395 KB): a smaller answer, not a faster one."""
    kind = LISTED.get(name)
    if kind is None:
        return False
    ours = peer["orbsonic"].get("library", {}).get("list_counts", {}).get(kind)
    theirs = peer[who].get("library", {}).get("list_counts", {}).get(kind)
    return ours is not None and theirs is not None and ours > 0 and theirs * 2 < ours


def ratio_rows(peer: dict[str, Any], who: str = "supysonic") -> list[tuple[str, dict[str, float | None]]]:
    """(scenario, {"c1": ratio, "c16": ratio}) of Orbsonic/`who` requests/s; None where
    either side had errors or the peer's list was empty or far shorter (not comparable)."""
    o, s = peer["orbsonic"]["scenarios"], peer[who]["scenarios"]
    rows = []
    for name in o:
        if name not in s:
            continue
        r: dict[str, float | None] = {}
        for c in ("c1", "c16"):
            a, b = o[name].get(c), s[name].get(c)
            ok = (
                a
                and b
                and not a["errors"]
                and not b["errors"]
                and b["rps"] > 0
                and not empty_on_peer(peer, name, who)
                and not fewer_on_peer(peer, name, who)
            )
            r[c] = a["rps"] / b["rps"] if ok else None  # type: ignore[index]
        rows.append((name, r))
    return rows


def markdown(res: dict[str, Any]) -> str:
    m, cfg = res["machine"], res["config"]
    main = res.get("main", {})
    L: list[str] = ["# Orbsonic benchmark results", ""]
    if cfg.get("quick"):
        L += ["**Quick (smoke) run: the figures below are not meaningful.**", ""]
    L += [
        "Produced by `python -m bench.run"
        + ((f" --tracks {cfg['tracks']}"
            + (f" --peer-tracks {cfg['peer_tracks']}" if cfg.get("peer_tracks") else " --skip-peer"))
           if main else "")
        + (f" --sql-tracks {cfg['sql_tracks']}" if cfg.get("sql_tracks") else "")
        + (" --sql-only" if cfg.get("sql_tracks") and not main and not cfg.get("scan_only") else "")
        + (f" --scan-only --tracks {cfg['tracks']}" if cfg.get("scan_only") else "")
        + (f" --scan-baseline {cfg['scan_baseline']}" if cfg.get("scan_baseline") else "")
        + (" --quick" if cfg.get("quick") else "")
        + "` (`scripts/bench`), "
        f"in {res.get('total_s', 0) / 60:.0f} min.",
        "",
    ]
    L += ["## Machine and versions", ""]
    L += _table(
        ["", ""],
        [
            ["Date", m["date"]],
            ["CPU", f"{m['cpu']}, {m['cores']} cores"],
            ["RAM", f"{m['ram_gib']} GiB"],
            ["Disk", m["disk"]],
            ["Kernel", m["kernel"]],
            ["Python", m["python"]],
            ["PostgreSQL", f"{m.get('postgresql', '?')} (embedded, default settings, in the bench work dir)"],
            ["Orbsonic commit", m["commit"]],
            [
                "Peer",
                f"supysonic {res['peer'].get('supysonic_version', '0.7.9')} (SQLite, waitress 4 threads)"
                if res.get("peer")
                else "not run",
            ],
            [
                "Load average (1/5/15 min) at start / end",
                f"{' '.join(m['loadavg_start'])} / {' '.join(m.get('loadavg_end', []))}",
            ],
            ["Load generator", LOADGEN + f" Event loop: {cfg.get('client_loop', 'asyncio')}."],
            [
                "Per scenario",
                f"{cfg['seconds']:g} s at concurrency 1, then {cfg['seconds']:g} s at 16, after "
                "2 warm-up requests per connection; latency = request sent → last byte read",
            ],
        ],
    )
    gen = main.get("generation", {})
    lib = main.get("library", {})
    L += ["## Library", ""] if main else []
    L += [] if not main else _table(
        ["tracks", "albums", "album artists", "artists", "genres", "size on disk", "formats"],
        [
            [
                gen.get("audio_files"),
                lib.get("albums"),
                lib.get("album_artists"),
                lib.get("artists"),
                lib.get("genres"),
                f"{gen.get('bytes', 0) / 1e9:.1f} GB",
                ", ".join(f"{k} {v:,}" for k, v in sorted(gen.get("formats", {}).items())),
            ]
        ],
    )
    L += [] if not main else [
        f"Annotations seeded through the API: {main.get('seeded')}; reads: {main.get('seeded_reads')}. "
        f"Generated by bench/libgen.py (seed {cfg['seed']}), cached between runs.",
        "",
    ]
    scan = main.get("scan")
    if scan:
        L += ["## Scan (`orbsonic scan` as a subprocess)", ""]
        rows = []
        for key, label in (
            ("cold", "cold scan (empty database)"),
            ("nochange", "no-change rescan"),
            ("one_percent", f"rescan after 1 % changed ({scan['touched_files']:,} files retitled)"),
        ):
            r = scan[key]
            rows.append(
                [
                    label,
                    r["wall_s"],
                    r["read"],
                    r["files_per_s"] if key == "cold" else "–",
                    r["added"],
                    r["updated"],
                    r["peak_rss_mb"],
                    r["peak_pss_mb"],
                    r["main_hwm_mb"],
                    r["processes"],
                    r.get("disk_read_mb", "–"),
                ]
            )
        L += _table(
            [
                "run",
                "wall s",
                "files read",
                "files/s",
                "added",
                "updated",
                "peak RSS MB (tree)",
                "peak PSS MB (tree)",
                "main process VmHWM MB",
                "processes",
                "disk read MB",
            ],
            rows,
        )
        if scan.get("warm"):
            w = scan["warm"]
            L += [
                f"Before the cold scan the bench read the library once ({w['mb']:,} MB in {w['seconds']} s, "
                f"{w['disk_read_mb']:,} MB of it from disk) so that the scan measures the scanner, not the "
                "disk; *disk read MB* is what the machine read from its disks during each scan "
                "(/proc/vmstat). `--no-warm` skips this.",
                "",
            ]
        L += [
            "Wall time of the whole command (Python start, connecting, migrations check, walk, diff, tag "
            "reading in worker processes, COPY, refresh, ANALYZE). RSS is sampled every 0.1 s from /proc for "
            "the scan process and its children and summed (fork children share pages, so RSS overcounts; PSS "
            "does not). PostgreSQL runs with its default durable settings.",
            "",
        ]
    sc = main.get("scenarios", {})
    if sc:
        L += [f"## API ({lib.get('tracks', 0):,} tracks)", ""]
        L += _api_table(sc)
        L += [
            'Page sizes: album and song lists 50 (`size`/`count`), `search3 ""` pages 500 of one kind, '
            "text search 20 per kind (default). Deep offsets: about 90 % of the list's length. "
            "`getCoverArt cold resize` asks each cover once at size 200 (the generated covers are 300×300); "
            "`cached` repeats ids already resized. `stream (whole track)` reads whole ~1 s tracks.",
            "",
        ]
        L += [
            f"Server RSS (uvicorn process): {main.get('rss_mb_before')} MB before the API scenarios, "
            f"{main.get('rss_mb_peak_api')} MB peak during them, {main.get('rss_mb_after')} MB at the end.",
            "",
        ]
    L += sql_section(res)
    L += scan_only_section(res)
    if main.get("native"):
        L += native_section(main["native"], lib.get("tracks", 0))
    st = main.get("streams")
    if st:
        L += ["## Streaming", ""]
        s1, rg = st["single"], st["ranges"]
        tt = sc.get("stream (whole track)", {}).get("c1", {})
        L += _table(
            ["figure", "value"],
            [
                [
                    "time to first byte, stream of a track, c=1 (p50 / p99)",
                    f"{tt.get('ttfb_p50_ms', 0):.2f} / {tt.get('ttfb_p99_ms', 0):.2f} ms",
                ],
                [
                    f"one stream, {s1['file_mb']:.0f} MB file (median / best of 3)",
                    f"{s1['mb_s_median']:,.0f} / {s1['mb_s_best']:,.0f} MB/s",
                ],
                [
                    f"{rg['clients']} concurrent range streams, {rg['seconds']:.0f} s",
                    f"{rg['requests']:,} requests, {rg['errors']} errors {rg['errors_by_kind'] or ''}",
                ],
                ["… aggregate throughput", f"{rg['mb_s']:,.0f} MB/s"],
                ["… time to first byte (p50 / p99)", f"{rg['ttfb_p50_ms']:.1f} / {rg['ttfb_p99_ms']:.1f} ms"],
                ["… server RSS peak", f"{rg['server_rss_peak_mb']:.0f} MB"],
                ["… load generator CPU", f"{rg['client_cpu_pct']:.0f} % of one core"],
            ],
        )
        L += [
            "Range streams: half the clients ask 1 MiB windows at random offsets of the big file, half "
            "`bytes=N-` of random tracks (read to the end); every answer must be 206 with the exact length.",
            "",
        ]
    L += transcode.section(main)
    peer = res.get("peer")
    if peer and "orbsonic" in peer:
        L += [
            f"## Side by side with supysonic 0.7.9 ({peer['tracks']:,} tracks, same client, "
            "one server at a time)",
            "",
        ]
        os_, ss = peer["orbsonic_scan"], peer["supysonic_scan"]
        L += _table(
            ["scan", "Orbsonic", "supysonic", "ratio"],
            [
                [
                    "cold scan, files/s",
                    os_["files_per_s"],
                    ss["files_per_s"],
                    f"{os_['files_per_s'] / ss['files_per_s']:.1f}×" if ss["files_per_s"] else "–",
                ],
                ["cold scan, wall s", os_["wall_s"], ss["seconds"], "–"],
                ["scan peak RSS MB (tree)", os_["peak_rss_mb"], ss["peak_rss_mb"], "–"],
            ],
        )
        o, s = peer["orbsonic"]["scenarios"], peer["supysonic"]["scenarios"]
        rows = []
        ratios = dict(ratio_rows(peer))
        for name in o:
            if name not in s:
                continue
            row: list[Any] = [name]
            for c in ("c1", "c16"):
                a, b = o[name][c], s[name][c]
                r = ratios[name][c]
                note = "– (peer list empty)" if empty_on_peer(peer, name) else "–"
                row += [
                    _rps(a),
                    _rps(b),
                    f"**{r:.1f}×**" if r else note,
                    f"{a['p50_ms']:.1f} / {b['p50_ms']:.1f}",
                ]
            row.append(f"{_kb(o[name]['c1'])} / {_kb(s[name]['c1'])}")
            rows.append(row)
        L += _table(
            [
                "endpoint",
                "Orbsonic req/s c=1",
                "supysonic req/s c=1",
                "ratio c=1",
                "p50 ms c=1 (O / s)",
                "Orbsonic req/s c=16",
                "supysonic req/s c=16",
                "ratio c=16",
                "p50 ms c=16 (O / s)",
                "KB per answer (O / s)",
            ],
            rows,
        )
        L += [
            "The two servers do not answer with the same amount: supysonic's getArtists lists every artist "
            "(Orbsonic: album artists only), Orbsonic's songs and albums carry the OpenSubsonic fields, "
            "supysonic does not split multi-valued genres. *KB per answer* shows the size of each answer. "
            f"Seeded annotations: Orbsonic {peer['orbsonic'].get('seeded')}; supysonic "
            f"{peer['supysonic'].get('seeded')}. Per-user list sizes after seeding: Orbsonic "
            f"{peer['orbsonic'].get('library', {}).get('list_counts')}, supysonic "
            f"{peer['supysonic'].get('library', {}).get('list_counts')} (-1: type not supported).",
            "",
        ]
        errs = {
            n: {c: v[c]["first_error"] for c in v if v[c]["errors"]}
            for n, v in s.items()
            if any(v[c]["errors"] for c in v)
        }
        if errs:
            L += [
                "supysonic errors (no ratio where either side had errors): "
                + "; ".join(f"{n}: {next(iter(e.values()))[:160]}" for n, e in errs.items()),
                "",
            ]
        L += [
            f"RSS after the scenarios: Orbsonic {peer['orbsonic'].get('rss_mb')} MB, supysonic "
            f"{peer['supysonic'].get('rss_mb')} MB.",
            "",
        ]
    if peer and "orbsonic" in peer and "maneki" in peer:
        L += maneki_section(peer)
    L += scaling_section(res)
    L += ["## Targets", ""]
    L += _table(
        ["target", "measured", "result"],
        [[t, v, "met" if ok else ("missed" if ok is not None else "–")]
         for t, v, ok in targets(res) + scan_only_targets(res)],
    )
    return "\n".join(L)


def maneki_section(peer: dict[str, Any]) -> list[str]:
    """Orbsonic vs maneki per scenario: p50/p95 and req/s at c=1 and c=16, and the ratio
    (issue 13: ≥ 1.5×); "n/c" where the answers are not comparable (errors, empty, far fewer entries)."""
    o, m = peer["orbsonic"]["scenarios"], peer["maneki"]["scenarios"]
    ratios = dict(ratio_rows(peer, "maneki"))
    rows = []
    for name in o:
        if name not in m:
            continue
        row: list[Any] = [name]
        for c in ("c1", "c16"):
            a, b = o[name].get(c) or {}, m[name].get(c) or {}
            row += [f"{_f(a.get('p50_ms'), 2)} / {_f(a.get('p95_ms'), 2)}",
                    f"{_f(b.get('p50_ms'), 2)} / {_f(b.get('p95_ms'), 2)}",
                    _f(a.get("rps")), _f(b.get("rps")),
                    "n/c" if ratios[name][c] is None else f"{ratios[name][c]:.2f}×"]
        rows.append(row)
    head = ["scenario"]
    for c in ("1", "16"):
        head += [f"Orbsonic p50/p95 ms c={c}", f"maneki p50/p95 ms c={c}", f"Orbsonic req/s c={c}",
                 f"maneki req/s c={c}", f"ratio c={c}"]
    L = [f"## Side by side with maneki {peer.get('maneki_version', '')} ({peer['tracks']:,} tracks, "
         "same client, one server at a time)", "",
         f"maneki ran on {peer.get('maneki_python')}; ready (startup scan) after "
         f"{peer.get('maneki_scan', {}).get('seconds_to_ready')} s. Seeded reads: Orbsonic "
         f"{peer['orbsonic'].get('seeded_reads')}, maneki {peer['maneki'].get('seeded_reads')}. "
         "n/c: not comparable (errors on either side, an empty list on maneki, or a list with "
         "less than half of Orbsonic's entries, e.g. getStarred2).", ""]
    L += _table(head, rows)
    errs = {n: {c: m[n][c]["errors"] for c in m[n] if m[n][c] and m[n][c]["errors"]} for n in m}
    errs = {n: e for n, e in errs.items() if e}
    if errs:
        L += ["", f"maneki errors: {errs}"]
    return [*L, ""]
