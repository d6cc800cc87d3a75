"""Import `.nsp` files (Navidrome smart playlists) found in the music folders, at the end of a
scan, next to the m3u import (orbsonic/scanner/m3u.py):

    nsp.import_smart_playlists(conn, [(folder_id, root), ...])

An `.nsp` file is JSON: `{"name", "comment", "all" | "any": [{OP: {FIELD: VALUE}}, ...],
"sort": "field" | "-field", "order": "asc"|"desc", "limit": N}`. Each file becomes a public
smart playlist of the first admin (orbsonic.library.smart rules), remembered by
playlists.source_folder_id/source_path and re-read when its size or mtime changes.

Mapped: fields title, album, artist, genre, year, rating, loved (→ starred), playcount,
lastplayed, dateadded (→ added), filetype (→ format), bitdepth, samplerate, duration (seconds →
durationMs); operators is, isNot, gt, lt, contains, startsWith, inTheLast, before (→ lt),
after (→ gt), inTheRange (→ gt + lt, inside an "all" group). Anything else (other fields,
notContains, endsWith, notInTheLast, inPlaylist, nested groups of the other kind) is skipped
with a logged reason; a file left with no rule it could map is not imported (it would match
every track). Nothing here fails a scan: each file under its own savepoint.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import ValidationError

from orbsonic.library.smart import MAX_LIMIT, MAX_RULES, Rule, Rules
from orbsonic.scanner.m3u import PlaylistFile, found_or_walk, source_of
from orbsonic.storage.s3 import StorageUnavailable

log = logging.getLogger("orbsonic.scanner")

SUFFIXES = (".nsp",)
MAX_BYTES = 1024 * 1024

FIELDS = {
    "title": "title",
    "album": "album",
    "artist": "artist",
    "genre": "genre",
    "year": "year",
    "rating": "rating",
    "loved": "starred",
    "playcount": "playCount",
    "lastplayed": "lastPlayed",
    "dateadded": "added",
    "filetype": "format",
    "bitdepth": "bitDepth",
    "samplerate": "sampleRate",
    "duration": "durationMs",
}
OPS = {
    "is": "is",
    "isnot": "isNot",
    "gt": "gt",
    "lt": "lt",
    "contains": "contains",
    "startswith": "startsWith",
    "inthelast": "inTheLast",
    "before": "lt",
    "after": "gt",
}


@dataclass
class NspReport:
    """What an import did; `skipped` lists the rules left out, with the reason."""

    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _value(nav_field: str, value: Any) -> Any:
    if nav_field == "duration" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return round(value * 1000)
    return value


def _rules_of(group: list[Any], match: str, where: str, skipped: list[str]) -> list[Rule]:
    out: list[Rule] = []
    for item in group:
        if not isinstance(item, dict) or len(item) != 1:
            skipped.append(f"{where}: {item!r}: not an {{operator: {{field: value}}}} rule")
            continue
        op, arg = next(iter(item.items()))
        if op in ("all", "any"):
            if op == match and isinstance(arg, list):  # a nested group of the same kind flattens
                out += _rules_of(arg, match, where, skipped)
            else:
                skipped.append(f"{where}: a nested {op!r} group inside {match!r} is not supported")
            continue
        if not isinstance(arg, dict) or len(arg) != 1:
            skipped.append(f"{where}: {op}: expected one field")
            continue
        nav_field, value = next(iter(arg.items()))
        ours = FIELDS.get(str(nav_field).lower())
        if ours is None:
            skipped.append(f"{where}: field {nav_field!r} is not supported")
            continue
        try:
            if str(op).lower() == "intherange":
                if match != "all" or not isinstance(value, list) or len(value) != 2:
                    skipped.append(f"{where}: inTheRange needs [low, high] inside an 'all' group")
                    continue
                low, high = (_value(nav_field, v) for v in value)
                out.append(Rule(field=ours, op="gt", value=low - 1 if isinstance(low, int) else low))
                out.append(Rule(field=ours, op="lt", value=high + 1 if isinstance(high, int) else high))
                continue
            ours_op = OPS.get(str(op).lower())
            if ours_op is None:
                skipped.append(f"{where}: operator {op!r} is not supported")
                continue
            out.append(Rule(field=ours, op=ours_op, value=_value(nav_field, value)))
        except ValidationError as exc:
            skipped.append(f"{where}: {op} {nav_field}: {exc.errors()[0]['msg']}")
    return out


def parse(text: str, where: str = "nsp") -> tuple[str | None, str, Rules | None, list[str]]:
    """(name, comment, rules, skipped reasons) of an .nsp file's text; rules None when nothing
    could be mapped. Raises ValueError for text that is not an NSP JSON object."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    skipped: list[str] = []
    match = "all" if "all" in data else "any" if "any" in data else None
    if match is None or not isinstance(data[match], list):
        raise ValueError("no 'all' or 'any' list of rules")
    rules = _rules_of(data[match], match, where, skipped)[:MAX_RULES]
    sort = None
    raw_sort = str(data.get("sort") or "").split(",")[0].strip()
    if raw_sort:
        desc = raw_sort.startswith("-") or str(data.get("order", "")).lower() == "desc"
        key = raw_sort.lstrip("+-").lower()
        sort_field = "random" if key == "random" else FIELDS.get(key)
        if sort_field is None:
            skipped.append(f"{where}: sort {raw_sort!r} is not supported")
        else:
            sort = {"field": sort_field, "order": "desc" if desc else "asc"}
    limit = data.get("limit")
    limit = (
        min(limit, MAX_LIMIT)
        if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
        else None
    )
    name = data.get("name") if isinstance(data.get("name"), str) and data["name"].strip() else None
    comment = data.get("comment") if isinstance(data.get("comment"), str) else ""
    if not rules:
        return name, comment, None, skipped
    return (
        name,
        comment[:1000],
        Rules.model_validate(
            {"match": match, "rules": [r.model_dump() for r in rules], "sort": sort, "limit": limit}
        ),
        skipped,
    )


def _import_file(
    conn: psycopg.Connection,
    owner_id: int,
    folder_id: int,
    pf: PlaylistFile,
    existing: dict[str, tuple[int, int, int]],
    report: NspReport,
) -> None:
    rel, st = pf.rel, pf
    known = existing.get(rel)
    if known is not None and known[1:] == (st.size, st.mtime_ns):
        report.unchanged += 1
        return
    text = pf.read(MAX_BYTES).decode("utf-8-sig")
    name, comment, rules, skipped = parse(text, rel)
    for reason in skipped:
        log.warning("smart playlist %s", reason)
    report.skipped += skipped
    if rules is None:
        raise ValueError("no rule this server supports; not imported")
    stored = Jsonb(rules.model_dump(mode="json"))
    if known is None:
        conn.execute(
            """INSERT INTO playlists (owner_id, name, comment, public, rules, source_folder_id, source_path,
                                      source_size, source_mtime_ns)
               VALUES (%s, %s, %s, true, %s, %s, %s, %s, %s)""",
            (
                owner_id,
                (name or Path(rel).stem)[:1000],
                comment,
                stored,
                folder_id,
                rel,
                st.size,
                st.mtime_ns,
            ),
        )
        report.imported += 1
    else:
        conn.execute(
            """UPDATE playlists SET rules = %s, source_size = %s, source_mtime_ns = %s, changed_at = now()
                WHERE id = %s""",
            (stored, st.size, st.mtime_ns, known[0]),
        )
        report.updated += 1


def import_smart_playlists(conn: psycopg.Connection, folders: Sequence[tuple[int, Path | str]],
                           found: Mapping[int, Sequence[str]] | None = None) -> NspReport:
    """Import or refresh the .nsp files of these music folders (module docstring). Runs inside
    the scan's transaction; never raises for a bad file. Waits for an admin user to exist.
    `found`: the playlist files the scan's walk noted per folder id (m3u.found_or_walk)."""
    report = NspReport()
    row = conn.execute("SELECT id FROM users WHERE is_admin ORDER BY id LIMIT 1").fetchone()
    if row is None:
        return report
    for folder_id, root_path in folders:
        root = os.path.normpath(str(root_path))
        cur = conn.execute(
            "SELECT source_path, id, source_size, source_mtime_ns FROM playlists WHERE source_folder_id = %s",
            (folder_id,),
        )
        existing = {r[0]: (r[1], r[2], r[3]) for r in cur.fetchall()}
        try:
            for pf in found_or_walk(found, folder_id, source_of(root, folders, folder_id), SUFFIXES):
                try:
                    with conn.transaction():
                        _import_file(conn, row[0], folder_id, pf, existing, report)
                except Exception as exc:  # noqa: BLE001  (one bad playlist file never fails a scan)
                    report.failed.append(f"{pf.path}: {exc}")
                    log.warning("cannot import smart playlist %s: %s", pf.path, exc)
        except StorageUnavailable as exc:  # the listing failed: nothing changes this time
            report.failed.append(f"{root}: {exc.reason}")
            log.warning("smart playlist files of %s: cannot be listed (%s)", root, exc.reason)
    if report.imported or report.updated or report.failed:
        log.info(
            "smart playlists: %d imported, %d updated, %d unchanged, %d rules skipped, %d failed",
            report.imported,
            report.updated,
            report.unchanged,
            len(report.skipped),
            len(report.failed),
        )
    return report
