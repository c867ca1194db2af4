"""Genomics jobs (asset selections by key; no asset bodies imported)."""

import dagster as dg

from ngrl_assets.common.assets import asset_key
from ngrl_assets.common.checks import without_expectations
from ngrl_assets.genomics.partitions import genome_chunks
from ngrl_assets.genomics.tables import JOINT_GENOTYPES, VARIANT_SITES

JOINT_ASSETS = [asset_key(JOINT_GENOTYPES), asset_key(VARIANT_SITES)]

joint_calling_job = dg.define_asset_job(
    "joint_calling_job",
    selection=without_expectations(*JOINT_ASSETS),
    partitions_def=genome_chunks,
    description="Fold pending deliveries into the joint-called tables, chunk by chunk.",
)

JOBS = [joint_calling_job]
