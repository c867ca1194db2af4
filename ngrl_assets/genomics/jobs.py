"""Genomics jobs (asset selections by key; no asset bodies imported)."""

import dagster as dg

from ngrl_assets.common.assets import asset_key
from ngrl_assets.common.checks import without_expectations
from ngrl_assets.genomics.tables import JOINT_GENOTYPES, VARIANT_SITES

EXCLUSIVE_TAG = "ngrl/exclusive"
JOINT_ASSETS = [asset_key(JOINT_GENOTYPES), asset_key(VARIANT_SITES)]

joint_calling_job = dg.define_asset_job(
    "joint_calling_job",
    selection=without_expectations(*JOINT_ASSETS),
    # one joint-calling run at a time (the instance's run queue limits this tag to 1): the
    # units of one run write disjoint chunks, two runs would write the same ones
    tags={EXCLUSIVE_TAG: "joint_calling"},
    description=(
        "Fold pending deliveries into the joint-called tables: planned, one step per work "
        "unit (a group of genome chunks), committed once."
    ),
)

JOBS = [joint_calling_job]
