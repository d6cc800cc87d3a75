-- EBU R128 loudness analysed by the `analysis.loudness` job (orbsonic/analysis/loudness.py) for
-- tracks without ReplayGain tags. Kept apart from rg_* (the tags), which always win when served.
ALTER TABLE tracks
    ADD COLUMN r128_loudness   real,      -- integrated loudness, LUFS (gated, BS.1770)
    ADD COLUMN r128_track_gain real,      -- dB to the ReplayGain 2.0 reference, -18 LUFS
    ADD COLUMN r128_track_peak real,      -- true peak, linear amplitude (1.0 = full scale)
    ADD COLUMN r128_album_gain real,      -- dB, from the album's energy-weighted loudness
    ADD COLUMN r128_album_peak real,      -- the album's highest true peak, linear
    ADD COLUMN r128_version    text,      -- '<size>:<mtime_ns>' of the file analysed
    ADD COLUMN r128_error      text;      -- why the last analysis failed (NULL = it did not)
-- Tracks that need analysis: no ReplayGain tag, and not analysed at their current version.
CREATE INDEX tracks_r128_pending ON tracks (album_id, id)
    WHERE rg_track_gain IS NULL;

-- Track covers (orbsonic/covers.py mark_own_covers, run by the `covers.thumbnails` job): a track
-- whose embedded picture differs from its album's cover keeps its own coverArt id.
ALTER TABLE tracks
    ADD COLUMN own_cover       boolean NOT NULL DEFAULT false,
    ADD COLUMN cover_checked   text;     -- '<size>:<mtime_ns>' of the file compared
