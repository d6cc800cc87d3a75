"""Smart playlists: rules stored as JSON in playlists.rules, evaluated in SQL (issue 9 "Smart
playlists"; docs/native-api.md "Playlists").

    {"match": "all" | "any",
     "rules": [{"field": "genre", "op": "is", "value": "Rock"}, ...],
     "sort": {"field": "added", "order": "desc"},      # optional
     "limit": 100}                                      # optional

`Rules` validates a rule set (a field/op pair that makes no sense, or a value of the wrong
type, is a pydantic ValidationError naming the rule). `compile_rules` turns it into one SQL
query built with psycopg.sql: column names are fixed Identifiers from the tables below, and
every value is a bound parameter — nothing a user sends is ever spliced into the SQL text.

Evaluated at read time, never materialised: the per-user annotations a rule reads (stars,
ratings, play counts, last played) change on every scrobble, and a stored copy would need a
refresh on every such write and every scan; one indexed query per read is always current
(indexes in schema/0014_smart_playlists.sql). Annotations are the playlist owner's (a shared
"my favourites" shows the owner's favourites, as in Navidrome); folder access is the reader's.
"""

from __future__ import annotations

from datetime import datetime, UTC
from typing import Any, Literal

from psycopg import AsyncConnection, sql
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_RULES = 50
MAX_LIMIT = 10_000  # entries of one smart playlist (also the cap without a limit)

TEXT_FIELDS = ("genre", "artist", "album", "title", "format")
NUMBER_FIELDS = ("year", "rating", "playCount", "bitDepth", "sampleRate", "durationMs")
BOOL_FIELDS = ("starred",)
DATE_FIELDS = ("lastPlayed", "added")
FIELDS = TEXT_FIELDS + NUMBER_FIELDS + BOOL_FIELDS + DATE_FIELDS
OPS_BY_KIND = {
    "text": ("is", "isNot", "contains", "startsWith"),
    "number": ("is", "isNot", "gt", "lt"),
    "bool": ("is", "isNot"),
    "date": ("gt", "lt", "inTheLast"),
}

Field_ = Literal[
    "genre",
    "artist",
    "album",
    "title",
    "format",
    "year",
    "rating",
    "playCount",
    "bitDepth",
    "sampleRate",
    "durationMs",
    "starred",
    "lastPlayed",
    "added",
]
Op = Literal["is", "isNot", "contains", "startsWith", "gt", "lt", "inTheLast"]


def kind_of(field: str) -> str:
    """ "text", "number", "bool" or "date" for a rule field."""
    if field in TEXT_FIELDS:
        return "text"
    if field in NUMBER_FIELDS:
        return "number"
    return "bool" if field in BOOL_FIELDS else "date"


class Rule(BaseModel):
    """One condition: `field op value`. Text values compare case-insensitively; dates are RFC
    3339 times or dates (gt/lt) or a number of days (inTheLast); durationMs in ms."""

    model_config = ConfigDict(extra="forbid")
    field: Field_
    op: Op
    value: bool | int | float | str

    @model_validator(mode="after")
    def _fits(self) -> Rule:
        kind = kind_of(self.field)
        if self.op not in OPS_BY_KIND[kind]:
            raise ValueError(
                f"{self.op} does not apply to {self.field} (use one of {', '.join(OPS_BY_KIND[kind])})"
            )
        v = self.value
        if kind == "text":
            if not isinstance(v, str) or not v or len(v) > 500 or "\x00" in v:
                raise ValueError(f"{self.field} needs a text value of 1-500 characters")
        elif kind == "number":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or abs(v) > 2**53:
                raise ValueError(f"{self.field} needs a number")
        elif kind == "bool":
            if not isinstance(v, bool):
                raise ValueError(f"{self.field} needs true or false")
        elif self.op == "inTheLast":
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 365_000:
                raise ValueError("inTheLast needs a number of days (> 0)")
        else:
            self.value = _parse_time(v)
        return self


def _parse_time(v: Any) -> str:
    if not isinstance(v, str):
        raise ValueError("a date rule needs an RFC 3339 time or a date (YYYY-MM-DD)")
    try:
        t = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{v!r} is not an RFC 3339 time or a date") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


class Sort(BaseModel):
    """The order of a smart playlist's entries (the track id breaks ties)."""

    model_config = ConfigDict(extra="forbid")
    field: Literal[Field_, "random"]  # a nested Literal flattens: the rule fields and "random"
    order: Literal["asc", "desc"] = "asc"


class Rules(BaseModel):
    """A smart playlist's rule set (module docstring). No rules match every track."""

    model_config = ConfigDict(extra="forbid")
    match: Literal["all", "any"] = "all"
    rules: list[Rule] = Field(default_factory=list, max_length=MAX_RULES)
    sort: Sort | None = None
    limit: int | None = Field(None, ge=1, le=MAX_LIMIT)


def _t(col: str) -> sql.Composable:
    return sql.Identifier("t", col)


def _an(col: str) -> sql.Composable:
    return sql.Identifier("an", col)


# Value expressions of the fields (genre is an EXISTS over track_genres instead).
_LOWER = {"artist": "artist_name", "album": "album_name", "title": "title", "format": "suffix"}
_NUMBER = {
    "year": _t("year"),
    "bitDepth": _t("bit_depth"),
    "sampleRate": _t("sample_rate"),
    "durationMs": _t("duration_ms"),
    "rating": sql.SQL("coalesce({}, 0)").format(_an("rating")),
    "playCount": sql.SQL("coalesce({}, 0)").format(_an("play_count")),
}
_DATE = {"lastPlayed": _an("last_played"), "added": _t("created_at")}
_STARRED = sql.SQL("({} IS NOT NULL)").format(_an("starred_at"))
_ANNOTATION = {"rating": "rating", "playCount": "play_count"}


def _expr(field: str) -> sql.Composable:
    if field in _LOWER:
        return sql.SQL("lower({})").format(_t(_LOWER[field]))
    if field == "genre":  # the first genre, for sorting
        return sql.SQL("lower({})").format(_t("genre"))
    if field in _NUMBER:
        return _NUMBER[field]
    if field in _DATE:
        return _DATE[field]
    return _STARRED


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _text_test(expr: sql.Composable, op: str, value: str, params: list[Any]) -> sql.Composable:
    v = value.lower()
    if op in ("is", "isNot"):
        params.append(v)
        return sql.SQL("{} = %s").format(expr)
    params.append(_like_escape(v) + "%" if op == "startsWith" else "%" + _like_escape(v) + "%")
    return sql.SQL("{} LIKE %s").format(expr)


def _condition(rule: Rule, params: list[Any]) -> sql.Composable:
    f, op, v = rule.field, rule.op, rule.value
    kind = kind_of(f)
    if f == "genre":
        test = _text_test(sql.SQL("lower(g.name)"), op, str(v), params)
        exists = sql.SQL(
            "EXISTS (SELECT 1 FROM track_genres tg JOIN genres g ON g.id = tg.genre_id"
            " WHERE tg.track_id = t.id AND {})"
        ).format(test)
        return sql.SQL("NOT ") + exists if op == "isNot" else exists
    expr = _expr(f)
    if kind == "text":
        test = _text_test(expr, op, str(v), params)
        return sql.SQL("NOT ({})").format(test) if op == "isNot" else test
    if kind == "bool":
        # Written as a NULL test so that "starred is true" lets the planner turn the LEFT JOIN
        # into an inner join driven by the annotations_starred index.
        wanted = bool(v) if op == "is" else not v
        return sql.SQL("{} IS NOT NULL" if wanted else "{} IS NULL").format(_an("starred_at"))
    if f in _ANNOTATION and ((op == "gt" and v >= 0) or (op == "is" and v != 0)):
        # No annotation row means 0, which these tests reject anyway: the bare column is
        # NULL-rejecting, so the planner may start from the annotations_* index.
        params.append(v)
        return sql.SQL("{} " + (">" if op == "gt" else "=") + " %s").format(_an(_ANNOTATION[f]))
    if op == "inTheLast":
        params.append(float(v))
        return sql.SQL("{} >= now() - make_interval(secs => %s * 86400)").format(expr)
    params.append(v)
    cast = sql.SQL("::timestamptz") if kind == "date" else sql.SQL("")
    sign = {"is": "=", "gt": ">", "lt": "<"}.get(op)
    if sign is None:  # isNot: a NULL (no year, no bit depth) is "not" the value
        return sql.SQL("{} IS DISTINCT FROM %s{}").format(expr, cast)
    return sql.SQL("{} " + sign + " %s{}").format(expr, cast)


def compile_rules(
    rules: Rules, owner_id: int, folders: list[int] | None, columns: sql.Composable | None = None
) -> tuple[sql.Composable, list[Any]]:
    """(query, params) selecting `columns` (default t.id) of the matching tracks in the
    rules' order and limit (at most MAX_LIMIT), annotations of `owner_id`, tracks in
    `folders` only (None: all)."""
    params: list[Any] = [owner_id]
    conds = [_condition(r, params) for r in rules.rules]
    joiner = sql.SQL(" AND ") if rules.match == "all" else sql.SQL(" OR ")
    where = sql.SQL("({})").format(joiner.join(conds)) if conds else sql.SQL("true")
    if folders is not None:
        where = sql.SQL("{} AND t.folder_id = ANY(%s)").format(where)
        params.append(list(folders))
    if rules.sort is None:
        order = sql.SQL("lower(t.album_artist_name), lower(t.album_name), t.album_id, t.disc_no, t.track_no")
    elif rules.sort.field == "random":
        order = sql.SQL("random()")
    else:
        direction = sql.SQL(" DESC NULLS LAST") if rules.sort.order == "desc" else sql.SQL(" ASC NULLS LAST")
        order = _expr(rules.sort.field) + direction
    params.append(rules.limit or MAX_LIMIT)
    query = sql.SQL(
        "SELECT {cols} FROM tracks t LEFT JOIN annotations an"
        " ON an.user_id = %s AND an.kind = 1 AND an.item_id = t.id"
        " WHERE {where} ORDER BY {order}, t.id LIMIT %s"
    ).format(cols=columns or _t("id"), where=where, order=order)
    return query, params


async def evaluate(
    conn: AsyncConnection, rules: Rules, owner_id: int, folders: list[int] | None
) -> list[int]:
    """Track ids of the rules' matches in order (module docstring)."""
    query, params = compile_rules(rules, owner_id, folders)
    cur = await conn.execute(query, params)
    return [r[0] for r in await cur.fetchall()]


async def totals(
    conn: AsyncConnection, rules: Rules, owner_id: int, folders: list[int] | None
) -> tuple[int, int]:
    """(entry count, total duration in ms) of the rules' matches."""
    inner, params = compile_rules(rules, owner_id, folders, sql.SQL("t.id, t.duration_ms"))
    cur = await conn.execute(
        sql.SQL("SELECT count(*)::integer, coalesce(sum(x.duration_ms), 0)::bigint FROM ({}) x").format(
            inner
        ),
        params,
    )
    row = await cur.fetchone()
    return (row[0], row[1]) if row else (0, 0)


def parse_stored(data: Any) -> Rules | None:
    """The Rules of a playlists.rules value (None for a plain playlist). A stored value that
    no longer validates (written by an older version) matches nothing rather than failing."""
    if data is None:
        return None
    try:
        return Rules.model_validate(data)
    except ValueError:
        return Rules(match="all", rules=[Rule(field="title", op="is", value="\x00")])
