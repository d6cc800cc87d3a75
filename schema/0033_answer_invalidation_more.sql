-- More answer-cache invalidation (subsonic_api/answers.py, issue 13): the cached reads now also
-- include getAlbum, getArtist, getSong, getMusicDirectory, getGenres, search2/3, getStarred/2 and
-- the play queue. What feeds those and schema/0022 did not watch:
--   album_genres           AlbumID3.genres of getAlbum/getArtist/search3 (a retag)     → '*'
--   play_queues, entries    getPlayQueue / getPlayQueueByIndex of that user              → 'u:<id>'
--   users                   the user's music folders and roles, a deletion               → 'u:<id>'
-- (orbsonic_answers_user of schema/0022 reads user_id; the users row has id.)
CREATE TRIGGER album_genres_answers AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON album_genres
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();

CREATE TRIGGER play_queues_answers AFTER INSERT OR UPDATE OR DELETE ON play_queues
    FOR EACH ROW EXECUTE FUNCTION orbsonic_answers_user();
CREATE TRIGGER play_queues_answers_truncate AFTER TRUNCATE ON play_queues
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();
CREATE TRIGGER play_queue_entries_answers AFTER INSERT OR UPDATE OR DELETE ON play_queue_entries
    FOR EACH ROW EXECUTE FUNCTION orbsonic_answers_user();
CREATE TRIGGER play_queue_entries_answers_truncate AFTER TRUNCATE ON play_queue_entries
    FOR EACH STATEMENT EXECUTE FUNCTION orbsonic_answers_library();

CREATE FUNCTION orbsonic_answers_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('orbsonic_answers', 'u:' || OLD.id);
    RETURN NULL;
END $$;

CREATE TRIGGER users_answers AFTER UPDATE OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION orbsonic_answers_account();
