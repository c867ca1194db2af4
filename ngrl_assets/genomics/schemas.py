"""Column contracts of the genomic tables (polars dtypes). Pure: no Dagster, no I/O.

Allele codes (``a1``, ``a2``) express a sample's genotype at one *biallelic* row:
``0`` the reference allele, ``1`` this row's alternate allele, ``2`` some other
non-reference allele (another ALT of a split multiallelic record, ``<NON_REF>``, or a
spanning deletion ``*``), ``-1`` missing (``.``). ``a2`` is null for a haploid call.
Positions are 1-based and inclusive (VCF convention); ``end = pos + len(ref) - 1``.
"""

from __future__ import annotations

from typing import Any

import polars as pl

MISSING = -1
REF = 0
ALT = 1
OTHER = 2

# One sample's normalised variant calls, one row per biallelic allele it was called for
# (common prefix/suffix trimmed, <NON_REF>/<*>/* dropped, multiallelics split).
SAMPLE_CALLS_SCHEMA: dict[str, Any] = {
    "contig": pl.String,
    "pos": pl.Int32,
    "end": pl.Int32,
    "ref": pl.String,
    "alt": pl.String,
    "a1": pl.Int8,
    "a2": pl.Int8,
    "phased": pl.Boolean,
    "gq": pl.Int32,
    "dp": pl.Int32,
    "ad_ref": pl.Int32,
    "ad_alt": pl.Int32,
}

# One sample's reference blocks: stretches called hom-ref, with their depth and quality.
# ``min_dp`` is FORMAT/MIN_DP when present, else FORMAT/DP. Variant records whose
# genotype is 0/0 also become blocks over their REF span.
SAMPLE_BLOCKS_SCHEMA: dict[str, Any] = {
    "contig": pl.String,
    "start": pl.Int32,
    "end": pl.Int32,
    "min_dp": pl.Int32,
    "gq": pl.Int32,
}

# Dense evaluation of every (site, sample) of a chunk, before sparsification: what the
# joint genotyper decides for each sample at each biallelic site, and what site QC reads.
# ``no_call_reason`` is null when called, else "M" (missing data: no record covers the
# site), "P" (partial: coverage covers only part of the site) or "D" (depth below the
# configured minimum). ``sex`` is the sample's inferred sex: "XX", "XY" or "unknown".
GENOTYPE_EVAL_SCHEMA: dict[str, Any] = {
    "contig": pl.String,
    "pos": pl.Int32,
    "ref": pl.String,
    "alt": pl.String,
    "participant_id": pl.String,
    "sex": pl.String,
    "a1": pl.Int8,
    "a2": pl.Int8,
    "dp": pl.Int32,
    "gq": pl.Int32,
    "ad_ref": pl.Int32,
    "ad_alt": pl.Int32,
    "no_call_reason": pl.String,
}

SITE_KEY = ["contig", "pos", "ref", "alt"]
