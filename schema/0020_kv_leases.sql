-- Counting semaphores shared by every worker and replica of one database (orbsonic/kv/semaphore.py):
-- one row per slot held. A holder renews `expires_at` while it works; a worker that dies stops
-- renewing and its slots free themselves when they expire. UNLOGGED: a crash forgets the leases,
-- which only frees slots whose holders died with it. The primary key serves the per-name count.
CREATE UNLOGGED TABLE kv_leases (
    name       text NOT NULL,
    holder     text NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (name, holder)
);
