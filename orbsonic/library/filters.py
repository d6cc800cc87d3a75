"""Small value types shared by list queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class YearRange:
    """Inclusive year range. `descending` is set when the caller asked from > to
    (getAlbumList byYear: "if fromYear > toYear the list is in reverse chronological order")."""

    low: int
    high: int
    descending: bool = False

    @classmethod
    def between(cls, from_year: int, to_year: int) -> YearRange:
        if from_year <= to_year:
            return cls(from_year, to_year, False)
        return cls(to_year, from_year, True)


# A user's (or a request's) music folders: a list of music folder ids, or None for all of
# them. Every library query that lists or looks up items takes one (`folders=`), so that
# per-user folder access (users.folder_ids) is applied in SQL, never in the handlers.
Folders = Sequence[int] | None


def folder_list(folders: Folders) -> list[int] | None:
    """`folders` as a list for a `= ANY(%s)` parameter (None stays None: no filter)."""
    return None if folders is None else list(folders)


def in_folders(column: str, folders: Folders, param: str = "%(folders)s") -> str:
    """The SQL condition " AND <column> = ANY(<param>)", or "" when `folders` is None.
    `column` is a trusted column expression (never user input)."""
    return "" if folders is None else f" AND {column} = ANY({param})"
