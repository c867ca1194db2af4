"""Dagster wiring for sequencing intake: one run per delivery (dynamic partition) writes
raw_sequences and the per-sample variant-call and reference-block tables, then evaluates
the delivery checks (``sequencing/checks.py``) on what it wrote. Descriptions and column
schemas come from the table declarations (``genomics/tables.py``)."""

from collections.abc import Iterator

import dagster as dg

from ngrl_assets.common.assets import asset_key, table_spec
from ngrl_assets.consent import linkage
from ngrl_assets.genomics.batches import SampleBatching
from ngrl_assets.genomics.tables import RAW_SEQUENCES, SAMPLE_REFERENCE_BLOCKS, SAMPLE_VARIANT_CALLS
from ngrl_assets.sequencing import checks, intake
from ngrl_assets.sequencing.partitions import deliveries
from resources.lake import Lake

GROUP = "sequencing"

raw_sequences_spec = table_spec(
    RAW_SEQUENCES, group=GROUP, deps=[linkage.REGISTRY_ASSET, linkage.NOTICES_ASSET]
)
sample_variant_calls_spec = table_spec(
    SAMPLE_VARIANT_CALLS, group=GROUP, deps=[asset_key(RAW_SEQUENCES)]
)
sample_reference_blocks_spec = table_spec(
    SAMPLE_REFERENCE_BLOCKS, group=GROUP, deps=[asset_key(RAW_SEQUENCES)]
)


@dg.multi_asset(
    name="delivery_intake",
    specs=[raw_sequences_spec, sample_variant_calls_spec, sample_reference_blocks_spec],
    check_specs=checks.CHECK_SPECS,
    partitions_def=deliveries,
    pool="sequencing_intake",
)
def delivery_intake(
    context: dg.AssetExecutionContext,
    lake: dg.ResourceParam[Lake],
    sample_batching: dg.ResourceParam[SampleBatching],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Check every sample of one delivery and store its calls and blocks, sample by sample;
    its QC-passed samples fill the open sample batch."""
    result = intake.ingest_delivery(
        lake, context.partition_key, context.run_id, batching=sample_batching
    )
    context.log.info(
        f"delivery {result.delivery}: {result.rows_in} samples, {result.passed_qc} pass QC, "
        f"{result.failed_qc} fail QC, {result.quarantined} quarantined"
        + (" (manifest quarantined as a whole)" if result.file_quarantined else "")
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(RAW_SEQUENCES),
        metadata={
            "samples_in": result.rows_in,
            "samples_accepted": result.accepted,
            "samples_quarantined": result.quarantined,
            "manifest_quarantined": result.file_quarantined,
            "passed_qc": result.passed_qc,
            "failed_qc": result.failed_qc,
            "rejects_by_rule": result.rejects_by_rule,
        },
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(SAMPLE_VARIANT_CALLS),
        metadata={
            "dagster/row_count": result.variant_rows,
            "chunks_with_data": len(result.chunks_with_data),
        },
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(SAMPLE_REFERENCE_BLOCKS),
        metadata={"dagster/row_count": result.block_rows},
    )
    yield from checks.evaluate(lake, [result.delivery])


ASSETS = [delivery_intake]
