"""Release jobs (asset selections by key; no asset bodies imported)."""

import dagster as dg

from ngrl_assets.common.assets import asset_key
from ngrl_assets.releases.partitions import releases
from ngrl_assets.releases.tables import RELEASE_TABLES

RELEASE_KEYS = [asset_key(spec) for spec in RELEASE_TABLES]

release_job = dg.define_asset_job(
    "release_cut_job",
    selection=dg.AssetSelection.assets(*RELEASE_KEYS),
    partitions_def=releases,
    description="Cut, gate and publish one research release (a dynamic partition: its id).",
)

JOBS = [release_job]
