"""NHS number rules (NHS Data Dictionary): 10 digits, Modulus 11 check digit.

Weights 10..2 apply to digits 1-9; check = 11 - (sum mod 11); a result of 11 means 0
and a result of 10 means the number is invalid (no such NHS number is ever issued).
Pure module: no Dagster, no I/O.
"""

from __future__ import annotations

import random

import polars as pl

WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


class NhsNumberError(ValueError):
    """Why a candidate NHS number is not valid; ``rule`` names the failed rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule


def check_digit(first_nine: str) -> int | None:
    """The Modulus 11 check digit for nine digits, or None when the result is 10."""
    total = sum(int(d) * w for d, w in zip(first_nine, WEIGHTS, strict=True))
    check = 11 - (total % 11)
    if check == 11:
        return 0
    if check == 10:
        return None
    return check


def normalise(raw: str) -> str:
    """Strip the spaces and hyphens NHS numbers are often printed with (``943 476 5919``)."""
    return raw.strip().replace(" ", "").replace("-", "")


def validate(raw: str) -> str:
    """Return the canonical 10-digit NHS number or raise NhsNumberError naming the rule."""
    number = normalise(raw)
    if not number:
        raise NhsNumberError("nhs_number_missing", "NHS number is empty")
    if not number.isascii() or not number.isdigit():
        raise NhsNumberError("nhs_number_non_digit", "NHS number contains non-digit characters")
    if len(number) != 10:
        raise NhsNumberError(
            "nhs_number_length", f"NHS number has {len(number)} digits, expected 10"
        )
    expected = check_digit(number[:9])
    if expected is None:
        raise NhsNumberError(
            "nhs_number_check_value_10", "NHS number check value is 10 (never issued)"
        )
    if int(number[9]) != expected:
        raise NhsNumberError(
            "nhs_number_check_digit", "NHS number check digit does not match Modulus 11"
        )
    return number


def is_valid(raw: str) -> bool:
    try:
        validate(raw)
    except NhsNumberError:
        return False
    return True


def generate(rng: random.Random) -> str:
    """A random valid NHS number (synthetic cohorts use the 999 test range prefix)."""
    while True:
        first_nine = "999" + "".join(str(rng.randrange(10)) for _ in range(6))
        check = check_digit(first_nine)
        if check is not None:
            return first_nine + str(check)


def corrupt(number: str, rng: random.Random) -> str:
    """An invalid variant of a valid number (wrong check digit), for defect injection."""
    wrong = [d for d in "0123456789" if d != number[9]]
    return number[:9] + rng.choice(wrong)


def rule_expr(column: str) -> pl.Expr:
    """Vectorised :func:`validate` for extract readers: the failed rule's name per row, or
    null for a valid number. The number must be exactly 10 digits (extracts carry no
    spaces). Integer arithmetic on the whole number, not per-character slicing: this runs
    on every row of every extract."""
    value = pl.col(column)
    number = value.cast(pl.Int64, strict=False)
    digits = [(number // 10 ** (9 - i)) % 10 for i in range(10)]
    total = pl.sum_horizontal(d * w for d, w in zip(digits, WEIGHTS, strict=False))
    check = 11 - total % 11
    check = pl.when(check == 11).then(0).otherwise(check)
    return (
        pl.when(value.is_null() | (value == ""))
        .then(pl.lit("nhs_number_missing"))
        .when(~value.str.contains(r"^[0-9]+$"))
        .then(pl.lit("nhs_number_non_digit"))
        .when(value.str.len_bytes() != 10)
        .then(pl.lit("nhs_number_length"))
        .when(check == 10)
        .then(pl.lit("nhs_number_check_value_10"))
        .when(check != digits[9])
        .then(pl.lit("nhs_number_check_digit"))
        .otherwise(None)
    )


RULE_REASONS = {
    "nhs_number_missing": "NHS number is empty",
    "nhs_number_non_digit": "NHS number contains non-digit characters",
    "nhs_number_length": "NHS number does not have 10 digits",
    "nhs_number_check_value_10": "NHS number check value is 10 (never issued)",
    "nhs_number_check_digit": "NHS number check digit does not match Modulus 11",
}
