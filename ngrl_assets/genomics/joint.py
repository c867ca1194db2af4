"""Joint genotyping of one genome chunk: sites from the union of discovered alleles, and
for every (site, sample) a call or a no-call with its reason. This module holds the
semantics, the frame contracts and site discovery; :mod:`.genotyper` decides the cells
(integer-coded, sparse out). Pure: polars in and out.

For each biallelic site and each sample (GLnexus semantics, split into biallelic rows):

1. the sample has its own call for this allele: that genotype. With ``min_dp > 0`` an
   allele whose allelic depth (AD) is below ``min_dp`` becomes missing (a half-call such
   as ``./0``) with reason ``D``, as GLnexus' ``required_dp`` does; without AD, the
   record's DP decides for both alleles. A depth that is not known (no AD and no
   FORMAT/DP) is not a depth of zero: it never fails the rule, so such a call stands;
2. otherwise the sample's reference blocks and its other variant calls that overlap the
   site are combined: if together they cover every base of the site's REF span, each
   interval with depth >= ``min_dp`` (an interval without a depth, e.g. a block with
   neither MIN_DP nor DP, is not failed by the rule), the sample is called: hom-ref
   ``0/0`` unless an overlapping call carries another non-reference allele (then ``0/2``
   or ``2/2``: the sample is not hom-ref, it carries something else here, e.g. a
   different ALT or a spanning deletion);
3. otherwise it is a no-call: ``P`` (partial data) when the sample's intervals cover only
   part of the site, ``M`` (missing data) when nothing of the sample's overlaps it, ``U``
   when two or more of its variant records overlap the site (GLnexus: several unphased
   variants whose combination cannot be asserted), else ``D`` (depth below ``min_dp``).
   The letters and their meanings are ``schemas.NO_CALL_REASONS``.

When a sample has its own call at a site and another of its variant records also
overlaps the site (e.g. a SNV inside its own deletion), the reference alleles of its call
become missing with reason ``O``: that haplotype is not reference over the site's span
(GLnexus' overlapping-variant half-call, e.g. ``./1``).

Missing is never treated as hom-ref. A site is discovered when some sample carries its
allele (allele code 1) and its position lies in the chunk.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ngrl_assets.genomics.schemas import (
    SAMPLE_BLOCKS_SCHEMA,
    SAMPLE_CALLS_SCHEMA,
    SITE_KEY,
)

SITES_SCHEMA: dict[str, Any] = {
    "contig": pl.String,
    "pos": pl.Int32,
    "ref": pl.String,
    "alt": pl.String,
    "end": pl.Int32,
}
SAMPLES_SCHEMA: dict[str, Any] = {"participant_id": pl.String, "sex": pl.String}
CALLS_SCHEMA: dict[str, Any] = {"participant_id": pl.String, **SAMPLE_CALLS_SCHEMA}
BLOCKS_SCHEMA: dict[str, Any] = {"participant_id": pl.String, **SAMPLE_BLOCKS_SCHEMA}


def discover_sites(calls: pl.DataFrame, contig: str, start: int, end: int) -> pl.DataFrame:
    """Alleles carried by at least one sample, with their position inside [start, end]."""
    carried = calls.filter((pl.col("contig") == contig) & pl.col("pos").is_between(start, end))
    return discover_all(carried)


def discover_all(calls: pl.DataFrame) -> pl.DataFrame:
    """Alleles carried (allele code 1) by at least one sample, one row per site."""
    carried = calls.filter((pl.col("a1") == 1) | (pl.col("a2") == 1))
    return (
        carried.select(list(SITES_SCHEMA))
        .unique(subset=SITE_KEY)
        .sort(["contig", "pos", "ref", "alt"])
        .cast(SITES_SCHEMA)  # type: ignore[arg-type]
    )
