"""Per-participant statistics of genotype calls, defined once for the release's
``aggregate_gvcf_sample_stats`` (:mod:`ngrl_assets.releases.genomics`) and the
data-quality suites' statistics frames (:mod:`expectations.frames`). Pure: polars
expressions over a genotype table's ``ref``, ``alt`` (one biallelic row) and ``a1``,
``a2`` (allele codes: 0 ref, 1 this ALT, 2 another ALT, -1 missing; ``a2`` null when
haploid), and ratios over the summed ``n_`` counts. A call carries the row's ALT when an
allele is 1. SNVs have single-base REF and ALT; indels change the length; a transition
is A<->G or C<->T, a transversion any other SNV of two of A, C, G, T. Het: both alleles
called and different (0/1, 1/2); hom-alt: every allele this ALT (1/1, haploid 1); a
half-call (./1) is neither."""

from __future__ import annotations

from typing import Final

import polars as pl

TRANSITIONS: Final = (("A", "G"), ("G", "A"), ("C", "T"), ("T", "C"))

_ref, _alt = pl.col("ref").str.to_uppercase(), pl.col("alt").str.to_uppercase()
_a1, _a2 = pl.col("a1"), pl.col("a2")
_BASES = _ref.is_in(["A", "C", "G", "T"]) & _alt.is_in(["A", "C", "G", "T"])
_TRANSITION = pl.any_horizontal([(_ref == r) & (_alt == a) for r, a in TRANSITIONS])

CARRIES: Final = (_a1 == 1) | (_a2 == 1).fill_null(False)
SNV: Final = (pl.col("ref").str.len_chars() == 1) & (pl.col("alt").str.len_chars() == 1)
INDEL: Final = pl.col("ref").str.len_chars() != pl.col("alt").str.len_chars()
TI: Final = SNV & _TRANSITION
TV: Final = SNV & _BASES & ~_TRANSITION
COMPLETE: Final = (_a1 != -1) & (_a2.is_null() | (_a2 != -1))
HET: Final = COMPLETE & _a2.is_not_null() & (_a1 != _a2)
HOM_ALT: Final = COMPLETE & (_a1 == 1) & (_a2.is_null() | (_a2 == 1))

# over the summed counts: null without a transversion, without a hom-alt call
TI_TV: Final = pl.when(pl.col("n_tv") > 0).then(pl.col("n_ti") / pl.col("n_tv"))
HET_HOM_RATIO: Final = pl.when(pl.col("n_hom_alt") > 0).then(pl.col("n_het") / pl.col("n_hom_alt"))
