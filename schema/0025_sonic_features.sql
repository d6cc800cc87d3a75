-- Sonic similarity (OpenSubsonic sonicSimilarity; orbsonic/analysis/features.py, sonic.py,
-- sonic_jobs.py): one raw audio-feature vector per analysed track, and a version that every
-- process's in-memory index follows.
CREATE TABLE track_sonic (
    track_id    bigint PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    version     text NOT NULL,          -- '<algo>:<size>:<mtime_ns>' of the file analysed
    vec         bytea,                  -- 46 float32 little-endian (features.GROUPS); NULL on error
    error       text,                   -- why the analysis failed (NULL = it did not)
    analysed_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((vec IS NULL) <> (error IS NULL))
);

-- Bumped by the analysis job after each batch it stores: a process whose index was built at
-- another version rebuilds it (one primary-key read per request).
CREATE TABLE sonic_state (
    id      integer PRIMARY KEY CHECK (id = 1),
    version bigint NOT NULL DEFAULT 0
);
INSERT INTO sonic_state (id, version) VALUES (1, 0);
