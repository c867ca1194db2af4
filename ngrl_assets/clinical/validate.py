"""Row checks and typing for one clinical extract, as polars expressions over the raw text
columns (so they run streamed, in the engine, over millions of rows).

Three steps, each a projection of the previous one so every field is parsed once:
``prepare`` trims the text fields and parses each date, number and key into a hidden
column (``__d_<FIELD>``, ``__i_<FIELD>``, ``_key``) plus the NHS-number rule; the
verdicts read those; ``curated_columns`` types the kept fields from them.

A row's verdict is the first rule it breaks, as ``"<rule>\\t<reason>"`` (null when it
passes). Reasons name the field, never its value (values may identify someone). A field
longer than its kind's limit (``sources.FIELD_LIMITS``) is ``field_too_long`` before any
other rule. Counts are whole numbers; HES writes them as ``5.0``, which is 5 (``5.5``
is not a whole number). Two stages: ``syntax_checks`` need only the row;
``link_checks`` need the identity-zone columns joined on (``_participant_id``,
``_registered_dob``, ``_research_ok``, ``_withdrawal``). Duplicate keys and superseded
ONS registrations need more than one row and are decided in ``intake``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import polars as pl

from ngrl_assets.clinical import codes, dates
from ngrl_assets.clinical.sources import (
    DELIVERY_COLUMN,
    LINKAGE_FIELD_LIMIT,
    ClinicalSource,
    Field,
)
from ngrl_assets.common.quarantine import PARTICIPANT_WITHDRAWN
from ngrl_assets.consent import nhs_number

Check = tuple[pl.Expr, str, str]  # condition, rule, reason
KEY_FORM = r"^[0-9]{1,18}$"
# A whole number as HES writes it: 5, -3, or with a zero fraction (5.0, 5.00).
WHOLE_NUMBER_FORM = r"^-?[0-9]+(\.0+)?$"  # and within Int32
_WHOLE_NUMBER = re.compile(WHOLE_NUMBER_FORM)
_ZERO_FRACTION = r"\.0+$"
FLAGS_COLUMN = "diag_dagger_asterisk"


def text_columns(source: ClinicalSource, header: list[str]) -> list[str]:
    """The extract columns intake reads: linkage fields, MYDOB when present, kept fields."""
    return ["NEWNHSNO", "DOB", *(["MYDOB"] if "MYDOB" in header else [])] + [
        f.name for f in source.fields
    ]


def _date(name: str) -> pl.Expr:
    """The parsed date of a field, sentinels included (from ``prepare``)."""
    return pl.col(f"__d_{name}")


def _value(name: str) -> pl.Expr:
    return dates.without_sentinels(_date(name))


def _empty(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name) == "")


def whole_number_expr(value: pl.Expr) -> pl.Expr:
    """The Int32 of a (stripped) whole-number field (``5``, ``5.0``); null when empty or
    not a whole number (``5.5``, ``five``)."""
    return value.str.replace(_ZERO_FRACTION, "").cast(pl.Int32, strict=False)


def parse_whole_number(raw: str) -> int | None:
    """Plain-Python twin of :func:`whole_number_expr`: None for empty, ValueError for
    anything that is not a whole number (a zero fraction is allowed)."""
    text = raw.strip()
    if not text:
        return None
    if not _WHOLE_NUMBER.match(text):
        raise ValueError("not a whole number")
    value = int(text.split(".", 1)[0])
    if not -(2**31) <= value < 2**31:
        raise ValueError("out of range")
    return value


def field_limits(source: ClinicalSource, columns: list[str]) -> dict[str, int]:
    """Largest accepted value (UTF-8 bytes) of every column intake reads."""
    kept = {f.name: f.limit for f in source.fields}
    return {c: kept.get(c, LINKAGE_FIELD_LIMIT) for c in columns}


def too_long_verdict(source: ClinicalSource, columns: list[str]) -> pl.Expr:
    """``field_too_long`` naming the first field longer than its limit, else null (a flat
    coalesce: one length comparison per field)."""
    return pl.coalesce(
        pl.when(pl.col(c).str.len_bytes() > limit).then(
            pl.lit(f"field_too_long\t{c} is longer than {limit} bytes")
        )
        for c, limit in field_limits(source, columns).items()
    )


def _date_fields(source: ClinicalSource) -> list[str]:
    return ["DOB", *(f.name for f in source.fields if f.kind == "date")]


def prepare(
    frame: pl.LazyFrame, source: ClinicalSource, columns: list[str], padded: bool = True
) -> pl.LazyFrame:
    """Trim every text field once (when the line scan saw padding), then parse dates /
    numbers / key / NHS number once."""
    if padded:
        frame = frame.with_columns(pl.col(columns).str.strip_chars())
    parsed = [dates.parse_expr(pl.col(n)).alias(f"__d_{n}") for n in _date_fields(source)]
    parsed += [
        whole_number_expr(pl.col(f.name)).alias(f"__i_{f.name}")
        for f in source.fields
        if f.kind == "int"
    ]
    key = pl.col(source.key).cast(pl.Int64, strict=False) if source.key else pl.lit(None, pl.Int64)
    parsed += [key.alias("_key"), nhs_number.rule_expr("NEWNHSNO").alias("_nhs_rule")]
    return frame.with_columns(parsed)


def syntax_checks(source: ClinicalSource, delivered: dt.date, columns: list[str]) -> list[Check]:
    """Every single-row rule, in the order they are reported (needs ``prepare``)."""
    out: list[Check] = [(_empty("DOB"), "missing_required", "DOB is empty")]
    for rule, reason in nhs_number.RULE_REASONS.items():
        out.append((pl.col("_nhs_rule") == rule, rule, f"NEWNHSNO: {reason}"))
    out.append(
        (
            dates.invalid_expr(pl.col("DOB"), _date("DOB")),
            "invalid_date",
            "DOB is not a real calendar date",
        )
    )
    if "MYDOB" in columns:
        bad = dates.month_year_invalid_expr(pl.col("MYDOB"))
        out.append((bad, "invalid_date", "MYDOB is not mmyyyy"))
    for f in source.fields:
        out += _field_checks(f)
    for f in source.fields:
        if f.kind == "date" and f.required:
            out.append((_value(f.name).is_null(), "missing_required", f"{f.name} is a null date"))
    for name in _date_fields(source):
        out.append(
            (_value(name) > pl.lit(delivered), "future_date", f"{name} is after the delivery date")
        )
    for f in source.fields:
        out += _code_checks(f)
    if source.name == "ons_mortality":
        out.append(
            (
                _value("REG_DATE") < _value("REG_DATE_OF_DEATH"),
                "registration_before_death",
                "REG_DATE is before REG_DATE_OF_DEATH",
            )
        )
    return out


def syntax_verdict(source: ClinicalSource, delivered: dt.date, columns: list[str]) -> pl.Expr:
    """The first single-row rule a row breaks: an oversize field, then ``syntax_checks``."""
    return pl.coalesce(
        too_long_verdict(source, columns), verdict(syntax_checks(source, delivered, columns))
    )


def _field_checks(f: Field) -> list[Check]:
    out: list[Check] = []
    if f.required and f.kind == "icd10":
        missing = codes.icd10_no_code_expr(pl.col(f.name))
        out.append((missing, "missing_required", f"{f.name} is empty or the '-' filler"))
    elif f.required:
        out.append((_empty(f.name), "missing_required", f"{f.name} is empty"))
    if f.kind == "key":
        bad = ~_empty(f.name) & ~pl.col(f.name).str.contains(KEY_FORM)
        out.append((bad, "invalid_format", f"{f.name} is not a numeric key"))
    elif f.kind == "date":
        bad = dates.invalid_expr(pl.col(f.name), _date(f.name))
        out.append((bad, "invalid_date", f"{f.name} is not a real calendar date"))
    elif f.kind == "int":
        bad = ~_empty(f.name) & pl.col(f"__i_{f.name}").is_null()
        out.append((bad, "invalid_number", f"{f.name} is not a whole number (5 or 5.0)"))
    return out


def _code_checks(f: Field) -> list[Check]:
    value = pl.col(f.name)
    if f.kind == "icd10":
        return [
            (codes.icd10_invalid_expr(value), "invalid_icd10", f"{f.name} is not an ICD-10 code")
        ]
    if f.kind == "opcs4":
        return [
            (codes.opcs4_invalid_expr(value), "invalid_opcs4", f"{f.name} is not an OPCS-4 code")
        ]
    if f.kind == "ae_diag":
        reason = f"{f.name} is not a 2-digit A&E diagnosis code"
        return [(codes.ae_diagnosis_invalid_expr(value), "invalid_ae_diagnosis", reason)]
    return []


def link_checks(source: ClinicalSource) -> list[Check]:
    """Rules that need the identity zone: registered, same DOB, plausible, consented."""
    event = _value(source.event_date)
    before_birth = "death_before_birth" if source.name == "ons_mortality" else "event_before_birth"
    return [
        (
            pl.col("_participant_id").is_null(),
            "unknown_patient",
            "NEWNHSNO is not the NHS number of a registered participant",
        ),
        (
            pl.col("_registered_dob") != _date("DOB"),
            "dob_mismatch",
            "DOB does not match the registered date of birth",
        ),
        (
            event < pl.col("_registered_dob"),
            before_birth,
            f"{source.event_date} is before the date of birth",
        ),
        (
            pl.col("_withdrawal") == "full",
            PARTICIPANT_WITHDRAWN,
            "participant has fully withdrawn: no data is curated",
        ),
        (
            ~pl.col("_research_ok").fill_null(False),
            "no_research_consent",
            "participant's consent does not allow research use",
        ),
    ]


def verdict(checks: list[Check]) -> pl.Expr:
    """The first failing check as ``rule\\treason``, else null."""
    if not checks:
        return pl.lit(None, pl.String)
    (cond, rule, reason), rest = checks[0], checks[1:]
    chain: Any = pl.when(cond.fill_null(False)).then(pl.lit(f"{rule}\t{reason}"))
    for cond, rule, reason in rest:
        chain = chain.when(cond.fill_null(False)).then(pl.lit(f"{rule}\t{reason}"))
    return chain.otherwise(pl.lit(None, pl.String))


def age_years(event: pl.Expr, born: pl.Expr) -> pl.Expr:
    """Whole years between ``born`` and ``event`` (null when either is null). Month and day
    are widened first: polars gives them as Int8, where ``month * 100`` wraps around (an
    episode on 31 July of a child born on 12 May of the same year came out as -1)."""

    def month_day(date: pl.Expr) -> pl.Expr:
        return date.dt.month().cast(pl.Int32) * 100 + date.dt.day().cast(pl.Int32)

    before_birthday = month_day(event) < month_day(born)
    years = event.dt.year().cast(pl.Int32) - born.dt.year().cast(pl.Int32)
    return (years - before_birthday.cast(pl.Int32)).cast(pl.Int16)


def typed(f: Field) -> pl.Expr:
    """The curated value of one field (needs ``prepare``)."""
    value = pl.col(f.name)
    if f.kind == "key":
        out = value.cast(pl.Int64, strict=False)
    elif f.kind == "date":
        out = _value(f.name)
    elif f.kind == "int":
        out = pl.col(f"__i_{f.name}")
    elif f.kind == "icd10":
        out = codes.icd10_code_expr(value)
    elif f.kind == "opcs4":
        out = codes.opcs4_code_expr(value)
    else:
        out = value
    return out.alias(f.column)


def has_flags_column(source: ClinicalSource) -> bool:
    return any(name.startswith("DIAG_4_") for name in source.diagnoses)


def flags(source: ClinicalSource) -> pl.Expr:
    """Dagger (D) / asterisk (A) markers of the DIAG_4 fields as ``"01D,02A"`` (null if
    none): the position and the flag, so the normalised codes can stay plain."""
    parts = [
        pl.when(pl.col(name).str.ends_with("-D"))
        .then(pl.lit(name[-2:] + "D"))
        .when(pl.col(name).str.ends_with("-A"))
        .then(pl.lit(name[-2:] + "A"))
        .otherwise(pl.lit(None, pl.String))
        for name in source.diagnoses
        if name.startswith("DIAG_4_")
    ]
    joined = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return pl.when(joined == "").then(None).otherwise(joined).alias(FLAGS_COLUMN)


def curated_columns(source: ClinicalSource) -> list[pl.Expr]:
    """participant id, the kept fields typed, derived age (and HES diagnosis flags)."""
    out = [pl.col("_participant_id").alias("participant_id")]
    out += [typed(f) for f in source.fields]
    if has_flags_column(source):
        out.append(flags(source))
    event = _value(source.event_date)
    out.append(age_years(event, pl.col("_registered_dob")).alias(source.age_column))
    return out


def curated_schema(source: ClinicalSource) -> dict[str, pl.DataType | type[pl.DataType]]:
    """The curated table's polars schema: what ``curated_columns`` produces, plus the
    delivery column."""
    kinds = {"key": pl.Int64, "date": pl.Date, "int": pl.Int32}
    schema: dict[str, pl.DataType | type[pl.DataType]] = {"participant_id": pl.String}
    for f in source.fields:
        schema[f.column] = kinds.get(f.kind, pl.String)
    if has_flags_column(source):
        schema[FLAGS_COLUMN] = pl.String
    schema[source.age_column] = pl.Int16
    schema[DELIVERY_COLUMN] = pl.String
    return schema
