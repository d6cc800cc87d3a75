-- Native API library lists (docs/native-api.md "Library", orbsonic/library/browse_native.py):
-- keyset pages walk one index per sort, in the sort's key columns then the id, so that
-- `WHERE (keys…, id) > (cursor…) ORDER BY keys…, id LIMIT n` reads n index entries
-- (ascending, or the same index backwards for descending). Sorts already served by
-- schema/0001 (albums_by_name, albums_by_artist, albums_newest, artists_browse) get none.
-- Nullable disc/track numbers and years are keyed through coalesce(…, 0): a row comparison
-- with a NULL is never true, and the item would be skipped by every later page.
CREATE INDEX tracks_by_title ON tracks (sort_title, id);
CREATE INDEX tracks_by_artist ON tracks (artist_name, album_name, album_id, (coalesce(disc_no, 0)),
                                         (coalesce(track_no, 0)), id);
CREATE INDEX tracks_by_album ON tracks (album_name, album_id, (coalesce(disc_no, 0)),
                                        (coalesce(track_no, 0)), id);
CREATE INDEX tracks_by_year_key ON tracks ((coalesce(year, 0)), id);
CREATE INDEX tracks_added ON tracks (created_at, id);
CREATE INDEX albums_by_year_key ON albums ((coalesce(year, 0)), id);
CREATE INDEX artists_by_albums ON artists (album_count, id) WHERE is_album_artist;
-- Per-user orders: the 0001 annotation indexes run (value DESC, item_id ASC), which no
-- single-direction keyset order matches; these run both columns one way.
CREATE INDEX annotations_played_key ON annotations (user_id, kind, last_played, item_id)
    WHERE last_played IS NOT NULL;
CREATE INDEX annotations_plays_key ON annotations (user_id, kind, play_count, item_id)
    WHERE play_count > 0;
CREATE INDEX annotations_rating_key ON annotations (user_id, kind, rating, item_id)
    WHERE rating IS NOT NULL;
