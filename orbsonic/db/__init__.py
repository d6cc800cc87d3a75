"""Database access: the embedded PostgreSQL (`embedded`) and schema migrations (`migrate`)."""
