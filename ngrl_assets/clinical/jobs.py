"""Clinical jobs (asset selections by key; no asset bodies imported)."""

import dagster as dg

from ngrl_assets.clinical.partitions import PARTITIONS
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.clinical.tables import DIAGNOSES
from ngrl_assets.common.assets import asset_key
from ngrl_assets.common.checks import without_expectations

INTAKE_JOBS = {
    name: dg.define_asset_job(
        f"{source.name}_intake_job",
        selection=without_expectations(source.table),
        partitions_def=PARTITIONS[name],
        description=f"Link, check and curate one {source.name} delivery (a dynamic partition).",
    )
    for name, source in SOURCES.items()
}

diagnoses_job = dg.define_asset_job(
    "diagnoses_job",
    selection=without_expectations(asset_key(DIAGNOSES)),
    description="Rebuild the long diagnoses table from the curated clinical tables.",
)

JOBS = [*INTAKE_JOBS.values(), diagnoses_job]
