"""Feature vectors for the benchmark library, without decoding 100k files.

The generated library repeats a few audio templates, so analysing it measures ffmpeg, not
the similarity search. `seed_vectors(url)` gives every track a vector (seeded normal noise
around one of 64 "styles", so that neighbourhoods exist) at its current feature version, as
the `analysis.sonic` job would have stored it — the job then finds nothing pending — and bumps
`sonic_state.version`. The measured scenarios (getSonicSimilarTracks, findSonicPath) then run
against the full-size index (bench/api.py; target ≤ 50 ms p50 at 100k).
"""

from __future__ import annotations

import numpy as np
import psycopg

from orbsonic.analysis.features import ALGO_VERSION, DIM


def seed_vectors(url: str, seed: int = 1) -> int:
    """Vectors for every track (COPY); returns how many."""
    rng = np.random.default_rng(seed)
    styles = rng.normal(0, 1, (64, DIM))
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT id, size, mtime_ns FROM tracks ORDER BY id").fetchall()
        conn.execute("TRUNCATE track_sonic")
        vecs = styles[rng.integers(0, len(styles), len(rows))] + rng.normal(0, 0.35, (len(rows), DIM))
        with conn.cursor().copy("COPY track_sonic (track_id, version, vec) FROM STDIN") as copy:
            for (track_id, size, mtime), vec in zip(rows, vecs.astype("<f4")):
                copy.write_row((track_id, f"{ALGO_VERSION}:{size}:{mtime}", vec.tobytes()))
        conn.execute("UPDATE sonic_state SET version = version + 1 WHERE id = 1")
    return len(rows)
