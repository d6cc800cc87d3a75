-- Lyrics (OpenSubsonic songLyrics, docs/subsonic-spec.md §5.4): one row per set of lyrics of a
-- track, from embedded USLT/SYLT frames or LYRICS tags, or from .lrc/.txt sidecar files
-- (orbsonic/scanner/lyrics.py). Served by getLyricsBySongId and getLyrics
-- (orbsonic/library/lyrics.py). Rows are replaced whenever the scanner re-reads the track.
CREATE TABLE track_lyrics (
    track_id       bigint NOT NULL REFERENCES tracks(id) ON DELETE CASCADE,
    position       smallint NOT NULL,               -- order of the sets for the track
    source         text NOT NULL,                   -- 'uslt', 'sylt', 'tag', 'lrc', 'txt'
    lang           text NOT NULL DEFAULT 'xxx',     -- ISO 639 as found; 'xxx' unknown
    synced         boolean NOT NULL,
    display_artist text,
    display_title  text,
    -- [[start ms or null, text], ...]; LRC [offset:] already applied to the starts.
    lines          jsonb NOT NULL,
    PRIMARY KEY (track_id, position)
);

-- The lyrics sidecars a track was read with: "name<TAB>bytes<TAB>mtime_ns" lines. A rescan
-- re-reads a track whose sidecars changed, appeared or vanished, even if the audio did not.
ALTER TABLE tracks ADD COLUMN lyrics_sig text;

-- Tracks scanned before this migration: their embedded lyrics text (tracks.lyrics) as one
-- unsynced set, so lyrics answer before the next full scan.
INSERT INTO track_lyrics (track_id, position, source, lang, synced, lines)
SELECT t.id, 1, 'tag', 'xxx', false,
       (SELECT jsonb_agg(jsonb_build_array(NULL, l) ORDER BY n)
          FROM unnest(string_to_array(replace(t.lyrics, E'\r', ''), E'\n')) WITH ORDINALITY u(l, n))
  FROM tracks t WHERE t.lyrics IS NOT NULL AND t.lyrics <> '';
