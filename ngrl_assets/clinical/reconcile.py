"""Reconcile a curated clinical table with the landing ledger: for every delivery the
ledger records as ``processed`` (its latest entry), the curated rows the table holds for
that delivery (``delivery`` column; landing key ``clinical/<source>/<delivery>``) must be
what the ledger says was accepted, as the delivery semantics define it:

- ``incremental`` (HES, AV_TUMOUR): held = ``rows_accepted`` for every delivery;
- ``full`` refresh: the delivery processed last holds exactly ``rows_accepted``, every
  earlier one 0 (the refresh replaced it);
- ONS (incremental): the delivery processed last holds exactly ``rows_accepted``; an
  earlier one at most its ``rows_accepted`` (a later registration of the same death
  replaces a row; ``superseded_registration``);
- and no row belongs to a delivery without a ``processed`` ledger entry.

Intake writes the table and the ledger together, so a mismatch means the table changed
behind intake's back (a manual edit, a lost commit, a restore) or a bug. Counts and
delivery file names (validated) only: never row values."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ngrl_assets.clinical.sources import DELIVERY_COLUMN, ClinicalSource
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.common import ledger
from resources.lake import Lake


@dataclass
class Reconciliation:
    deliveries: int = 0  # processed deliveries checked
    mismatched: list[str] = field(default_factory=list)  # delivery file names
    rows_missing: int = 0  # accepted rows the table no longer holds
    rows_unexpected: int = 0  # rows beyond what the ledger accepted (or untracked)

    @property
    def passed(self) -> bool:
        return not self.mismatched

    def metadata(self) -> dict[str, Any]:
        return {
            "deliveries_checked": self.deliveries,
            "deliveries_mismatched": len(self.mismatched),
            "mismatched_deliveries": sorted(self.mismatched)[:20],
            "rows_missing": self.rows_missing,
            "rows_unexpected": self.rows_unexpected,
        }


def reconcile(lake: Lake, source: ClinicalSource, mode: str) -> Reconciliation:
    prefix = source.feed + "/"
    entries = ledger.read(lake).filter(pl.col("feed") == source.feed)
    latest = entries.sort("processed_at").group_by("landing_key", maintain_order=True).last()
    processed = (
        latest.filter(pl.col("status") == ledger.LedgerStatus.PROCESSED)
        .sort("processed_at")
        .select(
            pl.col("landing_key").str.strip_prefix(prefix).alias(DELIVERY_COLUMN),
            pl.col("rows_accepted").alias("accepted"),
        )
    )
    held = (
        lake.scan(EXTRACTS[source.name])
        .group_by(DELIVERY_COLUMN)
        .agg(pl.len().cast(pl.Int64).alias("held"))
        .collect()
    )
    out = Reconciliation(deliveries=processed.height)
    newest = processed[DELIVERY_COLUMN][-1] if processed.height else None
    replaces = mode == "full"
    keeps_latest = source.name == "ons_mortality"
    counts = dict(zip(held[DELIVERY_COLUMN], held["held"], strict=True))
    for delivery, accepted in processed.iter_rows():
        got = int(counts.pop(delivery, 0))
        if delivery == newest:
            expected, at_most = accepted, False
        elif replaces:
            expected, at_most = 0, False
        else:
            expected, at_most = accepted, keeps_latest
        if got > expected or (got < expected and not at_most):
            out.mismatched.append(delivery)
            out.rows_missing += max(expected - got, 0)
            out.rows_unexpected += max(got - expected, 0)
    for delivery, got in counts.items():  # rows of no processed delivery
        out.mismatched.append(str(delivery))
        out.rows_unexpected += int(got)
    return out
