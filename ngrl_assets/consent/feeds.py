"""Parse the consent service's feeds (registrations, withdrawals) into typed rows.

Pure: bytes in, accepted rows and quarantine records out. A file-level problem (not
UTF-8, empty, wrong columns) rejects the whole file at line 0/1; a row-level problem
rejects that row with its line number and rule. Every data row ends in exactly one of
the two outputs, so ``rows_in == accepted + rejected``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ngrl_assets.common import fields as f
from ngrl_assets.common.quarantine import Reject
from ngrl_assets.consent import nhs_number

REGISTRATION_COLUMNS = (
    "participant_reference",
    "nhs_number",
    "forename",
    "surname",
    "date_of_birth",
    "postcode",
    "sex",
    "programme",
    "consent_category",
    "research_discussed",
    "research_agreed",
    "consent_date",
    "life_status",
    "date_of_death",
    "record_date",
)
WITHDRAWAL_COLUMNS = ("participant_reference", "withdrawal_type", "withdrawal_date")

REGISTRATION_SCHEMA: dict[str, Any] = {
    "participant_reference": pl.String,
    "nhs_number": pl.String,
    "forename": pl.String,
    "surname": pl.String,
    "date_of_birth": pl.Date,
    "postcode": pl.String,
    "sex": pl.String,
    "programme": pl.String,
    "consent_category": pl.String,
    "research_discussed": pl.Boolean,
    "research_agreed": pl.Boolean,
    "consent_date": pl.Date,
    "life_status": pl.String,
    "date_of_death": pl.Date,
    "record_date": pl.Date,
    "source_file": pl.String,
    "source_line": pl.Int64,
}
WITHDRAWAL_SCHEMA: dict[str, Any] = {
    "participant_reference": pl.String,
    "withdrawal_type": pl.String,
    "withdrawal_date": pl.Date,
    "source_file": pl.String,
    "source_line": pl.Int64,
}


@dataclass
class ParsedFeed:
    source_file: str
    rows: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rows_in(self) -> int:
        return self.rows.height + len(self.rejects)

    @property
    def file_rejected(self) -> bool:
        return any(r.rule in FILE_RULES for r in self.rejects)


FILE_RULES = {"encoding", "empty_file", "missing_columns", "unexpected_columns"}


def _registration(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "participant_reference": f.token(
            f.required(row, "participant_reference"), "participant_reference"
        ),
        "forename": f.required(row, "forename"),
        "surname": f.required(row, "surname"),
        "postcode": f.required(row, "postcode").upper(),
    }
    try:
        out["nhs_number"] = nhs_number.validate(f.required(row, "nhs_number"))
    except nhs_number.NhsNumberError as exc:
        raise f.FieldError(exc.rule, str(exc)) from None
    out["date_of_birth"] = f.iso_date(f.required(row, "date_of_birth"), "date_of_birth")
    out["sex"] = f.choice(f.required(row, "sex"), "sex", ("F", "M", "U"))
    out["programme"] = f.choice(f.required(row, "programme"), "programme", ("gms", "100kgp"))
    out["consent_category"] = f.choice(
        f.required(row, "consent_category"), "consent_category", ("adult", "child")
    )
    out["research_discussed"] = f.boolean(
        f.required(row, "research_discussed"), "research_discussed"
    )
    out["research_agreed"] = f.boolean(f.required(row, "research_agreed"), "research_agreed")
    out["consent_date"] = f.iso_date(f.required(row, "consent_date"), "consent_date")
    out["life_status"] = f.choice(
        f.required(row, "life_status"), "life_status", ("alive", "deceased")
    )
    out["date_of_death"] = f.optional_iso_date(row.get("date_of_death") or "", "date_of_death")
    out["record_date"] = f.iso_date(f.required(row, "record_date"), "record_date")
    if out["date_of_birth"] > out["record_date"]:
        raise f.FieldError("date_in_future", "date_of_birth is after record_date")
    if out["consent_date"] < out["date_of_birth"]:
        raise f.FieldError("consent_before_birth", "consent_date is before date_of_birth")
    if out["consent_date"] > out["record_date"]:
        raise f.FieldError("date_in_future", "consent_date is after record_date")
    if out["date_of_death"] is not None:
        if out["life_status"] != "deceased":
            raise f.FieldError(
                "inconsistent_fields", "date_of_death given for a living participant"
            )
        if out["date_of_death"] < out["date_of_birth"]:
            raise f.FieldError("death_before_birth", "date_of_death is before date_of_birth")
    return out


def _withdrawal(row: dict[str, str]) -> dict[str, Any]:
    return {
        "participant_reference": f.token(
            f.required(row, "participant_reference"), "participant_reference"
        ),
        "withdrawal_type": f.choice(
            f.required(row, "withdrawal_type"), "withdrawal_type", ("full", "no_further_contact")
        ),
        "withdrawal_date": f.iso_date(f.required(row, "withdrawal_date"), "withdrawal_date"),
    }


def _parse(
    data: bytes,
    source_file: str,
    columns: tuple[str, ...],
    schema: dict[str, Any],
    parse_row: Callable[[dict[str, str]], dict[str, Any]],
) -> ParsedFeed:
    empty = pl.DataFrame(schema=schema)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return ParsedFeed(
            source_file, empty, [Reject(source_file, line, "encoding", "file is not UTF-8")]
        )
    if not text.strip():
        return ParsedFeed(
            source_file, empty, [Reject(source_file, 0, "empty_file", "file is empty")]
        )
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    missing = [c for c in columns if c not in header]
    if missing:
        reason = f"header lacks required columns: {', '.join(missing)}"
        return ParsedFeed(source_file, empty, [Reject(source_file, 1, "missing_columns", reason)])
    extra = [c for c in header if c not in columns]
    if extra:
        reason = f"header has unexpected columns: {', '.join(extra)}"
        return ParsedFeed(
            source_file, empty, [Reject(source_file, 1, "unexpected_columns", reason)]
        )
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for record in reader:
        line = reader.line_num
        if not record or record == [""]:
            continue
        if len(record) != len(header):
            reason = f"row has {len(record)} fields, header has {len(header)}"
            rejects.append(Reject(source_file, line, "field_count", reason))
            continue
        try:
            parsed = parse_row(dict(zip(header, record, strict=True)))
        except f.FieldError as exc:
            rejects.append(Reject(source_file, line, exc.rule, str(exc)))
            continue
        parsed["source_file"] = source_file
        parsed["source_line"] = line
        rows.append(parsed)
    return ParsedFeed(source_file, pl.DataFrame(rows, schema=schema), rejects)


def parse_registrations(data: bytes, source_file: str) -> ParsedFeed:
    return _parse(data, source_file, REGISTRATION_COLUMNS, REGISTRATION_SCHEMA, _registration)


def parse_withdrawals(data: bytes, source_file: str) -> ParsedFeed:
    return _parse(data, source_file, WITHDRAWAL_COLUMNS, WITHDRAWAL_SCHEMA, _withdrawal)
