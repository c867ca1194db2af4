"""The rows of one extract file, streamed: a lazy polars scan of the pipe-delimited text
with the checks of ``validate`` and the identity-zone join (``lazy_rows``), then, batch by
batch, the decisions that need more than one row (duplicate keys) and the split into
curated rows and quarantine records (``Splitter``). Memory is bounded by a batch plus the
keys seen (8 bytes a row) and the quarantine records.

Fully withdrawn participants: a registered one's rows fail the ``participant_withdrawn``
link check (``validate.link_checks``); an erased one is known only by a tombstone, so the
intake asks the door once per file for the file's distinct NHS numbers
(:func:`distinct_nhs_numbers`, ``consent.linkage.withdrawn_nhs_numbers``) and the rows of
a tombstoned NHS number that the registry no longer knows are ``participant_withdrawn``
too, never ``unknown_patient``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ngrl_assets.clinical import lines, validate
from ngrl_assets.clinical.sources import DELIVERY_COLUMN, ClinicalSource
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.common.quarantine import (
    PARTICIPANT_WITHDRAWN,
    PARTICIPANT_WITHDRAWN_REASON,
    Reject,
)
from resources.lake import Lake

REJECT_SCHEMA: dict[str, pl.DataType | type[pl.DataType]] = {
    "line": pl.Int64,
    "rule": pl.String,
    "reason": pl.String,
}


def scan_extract(path: Path, columns: list[str]) -> pl.LazyFrame:
    """The extract's text fields, unparsed, with ``_line`` (1-based; header = line 1).
    Never quoted, so a line is a row; ragged and non-UTF-8 lines are the line scan's."""
    return pl.scan_csv(
        path,
        separator="|",
        quote_char=None,
        infer_schema=False,
        truncate_ragged_lines=True,
        encoding="utf8-lossy",
        row_index_name="_line",
        row_index_offset=2,
    ).select("_line", *columns)


def _prepared(source: ClinicalSource, path: Path, scan: lines.LineScan) -> pl.LazyFrame:
    """The well-formed lines, trimmed and parsed once (``validate.prepare``)."""
    columns = validate.text_columns(source, scan.header)
    frame = scan_extract(path, columns)
    bad = scan.skipped_line_numbers()
    if bad:
        frame = frame.filter(~pl.col("_line").is_in(pl.Series(bad, dtype=pl.UInt32).implode()))
    return validate.prepare(frame, source, columns, padded=scan.padded)


def distinct_nhs_numbers(source: ClinicalSource, path: Path, scan: lines.LineScan) -> list[str]:
    """The distinct NHS numbers (as the rows are joined on them) of the file's well-formed
    lines: one streamed pass reading one column, for the tombstone question."""
    frame = _prepared(source, path, scan).select(pl.col("NEWNHSNO").drop_nulls().unique())
    return frame.collect().get_column("NEWNHSNO").to_list()


def lazy_rows(
    source: ClinicalSource,
    path: Path,
    scan: lines.LineScan,
    delivered: dt.date,
    linkage: pl.DataFrame,
    withdrawn: Iterable[str] = (),
) -> pl.LazyFrame:
    """Every well-formed line: ``_line``, its syntax verdict, its linkage verdict,
    ``_key`` and the curated columns. ``withdrawn``: the file's NHS numbers that belong to
    tombstoned participants (their rows are ``participant_withdrawn`` when the registry no
    longer knows the number; a registered one fails the link checks' own withdrawal rule)."""
    columns = validate.text_columns(source, scan.header)
    frame = _prepared(source, path, scan).with_columns(
        validate.syntax_verdict(source, delivered, columns).alias("_verdict"),
        pl.col("NEWNHSNO").alias("_nhs_number"),
    )
    frame = frame.join(linkage.lazy(), on="_nhs_number", how="left", maintain_order="left")
    link = validate.verdict(validate.link_checks(source))
    stones = pl.Series("_nhs_number", sorted(set(withdrawn)), dtype=pl.String)
    if stones.len():
        erased = pl.col("_participant_id").is_null() & pl.col("_nhs_number").is_in(stones.implode())
        link = (
            pl.when(erased)
            .then(pl.lit(f"{PARTICIPANT_WITHDRAWN}\t{PARTICIPANT_WITHDRAWN_REASON}"))
            .otherwise(link)
        )
    return frame.select(
        "_line",
        "_verdict",
        link.alias("_link"),
        "_key",
        *validate.curated_columns(source),
    )


def earlier_keys(lake: Lake, source: ClinicalSource, delivery: str) -> pl.Series:
    """Record keys already curated from other deliveries (none for a keyless source)."""
    spec = EXTRACTS[source.name]
    if not source.key or not lake.exists(spec):
        return pl.Series([], dtype=pl.Int64)
    column = source.field(source.key).column
    return (
        lake.scan(spec)
        .filter(pl.col(DELIVERY_COLUMN) != delivery)
        .select(column)
        .collect()
        .get_column(column)
    )


def reject_frame(rejects: list[Reject]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "line": [r.line for r in rejects],
            "rule": [r.rule for r in rejects],
            "reason": [r.reason for r in rejects],
        },
        schema=REJECT_SCHEMA,
    )


@dataclass
class Splitter:
    """Splits streamed batches into curated rows (returned, with ``delivery``) and
    quarantine records (kept as frames of line, rule, reason). ``earlier`` holds keys
    curated from other deliveries (None for a full refresh: the table is replaced)."""

    source: ClinicalSource
    delivery: str
    landing_key: str
    earlier: pl.Series | None = None
    rejected: list[pl.DataFrame] = field(default_factory=list)
    curated: int = 0
    participants: set[str] = field(default_factory=set)
    _seen: list[pl.Series] = field(default_factory=list)

    def split(self, batch: pl.DataFrame) -> pl.DataFrame:
        if self.source.key:
            batch = self._duplicates(batch, self.source.key)
        verdict = pl.coalesce("_verdict", "_link")
        parts = verdict.str.split_exact("\t", 1).struct.rename_fields(["rule", "reason"])
        rejected = batch.filter(verdict.is_not_null()).select(
            pl.col("_line").cast(pl.Int64).alias("line"), parts.alias("v")
        )
        if rejected.height:
            self.rejected.append(rejected.unnest("v"))
        accepted = batch.filter(verdict.is_null()).drop("_verdict", "_link", "_key")
        self.curated += accepted.height
        self.participants.update(accepted.get_column("participant_id").unique().to_list())
        return accepted.with_columns(pl.lit(self.delivery).alias(DELIVERY_COLUMN))

    def _duplicates(self, batch: pl.DataFrame, key: str) -> pl.DataFrame:
        """A key that passed the syntax checks and repeats an earlier delivery or an
        earlier line of this file is a ``duplicate_key``; the first occurrence stays."""
        ok = pl.col("_verdict").is_null()
        seen = pl.concat(self._seen) if self._seen else pl.Series([], dtype=pl.Int64)
        earlier = self.earlier if self.earlier is not None else pl.Series([], dtype=pl.Int64)
        in_earlier = pl.col("_key").is_in(earlier.implode())
        in_file = pl.col("_key").is_in(seen.implode()) | ~pl.col("_key").is_first_distinct()
        batch = batch.with_columns(
            pl.when(ok & in_earlier)
            .then(pl.lit(f"duplicate_key\t{key} was already curated from an earlier delivery"))
            .when(ok & in_file)
            .then(pl.lit(f"duplicate_key\t{key} repeats an earlier line of this file"))
            .otherwise(pl.col("_verdict"))
            .alias("_verdict")
        )
        self._seen.append(batch.filter(pl.col("_verdict").is_null()).get_column("_key"))
        if len(self._seen) > 16:
            self._seen = [pl.concat(self._seen)]
        return batch
