-- Internet radio stations, chat, the jukebox's playlist and user avatars (issue 11,
-- "Internet radio, chat, jukebox, the rest").

-- Subsonic createInternetRadioStation: admins manage one shared list; `id` is the public id
-- (the XSD types it xs:string; we send the decimal text).
CREATE TABLE internet_radio_stations (
    id           integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL,
    stream_url   text NOT NULL,
    homepage_url text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX internet_radio_stations_order ON internet_radio_stations (lower(name), id);

-- Subsonic addChatMessage/getChatMessages: one shared room. getChatMessages?since=<ms> walks
-- (created_at, id).
CREATE TABLE chat_messages (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    message    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_messages_since ON chat_messages (created_at, id);

-- The jukebox (jukeboxControl): one per server, so one row. The playlist of track ids, the
-- current index and the gain are kept here so that every worker answers alike and a
-- restarted player resumes; the live position is asked of the player (orbsonic/library/jukebox.py).
CREATE TABLE jukebox_state (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    track_ids     bigint[] NOT NULL DEFAULT '{}',
    current_index integer NOT NULL DEFAULT -1,
    playing       boolean NOT NULL DEFAULT false,
    gain          real NOT NULL DEFAULT 0.75 CHECK (gain >= 0 AND gain <= 1),
    changed_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO jukebox_state DEFAULT VALUES;

-- getAvatar: an image per user, set with `orbsonic user avatar NAME FILE`.
CREATE TABLE user_avatars (
    user_id      integer PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    content_type text NOT NULL,
    data         bytea NOT NULL,
    changed_at   timestamptz NOT NULL DEFAULT now()
);
