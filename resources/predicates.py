"""Delta predicates built from values, never by pasting a value into text.

``Match`` is the only way code asks for rows by value: a mapping of column -> one value or
a collection of values, combined with AND. Columns are checked against the table's
declared schema; values are rendered as strictly quoted SQL literals (strings: every
single quote doubled, control characters refused; integers; dates); ``IN`` and ``=`` only,
never ``LIKE``, so ``_`` and ``%`` are plain characters. Deletes that must leave no value
in the Delta log (erasure) go through a merge with a source frame instead (the lake
resource's ``delete_matching``), since a DELETE commit records its predicate text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Mapping

Value = str | int | dt.date | bool
Match = Mapping[str, Value | Collection[Value]]

_COLUMN = re.compile(r"^[a-z_][a-z0-9_]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafePredicate(ValueError):
    """A value or column that cannot be used in a predicate."""


def literal(value: Value) -> str:
    """A SQL literal for one value, quoted so that it can only ever mean that value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, dt.datetime):
        raise UnsafePredicate("timestamps are not matched by value")
    if isinstance(value, dt.date):
        return f"'{value.isoformat()}'::date"
    if isinstance(value, str):
        if _CONTROL.search(value):
            raise UnsafePredicate("control characters in a predicate value")
        return "'" + value.replace("'", "''") + "'"
    raise UnsafePredicate(f"unsupported predicate value type {type(value).__name__}")


def column(name: str, allowed: Collection[str]) -> str:
    if not _COLUMN.match(name) or name not in allowed:
        raise UnsafePredicate(f"column {name!r} is not a column of the table")
    return name


def render(match: Match, columns: Collection[str], alias: str | None = None) -> str:
    """``a = 'x' AND b IN ('y', 'z')`` for a ``Match``; an empty IN list matches nothing.
    ``alias`` qualifies each column (``t.a``: a merge's target)."""
    if not match:
        raise UnsafePredicate("an empty match would select every row")
    if alias is not None and not _COLUMN.match(alias):
        raise UnsafePredicate(f"alias {alias!r} is not a plain name")
    parts = []
    for name, value in match.items():
        col = column(name, columns)
        col = col if alias is None else f"{alias}.{col}"
        if isinstance(value, str | int | dt.date | bool):
            parts.append(f"{col} = {literal(value)}")
            continue
        values = sorted(set(value), key=repr)
        if not values:
            parts.append("false")
            continue
        parts.append(f"{col} IN ({', '.join(literal(v) for v in values)})")
    return " AND ".join(parts)
