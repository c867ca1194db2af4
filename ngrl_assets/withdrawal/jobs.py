"""The withdrawal job (an asset selection by key; no asset body imported)."""

import dagster as dg

from ngrl_assets.withdrawal.partitions import withdrawal_batches

withdrawal_job = dg.define_asset_job(
    "withdrawal_job",
    selection=dg.AssetSelection.assets("withdrawal_audit"),
    partitions_def=withdrawal_batches,
    description="Propagate one withdrawal batch: erase, redact releases, purge, prove.",
)

JOBS = [withdrawal_job]
