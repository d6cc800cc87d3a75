-- Answer-cache invalidation (subsonic_api/answers.py, issue 13): getArtists and getIndexes are
-- kept rendered per user and request, and dropped by NOTIFY orbsonic_answers, sent on commit to
-- every worker and replica by whatever writes — the scanner, the jobs, the API, SQL by hand.
--   '*'          the library changed (anything the artist index or the folder index shows);
--   'u:<id>'     user <id>'s stars, ratings or plays changed (annotations: starred/userRating on
--                artists, directories and the loose songs of getIndexes, playCount).
-- Statement-level on the library tables: one call per statement of a set-based scan upsert, and
-- PostgreSQL folds identical notifications of one transaction into one.
CREATE FUNCTION orbsonic_answers_library() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orbsonic_answers', '*');
    RETURN NULL;
END $$;

CREATE FUNCTION orbsonic_answers_user() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('orbsonic_answers', 'u:' || OLD.user_id);
    ELSE
        PERFORM pg_notify('orbsonic_answers', 'u:' || NEW.user_id);
        IF TG_OP = 'UPDATE' AND OLD.user_id IS DISTINCT FROM NEW.user_id THEN
            PERFORM pg_notify('orbsonic_answers', 'u:' || OLD.user_id);
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER music_folders_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON music_folders
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER directories_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON directories
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER artists_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON artists
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER albums_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON albums
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER tracks_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tracks
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER track_artists_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON track_artists
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER album_artists_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON album_artists
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER track_genres_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON track_genres
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER genres_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON genres
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
-- library_changed_ms (getIndexes lastModified) lives here.
CREATE TRIGGER server_state_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON server_state
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER annotations_answers AFTER INSERT OR UPDATE OR DELETE ON annotations
    FOR EACH ROW EXECUTE FUNCTION orbsonic_answers_user();
CREATE TRIGGER annotations_answers_truncate AFTER TRUNCATE ON annotations
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
