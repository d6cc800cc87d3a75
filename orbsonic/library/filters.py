"""Small value types shared by list queries."""

from __future__ import annotations

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
