-- Native streaming (issue 9, docs/native-api.md "Streaming"): per-file-version caches that every
-- worker and replica share. A row is valid only while the track's file has the same size and
-- mtime_ns it was computed from; a changed file is recomputed (and the row replaced).

-- Waveform peaks for the web client's seek bar (orbsonic/analysis/waveform.py, a background job).
CREATE TABLE track_waveforms (
    track_id    bigint PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    size        bigint NOT NULL,                -- bytes of the file the peaks were computed from
    mtime_ns    bigint NOT NULL,
    duration_ms integer NOT NULL,
    peaks       bytea NOT NULL,                 -- little-endian float32 (min, max) pairs, −1..1
    computed_at timestamptz NOT NULL DEFAULT now()
);

-- The dense seek index served by GET /tracks/{id}/seek-index (orbsonic/library/seekindex.py):
-- frame starts about every 0.75 s, derived from tracks.seek_index and verified frame headers.
CREATE TABLE track_seek_points (
    track_id    bigint PRIMARY KEY REFERENCES tracks(id) ON DELETE CASCADE,
    size        bigint NOT NULL,
    mtime_ns    bigint NOT NULL,
    points      bytea NOT NULL                  -- big-endian (u64 sample, u64 byte) pairs
);
