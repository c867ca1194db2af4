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

from typing import Any

import polars as pl

from ngrl_assets.genomics.schemas import SAMPLE_BLOCKS_SCHEMA, SAMPLE_CALLS_SCHEMA

SAMPLE_CALLS_TABLE = ("curated", "sample_variant_calls")
SAMPLE_BLOCKS_TABLE = ("curated", "sample_reference_blocks")
RAW_SEQUENCES_TABLE = ("curated", "raw_sequences")
JOINT_GENOTYPES_TABLE = ("curated", "joint_genotypes")
VARIANT_SITES_TABLE = ("curated", "variant_sites")
JOINT_INCREMENTS_TABLE = ("curated", "joint_call_increments")

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
    "a1": pl.Int8,
    "a2": pl.Int8,
    "dp": pl.Int32,
    "gq": pl.Int32,
    "ad_ref": pl.Int32,
    "ad_alt": pl.Int32,
    "no_call_reason": pl.String,
}

JOINT_INCREMENTS_SCHEMA: dict[str, Any] = {
    "chunk": pl.String,
    "increment": pl.String,
    "delivery": pl.String,
    "samples": pl.Int64,
    "new_sites": pl.Int64,
    "created_at": pl.Datetime("us", "UTC"),
}

ROW_GROUP_ROWS = 65_536
