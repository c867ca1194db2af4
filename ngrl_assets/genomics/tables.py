"""Stored genomic tables: names, zones, schemas and layout. Pure.

Layout (docs/genomics.md explains the choice):
- per-sample tables (``sample_variant_calls``, ``sample_reference_blocks``) are Delta
  tables partitioned by ``delivery``; inside a delivery, rows are sorted by
  (chunk, participant_id, position) and written in small row groups, so joint calling one
  chunk reads only that chunk's row groups, and erasing one participant rewrites only the
  files of the delivery that holds them;
- joint-called tables (``joint_genotypes``, ``variant_sites``) are partitioned by
  ``chunk``. ``joint_genotypes`` is sparse: it stores every genotype that is not a
  confident hom-ref (carriers, other-allele calls, no-calls with their reason); a
  participant of the chunk's joint call with no row at a site is hom-ref there, as Hail's
  VDS does with reference blocks kept apart.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import polars as pl

from ngrl_assets.genomics import site_qc
from ngrl_assets.genomics.increment import site_state_schema
from ngrl_assets.genomics.schemas import (
    SAMPLE_BLOCKS_SCHEMA,
    SAMPLE_CALLS_SCHEMA,
    no_call_reasons_text,
)
from ngrl_assets.genomics.site_qc_columns import COLUMN_DESCRIPTIONS
from resources.tables import TableSpec


class QcVerdict(StrEnum):
    """A delivered sample's verdict (``raw_sequences.qc_verdict``)."""

    PASS = "pass"  # joint-called
    FAIL_QC = "fail_qc"  # kept, not joint-called (``qc_reasons`` says why)
    QUARANTINED = "quarantined"  # rejected before QC (its file or manifest row)


_OWNER: dict[str, Any] = {"participant_id": pl.String, "delivery": pl.String, "chunk": pl.String}

STORED_CALLS_SCHEMA: dict[str, Any] = {**_OWNER, **SAMPLE_CALLS_SCHEMA}
STORED_BLOCKS_SCHEMA: dict[str, Any] = {**_OWNER, **SAMPLE_BLOCKS_SCHEMA}

RAW_SEQUENCES_SCHEMA: dict[str, Any] = {
    "delivery": pl.String,
    "sample_id": pl.String,
    "participant_id": pl.String,
    "gvcf_key": pl.String,
    "gvcf_bytes": pl.Int64,
    "md5_verified": pl.Boolean,
    "tbi_key": pl.String,
    "mean_coverage": pl.Float64,
    "pct_bases_15x": pl.Float64,
    "contamination": pl.Float64,
    "inferred_sex": pl.String,
    "sequencing_date": pl.Date,
    "records": pl.Int64,
    "variant_rows": pl.Int64,
    "block_rows": pl.Int64,
    "qc_verdict": pl.String,  # pass | fail_qc | quarantined
    "qc_reasons": pl.String,
    "sample_batch": pl.Int32,
    "ingested_at": pl.Datetime("us", "UTC"),
}

JOINT_GENOTYPES_SCHEMA: dict[str, Any] = {
    "chunk": pl.String,
    "increment": pl.String,
    "contig": pl.String,
    "pos": pl.Int32,
    "ref": pl.String,
    "alt": pl.String,
    "participant_id": pl.String,
    "sample_batch": pl.Int32,
    "a1": pl.Int8,
    "a2": pl.Int8,
    "dp": pl.Int32,
    "gq": pl.Int32,
    "ad_ref": pl.Int32,
    "ad_alt": pl.Int32,
    "no_call_reason": pl.String,
}
# joint_genotypes columns that describe the library's own bookkeeping, not the genotype:
# a release's copy leaves them out
LIBRARY_ONLY_GENOTYPE_COLUMNS = ("increment", "sample_batch")

JOINT_INCREMENTS_SCHEMA: dict[str, Any] = {
    "chunk": pl.String,
    "increment": pl.String,
    "delivery": pl.String,
    "samples": pl.Int64,
    "new_sites": pl.Int64,
    "created_at": pl.Datetime("us", "UTC"),
}

ROW_GROUP_ROWS = 65_536


def variant_sites_schema() -> dict[str, Any]:
    metrics = {k: v for k, v in site_qc.SITE_QC_SCHEMA.items() if k not in site_state_schema()}
    return {"chunk": pl.String, "increment": pl.String, **site_state_schema(), **metrics}


_OWNER_COLUMNS = {
    "participant_id": "opaque internal participant id",
    "delivery": "sequencing delivery (batch) the sample arrived in",
    "chunk": "genome chunk of the row (joint-calling unit)",
    "contig": "GRCh38 contig",
}

# the site key's columns, as every joint-called table describes them
SITE_COLUMNS = {
    "contig": "GRCh38 contig",
    "pos": "1-based position",
    "ref": "reference allele",
    "alt": "alternate allele",
}

RAW_SEQUENCES = TableSpec(
    zone="curated",
    name="raw_sequences",
    description=(
        "Every sample a sequencing provider delivered: which participant it belongs to, where its "
        "gVCF and index landed, whether the md5 verified, the provider's QC metrics and our QC "
        "verdict. A sample that fails its checks is quarantined with the file, line and rule; only"
        " samples that pass QC are joint-called."
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
        "sample_batch": (
            "joint-calling sample batch (QC-passed samples only): a fixed set of at most "
            "NGRL_SAMPLE_BATCH_SIZE samples, the sample axis of the joint-called tiles"
        ),
        "ingested_at": "when the platform ingested the sample",
    },
    written_by=("raw_sequences",),
    partition_by=("delivery",),
    participant_column="participant_id",
    identifier_columns=("sample_id", "gvcf_key", "tbi_key"),
    landing_columns=("gvcf_key", "tbi_key"),
    from_landing=True,
    withheld_columns=(
        "delivery",
        "gvcf_bytes",
        "md5_verified",
        "qc_reasons",
        "sample_batch",
        "ingested_at",
    ),
    releasable=True,
)

SAMPLE_VARIANT_CALLS = TableSpec(
    zone="curated",
    name="sample_variant_calls",
    description=(
        "Each sample's own variant calls read once from its gVCF: alleles normalised (<NON_REF> "
        "dropped, prefix/suffix trimmed, multiallelics split with the genotype re-expressed), with"
        " GT, AD, DP and GQ. Joint calling reads these instead of the gVCFs, so a new batch never "
        "re-reads old files."
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
    written_by=("sample_variant_calls",),
    partition_by=("delivery",),
    sort_by=("chunk", "participant_id", "pos"),
    participant_column="participant_id",
    traced_via="raw_sequences",
    from_landing=True,
    row_group_rows=ROW_GROUP_ROWS,
)

SAMPLE_REFERENCE_BLOCKS = TableSpec(
    zone="curated",
    name="sample_reference_blocks",
    description=(
        "Each sample's reference blocks: the stretches its gVCF called hom-ref, with minimum depth"
        " and quality. They decide whether a sample without a call at a site is hom-ref (blocks "
        "cover the whole site deeply enough) or a no-call, for sites discovered later too."
    ),
    schema=STORED_BLOCKS_SCHEMA,
    columns={
        **_OWNER_COLUMNS,
        "start": "first base of the block",
        "end": "last base of the block",
        "min_dp": "minimum depth in the block (MIN_DP, else DP)",
        "gq": "block genotype quality",
    },
    written_by=("sample_reference_blocks",),
    partition_by=("delivery",),
    sort_by=("chunk", "participant_id", "start"),
    participant_column="participant_id",
    traced_via="raw_sequences",
    from_landing=True,
    row_group_rows=ROW_GROUP_ROWS,
)

JOINT_GENOTYPES = TableSpec(
    zone="curated",
    name="joint_genotypes",
    description=(
        "The library's joint-called genotypes, biallelic and sparse: every genotype that is "
        "not a confident hom-ref (carriers, other-allele calls, and no-calls with their "
        f"reason: {no_call_reasons_text(', ', short=True)}). "
        "A joint-called participant without a row at a site is hom-ref there. Serves carrier "
        "lookups and region queries; erasing a participant deletes their rows."
    ),
    schema=JOINT_GENOTYPES_SCHEMA,
    columns={
        "chunk": "genome chunk",
        "increment": "joint-call increment that produced the row",
        **SITE_COLUMNS,
        "participant_id": "opaque internal participant id",
        "sample_batch": "the participant's sample batch (the tile's sample axis)",
        "a1": "first allele: 0 ref, 1 alt, 2 other non-ref, -1 missing",
        "a2": "second allele (null when haploid)",
        "dp": "depth",
        "gq": "genotype quality",
        "ad_ref": "reads supporting ref",
        "ad_alt": "reads supporting alt",
        "no_call_reason": "null when called; else why the genotype (or one allele of a "
        f"half-call) is not called: {no_call_reasons_text()}",
    },
    written_by=("joint_genotypes",),
    partition_by=("chunk", "sample_batch"),
    participant_column="participant_id",
    releasable=True,
)

VARIANT_SITES = TableSpec(
    zone="curated",
    name="variant_sites",
    description=(
        "Every biallelic site discovered in the library, with aggV2's site QC (AN, AC, AF, "
        "missingness, depth and GQ medians, allele balance, HWE) and FILTER flags, plus the "
        "mergeable aggregates that let a new batch update them without re-reading earlier samples."
        " Cohort allele frequencies come from here."
    ),
    schema=variant_sites_schema(),
    columns={
        **{
            "chunk": "genome chunk",
            "increment": "latest joint-call increment folded into this site's aggregates",
            **SITE_COLUMNS,
            "end": "last reference base of the site",
        },
        **COLUMN_DESCRIPTIONS,
    },
    written_by=("variant_sites",),
    partition_by=("chunk",),
    releasable=True,
)

BATCH_AGGREGATES_SCHEMA: dict[str, Any] = {
    "chunk": pl.String,
    "sample_batch": pl.Int32,
    "increment": pl.String,
    **site_qc.AGGREGATE_SCHEMA,
}

SITE_BATCH_AGGREGATES = TableSpec(
    zone="curated",
    name="site_batch_aggregates",
    description=(
        "Each sample batch's share of every site's QC aggregates (allele counts, het/hom "
        "counts, no-calls by reason, depth and GQ histograms): variant_sites' aggregates "
        "are their sum over batches, so site QC and its FILTERs can be recomputed for any "
        "set of batches (a release, a withdrawal) without reading genotypes. Rows are "
        "what each increment added to a batch; a withdrawal consolidates its batch's rows."
    ),
    schema=BATCH_AGGREGATES_SCHEMA,
    columns={
        "chunk": "genome chunk",
        "sample_batch": "the sample batch (0: samples stored without one)",
        "increment": "joint-call increment that added the row, or the withdrawal batch "
        "that consolidated it",
        **SITE_COLUMNS,
        **{c: d for c, d in COLUMN_DESCRIPTIONS.items() if c in site_qc.AGGREGATE_SCHEMA},
    },
    written_by=("variant_sites",),
    partition_by=("chunk", "sample_batch"),
)

JOINT_CALL_INCREMENTS = TableSpec(
    zone="curated",
    name="joint_call_increments",
    description=(
        "Which deliveries each genome chunk has absorbed, one row per (chunk, increment, "
        "delivery): the joint-calling sensor and run use it to fold only new deliveries in, "
        "and it records which samples every chunk was joint-called over."
    ),
    schema=JOINT_INCREMENTS_SCHEMA,
    columns={
        "chunk": "genome chunk",
        "increment": "joint-call increment id (hash of the deliveries it folded in)",
        "delivery": "delivery folded into the chunk by that increment",
        "samples": "QC-passed samples of the delivery in the increment",
        "new_sites": "sites the increment added to the chunk",
        "created_at": "when",
    },
    written_by=("joint_genotypes", "variant_sites"),
    partition_by=("chunk",),
)

TABLES = (
    RAW_SEQUENCES,
    SAMPLE_VARIANT_CALLS,
    SAMPLE_REFERENCE_BLOCKS,
    JOINT_GENOTYPES,
    VARIANT_SITES,
    SITE_BATCH_AGGREGATES,
    JOINT_CALL_INCREMENTS,
)
