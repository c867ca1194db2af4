"""Dagster wiring for joint calling: one run brings every genome chunk up to date with the
QC-passed deliveries, as parallel steps. A plan step splits the genome into work units
(groups of chunks); each unit is its own step (``joint_call_unit``: the multiprocess
executor runs them side by side on one machine, the ECS executor one task each in
production, sized by the step's tags); a last step records the genome-wide marker and
evaluates the checks. Each unit writes its own chunks' rows of ``joint_genotypes`` and
``variant_sites`` (disjoint partitions, so units never conflict)."""

import dagster as dg
from pydantic import Field

from ngrl_assets.common.assets import asset_key, table_spec
from ngrl_assets.genomics import checks, joint_store
from ngrl_assets.genomics.tables import (
    JOINT_GENOTYPES,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    VARIANT_SITES,
)
from resources.lake import Lake

GROUP = "genomics"

# what joint calling reads: every delivery partition of the per-sample tables (graph
# assets take their upstream tables as inputs that carry no value)
_INPUTS = {
    spec.name: dg.AssetIn(
        asset_key(spec), partition_mapping=dg.AllPartitionMapping(), dagster_type=dg.Nothing
    )
    for spec in (RAW_SEQUENCES, SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS)
}

joint_genotypes_spec = table_spec(JOINT_GENOTYPES, group=GROUP)
variant_sites_spec = table_spec(VARIANT_SITES, group=GROUP)

# what one unit step asks of its machine (the ECS executor reads these tags; locally they
# are informative): a unit holds one sample batch x one chunk group at a time
UNIT_TAGS = {"ecs/cpu": "2048", "ecs/memory": "8192"}


class JointCallConfig(dg.Config):
    min_dp: int = Field(default=1, description="minimum depth for a hom-ref or an allele call")


class JointCallPlanConfig(dg.Config):
    unit_chunks: int = Field(
        default=joint_store.CHUNK_GROUP,
        ge=1,
        description="genome chunks per work unit (one step, one task in production)",
    )


@dg.op(
    ins={name: dg.In(dg.Nothing) for name in _INPUTS},
    out=dg.DynamicOut(joint_store.JointCallUnit),
)
def plan_joint_calling(  # type: ignore[no-untyped-def]
    context: dg.OpExecutionContext, config: JointCallPlanConfig, lake: dg.ResourceParam[Lake]
):
    """The deliveries to fold in (fixed for the whole run) and the genome's work units."""
    plan = joint_store.plan(lake, config.unit_chunks)
    context.log.info(
        f"{len(plan)} work units over {sum(len(u.chunks) for u in plan)} chunks, "
        f"{len(plan[0].deliveries) if plan else 0} QC-passed deliveries"
    )
    for number, unit in enumerate(plan):
        yield dg.DynamicOutput(unit, mapping_key=f"unit_{number}")


@dg.op(tags=UNIT_TAGS)
def joint_call_unit(
    context: dg.OpExecutionContext,
    config: JointCallConfig,
    lake: dg.ResourceParam[Lake],
    unit: joint_store.JointCallUnit,
) -> joint_store.JointCallSummary:
    """Fold the run's deliveries into one work unit's chunks and write their rows."""
    summary = joint_store.joint_call_unit(lake, unit, min_dp=config.min_dp)
    context.log.info(
        f"{summary.chunks_considered} chunks: {summary.chunks_computed} joint-called, "
        f"{summary.chunks_absorbed_only} without data; {summary.new_sites} new sites"
    )
    return summary


_CHECK_OUTPUTS = {
    f"{spec.asset_key.to_python_identifier()}_{spec.name}": spec for spec in checks.CHECK_SPECS
}


@dg.op(
    out={
        "joint_genotypes": dg.Out(dg.Nothing),
        "variant_sites": dg.Out(dg.Nothing),
        **{name: dg.Out(dg.Nothing) for name in _CHECK_OUTPUTS},
    }
)
def commit_joint_calling(  # type: ignore[no-untyped-def]
    context: dg.OpExecutionContext,
    lake: dg.ResourceParam[Lake],
    summaries: list[joint_store.JointCallSummary],
):
    """Every unit succeeded: record the run's deliveries as folded into the whole genome,
    then read the tables back for the checks."""
    total = joint_store.JointCallSummary.combine(summaries)
    joint_store.commit(lake, total)
    results = checks.evaluate(lake, joint_store.all_chunk_names())
    common = {
        "work_units": len(summaries),
        "chunks_considered": total.chunks_considered,
        "chunks_computed": total.chunks_computed,
    }
    yield dg.Output(
        None,
        "joint_genotypes",
        metadata={**common, "genotype_rows_added": total.genotype_rows_added},
    )
    yield dg.Output(
        None,
        "variant_sites",
        metadata={
            **common,
            "new_sites": total.new_sites,
            "sites_in_computed_chunks": total.sites_total,
        },
    )
    yield from results


@dg.graph_multi_asset(
    name="joint_calling",
    group_name=GROUP,
    ins=_INPUTS,
    outs={
        "joint_genotypes": dg.AssetOut.from_spec(joint_genotypes_spec),
        "variant_sites": dg.AssetOut.from_spec(variant_sites_spec),
    },
    check_specs=checks.CHECK_SPECS,
)
def joint_calling(raw_sequences, sample_variant_calls, sample_reference_blocks):  # type: ignore[no-untyped-def]
    """The library's joint-called genotypes and site QC, up to date with every QC-passed
    delivery: planned, genotyped unit by unit in parallel, committed once."""
    units = plan_joint_calling(
        raw_sequences=raw_sequences,
        sample_variant_calls=sample_variant_calls,
        sample_reference_blocks=sample_reference_blocks,
    )
    summaries = units.map(joint_call_unit).collect()
    outputs = commit_joint_calling(summaries)
    names = ["joint_genotypes", "variant_sites", *_CHECK_OUTPUTS]
    return {name: getattr(outputs, name) for name in names}


ASSETS = [joint_calling]
