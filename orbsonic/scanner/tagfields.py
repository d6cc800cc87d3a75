"""The declarative tag field table: where each `TrackInfo` field lives in each tag family.

`FIELDS` maps every TrackInfo field to its keys in ID3 frames, MP4 atoms, Vorbis
comments, ASF attributes and APEv2 items (best key first) and to a value kind (how
`orbsonic.scanner.tags` decodes its values). `PLANS` / `PLANS_BY_NAME` are the same table
with lower-cased keys, one plan per family, as the reader walks it. Pure data: no I/O,
no mutagen.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ADVISORY", "BOOL", "DATE", "DISPLAY", "FAMILIES", "FIELDS", "GAIN", "GENRES", "INT", "LIST", "MBID",
    "MBIDS", "NAMES", "PAIR", "PEAK", "PICTURE", "PLANS", "PLANS_BY_NAME", "TEXT", "Field",
]

FAMILIES = ("id3", "mp4", "vorbis", "asf", "ape")

# Value kinds (how the values of a field are decoded).
TEXT, LIST, NAMES, DISPLAY, GENRES = "text", "list", "names", "display", "genres"
PAIR, INT, DATE, BOOL, GAIN, PEAK = "pair", "int", "date", "bool", "gain", "peak"
ADVISORY, MBID, MBIDS, PICTURE = "advisory", "mbid", "mbids", "picture"


@dataclass(frozen=True, slots=True)
class Field:
    """Where one TrackInfo field lives in each tag family, best key first.

    `split_from` names another field whose values are split into names when this one is
    empty (ARTISTS falls back to the split ARTIST tag).
    """

    kind: str
    id3: tuple[str, ...] = ()
    mp4: tuple[str, ...] = ()
    vorbis: tuple[str, ...] = ()
    asf: tuple[str, ...] = ()
    ape: tuple[str, ...] = ()
    split_from: str | None = None


def _ff(*names: str) -> tuple[str, ...]:
    """MP4 freeform (iTunes "----") atom keys."""
    return tuple(f"----:com.apple.iTunes:{name}" for name in names)


def _tx(*names: str) -> tuple[str, ...]:
    """ID3 TXXX frame keys."""
    return tuple(f"TXXX:{name}" for name in names)


def _txxx_style(kind: str, name: str) -> Field:
    """A field stored under one custom name everywhere (TXXX, iTunes freeform, plain key)."""
    return Field(kind, _tx(name), _ff(name), (name,), (name,), (name,))


F = Field
FIELDS: dict[str, Field] = {
    "title": F(TEXT, ("TIT2",), ("\xa9nam",), ("TITLE",), ("Title", "WM/Title"), ("Title",)),
    "artist_display": F(DISPLAY, ("TPE1",), ("\xa9ART",), ("ARTIST",), ("Author", "WM/Author"), ("Artist",)),
    "artists": F(LIST, _tx("ARTISTS"), _ff("ARTISTS"), ("ARTISTS",), ("WM/ARTISTS", "ARTISTS"), ("Artists",),
                 split_from="artist_display"),
    "album": F(TEXT, ("TALB",), ("\xa9alb",), ("ALBUM",), ("WM/AlbumTitle",), ("Album",)),
    "album_artist_display": F(DISPLAY, ("TPE2",), ("aART",), ("ALBUMARTIST", "ALBUM ARTIST", "ALBUM_ARTIST"),
                              ("WM/AlbumArtist",), ("Album Artist", "ALBUMARTIST")),
    "album_artists": F(LIST, _tx("ALBUMARTISTS", "ALBUM ARTISTS"), _ff("ALBUMARTISTS"), ("ALBUMARTISTS",),
                       ("WM/ALBUMARTISTS", "ALBUMARTISTS"), ("Album Artists", "ALBUMARTISTS"),
                       split_from="album_artist_display"),
    "composers": F(NAMES, ("TCOM",), ("\xa9wrt",), ("COMPOSER",), ("WM/Composer",), ("Composer",)),
    "genres": F(GENRES, ("TCON",), ("\xa9gen",), ("GENRE",), ("WM/Genre",), ("Genre",)),
    "track_no": F(PAIR, ("TRCK",), ("trkn",), ("TRACKNUMBER", "TRACK"), ("WM/TrackNumber",),
                  ("Track", "TRACKNUMBER")),
    "track_total": F(INT, _tx("TRACKTOTAL", "TOTALTRACKS"), _ff("TRACKTOTAL"), ("TRACKTOTAL", "TOTALTRACKS"),
                     ("TotalTracks", "TRACKTOTAL", "WM/TrackTotal"), ("TRACKTOTAL", "TOTALTRACKS")),
    "disc_no": F(PAIR, ("TPOS",), ("disk",), ("DISCNUMBER", "DISC"), ("WM/PartOfSet",),
                 ("Disc", "DISCNUMBER")),
    "disc_total": F(INT, _tx("DISCTOTAL", "TOTALDISCS"), _ff("DISCTOTAL"),
                    ("DISCTOTAL", "TOTALDISCS", "DISCC"),
                    ("TotalDiscs", "DISCTOTAL"), ("DISCTOTAL", "TOTALDISCS")),
    "disc_subtitle": F(TEXT, ("TSST",), _ff("DISCSUBTITLE"), ("DISCSUBTITLE",), ("WM/SetSubTitle",),
                       ("DiscSubtitle",)),
    "date": F(DATE, ("TDRC", "TYER"), ("\xa9day",), ("DATE", "YEAR"), ("WM/Year", "DATE", "YEAR"),
              ("Year", "DATE")),
    "original_date": F(DATE, ("TDOR", "TORY") + _tx("ORIGINALDATE", "originalyear"), _ff("ORIGINALDATE"),
                       ("ORIGINALDATE", "ORIGINALYEAR"), ("WM/OriginalReleaseTime", "WM/OriginalReleaseYear"),
                       ("ORIGINALDATE", "ORIGINALYEAR")),
    "release_date": F(DATE, ("TDRL",) + _tx("RELEASEDATE"), _ff("RELEASEDATE"), ("RELEASEDATE",),
                      ("RELEASEDATE",), ("RELEASEDATE",)),
    "compilation": F(BOOL, ("TCMP",) + _tx("COMPILATION"), ("cpil",), ("COMPILATION",),
                     ("WM/IsCompilation", "COMPILATION"), ("Compilation",)),
    "comment": F(TEXT, ("COMM", "COMM:ID3v1 Comment"), ("\xa9cmt",), ("COMMENT", "DESCRIPTION"),
                 ("WM/Comments", "Description"), ("Comment",)),
    "lyrics": F(TEXT, ("USLT",), ("\xa9lyr",), ("LYRICS", "UNSYNCEDLYRICS"), ("WM/Lyrics", "LYRICS"),
                ("Lyrics", "UNSYNCEDLYRICS")),
    "bpm": F(INT, ("TBPM",), ("tmpo",), ("BPM",), ("WM/BeatsPerMinute", "BPM"), ("BPM",)),
    "explicit_status": F(ADVISORY, _tx("ITUNESADVISORY"), ("rtng",), ("ITUNESADVISORY",), ("ITUNESADVISORY",),
                         ("ITUNESADVISORY",)),
    "isrc": F(LIST, ("TSRC",), _ff("ISRC"), ("ISRC",), ("WM/ISRC",), ("ISRC",)),
    "moods": F(LIST, ("TMOO",), _ff("MOOD"), ("MOOD",), ("WM/Mood",), ("Mood",)),
    "groupings": F(LIST, ("GRP1", "TIT1"), ("\xa9grp",), ("GROUPING",), ("WM/ContentGroupDescription",),
                   ("Grouping",)),
    "record_labels": F(LIST, ("TPUB",) + _tx("LABEL"), _ff("LABEL", "publisher"),
                       ("LABEL", "ORGANIZATION", "PUBLISHER"), ("WM/Publisher", "LABEL"),
                       ("Label", "Publisher")),
    "release_types": F(LIST, _tx("MusicBrainz Album Type", "RELEASETYPE"), _ff("MusicBrainz Album Type"),
                       ("RELEASETYPE", "MUSICBRAINZ_ALBUMTYPE"), ("MusicBrainz/Album Type",),
                       ("MUSICBRAINZ_ALBUMTYPE", "RELEASETYPE")),
    "album_version": F(TEXT, _tx("ALBUMVERSION"), _ff("ALBUMVERSION"), ("ALBUMVERSION",), ("ALBUMVERSION",),
                       ("ALBUMVERSION",)),
    "sort_title": F(TEXT, ("TSOT",), ("sonm",), ("TITLESORT",), ("WM/TitleSortOrder",), ("TITLESORT",)),
    "sort_album": F(TEXT, ("TSOA",), ("soal",), ("ALBUMSORT",), ("WM/AlbumSortOrder",), ("ALBUMSORT",)),
    "sort_artist": F(TEXT, ("TSOP",), ("soar",), ("ARTISTSORT",), ("WM/ArtistSortOrder",), ("ARTISTSORT",)),
    "sort_album_artist": F(TEXT, ("TSO2",) + _tx("ALBUMARTISTSORT"), ("soaa",), ("ALBUMARTISTSORT",),
                           ("WM/AlbumArtistSortOrder",), ("ALBUMARTISTSORT",)),
    "rg_track_gain": _txxx_style(GAIN, "REPLAYGAIN_TRACK_GAIN"),
    "rg_track_peak": _txxx_style(PEAK, "REPLAYGAIN_TRACK_PEAK"),
    "rg_album_gain": _txxx_style(GAIN, "REPLAYGAIN_ALBUM_GAIN"),
    "rg_album_peak": _txxx_style(PEAK, "REPLAYGAIN_ALBUM_PEAK"),
    "mbid_recording": F(MBID, ("UFID:http://musicbrainz.org",) + _tx("MusicBrainz Track Id"),
                        _ff("MusicBrainz Track Id"), ("MUSICBRAINZ_TRACKID",),
                        ("MusicBrainz/Track Id", "MUSICBRAINZ_TRACKID"), ("MUSICBRAINZ_TRACKID",)),
    "mbid_track": F(MBID, _tx("MusicBrainz Release Track Id"), _ff("MusicBrainz Release Track Id"),
                    ("MUSICBRAINZ_RELEASETRACKID",),
                    ("MusicBrainz/Release Track Id", "MUSICBRAINZ_RELEASETRACKID"),
                    ("MUSICBRAINZ_RELEASETRACKID",)),
    "mbid_album": F(MBID, _tx("MusicBrainz Album Id"), _ff("MusicBrainz Album Id"), ("MUSICBRAINZ_ALBUMID",),
                    ("MusicBrainz/Album Id", "MUSICBRAINZ_ALBUMID"), ("MUSICBRAINZ_ALBUMID",)),
    "mbid_release_group": F(MBID, _tx("MusicBrainz Release Group Id"), _ff("MusicBrainz Release Group Id"),
                            ("MUSICBRAINZ_RELEASEGROUPID",), ("MusicBrainz/Release Group Id",),
                            ("MUSICBRAINZ_RELEASEGROUPID",)),
    "mbid_artists": F(MBIDS, _tx("MusicBrainz Artist Id"), _ff("MusicBrainz Artist Id"),
                      ("MUSICBRAINZ_ARTISTID",),
                      ("MusicBrainz/Artist Id", "MUSICBRAINZ_ARTISTID"), ("MUSICBRAINZ_ARTISTID",)),
    "mbid_album_artists": F(MBIDS, _tx("MusicBrainz Album Artist Id"), _ff("MusicBrainz Album Artist Id"),
                            ("MUSICBRAINZ_ALBUMARTISTID",),
                            ("MusicBrainz/Album Artist Id", "MUSICBRAINZ_ALBUMARTISTID"),
                            ("MUSICBRAINZ_ALBUMARTISTID",)),
    "has_picture": F(PICTURE, ("APIC",), ("covr",), ("METADATA_BLOCK_PICTURE", "COVERART"), ("WM/Picture",),
                     ("Cover Art (Front)", "Cover Art (Other)")),
}
del F

# The table with lower-cased keys, one plan per family: (field, kind, keys, split_from).
PLANS: dict[str, tuple[tuple[str, str, tuple[str, ...], str | None], ...]] = {
    family: tuple((name, f.kind, tuple(k.lower() for k in getattr(f, family)), f.split_from)
                  for name, f in FIELDS.items())
    for family in FAMILIES
}

# The plans by field name: family -> field -> lower-cased keys (for `split_from`).
PLANS_BY_NAME = {family: {name: keys for name, _kind, keys, _split in plan}
                 for family, plan in PLANS.items()}

