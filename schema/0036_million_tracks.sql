-- Two changes for the API at 1M tracks (issue 12): block counts of track ids, and covering
-- primary keys of the track link tables.
--
-- Tracks per block of 1,024 ids and music folder, kept by triggers: the deep pages of
-- search3 "" (every track in id order, OFFSET paging: client-compat §4.5) start at their
-- block instead of walking the primary key through the whole offset. At 1M tracks an
-- OFFSET of 900,000 read 900k index entries (~170 ms); summing ≈ 1k block counts and
-- walking < 1,024 + limit entries is a few ms (orbsonic.library.tracks.ids_all).
--
-- The counts change in the same statement (and so the same transaction and snapshot) as
-- the tracks: a page read in one statement sees counts that match the rows it sees.
CREATE TABLE track_id_blocks (
    block     bigint  NOT NULL,  -- tracks.id >> 10
    folder_id integer NOT NULL,
    n         integer NOT NULL,
    PRIMARY KEY (block, folder_id)
);

INSERT INTO track_id_blocks (block, folder_id, n)
SELECT id >> 10, folder_id, count(*) FROM tracks GROUP BY 1, 2;

-- One statement-level function for the three operations: + a row of new_rows, - a row of
-- old_rows, per block and folder, only the counts that change (a rescan that updates
-- tracks in place changes none and locks nothing), in block order (concurrent writers
-- lock the count rows in the same order).
CREATE FUNCTION track_id_blocks_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO track_id_blocks (block, folder_id, n)
        SELECT id >> 10, folder_id, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (block, folder_id) DO UPDATE SET n = track_id_blocks.n + excluded.n;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO track_id_blocks (block, folder_id, n)
        SELECT id >> 10, folder_id, -count(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (block, folder_id) DO UPDATE SET n = track_id_blocks.n + excluded.n;
    ELSE
        INSERT INTO track_id_blocks (block, folder_id, n)
        SELECT block, folder_id, sum(d) FROM (
            SELECT id >> 10 AS block, folder_id, 1 AS d FROM new_rows
            UNION ALL
            SELECT id >> 10, folder_id, -1 FROM old_rows) x
         GROUP BY 1, 2 HAVING sum(d) <> 0 ORDER BY 1, 2
        ON CONFLICT (block, folder_id) DO UPDATE SET n = track_id_blocks.n + excluded.n;
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION track_id_blocks_clear() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM track_id_blocks;
    RETURN NULL;
END $$;

CREATE TRIGGER track_id_blocks_ins AFTER INSERT ON tracks REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION track_id_blocks_count();
CREATE TRIGGER track_id_blocks_upd AFTER UPDATE ON tracks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION track_id_blocks_count();
CREATE TRIGGER track_id_blocks_del AFTER DELETE ON tracks REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION track_id_blocks_count();
CREATE TRIGGER track_id_blocks_trunc AFTER TRUNCATE ON tracks
    FOR EACH STATEMENT EXECUTE FUNCTION track_id_blocks_clear();

-- Hydrating songs (orbsonic.library.tracks.COLUMNS) looks up each track's artists and genres
-- by the primary keys of the link tables, then reads the heap for artist_id / genre_id: with
-- them INCLUDEd the lookups are index-only. 50 random songs at 1M tracks (getRandomSongs,
-- a working set larger than shared_buffers): 460 → 251 buffers read, 10.0 → 6.1 ms.
CREATE UNIQUE INDEX track_artists_key ON track_artists (track_id, role, position) INCLUDE (artist_id);
ALTER TABLE track_artists DROP CONSTRAINT track_artists_pkey,
    ADD CONSTRAINT track_artists_pkey PRIMARY KEY USING INDEX track_artists_key;
CREATE UNIQUE INDEX track_genres_key ON track_genres (track_id, position) INCLUDE (genre_id);
ALTER TABLE track_genres DROP CONSTRAINT track_genres_pkey,
    ADD CONSTRAINT track_genres_pkey PRIMARY KEY USING INDEX track_genres_key;
