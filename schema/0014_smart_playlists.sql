-- Smart playlists (orbsonic/library/smart.py) and native playlist/queue/upload routes.
-- An index behind each smart-rule field that a rule can narrow with: range and equality
-- tests on the numeric and time columns, case-insensitive equality and prefix/substring tests
-- on the text columns (trigram indexes serve LIKE '%x%' and 'x%' on lower(...)). genre goes
-- through track_genres_genre, annotation fields through annotations_* (0001).
CREATE INDEX tracks_smart_added ON tracks (created_at, id);
CREATE INDEX tracks_smart_duration ON tracks (duration_ms, id);
CREATE INDEX tracks_smart_audio ON tracks (bit_depth, sample_rate, id);
CREATE INDEX tracks_smart_rate ON tracks (sample_rate, id);
CREATE INDEX tracks_smart_suffix ON tracks (lower(suffix), id);
CREATE INDEX tracks_smart_artist ON tracks USING gin (lower(artist_name) gin_trgm_ops);
CREATE INDEX tracks_smart_album ON tracks USING gin (lower(album_name) gin_trgm_ops);
CREATE INDEX tracks_smart_title ON tracks USING gin (lower(title) gin_trgm_ops);
CREATE INDEX genres_smart_name ON genres USING gin (lower(name) gin_trgm_ops);
-- Smart playlists listed apart from plain ones (getPlaylists computes their counts).
CREATE INDEX playlists_smart ON playlists (id) WHERE rules IS NOT NULL;

-- Resumable uploads (native_api/endpoints/upload.py): a session per file being sent; the
-- bytes so far live in a temp file in the upload folder named after the session id.
CREATE TABLE upload_sessions (
    id         text PRIMARY KEY,
    user_id    integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    filename   text NOT NULL,
    size       bigint NOT NULL CHECK (size > 0),
    "offset"   bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_sessions_user ON upload_sessions (user_id, created_at);
