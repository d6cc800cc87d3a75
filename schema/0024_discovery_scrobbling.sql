-- Discovery (getArtistInfo/getAlbumInfo/getSimilarSongs/getTopSongs) and scrobble forwarding
-- (issue 11, "Discovery", "Scrobble forwarding").

-- What the metadata providers (Last.fm, MusicBrainz) said about an artist, cached with a TTL.
-- Filled only by the `metadata.artist` job (orbsonic/integrations/refresh.py), never on the
-- request path; requests read it and queue a refresh when it is missing or past expires_at.
-- No foreign key to artists: an artist missing for one scan keeps its cached info.
-- similar_artists / top_tracks: [{"name": …, "mbid": …}] in the provider's order.
-- image_path: the provider's artist image downloaded under DATA_DIR (served as the `ar-`
-- cover by getCoverArt), image_version its download time in seconds (the cover id's version).
CREATE TABLE artist_info (
    artist_id     bigint PRIMARY KEY,
    mbid          text,
    biography     text,
    lastfm_url    text,
    image_path    text,
    image_version bigint,
    similar_artists jsonb NOT NULL DEFAULT '[]',
    top_tracks    jsonb NOT NULL DEFAULT '[]',
    error         text,                             -- the last fetch's failure, NULL when it worked
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX artist_info_expiry ON artist_info (expires_at, artist_id);

-- An album's images are its own cover (`al-…`), so only notes and ids are cached.
CREATE TABLE album_info (
    album_id      bigint PRIMARY KEY,
    mbid          text,
    notes         text,
    lastfm_url    text,
    error         text,
    fetched_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX album_info_expiry ON album_info (expires_at, album_id);

-- Server-wide play counts and co-listening (getTopSongs, local similar artists, instant mix):
-- the annotations primary key starts with user_id, so "who played item X" needs this index.
CREATE INDEX annotations_item_plays ON annotations (kind, item_id, play_count DESC, user_id)
    WHERE play_count > 0;

-- Per-user credentials of the scrobble services (set with `orbsonic user set NAME
-- --listenbrainz-token T --lastfm-session K` or the native API's /me/scrobbling).
ALTER TABLE users ADD COLUMN listenbrainz_token text;
ALTER TABLE users ADD COLUMN lastfm_session text;

-- The durable outbox of plays to forward: one row per play and service, written in the same
-- transaction as the play (orbsonic/library/plays.py), so a restart loses nothing and a play
-- re-sent by a client (already in play_history) is never queued twice. The `scrobble.forward`
-- job sends a user's pending rows and sets sent_at; a periodic sweep re-queues users whose
-- rows wait (a crash between the commit and the job's deferral, or retries used up).
CREATE TABLE scrobble_outbox (
    user_id    integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    service    text NOT NULL CHECK (service IN ('listenbrainz', 'lastfm')),
    track_id   bigint NOT NULL,
    played_at  timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    last_error text,
    last_attempt_at timestamptz,
    sent_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, service, track_id, played_at)
);
CREATE INDEX scrobble_outbox_pending ON scrobble_outbox (user_id, service, played_at)
    WHERE sent_at IS NULL;
CREATE INDEX scrobble_outbox_sent ON scrobble_outbox (sent_at) WHERE sent_at IS NOT NULL;
