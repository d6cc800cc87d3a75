"""Cursor pagination for native lists (keyset, stable under concurrent inserts).

A page is `{"items": [...], "next": CURSOR | null}`. A cursor is the sort key of the last item
of the previous page — its sort values followed by the unique id tiebreak — as URL-safe base64
of a JSON array, plus the name of the sort it belongs to, so a cursor of one sort is refused
by another. The library queries take the decoded tuple and continue with
`WHERE (sort_cols, id) > (cursor...)` over the index behind that sort: no OFFSET, and an item
inserted before the cursor never shifts the pages after it.
"""

from __future__ import annotations

import base64
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel

from orbsonic.errors import BadParam

T = TypeVar("T")
MAX_CURSOR = 2048


class Page(BaseModel, Generic[T]):
    """One page of a list; `next` is the cursor of the following page, null on the last."""

    items: list[T]
    next: str | None = None


def encode_cursor(sort: str, key: tuple[Any, ...] | list[Any]) -> str:
    """The cursor continuing after `key` (JSON-serialisable values) in sort `sort`."""
    raw = orjson.dumps([sort, *key])
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str | None, sort: str, arity: int) -> tuple[Any, ...] | None:
    """The key a cursor continues after, or None for no cursor (the first page).

    Raises BadParam("cursor") for a malformed cursor, one of another sort, or of the wrong arity."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise BadParam("cursor", "malformed cursor")
    try:
        data = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        raise BadParam("cursor", "malformed cursor") from None
    if not isinstance(data, list) or len(data) != arity + 1 or data[0] != sort:
        raise BadParam("cursor", f"not a cursor of sort {sort!r}")
    if any(isinstance(v, (dict, list)) for v in data[1:]):
        raise BadParam("cursor", "malformed cursor")
    return tuple(data[1:])


def page(items: list[T], limit: int, sort: str, key_of: Any) -> Page[T]:
    """A Page from `limit + 1` fetched rows: the extra row only says that a next page exists;
    `key_of(item)` gives the sort key tuple of an item."""
    more = len(items) > limit
    items = items[:limit]
    nxt = encode_cursor(sort, key_of(items[-1])) if more and items else None
    return Page[Any](items=items, next=nxt)
