-- Delta sync change log and real-time notifications (issue 9 "Delta sync", "Real-time";
-- docs/native-api.md). Read by orbsonic/library/changes.py and orbsonic/events.py.
--
-- One row per changed item, written by statement-level triggers with transition tables in the
-- same transaction as the change, so the scanner's set-based upserts cost one INSERT … SELECT
-- per statement, not one trigger call per row. kind: 1 track, 2 album, 3 artist, 4 playlist,
-- 5 star, 6 rating. For stars and ratings `item_kind` is the annotation's kind (1 track,
-- 2 album, 3 artist, 4 directory) and `user_id` its owner (a user sees only their own);
-- `folder_id` is the music folder of a track or album (per-user folder access).
--
-- Ids are the sync token. A sequence hands out ids in call order, not commit order, so a reader
-- must never pass an id that an unfinished transaction may still commit below it: each writing
-- transaction first holds a shared advisory lock keyed by the sequence's last value (-1 - value,
-- negative so it never meets the positive keys of the scanner and migrations), and the reader
-- stops at the smallest such value (orbsonic/library/changes.py:horizon).
CREATE TABLE changes (
    id        bigint GENERATED ALWAYS AS IDENTITY (CACHE 1) PRIMARY KEY,
    kind      smallint NOT NULL,
    item_id   bigint NOT NULL,
    item_kind smallint,
    deleted   boolean NOT NULL DEFAULT false,
    user_id   integer,
    folder_id integer,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX changes_at ON changes (at, id);

-- Everything up to `through` has been pruned: an older token answers 410 full-resync-needed.
CREATE TABLE changes_pruned (
    id      smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    through bigint NOT NULL DEFAULT 0
);
INSERT INTO changes_pruned (id) VALUES (1);

CREATE FUNCTION changes_claim() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('orbsonic.changes_claimed', true) IS DISTINCT FROM '1' THEN
        PERFORM pg_advisory_xact_lock_shared(-1 - (SELECT CASE WHEN is_called THEN last_value ELSE 0 END
                                                     FROM changes_id_seq));
        PERFORM set_config('orbsonic.changes_claimed', '1', true);
    END IF;
END $$;

CREATE FUNCTION changes_log_library() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    k smallint := TG_ARGV[0]::smallint;
BEGIN
    PERFORM changes_claim();
    IF TG_OP = 'DELETE' THEN
        IF k = 3 THEN
            INSERT INTO changes (kind, item_id, deleted) SELECT k, id, true FROM old_rows;
        ELSE
            INSERT INTO changes (kind, item_id, deleted, folder_id) SELECT k, id, true, folder_id FROM old_rows;
        END IF;
    ELSIF k = 3 THEN
        INSERT INTO changes (kind, item_id) SELECT k, id FROM new_rows;
    ELSE
        INSERT INTO changes (kind, item_id, folder_id) SELECT k, id, folder_id FROM new_rows;
    END IF;
    RETURN NULL;
END $$;

-- Playlists: the playlist row itself, and its entries (an entry change is an upsert of the
-- playlist, once per statement; entries removed with their deleted playlist log nothing more).
-- Both also notify the owner's real-time stream (orbsonic/events.py), so Subsonic writes
-- (createPlaylist, updatePlaylist) and m3u imports reach the web client too.
CREATE FUNCTION changes_log_playlists() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM changes_claim();
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (kind, item_id, deleted) SELECT 4, id, true FROM old_rows;
        PERFORM pg_notify('orbsonic_events', json_build_object('u', owner_id, 'e', 'playlist',
                          'd', json_build_object('id', id))::text) FROM old_rows;
    ELSE
        INSERT INTO changes (kind, item_id) SELECT 4, id FROM new_rows;
        PERFORM pg_notify('orbsonic_events', json_build_object('u', owner_id, 'e', 'playlist',
                          'd', json_build_object('id', id))::text) FROM new_rows;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION changes_log_playlist_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM changes_claim();
    IF TG_OP = 'DELETE' THEN
        INSERT INTO changes (kind, item_id)
        SELECT 4, p.id FROM (SELECT DISTINCT playlist_id FROM old_rows) e JOIN playlists p ON p.id = e.playlist_id;
        PERFORM pg_notify('orbsonic_events', json_build_object('u', p.owner_id, 'e', 'playlist',
                          'd', json_build_object('id', p.id))::text)
           FROM (SELECT DISTINCT playlist_id FROM old_rows) e JOIN playlists p ON p.id = e.playlist_id;
    ELSE
        INSERT INTO changes (kind, item_id)
        SELECT 4, p.id FROM (SELECT DISTINCT playlist_id FROM new_rows) e JOIN playlists p ON p.id = e.playlist_id;
        PERFORM pg_notify('orbsonic_events', json_build_object('u', p.owner_id, 'e', 'playlist',
                          'd', json_build_object('id', p.id))::text)
           FROM (SELECT DISTINCT playlist_id FROM new_rows) e JOIN playlists p ON p.id = e.playlist_id;
    END IF;
    RETURN NULL;
END $$;

-- Stars and ratings: only a change of starred_at or rating is logged (a scrobble updating
-- play_count is not a sync change).
CREATE FUNCTION changes_log_annotations() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NOT EXISTS (SELECT 1 FROM new_rows WHERE starred_at IS NOT NULL OR rating IS NOT NULL) THEN
            RETURN NULL;
        END IF;
        PERFORM changes_claim();
        INSERT INTO changes (kind, item_id, item_kind, user_id)
        SELECT 5, item_id, kind, user_id FROM new_rows WHERE starred_at IS NOT NULL
        UNION ALL
        SELECT 6, item_id, kind, user_id FROM new_rows WHERE rating IS NOT NULL;
    ELSIF TG_OP = 'DELETE' THEN
        IF NOT EXISTS (SELECT 1 FROM old_rows WHERE starred_at IS NOT NULL OR rating IS NOT NULL) THEN
            RETURN NULL;
        END IF;
        PERFORM changes_claim();
        INSERT INTO changes (kind, item_id, item_kind, user_id, deleted)
        SELECT 5, item_id, kind, user_id, true FROM old_rows WHERE starred_at IS NOT NULL
        UNION ALL
        SELECT 6, item_id, kind, user_id, true FROM old_rows WHERE rating IS NOT NULL;
    ELSE
        IF NOT EXISTS (SELECT 1 FROM new_rows n JOIN old_rows o USING (user_id, kind, item_id)
                        WHERE o.starred_at IS DISTINCT FROM n.starred_at
                           OR o.rating IS DISTINCT FROM n.rating) THEN
            RETURN NULL;
        END IF;
        PERFORM changes_claim();
        INSERT INTO changes (kind, item_id, item_kind, user_id, deleted)
        SELECT 5, n.item_id, n.kind, n.user_id, n.starred_at IS NULL
          FROM new_rows n JOIN old_rows o USING (user_id, kind, item_id)
         WHERE o.starred_at IS DISTINCT FROM n.starred_at
        UNION ALL
        SELECT 6, n.item_id, n.kind, n.user_id, n.rating IS NULL
          FROM new_rows n JOIN old_rows o USING (user_id, kind, item_id)
         WHERE o.rating IS DISTINCT FROM n.rating;
    END IF;
    RETURN NULL;
END $$;

-- Real-time only (not in the change log): the play queue and scan progress.
CREATE FUNCTION events_notify_queue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('orbsonic_events', json_build_object('u', user_id, 'e', 'queue')::text)
           FROM (SELECT DISTINCT user_id FROM old_rows) o;
    ELSE
        PERFORM pg_notify('orbsonic_events', json_build_object('u', user_id, 'e', 'queue')::text)
           FROM (SELECT DISTINCT user_id FROM new_rows) n;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION events_notify_scan() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- u = 0: every user's stream.
    PERFORM pg_notify('orbsonic_events', json_build_object('u', 0, 'e', 'scan', 'd',
                      json_build_object('scanning', phase <> 'idle', 'count', files_done))::text)
       FROM new_rows;
    RETURN NULL;
END $$;

CREATE TRIGGER changes_tracks_ins AFTER INSERT ON tracks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('1');
CREATE TRIGGER changes_tracks_upd AFTER UPDATE ON tracks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('1');
CREATE TRIGGER changes_tracks_del AFTER DELETE ON tracks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('1');
CREATE TRIGGER changes_albums_ins AFTER INSERT ON albums REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('2');
CREATE TRIGGER changes_albums_upd AFTER UPDATE ON albums REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('2');
CREATE TRIGGER changes_albums_del AFTER DELETE ON albums REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('2');
CREATE TRIGGER changes_artists_ins AFTER INSERT ON artists REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('3');
CREATE TRIGGER changes_artists_upd AFTER UPDATE ON artists REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('3');
CREATE TRIGGER changes_artists_del AFTER DELETE ON artists REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_library('3');
CREATE TRIGGER changes_playlists_ins AFTER INSERT ON playlists REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_playlists();
CREATE TRIGGER changes_playlists_upd AFTER UPDATE ON playlists REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_playlists();
CREATE TRIGGER changes_playlists_del AFTER DELETE ON playlists REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_playlists();
CREATE TRIGGER changes_entries_ins AFTER INSERT ON playlist_entries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_playlist_entries();
CREATE TRIGGER changes_entries_upd AFTER UPDATE ON playlist_entries REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_playlist_entries();
CREATE TRIGGER changes_entries_del AFTER DELETE ON playlist_entries REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_playlist_entries();
CREATE TRIGGER changes_annotations_ins AFTER INSERT ON annotations REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_annotations();
CREATE TRIGGER changes_annotations_upd AFTER UPDATE ON annotations
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_annotations();
CREATE TRIGGER changes_annotations_del AFTER DELETE ON annotations REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION changes_log_annotations();
CREATE TRIGGER events_queue_ins AFTER INSERT ON play_queues REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_queue();
CREATE TRIGGER events_queue_upd AFTER UPDATE ON play_queues REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_queue();
CREATE TRIGGER events_queue_del AFTER DELETE ON play_queues REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_queue();
CREATE TRIGGER events_scan_upd AFTER UPDATE ON scan_status REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION events_notify_scan();
