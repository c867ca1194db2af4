"""Quarantine records: a pointer to the rejected input (feed, file, line) with the rule it
broke and a reason. Rejected values themselves are never copied (they may identify
someone); the landing file keeps them for whoever is cleared to look."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

QUARANTINE_TABLE = "rejected_rows"

QUARANTINE_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "feed": pl.String,
    "source_file": pl.String,
    "line": pl.Int64,
    "rule": pl.String,
    "reason": pl.String,
    "run_id": pl.String,
    "quarantined_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class Reject:
    source_file: str
    line: int  # 1-based; the header is line 1; 0 means the whole file
    rule: str
    reason: str

    def describe(self) -> str:
        where = f"{self.source_file}:{self.line}" if self.line else self.source_file
        return f"{where}: {self.rule}: {self.reason}"


def to_frame(rejects: list[Reject], feed: str, run_id: str) -> pl.DataFrame:
    now = dt.datetime.now(dt.UTC)
    return pl.DataFrame(
        {
            "feed": [feed] * len(rejects),
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
