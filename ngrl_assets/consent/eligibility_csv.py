"""Read the eligibility CSV of ``ngrl eligibility`` into ConsentFacts, row by row.

Columns: participant,consent_category,discussed,agreed,dob,consent_date,deceased,withdrawal
(``withdrawal`` empty, ``full`` or ``no_further_contact``; booleans ``true``/``false``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from ngrl_assets.common import fields as f
from ngrl_assets.consent.eligibility import ConsentFacts

COLUMNS = (
    "participant",
    "consent_category",
    "discussed",
    "agreed",
    "dob",
    "consent_date",
    "deceased",
    "withdrawal",
)


class EligibilityInputError(ValueError):
    def __init__(self, source: str, line: int, rule: str, message: str) -> None:
        super().__init__(f"{source}:{line}: {rule}: {message}")
        self.rule = rule


@dataclass(frozen=True)
class Row:
    line: int
    participant: str
    facts: ConsentFacts | None
    error: EligibilityInputError | None = None


def _facts(row: dict[str, str]) -> ConsentFacts:
    withdrawal = (row.get("withdrawal") or "").strip() or "none"
    facts = ConsentFacts(
        consent_category=f.choice(  # type: ignore[arg-type]
            f.required(row, "consent_category"), "consent_category", ("adult", "child")
        ),
        research_discussed=f.boolean(f.required(row, "discussed"), "discussed"),
        research_agreed=f.boolean(f.required(row, "agreed"), "agreed"),
        date_of_birth=f.iso_date(f.required(row, "dob"), "dob"),
        consent_date=f.iso_date(f.required(row, "consent_date"), "consent_date"),
        deceased=f.boolean(f.required(row, "deceased"), "deceased"),
        withdrawal=f.choice(  # type: ignore[arg-type]
            withdrawal, "withdrawal", ("none", "full", "no_further_contact")
        ),
    )
    if facts.consent_date < facts.date_of_birth:
        raise f.FieldError("consent_before_birth", "consent_date is before dob")
    return facts


def read_rows(text: str, source: str) -> Iterator[Row]:
    """Yield one Row per data line; a row that breaks a rule carries its error instead."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader, [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise EligibilityInputError(
            source, 1, "missing_columns", f"header lacks {', '.join(missing)}"
        )
    for record in reader:
        line = reader.line_num
        if not record or record == [""]:
            continue
        participant = record[header.index("participant")] if len(record) == len(header) else ""
        if len(record) != len(header):
            err = EligibilityInputError(
                source, line, "field_count", f"{len(record)} fields, header has {len(header)}"
            )
            yield Row(line, participant, None, err)
            continue
        try:
            yield Row(line, participant, _facts(dict(zip(header, record, strict=True))))
        except f.FieldError as exc:
            yield Row(
                line, participant, None, EligibilityInputError(source, line, exc.rule, str(exc))
            )
