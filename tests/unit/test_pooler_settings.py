"""The PgBouncer switch (issue 12): with `database_direct_url` the request pool asks for no
prepared statements and sends no startup options, and session work uses the direct URL."""

from __future__ import annotations

from pathlib import Path

from orbsonic.app import PLANNER_OPTIONS, pooled_connection_options
from orbsonic.config import load_settings


def test_without_a_direct_url_everything_uses_database_url(tmp_path: Path) -> None:
    s = load_settings(env={"DATABASE_URL": "postgresql://db/x", "ORBSONIC_DATA_DIR": str(tmp_path)})
    assert s.session_url == "postgresql://db/x"
    assert pooled_connection_options(s) == {"options": PLANNER_OPTIONS}


def test_with_a_direct_url_the_pool_holds_no_session_state(tmp_path: Path) -> None:
    s = load_settings(env={"DATABASE_URL": "postgresql://pgbouncer/x",
                           "ORBSONIC_DATABASE_DIRECT_URL": "postgresql://postgres/x",
                           "ORBSONIC_JOB_STALLED_AFTER": "2m", "ORBSONIC_DATA_DIR": str(tmp_path)})
    assert s.session_url == "postgresql://postgres/x"
    assert pooled_connection_options(s) == {"prepare_threshold": None}
    assert s.job_stalled_after == 120
