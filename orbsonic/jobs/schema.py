"""The job queue's tables: procrastinate's own schema, applied next to Orbsonic's migrations.

procrastinate ships its schema (`schema.sql`) and, for upgrades, ordered migration files named by
version (`03.04.00_01_pre_….sql`). `ensure_schema` applies the whole schema to a database that has
none, and the newer migration files to one created by an older procrastinate, recording the
version in `server_state` (key `procrastinate_version`). It runs inside the migration
transaction (orbsonic/db/migrate.py), under the same advisory lock, so replicas starting together
apply it once.
"""

from __future__ import annotations

import re
from importlib import metadata, resources
from pathlib import Path

import psycopg

_VERSION_KEY = "procrastinate_version"
_FILE = re.compile(r"(\d+)\.(\d+)\.(\d+)_(\d+)_.*\.sql")


def installed_version() -> tuple[int, int, int]:
    """The installed procrastinate's version as (major, minor, patch)."""
    parts = re.findall(r"\d+", metadata.version("procrastinate"))[:3]
    return tuple(int(p) for p in parts) + (0,) * (3 - len(parts))  # type: ignore[return-value]


def _migrations_dir() -> Path:
    return Path(str(resources.files("procrastinate.sql") / "migrations"))


def ensure_schema(conn: psycopg.Connection) -> str | None:
    """Create or upgrade the job tables in the caller's transaction; returns what was done
    ("created", "upgraded to X.Y.Z") or None when already current."""
    have = conn.execute("SELECT to_regclass('procrastinate_jobs') IS NOT NULL").fetchone()
    now = installed_version()
    label = ".".join(map(str, now))
    if not (have and have[0]):
        schema = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
        conn.execute(schema)  # no parameters: sent as is ('%' stays '%')
        _record(conn, label)
        return "created"
    row = conn.execute("SELECT value FROM server_state WHERE key = %s", (_VERSION_KEY,)).fetchone()
    recorded = tuple(int(p) for p in re.findall(r"\d+", row[0])[:3]) if row else now
    if recorded >= now:
        return None
    for path in sorted(_migrations_dir().glob("*.sql")):
        m = _FILE.fullmatch(path.name)
        if m and recorded < tuple(int(g) for g in m.groups()[:3]) <= now:
            conn.execute(path.read_text(encoding="utf-8"))
    _record(conn, label)
    return f"upgraded to {label}"


def _record(conn: psycopg.Connection, label: str) -> None:
    conn.execute("""INSERT INTO server_state (key, value) VALUES (%s, %s)
                    ON CONFLICT (key) DO UPDATE SET value = excluded.value""", (_VERSION_KEY, label))
