-- Podcast episodes are played like songs (issue 11): `scrobble` and OpenSubsonic
-- `reportPlayback mediaType=podcast` put them in now playing and count their plays.

-- A player plays a track or an episode, never both (orbsonic/library/nowplaying.py).
ALTER TABLE now_playing ALTER COLUMN track_id DROP NOT NULL,
    ADD COLUMN episode_id bigint REFERENCES podcast_episodes(id) ON DELETE CASCADE,
    ADD CONSTRAINT now_playing_one_item CHECK ((track_id IS NULL) <> (episode_id IS NULL));

-- One row per play of an episode, as play_history is for tracks (a re-sent identical
-- scrobble counts once). Episodes are not forwarded to ListenBrainz or Last.fm (music
-- services), and have no album/artist counters to maintain.
CREATE TABLE podcast_play_history (
    user_id    integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    episode_id bigint NOT NULL REFERENCES podcast_episodes(id) ON DELETE CASCADE,
    played_at  timestamptz NOT NULL,
    client     text NOT NULL DEFAULT '',
    PRIMARY KEY (user_id, episode_id, played_at)
);
CREATE INDEX podcast_play_history_recent ON podcast_play_history (user_id, played_at DESC, episode_id);
