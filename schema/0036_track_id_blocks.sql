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
