"""ONS deaths: one curated row per participant, the registration with the latest
``REG_DATE`` (ties: the later delivery, then the later line). A correction can arrive in
the same file or a later one; the registration it replaces leaves the table, and a row of
this delivery that loses is quarantined as ``superseded_registration`` so the delivery's
counts still reconcile. Deaths are few (about 1% of a cohort a year), so the table is
recomputed in memory and rewritten in one commit."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from ngrl_assets.common.quarantine import Reject
from resources import delta
from resources.lake import LakeResource

if TYPE_CHECKING:
    from ngrl_assets.clinical.intake import _Batches
    from ngrl_assets.clinical.sources import ClinicalSource

SUPERSEDED = "superseded_registration"


def latest_registrations(frame: pl.DataFrame) -> pl.DataFrame:
    """Keep each participant's latest registration (REG_DATE, delivery, line)."""
    return frame.sort(["participant_id", "reg_date", "delivery", "_line"], nulls_last=False).unique(
        subset="participant_id", keep="last", maintain_order=True
    )


def write(
    lake: LakeResource,
    source: ClinicalSource,
    delivery: str,
    mode: str,
    accepted: pl.DataFrame | None,
    batches: _Batches,
) -> tuple[list[Reject], int]:
    """Rewrite ``curated/mortality``; returns (superseded rows of this delivery, rows of
    earlier deliveries replaced)."""
    from ngrl_assets.clinical.intake import curated_schema

    schema = curated_schema(source)
    uri = lake.table("curated", source.table)
    opts = lake.storage_options(uri)
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
    current = delta.read(uri, schema, opts) if mode == "incremental" else delta.empty(schema)
    current = current.filter(pl.col("delivery") != delivery).with_columns(
        pl.lit(None, pl.Int64).alias("_line"), pl.lit(False).alias("_new")
    )
    combined = pl.concat([current, new], how="vertical").with_row_index("_rid")
    kept = latest_registrations(combined)
    dropped = combined.join(kept.select("_rid"), on="_rid", how="anti")
    superseded = [
        Reject(
            batches.landing_key,
            int(line),
            SUPERSEDED,
            "a registration of the same death with a later REG_DATE replaces this row",
        )
        for line in dropped.filter(pl.col("_new")).get_column("_line").sort().to_list()
    ]
    replaced = dropped.filter(~pl.col("_new")).height
    batches.participants = set(kept.filter(pl.col("_new")).get_column("participant_id").to_list())
    table = kept.sort("participant_id").select(list(schema))
    delta.overwrite(uri, table, schema, opts)
    return superseded, replaced
