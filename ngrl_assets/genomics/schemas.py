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

# Why a genotype (or one allele of a half-call such as ``./1``) is not called: the one
# vocabulary of ``no_call_reason``, the column descriptions, site QC's per-reason counts,
# the exported FORMAT/RNC and the docs. Letters follow GLnexus' RNC field.
NO_CALL_REASONS: dict[str, str] = {
    "M": "missing data: no record of the sample overlaps the site",
    "P": "partial data: the sample's records cover only part of the site",
    "D": "insufficient depth: depth (or the allele's AD) below the minimum",
    "U": "unphased variants: two or more of the sample's variant records overlap the site",
    "O": "overlapping variant: another of the sample's variant records overlaps its call, "
    "so the reference allele is not called there (a half-call such as ./1)",
}


def no_call_reasons_text(separator: str = "; ", short: bool = False) -> str:
    """``M missing data: ...; P partial data: ...`` for descriptions; ``short`` keeps only
    the names (``M missing data, P partial data, ...`` with ``separator=", "``)."""
    return separator.join(
        f"{code} {meaning.split(':')[0] if short else meaning}"
        for code, meaning in NO_CALL_REASONS.items()
    )


# Dense evaluation of every (site, sample) of a chunk, before sparsification: what the
# joint genotyper decides for each sample at each biallelic site, and what site QC reads.
# ``no_call_reason`` is null when called, else one letter of NO_CALL_REASONS (a half-call
# carries the reason of its missing allele). ``sex`` is the sample's inferred sex: "XX",
# "XY" or "unknown".
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
