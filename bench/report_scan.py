"""The "scan at 1M tracks" section of the report (results["scan_only"], bench/scanbig.py)."""

from __future__ import annotations

from typing import Any

from bench.tables import table as _table

# issue 12, "One node at 1M tracks" (on these 2 cores)
COLD_FPS, NOCHANGE_S, SCAN_RSS_MB, SERVER_RSS_MB = 2000, 10.0, 400, 300


def _peak(r: dict[str, Any]) -> float:
    return max(r[k]["peak_rss_mb"] for k in ("cold", "nochange", "nochange2") if k in r)


def scan_only_targets(res: dict[str, Any]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) of the largest scan-only library."""
    runs = res.get("scan_only") or {}
    if not runs:
        return []
    n = max(runs, key=int)
    r = runs[n]
    at = f" ({int(n):,} tracks)"
    cold = r["cold"]
    noch = min(r["nochange"]["wall_s"], r.get("nochange2", r["nochange"])["wall_s"])
    srv = max(r.get("server_rss_mb_after_api", 0), r.get("server_rss_mb_after_api2", 0))
    return [
        (f"Cold scan ≥ {COLD_FPS:,} files/s" + at, f"{cold['files_per_s']:,.0f} files/s "
         f"(load {' '.join(cold['loadavg_before'])})", cold["files_per_s"] >= COLD_FPS),
        (f"No-change rescan ≤ {NOCHANGE_S:g} s" + at, f"{noch:.2f} s", noch <= NOCHANGE_S),
        (f"Scanner RSS ≤ {SCAN_RSS_MB} MB" + at, f"{_peak(r):.0f} MB (tree RSS)", _peak(r) <= SCAN_RSS_MB),
        (f"Server RSS ≤ {SERVER_RSS_MB} MB" + at, f"{srv:.0f} MB", srv <= SERVER_RSS_MB),
    ]


def scan_only_section(res: dict[str, Any]) -> list[str]:
    """Markdown lines: the scan figures of every scan-only library side by side."""
    runs = res.get("scan_only") or {}
    if not runs:
        return []
    sizes = sorted(runs, key=int)
    heads = ["figure", *(f"{int(n):,} tracks" for n in sizes)]

    def row(label: str, get: Any) -> list[Any]:
        vals = []
        for n in sizes:
            try:
                vals.append(get(runs[n]))
            except (KeyError, TypeError):
                vals.append("–")
        return [label, *vals]

    def load(r: dict[str, Any], key: str) -> str:
        return " ".join(r[key]["loadavg_before"])

    rows = [
        row("library on disk", lambda r: f"{r['generation']['bytes'] / 1e9:.1f} GB, "
            f"{r['generation']['albums']:,} albums"),
        row("cold scan files/s", lambda r: f"{r['cold']['files_per_s']:,.0f}"),
        row("cold scan wall s", lambda r: r["cold"]["wall_s"]),
        row("cold scan peak RSS MB (tree) / PSS", lambda r: f"{r['cold']['peak_rss_mb']} / {r['cold']['peak_pss_mb']}"),
        row("no-change rescan wall s (1st / 2nd)", lambda r: f"{r['nochange']['wall_s']} / {r['nochange2']['wall_s']}"),
        row("no-change rescan scanner-reported s", lambda r: f"{r['nochange']['scan_s']} / {r['nochange2']['scan_s']}"),
        row("no-change rescan peak RSS MB", lambda r: max(r["nochange"]["peak_rss_mb"], r["nochange2"]["peak_rss_mb"])),
        row("server RSS MB: start / after API / again", lambda r: f"{r['server_rss_mb_start']} / "
            f"{r['server_rss_mb_after_api']} / {r['server_rss_mb_after_api2']}"),
        row("light API calls, ms (first pass, slowest)", lambda r: "{1} ({0})".format(*max(
            r["api_ms"].items(), key=lambda kv: kv[1]))),
        row("load average before cold / rescan", lambda r: f"{load(r, 'cold')} / {load(r, 'nochange')}"),
    ]
    L = ["## Scan at 1M tracks (`--scan-only`, real files)", ""]
    L += _table(heads, rows)
    L += [
        "Each size: a fresh database, a cold scan, two no-change rescans (`orbsonic scan` as a subprocess; "
        "RSS summed over its process tree, sampled every 0.1 s), then `orbsonic serve --no-scan` and its "
        "RSS after start and after two passes of light client calls (getArtists, getIndexes, album lists, "
        "search3, getAlbum). The machine is shared: load averages are given with the figures.",
        "",
    ]
    return L
