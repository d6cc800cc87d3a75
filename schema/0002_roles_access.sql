-- Every Subsonic role is a column (docs/subsonic-spec.md §3 User: streamRole, scrobblingEnabled and
-- videoConversionRole were missing), and per-user music-folder access.
ALTER TABLE users
    ADD COLUMN can_stream           boolean NOT NULL DEFAULT true,
    ADD COLUMN can_scrobble         boolean NOT NULL DEFAULT true,
    ADD COLUMN can_video_conversion boolean NOT NULL DEFAULT false,
    -- The music folders this user may read; NULL means all of them (also folders added later).
    -- On the user row so that authentication brings it along with no extra query.
    ADD COLUMN folder_ids           integer[];
