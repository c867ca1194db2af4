"""ONS deaths: one curated row per participant, the registration with the latest
``REG_DATE`` (ties: the later delivery, then the later line). A correction can arrive in
the same file or a later one; the registration it replaces leaves the table, and a row of
this delivery that loses is quarantined as ``superseded_registration`` so the delivery's
counts still reconcile. Deaths are few (about 1% of a cohort a year), so the table is
recomputed in memory and rewritten in one commit."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from ngrl_assets.clinical.sources import DELIVERY_COLUMN, ClinicalSource
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.common.quarantine import Reject
from resources.lake import Lake

SUPERSEDED = "superseded_registration"


def latest_registrations(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep each participant's latest registration (REG_DATE, delivery, line)."""
    return frame.sort(["participant_id", "reg_date", "delivery", "_line"], nulls_last=False).unique(
        subset="participant_id", keep="last", maintain_order=True
    )


@dataclass(frozen=True)
class Outcome:
    superseded: list[Reject]  # rows of this delivery a later registration beat
    replaced: int  # rows of earlier deliveries this one replaced
    participants: set[str]  # participants whose registration this delivery holds


def write(
    lake: Lake,
    source: ClinicalSource,
    delivery: str,
    mode: str,
    accepted: pl.DataFrame | None,
    landing_key: str,
) -> Outcome:
    """Rewrite ``curated/mortality`` with this delivery's accepted rows folded in."""
    spec = EXTRACTS[source.name]
    schema = dict(spec.schema)
    new = (
        accepted.select(*schema, "_line")
        if accepted is not None
        else pl.DataFrame(schema={**schema, "_line": pl.Int64})
    )
    new = (
        new.cast(pl.Schema(schema))
        .cast({"_line": pl.Int64})
        .with_columns(pl.lit(True).alias("_new"))
    )
    current = lake.read(spec) if mode == "incremental" else spec.empty()
    current = current.filter(pl.col(DELIVERY_COLUMN) != delivery).with_columns(
        pl.lit(None, pl.Int64).alias("_line"), pl.lit(False).alias("_new")
    )
    combined = pl.concat([current, new], how="vertical").with_row_index("_rid")
    kept = latest_registrations(combined)
    dropped = combined.join(kept.select("_rid"), on="_rid", how="anti")
    superseded = [
        Reject(
            landing_key,
            int(line),
            SUPERSEDED,
            "a registration of the same death with a later REG_DATE replaces this row",
        )
        for line in dropped.filter(pl.col("_new")).get_column("_line").sort().to_list()
    ]
    replaced = dropped.filter(~pl.col("_new")).height
    participants = set(kept.filter(pl.col("_new")).get_column("participant_id").to_list())
    table = kept.sort("participant_id").select(list(schema))
    lake.overwrite(spec, table)
    return Outcome(superseded, replaced, participants)
