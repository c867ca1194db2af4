"""Field parsers shared by the feeds. Each raises FieldError naming the rule it broke;
messages name the column but never echo the value (it may be identifying)."""

from __future__ import annotations

import datetime as dt
import re


class FieldError(ValueError):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]+$")


def required(row: dict[str, str], column: str) -> str:
    value = (row.get(column) or "").strip()
    if not value:
        raise FieldError("missing_required", f"{column} is empty")
    return value


def iso_date(value: str, column: str) -> dt.date:
    if not _ISO.match(value):
        raise FieldError("invalid_date", f"{column} is not a yyyy-mm-dd date")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise FieldError("invalid_date", f"{column} is not a real calendar date") from None


def optional_iso_date(value: str, column: str) -> dt.date | None:
    value = value.strip()
    return iso_date(value, column) if value else None


def boolean(value: str, column: str) -> bool:
    lowered = value.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    raise FieldError("invalid_enum", f"{column} must be true or false")


def choice(value: str, column: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise FieldError("invalid_enum", f"{column} must be one of {', '.join(allowed)}")
    return value


def token(value: str, column: str) -> str:
    if not _TOKEN.match(value):
        raise FieldError("invalid_format", f"{column} must match [A-Za-z0-9_-]+")
    return value
