"""Sequencing jobs: the delivery intake (an asset selection by key; no asset bodies
imported) and the small op job that quarantines delivery folders with an invalid name."""

from typing import Any

import dagster as dg

from ngrl_assets.common.assets import asset_key
from ngrl_assets.common.checks import without_expectations
from ngrl_assets.genomics.tables import RAW_SEQUENCES, SAMPLE_REFERENCE_BLOCKS, SAMPLE_VARIANT_CALLS
from ngrl_assets.sequencing import intake
from ngrl_assets.sequencing.partitions import deliveries
from resources.lake import Lake

DELIVERY_ASSETS = [
    asset_key(t) for t in (RAW_SEQUENCES, SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS)
]

delivery_job = dg.define_asset_job(
    "delivery_intake_job",
    selection=without_expectations(*DELIVERY_ASSETS),
    partitions_def=deliveries,
    description="Check and store one sequencing delivery (a dynamic partition).",
)


@dg.op(name="quarantine_invalid_deliveries", pool="sequencing_intake")
def quarantine_invalid_deliveries_op(
    context: dg.OpExecutionContext, lake: dg.ResourceParam[Lake]
) -> int:
    """Record every manifest of a folder whose name is not a delivery id as quarantined
    (ledger + file-level quarantine record); the folder never becomes a partition."""
    count = intake.quarantine_invalid_deliveries(lake, context.run_id)
    context.log.info(f"{count} manifest(s) of invalidly named delivery folders quarantined")
    return count


@dg.job(
    name="invalid_delivery_job",
    description="Quarantine the manifests of landing/sequencing/ folders whose name is not "
    "a valid delivery id ([A-Za-z0-9_-]+, at most 64 characters).",
)
def invalid_delivery_job() -> None:
    quarantine_invalid_deliveries_op()


JOBS: list[Any] = [delivery_job, invalid_delivery_job]  # an asset job and an op job
