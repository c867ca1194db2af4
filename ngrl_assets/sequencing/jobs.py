"""Sequencing jobs (asset selections by key; no asset bodies imported)."""

import dagster as dg

from ngrl_assets.sequencing.partitions import deliveries

DELIVERY_ASSETS = ["raw_sequences", "sample_variant_calls", "sample_reference_blocks"]

delivery_job = dg.define_asset_job(
    "delivery_intake_job",
    selection=dg.AssetSelection.assets(*DELIVERY_ASSETS),
    partitions_def=deliveries,
    description="Check and store one sequencing delivery (a dynamic partition).",
)

JOBS = [delivery_job]
