"""Orbsonic: a Subsonic/OpenSubsonic-compatible music server on PostgreSQL.

The `orbsonic` package is the core (configuration, database, scanner, auth, CLI and
app factory). It knows nothing of the Subsonic protocol; that lives in `subsonic_api`.
"""

from __future__ import annotations

__version__ = "0.1.0"
SERVER_NAME = "orbsonic"
