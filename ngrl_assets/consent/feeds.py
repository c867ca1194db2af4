"""Parse the consent service's feeds (registrations, withdrawals) into typed rows.

Pure: bytes in, accepted rows and quarantine records out, and never an exception for
anything the bytes hold. A file-level problem (not UTF-8, NUL bytes, empty, a bad header,
anything else that stops parsing) rejects the whole file with one record at the offending
line (0 when there is none) and counts every data line it holds as quarantined; a problem
of one line (a field over :data:`MAX_FIELD_CHARS` or a line no record can be, a quoted
line break, a field rule) rejects that line with its number and rule and the other lines
are taken in. Every data row ends in exactly one of the two outputs, so
``rows_in == accepted + quarantined``. A leading UTF-8 byte order mark is dropped. Rules
are listed in docs/landing.md.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
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
    """One file's outcome. ``data_lines`` counts the non-blank lines after the header
    (what a whole-file reject accounts for in the ledger); ``file_rejected``: the file was
    rejected as a whole (its one reject says why)."""

    source_file: str
    rows: pl.DataFrame
    rejects: list[Reject] = field(default_factory=list)
    data_lines: int = 0
    file_rejected: bool = False

    @property
    def rows_in(self) -> int:
        """Data rows the file holds: every accepted or rejected row, or, when the whole
        file is rejected, every data line it holds (0 for an empty file)."""
        if self.file_rejected:
            return self.data_lines
        return self.rows.height + len(self.rejects)

    @property
    def rows_quarantined(self) -> int:
        return self.rows_in if self.file_rejected else len(self.rejects)


# Limits, deliberately set (docs/landing.md): no consent field is longer than a name or a
# date, so 4 KiB is generous; a longer field rejects its line (it is not a consent record;
# records never span lines, so a broken quote swallows the rest of its own line only). A
# physical line longer than a record of all-maximal fields (every character a doubled
# quote) can be cannot be a valid record either; it is rejected before the csv module
# sees it, so csv's own field limit (128 KiB, process-wide) is never what decides.
MAX_FIELD_CHARS = 4096

FILE_RULES = {
    "encoding",  # not UTF-8
    "nul_bytes",  # a NUL byte anywhere
    "empty_file",  # 0 bytes or only blank lines
    "missing_columns",
    "unexpected_columns",
    "duplicate_columns",
    "unreadable",  # any other failure while parsing the file
}
# Rules of one line: the line is quarantined and the others are taken in (on the header
# line they reject the file, with the same rule).
LINE_RULES = {
    "field_too_long",  # a field over MAX_FIELD_CHARS (or a line no valid record can have)
    "line_break_in_field",  # a quoted field spanning lines: no consent field has one
}


class FileRejected(Exception):
    """The whole file is rejected at ``line`` (0 = no particular line)."""

    def __init__(self, line: int, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.line, self.rule, self.reason = line, rule, reason


class LineRejected(Exception):
    """One line is rejected (a rule of :data:`LINE_RULES`); parsing goes on after it."""

    def __init__(self, line: int, rule: str, reason: str) -> None:
        super().__init__(reason)
        self.line, self.rule, self.reason = line, rule, reason


def data_lines(data: bytes) -> int:
    """Non-blank lines after the header (the first line); 0 for an empty file."""
    text = data.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = [ln for ln in io.StringIO(text, newline="") if ln.strip()]
    return max(len(lines) - 1, 0) if text.strip() else 0


class _Lines:
    """The physical lines of a text for ``csv.reader``, refusing a record that spans lines
    and a line longer than any valid record; ``line`` is the current 1-based line."""

    def __init__(self, text: str, columns: int) -> None:
        self._lines = iter(io.StringIO(text, newline=""))
        self._columns = max(columns, 1)
        # every field maximal and every character a doubled quote, quoted, plus a comma
        self._max_line = self._columns * (2 * MAX_FIELD_CHARS + 3)
        self._in_record = False
        self.line = 0

    def start_record(self) -> None:
        self._in_record = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._in_record:
            self._in_record = False
            raise LineRejected(
                self.line, "line_break_in_field", f"a quoted field on line {self.line} "
                "runs onto the next line (unbalanced quote?)",
            )  # fmt: skip
        text = next(self._lines)
        self.line += 1
        self._in_record = True
        if len(text.rstrip("\r\n")) > self._max_line:
            self._in_record = False
            raise LineRejected(
                self.line, "field_too_long", f"line {self.line} is longer than a record of "
                f"{self._columns} fields of at most {MAX_FIELD_CHARS} characters can be",
            )  # fmt: skip
        return text


def _records(text: str, columns: int) -> Iterator[tuple[int, list[str] | None, str, str]]:
    """(line, fields, "", "") per physical line, or (line, None, rule, reason) for a line
    that is rejected: not valid CSV (``malformed_csv``) or a rule of :data:`LINE_RULES`.

    Records never span lines (refused above), so any problem stays local to its line: the
    reader starts afresh on the next one (``csv.reader`` resets its state on every call)."""
    lines = _Lines(text, columns)
    reader = csv.reader(lines, strict=True)
    while True:
        lines.start_record()
        try:
            record = next(reader)
        except StopIteration:
            return
        except LineRejected as exc:
            yield exc.line, None, exc.rule, exc.reason
            continue
        except csv.Error as exc:
            # csv's messages describe the syntax, never the values
            yield lines.line, None, "malformed_csv", f"line {lines.line} is not valid CSV: {exc}"
            continue
        too_long = next((i for i, v in enumerate(record, 1) if len(v) > MAX_FIELD_CHARS), None)
        if too_long is not None:
            reason = f"field {too_long} on line {lines.line} is longer than {MAX_FIELD_CHARS} "
            yield lines.line, None, "field_too_long", reason + "characters"
            continue
        yield lines.line, record, "", ""


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


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileRejected(line, "encoding", f"line {line} is not UTF-8") from None
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise FileRejected(line, "nul_bytes", f"line {line} holds a NUL byte")
    # A UTF-8 byte order mark (Excel writes one) is not part of the first column's name.
    return text.removeprefix("\ufeff")


def _parse_text(
    text: str,
    source_file: str,
    columns: tuple[str, ...],
    schema: dict[str, Any],
    parse_row: Callable[[dict[str, str]], dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[Reject]]:
    if not text.strip():
        raise FileRejected(0, "empty_file", "file is empty")
    records = _records(text, len(columns))
    _, first, rule, error = next(records)
    if first is None:
        if rule in LINE_RULES:  # a header that no header can be: the file
            raise FileRejected(1, rule, error)
        raise FileRejected(1, "missing_columns", f"header is not valid CSV: {error}")
    header = [h.strip() for h in first]
    missing = [c for c in columns if c not in header]
    if missing:
        raise FileRejected(
            1, "missing_columns", f"header lacks required columns: {', '.join(missing)}"
        )
    extra = [c for c in header if c not in columns]
    if extra:
        raise FileRejected(
            1, "unexpected_columns", f"header has unexpected columns: {', '.join(extra)}"
        )
    if len(set(header)) != len(header):
        raise FileRejected(1, "duplicate_columns", "header names a column twice")
    rows: list[dict[str, Any]] = []
    rejects: list[Reject] = []
    for line, record, rule, error in records:
        if record is None:
            rejects.append(Reject(source_file, line, rule, error))
            continue
        if len(record) <= 1 and not "".join(record).strip():
            continue  # a blank line (not a data line)
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
    return rows, rejects


def _parse(
    data: bytes,
    source_file: str,
    columns: tuple[str, ...],
    schema: dict[str, Any],
    parse_row: Callable[[dict[str, str]], dict[str, Any]],
) -> ParsedFeed:
    """Never raises for anything in the bytes: a file that cannot be read becomes one
    whole-file reject (its rule, its line or 0), counted as every data line it holds."""
    try:
        rows, rejects = _parse_text(_decode(data), source_file, columns, schema, parse_row)
        frame = pl.DataFrame(rows, schema=schema)
    except FileRejected as exc:
        reject = Reject(source_file, exc.line, exc.rule, exc.reason)
        empty_rows = pl.DataFrame(schema=schema)
        return ParsedFeed(source_file, empty_rows, [reject], data_lines(data), file_rejected=True)
    except Exception as exc:
        # the exception text may quote the file's content: only its type is kept
        reason = f"file could not be parsed ({type(exc).__name__})"
        reject = Reject(source_file, 0, "unreadable", reason)
        empty_rows = pl.DataFrame(schema=schema)
        return ParsedFeed(source_file, empty_rows, [reject], data_lines(data), file_rejected=True)
    return ParsedFeed(source_file, frame, rejects, data_lines(data))


def parse_registrations(data: bytes, source_file: str) -> ParsedFeed:
    return _parse(data, source_file, REGISTRATION_COLUMNS, REGISTRATION_SCHEMA, _registration)


def parse_withdrawals(data: bytes, source_file: str) -> ParsedFeed:
    return _parse(data, source_file, WITHDRAWAL_COLUMNS, WITHDRAWAL_SCHEMA, _withdrawal)


def empty(schema: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)
