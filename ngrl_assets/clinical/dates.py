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
_FORMATS = (
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


def _raw(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars()


def _parsed(column: str) -> pl.Expr:
    raw = _raw(column)
    return pl.coalesce(
        *(
            pl.when(raw.str.contains(shape)).then(raw.str.strptime(pl.Date, fmt, strict=False))
            for shape, fmt in _FORMATS
        )
    )


def date_invalid(column: str) -> pl.Expr:
    """Populated but not a real calendar date in a supported form."""
    raw = _raw(column)
    return raw.is_not_null() & (raw != "") & _parsed(column).is_null()


def date_value(column: str) -> pl.Expr:
    """The date, with sentinels and empty fields as null."""
    value = _parsed(column)
    return pl.when(value.is_in(list(SENTINELS))).then(None).otherwise(value)


def month_year_invalid(column: str) -> pl.Expr:
    """``MYDOB``: populated but not ``mmyyyy`` with a month 01-12."""
    raw = _raw(column)
    bad_shape = ~raw.str.contains(r"^(0[1-9]|1[0-2])\d{4}$")
    return raw.is_not_null() & (raw != "") & bad_shape
