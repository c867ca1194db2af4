"""Dates as NHS England extracts carry them.

A date field may be ``yyyy-mm-dd``, ``yyyyMMdd`` or ``dd/mm/yyyy`` (each source uses
one; we accept all three everywhere, told apart by shape). HES writes the sentinels
``1800-01-01`` (null: nothing submitted / not applicable) and ``1801-01-01`` (an invalid
date was submitted) into populated date fields: both become null. ``MYDOB`` is
``mmyyyy`` (month and year of birth); we only check it, never keep it.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

SENTINELS = (dt.date(1800, 1, 1), dt.date(1801, 1, 1))
_FORMATS = (  # the plain-Python twin's shapes
    (r"^\d{4}-\d{2}-\d{2}$", "%Y-%m-%d"),
    (r"^\d{8}$", "%Y%m%d"),
    (r"^\d{2}/\d{2}/\d{4}$", "%d/%m/%Y"),
)


def parse_date(raw: str) -> dt.date | None:
    """Plain-Python twin of :func:`date_value`: None for empty or a sentinel, ValueError
    for anything that is not a real calendar date in one of the three forms."""
    import re

    text = raw.strip()
    if not text:
        return None
    for shape, fmt in _FORMATS:
        if re.match(shape, text):
            value = dt.datetime.strptime(text, fmt).date()
            return None if value in SENTINELS else value
    raise ValueError("not a date in a supported form")


def parse_expr(value: pl.Expr) -> pl.Expr:
    """The date of a (stripped) field in any of the three forms, sentinels included; null
    when empty or not a real date. Shapes are told apart by length and separator (cheap);
    each form is parsed exactly (two-digit month and day)."""
    n = value.str.len_bytes()
    iso = (n == 10) & (value.str.slice(4, 1) == "-") & (value.str.slice(7, 1) == "-")
    compact = (n == 8) & value.str.contains(r"^\d{8}$")
    dmy = (n == 10) & (value.str.slice(2, 1) == "/") & (value.str.slice(5, 1) == "/")
    return (
        pl.when(iso)
        .then(value.str.strptime(pl.Date, "%Y-%m-%d", strict=False))
        .when(compact)
        .then(value.str.strptime(pl.Date, "%Y%m%d", strict=False))
        .when(dmy)
        .then(value.str.strptime(pl.Date, "%d/%m/%Y", strict=False))
        .otherwise(pl.lit(None, pl.Date))
    )


def without_sentinels(parsed: pl.Expr) -> pl.Expr:
    return pl.when(parsed.is_in(list(SENTINELS))).then(None).otherwise(parsed)


def invalid_expr(value: pl.Expr, parsed: pl.Expr) -> pl.Expr:
    return value.is_not_null() & (value != "") & parsed.is_null()


def _raw(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars()


def date_invalid(column: str) -> pl.Expr:
    """Populated but not a real calendar date in a supported form."""
    return invalid_expr(_raw(column), parse_expr(_raw(column)))


def date_value(column: str) -> pl.Expr:
    """The date, with sentinels and empty fields as null."""
    return without_sentinels(parse_expr(_raw(column)))


def month_year_invalid_expr(value: pl.Expr) -> pl.Expr:
    """``MYDOB``: populated but not ``mmyyyy`` with a month 01-12."""
    bad_shape = ~value.str.contains(r"^(0[1-9]|1[0-2])\d{4}$")
    return value.is_not_null() & (value != "") & bad_shape


def month_year_invalid(column: str) -> pl.Expr:
    return month_year_invalid_expr(_raw(column))
