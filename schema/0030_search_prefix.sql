-- Text search (orbsonic/library/search.py): names that start with the query, read in
-- order from a btree range instead of sorting every match of a common word; the sort
-- key walk for the other word matches of artists (artists_browse is album artists only).
-- The key is the first 256 characters (MAX_QUERY_CHARS: every query fits) in "C" order
-- (code points: the range [q, q+1) is exactly the texts starting with q, in any database
-- collation), and short enough for a btree entry whatever a tag holds.
CREATE INDEX tracks_search_prefix ON tracks ((left(search_text, 256) COLLATE "C"), id);
CREATE INDEX albums_search_prefix ON albums ((left(search_text, 256) COLLATE "C"), id);
CREATE INDEX artists_search_prefix ON artists ((left(search_text, 256) COLLATE "C"), id);
CREATE INDEX artists_by_sort_key ON artists (sort_key, id);
