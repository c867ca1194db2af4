"""Dagster wiring for joint calling: one static partition per genome chunk; a run over a
range of chunks is a single step (single-run backfill) that brings each chunk up to date
with every QC-passed delivery."""

import dagster as dg
from pydantic import Field

from ngrl_assets.common.assets import asset_key, table_spec
from ngrl_assets.genomics import checks, joint_store
from ngrl_assets.genomics.partitions import genome_chunks
from ngrl_assets.genomics.tables import (
    JOINT_GENOTYPES,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    VARIANT_SITES,
)
from resources.lake import Lake

GROUP = "genomics"

_SAMPLE_DEPS = [
    dg.AssetDep(asset_key(SAMPLE_VARIANT_CALLS), partition_mapping=dg.AllPartitionMapping()),
    dg.AssetDep(asset_key(SAMPLE_REFERENCE_BLOCKS), partition_mapping=dg.AllPartitionMapping()),
    dg.AssetDep(asset_key(RAW_SEQUENCES), partition_mapping=dg.AllPartitionMapping()),
]


joint_genotypes_spec = table_spec(JOINT_GENOTYPES, group=GROUP, deps=_SAMPLE_DEPS)
variant_sites_spec = table_spec(VARIANT_SITES, group=GROUP, deps=_SAMPLE_DEPS)


class JointCallConfig(dg.Config):
    min_dp: int = Field(default=1, description="minimum depth for a hom-ref or an allele call")


@dg.multi_asset(
    name="joint_calling",
    specs=[joint_genotypes_spec, variant_sites_spec],
    partitions_def=genome_chunks,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="joint_calling",
    check_specs=checks.CHECK_SPECS,
)
def joint_calling(
    context: dg.AssetExecutionContext, config: JointCallConfig, lake: dg.ResourceParam[Lake]
):
    """Fold every pending delivery into each chunk of the run's partition range."""
    names = list(context.partition_keys)
    summary = joint_store.joint_call_chunks(lake, names, min_dp=config.min_dp)
    context.log.info(
        f"{summary.chunks_considered} chunks: {summary.chunks_computed} joint-called, "
        f"{summary.chunks_absorbed_only} without data; {summary.new_sites} new sites"
    )
    results = checks.evaluate(lake, names)
    common = {
        "chunks_considered": summary.chunks_considered,
        "chunks_computed": summary.chunks_computed,
    }
    yield dg.MaterializeResult(
        asset_key=asset_key(JOINT_GENOTYPES),
        metadata={**common, "genotype_rows_added": summary.genotype_rows_added},
        check_results=[r for r in results if r.asset_key == asset_key(JOINT_GENOTYPES)],
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(VARIANT_SITES),
        metadata={
            **common,
            "new_sites": summary.new_sites,
            "sites_in_computed_chunks": summary.sites_total,
        },
        check_results=[r for r in results if r.asset_key == asset_key(VARIANT_SITES)],
    )


ASSETS = [joint_calling]
