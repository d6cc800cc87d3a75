-- Podcasts (issue 11 "Podcasts"; docs/subsonic-spec.md §3 Podcast, §5.4 PodcastChannel and
-- PodcastEpisode). One server-wide list of channels, as in Subsonic; users with podcastRole
-- manage it (orbsonic/library/podcasts.py). Feeds are fetched and episodes downloaded by jobs
-- (orbsonic/podcasts/tasks.py) into DATA_DIR/podcasts/<channel id>/.

-- status is the Subsonic PodcastStatus: new (never fetched), downloading (a refresh runs),
-- completed (last refresh worked), error (last refresh failed: error_message says why).
CREATE TABLE podcast_channels (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url            text NOT NULL UNIQUE,
    title          text,
    description    text,
    image_url      text,          -- originalImageUrl, as the feed names it
    image_key      text,          -- the stored copy, relative to DATA_DIR/podcasts
    image_version  bigint,        -- seconds since the epoch of the stored copy (cover id version)
    status         text NOT NULL DEFAULT 'new'
                   CHECK (status IN ('new', 'downloading', 'completed', 'error', 'deleted', 'skipped')),
    error_message  text,
    created_by     integer REFERENCES users(id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    refreshed_at   timestamptz
);
-- getPodcasts lists channels by title, id tiebreak.
CREATE INDEX podcast_channels_order ON podcast_channels (lower(coalesce(title, url)), id);

-- One row per feed item with an audio enclosure, keyed by (channel, guid): a refresh adds
-- new items and updates known ones, and a deleted episode (status 'deleted') stays so that
-- the next refresh does not bring it back.
CREATE TABLE podcast_episodes (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id     bigint NOT NULL REFERENCES podcast_channels(id) ON DELETE CASCADE,
    guid           text NOT NULL,
    title          text NOT NULL DEFAULT '',
    description    text,
    audio_url      text NOT NULL,
    publish_date   timestamptz,
    feed_duration_s integer,      -- itunes:duration from the feed (until the file is probed)
    feed_type      text,          -- the enclosure's type attribute
    feed_length    bigint,        -- the enclosure's length attribute (bytes; often wrong)
    status         text NOT NULL DEFAULT 'new'
                   CHECK (status IN ('new', 'downloading', 'completed', 'error', 'deleted', 'skipped')),
    error_message  text,
    file_key       text,          -- the downloaded file, relative to DATA_DIR/podcasts
    size           bigint,
    content_type   text,
    suffix         text,
    duration_ms    integer,
    bitrate        integer,       -- kbps
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, guid)
);
-- getNewestPodcasts: newest first, id tiebreak; getPodcasts: per channel, newest first.
CREATE INDEX podcast_episodes_newest ON podcast_episodes (publish_date DESC NULLS LAST, id DESC);
CREATE INDEX podcast_episodes_channel ON podcast_episodes (channel_id, publish_date DESC NULLS LAST, id DESC);
