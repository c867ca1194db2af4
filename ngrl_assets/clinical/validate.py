"""Row checks and typing for one clinical extract, as polars expressions over the raw text
columns (so they run streamed, in the engine, over millions of rows).

A row's verdict is the first rule it breaks, as ``"<rule>\\t<reason>"`` (null when it
passes). Reasons name the field, never its value (values may identify someone). Two
stages: ``syntax_verdict`` needs only the row; ``link_verdict`` needs the identity-zone
columns joined on (``_participant_id``, ``_registered_dob``, ``_research_ok``,
``_withdrawal``). Duplicate keys and superseded ONS registrations need more than one row
and are decided in ``intake``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from ngrl_assets.clinical import codes, dates
from ngrl_assets.clinical.sources import ClinicalSource, Field
from ngrl_assets.consent import nhs_number

Check = tuple[pl.Expr, str, str]  # condition, rule, reason
KEY_FORM = r"^[0-9]{1,18}$"
INT_FORM = r"^-?[0-9]{1,9}$"
LINK_COLUMNS = ("_participant_id", "_registered_dob", "_research_ok", "_withdrawal")


def _raw(name: str) -> pl.Expr:
    return pl.col(name).str.strip_chars()


def _empty(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (_raw(name) == "")


def _populated(name: str) -> pl.Expr:
    return ~_empty(name)


def syntax_checks(source: ClinicalSource, delivered: dt.date) -> list[Check]:
    """Every single-row rule, in the order they are reported."""
    out: list[Check] = [(_empty("DOB"), "missing_required", "DOB is empty")]
    nhs_rule = pl.col("_nhs_rule")
    for rule, reason in nhs_number.RULE_REASONS.items():
        out.append((nhs_rule == rule, rule, f"NEWNHSNO: {reason}"))
    out.append((dates.date_invalid("DOB"), "invalid_date", "DOB is not a real calendar date"))
    if "MYDOB" in source.columns:
        out.append((dates.month_year_invalid("MYDOB"), "invalid_date", "MYDOB is not mmyyyy"))
    for f in source.fields:
        out += _field_checks(f)
    for f in source.fields:
        if f.kind == "date" and f.required:
            out.append(
                (dates.date_value(f.name).is_null(), "missing_required", f"{f.name} is a null date")
            )
    for name in ("DOB", *(f.name for f in source.fields if f.kind == "date")):
        out.append(
            (
                dates.date_value(name) > pl.lit(delivered),
                "future_date",
                f"{name} is after the delivery date",
            )
        )
    for f in source.fields:
        out += _code_checks(f)
    if source.name == "ons_mortality":
        out.append(
            (
                dates.date_value("REG_DATE") < dates.date_value("REG_DATE_OF_DEATH"),
                "registration_before_death",
                "REG_DATE is before REG_DATE_OF_DEATH",
            )
        )
    return out


def _field_checks(f: Field) -> list[Check]:
    out: list[Check] = []
    if f.required:
        out.append((_empty(f.name), "missing_required", f"{f.name} is empty"))
    if f.kind == "key":
        bad = _populated(f.name) & ~_raw(f.name).str.contains(KEY_FORM)
        out.append((bad, "invalid_format", f"{f.name} is not a numeric key"))
    elif f.kind == "date":
        out.append(
            (dates.date_invalid(f.name), "invalid_date", f"{f.name} is not a real calendar date")
        )
    elif f.kind == "int":
        bad = _populated(f.name) & ~_raw(f.name).str.contains(INT_FORM)
        out.append((bad, "invalid_number", f"{f.name} is not a whole number"))
    return out


def _code_checks(f: Field) -> list[Check]:
    if f.kind == "icd10":
        return [(codes.icd10_invalid(f.name), "invalid_icd10", f"{f.name} is not an ICD-10 code")]
    if f.kind == "opcs4":
        return [(codes.opcs4_invalid(f.name), "invalid_opcs4", f"{f.name} is not an OPCS-4 code")]
    if f.kind == "ae_diag":
        reason = f"{f.name} is not a 2-digit A&E diagnosis code"
        return [(codes.ae_diagnosis_invalid(f.name), "invalid_ae_diagnosis", reason)]
    return []


def link_checks(source: ClinicalSource) -> list[Check]:
    """Rules that need the identity zone: registered, same DOB, plausible, consented."""
    event = dates.date_value(source.event_date)
    before_birth = "death_before_birth" if source.name == "ons_mortality" else "event_before_birth"
    return [
        (
            pl.col("_participant_id").is_null(),
            "unknown_patient",
            "NEWNHSNO is not the NHS number of a registered participant",
        ),
        (
            pl.col("_registered_dob") != dates.date_value("DOB"),
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
            "participant_withdrawn",
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


def with_nhs_rule(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(nhs_number.rule_expr("NEWNHSNO").alias("_nhs_rule"))


def age_years(event: pl.Expr, born: pl.Expr) -> pl.Expr:
    """Whole years between ``born`` and ``event`` (null when either is null)."""
    before_birthday = (event.dt.month() * 100 + event.dt.day()) < (
        born.dt.month() * 100 + born.dt.day()
    )
    return (event.dt.year() - born.dt.year() - before_birthday.cast(pl.Int32)).cast(pl.Int16)


def typed(f: Field) -> pl.Expr:
    """The curated value of one field from its raw text."""
    raw = _raw(f.name)
    if f.kind == "key":
        value = raw.cast(pl.Int64, strict=False)
    elif f.kind == "date":
        value = dates.date_value(f.name)
    elif f.kind == "int":
        value = raw.cast(pl.Int32, strict=False)
    elif f.kind == "icd10":
        value = codes.icd10_code(f.name)
    elif f.kind == "opcs4":
        value = codes.opcs4_code(f.name)
    else:
        value = pl.when(raw == "").then(None).otherwise(raw)
    return value.alias(f.column)


FLAGS_COLUMN = "diag_dagger_asterisk"


def has_flags_column(source: ClinicalSource) -> bool:
    return any(name.startswith("DIAG_4_") for name in source.diagnoses)


def flags(source: ClinicalSource) -> pl.Expr:
    """Dagger (D) / asterisk (A) markers of the DIAG_4 fields as ``"01D,02A"`` (null if
    none): the position and the flag, so the normalised codes can stay plain."""
    parts = [
        pl.lit(name[-2:]) + codes.icd10_flag(name)
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
    event = dates.date_value(source.event_date)
    out.append(age_years(event, pl.col("_registered_dob")).alias(source.age_column))
    return out
