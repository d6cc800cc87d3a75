"""Which exceptions mean "database unavailable" (code 0 for Subsonic, 503 for the native API)."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors as pgerrors
from psycopg_pool import PoolTimeout

from native_api.errors import to_problem
from orbsonic.db.pool import unavailable
from orbsonic.errors import DatabaseUnavailable, NotFound
from subsonic_api.errors import to_failure


@pytest.mark.parametrize("exc", [
    PoolTimeout("couldn't get a connection after 10.00 sec"),
    psycopg.OperationalError("connection failed: Connection refused"),  # no SQLSTATE: client side
    pgerrors.AdminShutdown("terminating connection due to administrator command"),
    pgerrors.CrashShutdown("terminating connection because of crash of another server process"),
    pgerrors.CannotConnectNow("the database system is starting up"),
    pgerrors.TooManyConnections("sorry, too many clients already"),
    DatabaseUnavailable("no free connection"),
])
def test_lost_database(exc: Exception) -> None:
    assert isinstance(unavailable(exc), DatabaseUnavailable)
    failure = to_failure(exc)
    assert (failure.code, failure.message) == (0, "database unavailable")
    r = to_problem(exc)
    assert r.status_code == 503 and b'"code":"database-unavailable"' in r.body
    assert type(exc).__name__.encode() not in r.body


@pytest.mark.parametrize("exc", [
    pgerrors.QueryCanceled("canceling statement due to statement timeout"),
    pgerrors.LockNotAvailable("could not obtain lock"),
    pgerrors.UniqueViolation("duplicate key"),
    NotFound("album", 3),
])
def test_other_errors_are_not_an_outage(exc: Exception) -> None:
    assert unavailable(exc) is None
    assert to_failure(exc).message != "database unavailable"
