"""Quarantine records: a pointer to the rejected input (feed, file, line) with the rule it
broke and a reason. Rejected values themselves are never copied (they may identify
someone); the landing file keeps them for whoever is cleared to look."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from resources.lake import Lake
from resources.tables import TableSpec

# The rule of data refused because its participant has fully withdrawn (tombstoned): every
# intake quarantines it, and the redelivery purge looks for it.
PARTICIPANT_WITHDRAWN = "participant_withdrawn"
PARTICIPANT_WITHDRAWN_REASON = (
    "the participant has fully withdrawn; re-delivered data is not taken in"
)

QUARANTINE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "feed": pl.String,
    "batch": pl.String,
    "source_file": pl.String,
    "line": pl.Int64,
    "rule": pl.String,
    "reason": pl.String,
    "run_id": pl.String,
    "quarantined_at": pl.Datetime("us", "UTC"),
}

QUARANTINE = TableSpec(
    zone="quarantine",
    name="rejected_rows",
    description=(
        "Every rejected input, file or line, with the rule it broke and a reason: a pointer "
        "into the landing zone, never the rejected values. Together with the curated tables "
        "it accounts for every row that landed (rows in = accepted + quarantined)."
    ),
    schema=QUARANTINE_SCHEMA,
    columns={
        "feed": "landing feed (consent_registrations, sequencing_deliveries, clinical/hes_apc...)",
        "batch": "unit of intake the record belongs to (delivery id, landing key); intake "
        "replaces a batch's records exactly when it re-runs",
        "source_file": "landing key of the rejected file",
        "line": "1-based line (header = 1); 0 = the whole file",
        "rule": "the rule broken (documented in docs/landing.md)",
        "reason": "a readable reason (never the rejected value)",
        "run_id": "Dagster run that quarantined it",
        "quarantined_at": "when",
    },
    written_by=(),  # every intake asset; filled in by the catalogue
    identifier_columns=("source_file",),  # landing keys can name a sample
    landing_columns=("source_file",),
)
QUARANTINE_TABLE = QUARANTINE.name


@dataclass(frozen=True)
class Reject:
    source_file: str
    line: int  # 1-based; the header is line 1; 0 means the whole file
    rule: str
    reason: str

    def describe(self) -> str:
        where = f"{self.source_file}:{self.line}" if self.line else self.source_file
        return f"{where}: {self.rule}: {self.reason}"


def to_frame(rejects: list[Reject], feed: str, run_id: str, batch: str) -> pl.DataFrame:
    now = dt.datetime.now(dt.UTC)
    return pl.DataFrame(
        {
            "feed": [feed] * len(rejects),
            "batch": [batch] * len(rejects),
            "source_file": [r.source_file for r in rejects],
            "line": [r.line for r in rejects],
            "rule": [r.rule for r in rejects],
            "reason": [r.reason for r in rejects],
            "run_id": [run_id] * len(rejects),
            "quarantined_at": [now] * len(rejects),
        },
        schema=QUARANTINE_SCHEMA,
    )


def count_by_rule(rejects: list[Reject]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rejects:
        counts[r.rule] = counts.get(r.rule, 0) + 1
    return dict(sorted(counts.items()))


def replace_batches(lake: Lake, feed: str, batches: list[str], frame: pl.DataFrame) -> None:
    """Replace the quarantine records of ``batches`` of ``feed`` with ``frame`` (exact
    match on feed and batch, so re-running an intake never duplicates or loses records,
    and never touches another batch's)."""
    lake.replace(QUARANTINE, frame, {"feed": feed, "batch": batches})
