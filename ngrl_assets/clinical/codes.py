"""Clinical code forms (ICD-10, OPCS-4, A&E diagnosis) as they arrive in NHS England
extracts, and how we normalise them.

ICD-10 arrives as ``K358``, ``K35.8``, ``I10X``, ``I10-``, ``I64`` or with a dagger /
asterisk suffix (``E113-D``, ``H360-A``). Normalised: upper-case, dot dropped, the
``-D``/``-A`` suffix split off as a flag, a trailing ``X``/``-`` filler dropped, giving the
3- or 4-character code. A field holding only ``-`` is HES's "no code" filler of an unused
``DIAG_4_nn`` position (real HES APC extracts write it): no code, null. Codes are
upper-case, as NHS England sends them; a lower-case code is outside the forms (invalid),
not silently repaired. OPCS-4 is four characters
(``W401``); ``-`` (no operation) and ``&`` (not known) are valid and mean "no code". A&E
diagnoses (CDS table) are two digits.

Both forms are here: polars expressions for the extract readers (vectorised) and plain
functions with the same rules for tests and one-off use.
"""

from __future__ import annotations

import re

import polars as pl

ICD10_FORM = r"^[A-Z][0-9]{2}([0-9]|\.[0-9]|X|-)?(-[AD])?$"
OPCS4_FORM = r"^([A-Z][0-9]{3}|-|&)$"
AE_DIAGNOSIS_FORM = r"^[0-9]{2}$"
_ICD10 = re.compile(ICD10_FORM)
_OPCS4 = re.compile(OPCS4_FORM)
NO_OPERATION = ("-", "&")
NO_CODE = "-"  # HES filler of an unused diagnosis position


def normalise_icd10(raw: str) -> tuple[str | None, str | None]:
    """``(code, flag)`` for one ICD-10 field; flag is ``D`` (dagger), ``A`` (asterisk) or
    None; ``(None, None)`` for an empty field or the ``-`` "no code" filler. Raises
    ValueError for anything outside the documented (upper-case) forms."""
    text = raw.strip()
    if text in ("", NO_CODE):
        return None, None
    if not _ICD10.match(text):
        raise ValueError("not an ICD-10 code")
    flag = None
    if text.endswith(("-D", "-A")):
        text, flag = text[:-2], text[-1]
    text = text.replace(".", "")
    if len(text) == 4 and text[3] in "X-":
        text = text[:3]
    return text, flag


def normalise_opcs4(raw: str) -> str | None:
    text = raw.strip()
    if not _OPCS4.match(text):
        raise ValueError("not an OPCS-4 code")
    return None if text in NO_OPERATION else text


def icd10_no_code_expr(value: pl.Expr) -> pl.Expr:
    """True where a (stripped) field is empty or the ``-`` "no code" filler."""
    return value.is_null() | (value == "") | (value == NO_CODE)


def icd10_invalid_expr(value: pl.Expr) -> pl.Expr:
    """True where a (stripped) field holds something (not empty, not the ``-`` filler)
    that is not an ICD-10 form."""
    return ~icd10_no_code_expr(value) & ~value.str.contains(ICD10_FORM)


def icd10_code_expr(value: pl.Expr) -> pl.Expr:
    """The normalised code of a valid (stripped) field: no dot, no dagger / asterisk
    suffix, no ``X``/``-`` filler (a valid 3- or 4-character code never ends in either);
    null for an empty field or the ``-`` filler. Literal string operations only: this
    runs on every diagnosis field of every row."""
    plain = value.str.replace_all(".", "", literal=True)
    code = plain.str.strip_suffix("-D").str.strip_suffix("-A").str.strip_chars_end("X-")
    return pl.when(code == "").then(pl.lit(None, pl.String)).otherwise(code)


def icd10_flag_expr(value: pl.Expr) -> pl.Expr:
    """``D`` (dagger, aetiology), ``A`` (asterisk, manifestation) or null."""
    return (
        pl.when(value.str.ends_with("-D"))
        .then(pl.lit("D"))
        .when(value.str.ends_with("-A"))
        .then(pl.lit("A"))
        .otherwise(pl.lit(None, pl.String))
    )


def opcs4_invalid_expr(value: pl.Expr) -> pl.Expr:
    return value.is_not_null() & (value != "") & ~value.str.contains(OPCS4_FORM)


def opcs4_code_expr(value: pl.Expr) -> pl.Expr:
    none = (value == "") | (value == NO_OPERATION[0]) | (value == NO_OPERATION[1])
    return pl.when(none).then(None).otherwise(value)


def ae_diagnosis_invalid_expr(value: pl.Expr) -> pl.Expr:
    return value.is_not_null() & (value != "") & ~value.str.contains(AE_DIAGNOSIS_FORM)


def _clean(column: str) -> pl.Expr:
    return pl.col(column).str.strip_chars()


def _empty_to_null(expr: pl.Expr, column: str) -> pl.Expr:
    return pl.when(_clean(column) == "").then(None).otherwise(expr)


def icd10_invalid(column: str) -> pl.Expr:
    return icd10_invalid_expr(_clean(column))


def icd10_code(column: str) -> pl.Expr:
    return _empty_to_null(icd10_code_expr(_clean(column)), column)


def icd10_flag(column: str) -> pl.Expr:
    return icd10_flag_expr(_clean(column))


def opcs4_invalid(column: str) -> pl.Expr:
    return opcs4_invalid_expr(_clean(column))


def opcs4_code(column: str) -> pl.Expr:
    return opcs4_code_expr(_clean(column))


def ae_diagnosis_invalid(column: str) -> pl.Expr:
    return ae_diagnosis_invalid_expr(_clean(column))
