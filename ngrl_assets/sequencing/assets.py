"""Dagster wiring for sequencing intake: one run per delivery (dynamic partition) writes
raw_sequences and the per-sample variant-call and reference-block tables."""

import dagster as dg

from ngrl_assets.common.specs import table_spec
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES_SCHEMA,
    STORED_BLOCKS_SCHEMA,
    STORED_CALLS_SCHEMA,
)
from ngrl_assets.sequencing import intake
from ngrl_assets.sequencing.partitions import deliveries
from resources.lake import LakeResource

GROUP = "sequencing"

_OWNER_COLUMNS = {
    "participant_id": "opaque internal participant id",
    "delivery": "sequencing delivery (batch) the sample arrived in",
    "chunk": "genome chunk of the row (joint-calling unit)",
    "contig": "GRCh38 contig",
}

raw_sequences_spec = table_spec(
    "raw_sequences",
    zone="curated",
    group=GROUP,
    deps=["participant_registry", "withdrawal_notices"],
    description=(
        "Every sample a sequencing provider delivered: which participant it belongs to, "
        "where its gVCF and index landed, whether the md5 verified, the provider's QC "
        "metrics and our QC verdict. A sample that fails its checks is quarantined with "
        "the file, line and rule; only samples that pass QC are joint-called."
    ),
    schema=RAW_SEQUENCES_SCHEMA,
    columns={
        "delivery": "sequencing delivery id",
        "sample_id": "sample name (as in the gVCF)",
        "participant_id": "opaque internal participant id (null when unknown)",
        "gvcf_key": "landing key of the gVCF",
        "gvcf_bytes": "size of the gVCF",
        "md5_verified": "md5 of the gVCF matched the manifest",
        "tbi_key": "landing key of the tabix index",
        "mean_coverage": "provider QC: mean depth",
        "pct_bases_15x": "provider QC: percent of bases at >= 15x",
        "contamination": "provider QC: contamination fraction",
        "inferred_sex": "karyotypic sex inferred from coverage (XX, XY, unknown)",
        "sequencing_date": "date sequenced",
        "records": "gVCF records read",
        "variant_rows": "normalised biallelic variant-call rows stored",
        "block_rows": "reference-block rows stored (split at chunk boundaries)",
        "qc_verdict": "pass, fail_qc (kept, not joint-called) or quarantined",
        "qc_reasons": "why the sample failed QC or was quarantined",
        "ingested_at": "when the platform ingested the sample",
    },
)

sample_variant_calls_spec = table_spec(
    "sample_variant_calls",
    zone="curated",
    group=GROUP,
    deps=["raw_sequences"],
    description=(
        "Each sample's own variant calls read once from its gVCF: alleles normalised "
        "(<NON_REF> dropped, prefix/suffix trimmed, multiallelics split with the genotype "
        "re-expressed), with GT, AD, DP and GQ. Joint calling reads these instead of the "
        "gVCFs, so a new batch never re-reads old files."
    ),
    schema=STORED_CALLS_SCHEMA,
    columns={
        **_OWNER_COLUMNS,
        "pos": "1-based position (after trimming)",
        "end": "last reference base covered",
        "ref": "reference allele",
        "alt": "alternate allele",
        "a1": "first allele code: 0 ref, 1 this alt, 2 other non-ref, -1 missing",
        "a2": "second allele code (null when haploid)",
        "phased": "genotype written phased",
        "gq": "genotype quality",
        "dp": "read depth",
        "ad_ref": "reads supporting ref",
        "ad_alt": "reads supporting this alt",
    },
)

sample_reference_blocks_spec = table_spec(
    "sample_reference_blocks",
    zone="curated",
    group=GROUP,
    deps=["raw_sequences"],
    description=(
        "Each sample's reference blocks: the stretches its gVCF called hom-ref, with minimum "
        "depth and quality. They decide whether a sample without a call at a site is hom-ref "
        "(blocks cover the whole site deeply enough) or a no-call, for sites discovered "
        "later too."
    ),
    schema=STORED_BLOCKS_SCHEMA,
    columns={
        **_OWNER_COLUMNS,
        "start": "first base of the block",
        "end": "last base of the block",
        "min_dp": "minimum depth in the block (MIN_DP, else DP)",
        "gq": "block genotype quality",
    },
)


@dg.multi_asset(
    name="delivery_intake",
    specs=[raw_sequences_spec, sample_variant_calls_spec, sample_reference_blocks_spec],
    partitions_def=deliveries,
    pool="sequencing_intake",
)
def delivery_intake(context: dg.AssetExecutionContext, lake: LakeResource):
    """Check every sample of one delivery and store its calls and blocks."""
    result = intake.ingest_delivery(lake, context.partition_key, context.run_id)
    context.log.info(
        f"delivery {result.delivery}: {result.rows_in} samples, {result.passed_qc} pass QC, "
        f"{result.failed_qc} fail QC, {result.quarantined} quarantined"
    )
    yield dg.MaterializeResult(
        asset_key="raw_sequences",
        metadata={
            "samples_in": result.rows_in,
            "samples_accepted": result.accepted,
            "samples_quarantined": result.quarantined,
            "passed_qc": result.passed_qc,
            "failed_qc": result.failed_qc,
            "rejects_by_rule": result.rejects_by_rule,
        },
    )
    yield dg.MaterializeResult(
        asset_key="sample_variant_calls",
        metadata={
            "dagster/row_count": result.variant_rows,
            "chunks_with_data": len(result.chunks_with_data),
        },
    )
    yield dg.MaterializeResult(
        asset_key="sample_reference_blocks", metadata={"dagster/row_count": result.block_rows}
    )


ASSETS = [delivery_intake]
