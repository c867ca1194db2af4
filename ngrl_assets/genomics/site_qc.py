"""aggV2 site QC as pure, mergeable per-site aggregates. No Dagster, no I/O.

``aggregate`` turns GENOTYPE_EVAL rows (one per biallelic site and sample) into one
AGGREGATE row per site: integer counts plus DP and GQ histograms. Aggregates of disjoint
sample sets combine with ``merge`` (a sum) without re-reading genotypes, and ``metrics``
derives the aggV2 INFO metrics and FILTER from any aggregate, so that

    metrics(merge(aggregate(A), aggregate(B))) == metrics(aggregate(A + B))

Definitions, thresholds and where we differ from aggV2: docs/site_qc.md.

Ploidy. On chrX and chrY outside the GRCh38 PARs a sample of sex XY is haploid: a diploid
call with one distinct allele (``1/1``, ``0/0``, ``./1``) counts as that one allele; a
heterozygous call there is kept as written (diploid het). XX samples are left out of chrY
sites entirely. Samples of unknown sex are counted as written everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from ngrl_assets.genomics.hwe import hwe_midp
from ngrl_assets.genomics.reference import PARS as GRCH38_PARS
from ngrl_assets.genomics.schemas import GENOTYPE_EVAL_SCHEMA, NO_CALL_REASONS, SITE_KEY

# DP histograms: bins 0..126 hold their value exactly, bin 127 holds every DP >= 127.
DP_BINS = 128
# GQ histogram: bins 0..98 exact, bin 99 holds every GQ >= 99 (aggV2 capped median GQ at 99).
GQ_BINS = 100
# Allele balance: a het is balanced when the two-sided binomial p of (AD_ref, AD_alt) under
# p = 0.5 exceeds this. Baked into the aggregate: changing it needs re-aggregation.
AB_ALPHA = 0.01
# GRCh38 pseudoautosomal regions by contig core name ("X", "Y"), from .reference.
PARS: dict[str, tuple[tuple[int, int], ...]] = {
    contig.removeprefix("chr"): regions for contig, regions in GRCH38_PARS.items()
}
_CHUNK_ROWS = 1 << 16  # metrics() works on slices of this many sites

_KEY_SCHEMA = {k: GENOTYPE_EVAL_SCHEMA[k] for k in SITE_KEY}


def nocall_column(reason: str) -> str:
    """The aggregate column counting samples whose genotype carries ``reason``."""
    return f"n_nocall_{reason.lower()}"


# one count per no-call reason (schemas.NO_CALL_REASONS), in its order: samples whose
# genotype carries that reason, fully missing or a half-call
NOCALL_COUNTS = {nocall_column(r): r for r in NO_CALL_REASONS}
_COUNTS = [
    "n_samples",  # samples counted at the site (XX samples excluded on chrY)
    "n_called",  # at least one allele called
    "n_complete",  # every allele called
    *NOCALL_COUNTS,
    "n_an",
    "n_ac",
    "n_ac_het",
    "n_ac_hom",
    "n_ac_hemi",
    "hwe_hom_ref",  # complete diploid genotypes eligible for HWE, by copies of this ALT
    "hwe_het",
    "hwe_hom_alt",
    "ab_hets",  # ref/alt hets with AD_ref + AD_alt > 0
    "ab_hets_balanced",  # ... of which the binomial test p > AB_ALPHA
]
_HISTS = {"dp_hist_all": DP_BINS, "dp_hist_complete": DP_BINS, "gq_hist": GQ_BINS}

AGGREGATE_SCHEMA: dict[str, Any] = {
    **_KEY_SCHEMA,
    **{c: pl.Int32 for c in _COUNTS},
    **{h: pl.List(pl.Int32) for h in _HISTS},
}

SITE_QC_SCHEMA: dict[str, Any] = {
    **_KEY_SCHEMA,
    "AN": pl.Int32,
    "AC": pl.Int32,
    "AC_Het": pl.Int32,
    "AC_Hom": pl.Int32,
    "AC_Hemi": pl.Int32,
    "AF": pl.Float64,
    "missingness": pl.Float64,
    "medianDepthAll": pl.Float64,
    "medianDepthNonMiss": pl.Float64,
    "medianGQ": pl.Float64,
    "ABratio": pl.Float64,
    "completeGTRatio": pl.Float64,
    "phwe": pl.Float64,
    "FILTER": pl.String,
}
_AGG_TYPES = pl.Schema(AGGREGATE_SCHEMA)
_QC_TYPES = pl.Schema(SITE_QC_SCHEMA)


@dataclass(frozen=True)
class QcThresholds:
    """Pass conditions; a site failing one gets that FILTER name (docs/site_qc.md)."""

    max_missingness: float = 0.05  # "missingness": missingness <= this
    min_median_depth: float = 10.0  # "depth": medianDepthAll >= this
    min_median_gq: float = 15.0  # "GQ": medianGQ >= this
    min_ab_ratio: float = 0.25  # "ABratio": ABratio >= this (no testable het: pass)
    min_complete_gt_ratio: float = 0.5  # "completeGTRatio": completeGTRatio >= this
    min_phwe: float = 1e-5  # "phwe": phwe >= this (not testable: pass)


AGGV2 = QcThresholds()


def aggregate(evals: pl.DataFrame) -> pl.DataFrame:
    """GENOTYPE_EVAL rows -> one AGGREGATE_SCHEMA row per site, sorted by SITE_KEY.

    A site whose every row is left out (a chrY site evaluated only in XX samples) has no
    row: nothing there can be measured."""
    needed = [c for c in GENOTYPE_EVAL_SCHEMA if c != "participant_id"]
    missing = [c for c in needed if c not in evals.columns]
    if missing:
        raise ValueError(f"genotype evaluations lack columns {missing}")
    evals = evals.select(needed).cast({c: GENOTYPE_EVAL_SCHEMA[c] for c in needed})
    if evals.select(pl.any_horizontal(pl.col(SITE_KEY).is_null()).any()).item():
        raise ValueError("genotype evaluations have null site key values")
    sites = _sites(evals)
    rows = _derive(evals.join(sites.drop("contig_core"), on=SITE_KEY).drop(SITE_KEY))
    if rows.height == 0:
        return pl.DataFrame(schema=AGGREGATE_SCHEMA)
    unknown = set(rows["no_call_reason"].drop_nulls().unique()) - set(NO_CALL_REASONS)
    if unknown:
        raise ValueError(f"unknown no-call reasons {sorted(unknown)}")
    rows = _with_balance(rows)
    c = pl.col
    counts = rows.group_by("_site").agg(
        n_samples=pl.len(),
        n_called=c("called").sum(),
        n_complete=c("complete").sum(),
        **{name: (c("no_call_reason") == r).sum() for name, r in NOCALL_COUNTS.items()},
        n_an=c("n_present").sum(),
        n_ac=c("n_alt").sum(),
        n_ac_het=c("het").sum(),
        n_ac_hom=2 * c("hom").sum(),
        n_ac_hemi=c("hemi").sum(),
        hwe_hom_ref=(c("hwe_ok") & (c("n_alt") == 0)).sum(),
        hwe_het=(c("hwe_ok") & (c("n_alt") == 1)).sum(),
        hwe_hom_alt=(c("hwe_ok") & (c("n_alt") == 2)).sum(),
        ab_hets=c("ab_ok").sum(),
        ab_hets_balanced=(c("ab_ok") & c("balanced")).sum(),
    )
    hists = [
        _histogram(rows, sites.height, "dp_hist_all", "dp_bin", c("dp_bin").is_not_null()),
        _histogram(rows, sites.height, "dp_hist_complete", "dp_bin", c("complete")),
        _histogram(rows, sites.height, "gq_hist", "gq_bin", c("complete")),
    ]
    return (
        sites.select(*SITE_KEY, "_site")
        .with_columns(hists)
        .join(counts, on="_site", how="inner")
        .sort("_site")
        .cast(_AGG_TYPES)
        .select(list(AGGREGATE_SCHEMA))
    )


def merge(a: pl.DataFrame, b: pl.DataFrame) -> pl.DataFrame:
    """Combine aggregates of two disjoint sample sets; sites present in either."""
    a, b = _conform(a), _conform(b)
    joined = a.join(b, on=SITE_KEY, how="full", coalesce=True, suffix="_b")
    summed = [(pl.col(n).fill_null(0) + pl.col(f"{n}_b").fill_null(0)).alias(n) for n in _COUNTS]
    for name, bins in _HISTS.items():
        zero = pl.lit(pl.Series([[0] * bins], dtype=pl.List(pl.Int32)))
        summed.append(
            (pl.col(name).fill_null(zero) + pl.col(f"{name}_b").fill_null(zero)).alias(name)
        )
    return joined.select([*SITE_KEY, *summed]).cast(_AGG_TYPES).sort(SITE_KEY)


def total(rows: pl.DataFrame, by: list[str]) -> pl.DataFrame:
    """Aggregates summed per (``by`` columns, site): ``merge`` over any number of rows of
    disjoint sample sets (for example a sample batch's increments, or every batch of a
    site). Sorted by ``by`` then the site key. Histograms are summed as 2-D integer arrays
    (rows x bins), so memory is the rows' own size, never rows x bins frame cells."""
    keys = [*by, *SITE_KEY]
    frame = rows.select([*by, *_conform(rows.select(list(AGGREGATE_SCHEMA))).columns])
    if frame.height == 0:
        return frame
    frame = frame.sort(keys, nulls_last=True)
    group = frame.select(pl.struct(keys).rle_id().alias("g"))["g"].to_numpy()
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    out = frame.select(keys)[starts]
    sums = {c: np.add.reduceat(frame[c].to_numpy().astype(np.int64), starts) for c in _COUNTS}
    hists = {}
    for name, bins in _HISTS.items():
        dense = frame[name].list.to_array(bins).to_numpy().astype(np.int64, copy=False)
        summed = np.add.reduceat(dense, starts, axis=0).astype(np.int32)
        hists[name] = pl.Series(name, summed).cast(pl.List(pl.Int32))
    out = out.with_columns(*[pl.Series(c, v) for c, v in sums.items()], *hists.values())
    return out.select([*by, *AGGREGATE_SCHEMA]).cast(_AGG_TYPES)


def metrics(agg: pl.DataFrame, thresholds: QcThresholds = AGGV2) -> pl.DataFrame:
    """AGGREGATE rows -> SITE_QC_SCHEMA rows (site key, aggV2 metrics, FILTER)."""
    agg = _conform(agg)
    if agg.height == 0:
        return pl.DataFrame(schema=SITE_QC_SCHEMA)
    parts = [
        _metrics_chunk(agg.slice(start, _CHUNK_ROWS), thresholds)
        for start in range(0, agg.height, _CHUNK_ROWS)
    ]
    return pl.concat(parts)


# --- aggregate helpers -------------------------------------------------------------


def _sites(evals: pl.DataFrame) -> pl.DataFrame:
    """Distinct site keys, sorted, with their index and ploidy region."""
    core = pl.col("contig").str.strip_prefix("chr")
    pos = pl.col("pos")
    in_par = pl.any_horizontal(
        [
            (pl.col("contig_core") == chrom) & pos.is_between(start, end)
            for chrom, regions in PARS.items()
            for start, end in regions
        ]
    )
    return (
        evals.select(SITE_KEY)
        .unique()
        .sort(SITE_KEY)
        .with_row_index("_site")
        .with_columns(contig_core=core)
        .with_columns(
            is_y=pl.col("contig_core") == "Y",
            hap_region=pl.col("contig_core").is_in(["X", "Y"]) & ~in_par,
        )
    )


def _derive(rows: pl.DataFrame) -> pl.DataFrame:
    """Per (site, sample): ploidy-adjusted alleles, genotype classes and histogram bins."""
    c = pl.col
    a1, a2 = c("a1"), c("a2")
    collapse = c("hap_ctx") & a2.is_not_null() & ((a1 == a2) | (a1 < 0) | (a2 < 0)).fill_null(True)
    # an allele is present when its code is >= 0; a half-call (./1 with reason O or D)
    # contributes its called allele to AN and AC, as bcftools counts GLnexus output
    p1 = (c("x1") >= 0).fill_null(False)
    p2 = (c("x2") >= 0).fill_null(False)
    ploidy = pl.when(c("x2").is_null()).then(1).otherwise(2)
    diploid = ploidy == 2
    has_ad = (c("ad_ref") >= 0) & (c("ad_alt") >= 0) & ((c("ad_ref") + c("ad_alt")) > 0)
    return (
        rows.lazy()
        .filter(~(c("is_y") & (c("sex") == "XX")))
        .with_columns(hap_ctx=c("hap_region") & (c("sex") == "XY"))
        .with_columns(
            x1=pl.when(collapse).then(pl.max_horizontal(a1, a2)).otherwise(a1),
            x2=pl.when(collapse).then(None).otherwise(a2),
        )
        .with_columns(
            n_present=p1.cast(pl.Int32) + p2.cast(pl.Int32),
            n_alt=(p1 & (c("x1") == 1)).cast(pl.Int32) + (p2 & (c("x2") == 1)).cast(pl.Int32),
            has_ref=(p1 & (c("x1") == 0)) | (p2 & (c("x2") == 0)),
        )
        .with_columns(called=c("n_present") > 0, complete=c("n_present") == ploidy)
        .with_columns(
            het=c("complete") & diploid & (c("n_alt") == 1),
            hom=c("complete") & diploid & (c("n_alt") == 2),
            hemi=c("complete") & (ploidy == 1) & (c("n_alt") == 1),
            hwe_ok=c("complete") & diploid & ~c("is_y") & (~c("hap_region") | (c("sex") == "XX")),
        )
        .with_columns(
            ab_ok=(c("het") & c("has_ref") & ~c("hap_ctx") & has_ad).fill_null(False),
            dp_bin=pl.when(c("dp") >= 0).then(c("dp").clip(upper_bound=DP_BINS - 1)),
            gq_bin=pl.when(c("gq") >= 0).then(c("gq").clip(upper_bound=GQ_BINS - 1)),
        )
        .select(
            "_site",
            "no_call_reason",
            "called",
            "complete",
            "n_present",
            "n_alt",
            "het",
            "hom",
            "hemi",
            "hwe_ok",
            "ab_ok",
            "ad_ref",
            "ad_alt",
            "dp_bin",
            "gq_bin",
        )
        .collect()
    )


def balance_limits(n_reads: npt.ArrayLike, alpha: float = AB_ALPHA) -> npt.NDArray[np.int64]:
    """For each read total n, the smallest majority count m whose two-sided binomial
    p-value (bcftools ``binom``: min(1, 2 P(X >= m)), X ~ Bin(n, 1/2)) is <= alpha.
    A het with max(AD_ref, AD_alt) below its limit is balanced; n + 1 when none fails."""
    totals = np.asarray(n_reads, dtype=np.int64)
    out = np.empty(totals.shape, dtype=np.int64)
    for i, n in enumerate(totals.tolist()):
        j = np.arange(n, dtype=np.float64)
        log_pmf = np.concatenate([[0.0], np.cumsum(np.log((n - j) / (j + 1)))]) - n * np.log(2)
        tail = np.cumsum(np.exp(log_pmf)[::-1])[::-1]  # tail[m] = P(X >= m)
        m = np.arange(n + 1)
        failing = np.flatnonzero((2 * m >= n) & (2 * tail <= alpha))
        out[i] = failing[0] if failing.size else n + 1
    return out


def _with_balance(rows: pl.DataFrame) -> pl.DataFrame:
    ok = rows.get_column("ab_ok").to_numpy()
    ref = rows.get_column("ad_ref").fill_null(0).to_numpy()[ok].astype(np.int64)
    alt = rows.get_column("ad_alt").fill_null(0).to_numpy()[ok].astype(np.int64)
    totals, where = np.unique(ref + alt, return_inverse=True)
    balanced = np.zeros(rows.height, dtype=bool)
    balanced[ok] = np.maximum(ref, alt) < balance_limits(totals, AB_ALPHA)[where.reshape(-1)]
    return rows.with_columns(balanced=pl.Series(balanced))


def _histogram(
    rows: pl.DataFrame, n_sites: int, name: str, bin_col: str, cond: pl.Expr
) -> pl.Series:
    bins = _HISTS[name]
    cells = rows.filter(cond & pl.col(bin_col).is_not_null()).select(
        pl.col("_site").cast(pl.Int64) * bins + pl.col(bin_col)
    )
    dense = np.bincount(cells.to_series().to_numpy(), minlength=n_sites * bins)
    return pl.Series(name, dense.astype(np.int32).reshape(n_sites, bins)).cast(pl.List(pl.Int32))


# --- merge / metrics helpers -------------------------------------------------------


def _conform(agg: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in AGGREGATE_SCHEMA if c not in agg.columns]
    if missing:
        raise ValueError(f"aggregate lacks columns {missing}")
    agg = agg.select(list(AGGREGATE_SCHEMA)).cast(_AGG_TYPES)
    if agg.height == 0:
        return agg
    checks = agg.select(
        nulls=pl.sum_horizontal(pl.all().null_count()),
        no_samples=(pl.col("n_samples") <= 0).sum(),
        **{f"{name}_bad": (pl.col(name).list.len() != bins).sum() for name, bins in _HISTS.items()},
    ).row(0, named=True)
    if any(checks.values()):
        raise ValueError(f"malformed aggregate (nulls, empty sites, histogram lengths): {checks}")
    return agg


def _hist_median(hists: pl.Series, bins: int) -> npt.NDArray[np.float64]:
    """Median of the values a histogram holds (mean of the two middle ones when even);
    NaN when empty. Values in the top bin count as the cap (bins - 1)."""
    h = hists.list.to_array(bins).to_numpy().astype(np.int64)
    total = h.sum(axis=1)
    cum = np.cumsum(h, axis=1)
    lower = (cum <= ((total - 1) // 2)[:, None]).sum(axis=1)
    upper = (cum <= (total // 2)[:, None]).sum(axis=1)
    return np.where(total > 0, (lower + upper) / 2.0, np.nan)


def _metrics_chunk(agg: pl.DataFrame, t: QcThresholds) -> pl.DataFrame:
    c = pl.col
    numeric = pl.DataFrame(
        {
            "medianDepthAll": _hist_median(agg["dp_hist_all"], DP_BINS),
            "medianDepthNonMiss": _hist_median(agg["dp_hist_complete"], DP_BINS),
            "medianGQ": _hist_median(agg["gq_hist"], GQ_BINS),
            "phwe": hwe_midp(agg["hwe_het"], agg["hwe_hom_ref"], agg["hwe_hom_alt"]),
        }
    ).fill_nan(None)
    out = pl.concat([agg, numeric], how="horizontal").select(
        *SITE_KEY,
        AN=c("n_an"),
        AC=c("n_ac"),
        AC_Het=c("n_ac_het"),
        AC_Hom=c("n_ac_hom"),
        AC_Hemi=c("n_ac_hemi"),
        AF=pl.when(c("n_an") > 0).then(c("n_ac") / c("n_an")),
        missingness=(c("n_samples") - c("n_called")) / c("n_samples"),
        medianDepthAll=c("medianDepthAll"),
        medianDepthNonMiss=c("medianDepthNonMiss"),
        medianGQ=c("medianGQ"),
        ABratio=pl.when(c("ab_hets") > 0).then(c("ab_hets_balanced") / c("ab_hets")),
        completeGTRatio=c("n_complete") / c("n_samples"),
        phwe=c("phwe"),
    )
    flags = [
        ("missingness", c("missingness") > t.max_missingness),
        ("depth", ~(c("medianDepthAll") >= t.min_median_depth).fill_null(False)),
        ("GQ", ~(c("medianGQ") >= t.min_median_gq).fill_null(False)),
        ("ABratio", (c("ABratio") < t.min_ab_ratio).fill_null(False)),
        ("completeGTRatio", c("completeGTRatio") < t.min_complete_gt_ratio),
        ("phwe", (c("phwe") < t.min_phwe).fill_null(False)),
    ]
    failed = pl.concat_str(
        [pl.when(cond).then(pl.lit(name)) for name, cond in flags],
        separator=";",
        ignore_nulls=True,
    )
    return (
        out.with_columns(FILTER=pl.when(failed == "").then(pl.lit("PASS")).otherwise(failed))
        .cast(_QC_TYPES)
        .select(list(SITE_QC_SCHEMA))
    )
