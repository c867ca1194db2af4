"""Site QC: hand-computed metrics, exact tests against brute force, filters at their
boundaries, and the merge invariant metrics(merge(agg(A), agg(B))) == metrics(agg(A+B))."""

from __future__ import annotations

import math
from fractions import Fraction
from functools import reduce
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ngrl_assets.genomics.hwe import hwe_midp
from ngrl_assets.genomics.schemas import GENOTYPE_EVAL_SCHEMA, NO_CALL_REASONS
from ngrl_assets.genomics.site_qc import (
    AGGREGATE_SCHEMA,
    AGGV2,
    DP_BINS,
    GQ_BINS,
    SITE_QC_SCHEMA,
    QcThresholds,
    aggregate,
    balance_limits,
    merge,
    metrics,
    nocall_column,
    total,
)

X_NONPAR = 5_000_000
X_PAR1 = 100_000


def ev(
    pid: str,
    gt: tuple[int, int | None] = (0, 0),
    *,
    contig: str = "chr1",
    pos: int = 1000,
    alt: str = "G",
    sex: str = "XX",
    dp: int | None = 30,
    gq: int | None = 50,
    ad: tuple[int, int] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "contig": contig,
        "pos": pos,
        "ref": "A",
        "alt": alt,
        "participant_id": pid,
        "sex": sex,
        "a1": gt[0],
        "a2": gt[1],
        "dp": dp,
        "gq": gq,
        "ad_ref": None if ad is None else ad[0],
        "ad_alt": None if ad is None else ad[1],
        "no_call_reason": reason,
    }


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=GENOTYPE_EVAL_SCHEMA)


def qc(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return metrics(aggregate(frame(rows))).to_dicts()


def site(rows: list[dict[str, Any]]) -> dict[str, Any]:
    (only,) = qc(rows)
    return only


# --- independent reference computations ----------------------------------------------


def brute_midp(het: int, hom_a: int, hom_b: int) -> Fraction:
    """Mid p by enumerating the Levene-Haldane distribution with exact fractions."""
    n, n_a, n_b = het + hom_a + hom_b, 2 * hom_a + het, 2 * hom_b + het
    probs = {}
    for h in range(n_a % 2, min(n_a, n_b) + 1, 2):
        aa, bb = (n_a - h) // 2, (n_b - h) // 2
        num = math.factorial(n) * 2**h * math.factorial(n_a) * math.factorial(n_b)
        den = math.factorial(aa) * math.factorial(h) * math.factorial(bb) * math.factorial(2 * n)
        probs[h] = Fraction(num, den)
    assert sum(probs.values()) == 1
    p_obs = probs[het]
    less = sum((p for p in probs.values() if p < p_obs), Fraction(0))
    return less + Fraction(1, 2) * sum(p for p in probs.values() if p == p_obs)


def binom_p(a: int, b: int) -> Fraction:
    """bcftools binom(): two-sided, min(1, 2 P(X >= max)), X ~ Bin(a + b, 1/2)."""
    n, m = a + b, max(a, b)
    if a == b:
        return Fraction(1)
    return min(Fraction(1), 2 * Fraction(sum(math.comb(n, j) for j in range(m, n + 1)), 2**n))


# --- counts ---------------------------------------------------------------------------


def test_allele_counts_autosome() -> None:
    rows = [
        ev("s1", (0, 0)),
        ev("s2", (0, 1)),
        ev("s3", (1, 1)),
        ev("s4", (1, 2)),  # het for this row; the other ALT counts in AN only
        ev("s5", (0, 2)),
        ev("s6", (-1, -1), reason="M", dp=None, gq=None),
        ev("s7", (1, -1)),  # half-call: AN and AC, no genotype class
        ev("s8", (1, None)),  # haploid call on an autosome: counted as written
    ]
    got = site(rows)
    assert got["AN"] == 2 + 2 + 2 + 2 + 2 + 0 + 1 + 1
    assert got["AC"] == 0 + 1 + 2 + 1 + 0 + 0 + 1 + 1
    assert (got["AC_Het"], got["AC_Hom"], got["AC_Hemi"]) == (2, 2, 1)
    assert got["AF"] == 6 / 12
    assert got["missingness"] == 1 / 8
    assert got["completeGTRatio"] == 6 / 8  # the no-call and the half-call are incomplete


def test_half_call_contributes_its_called_allele() -> None:
    # ./1 with reason O (an overlapping variant made the ref haplotype unknown): AN 1, AC 1
    got = site([ev("s1", (-1, 1), reason="O"), ev("s2", (0, 1))])
    assert (got["AN"], got["AC"], got["missingness"]) == (3, 2, 0.0)
    assert got["completeGTRatio"] == 0.5


def test_aggregate_counts_every_no_call_reason() -> None:
    rows = [
        ev("a", (-1, -1), reason="M"),
        ev("b", (-1, -1), reason="P"),
        ev("c", (-1, -1), reason="D"),
        ev("d", (0, -1), reason="D"),  # half-call: the alt allele too shallow
        ev("e", (-1, -1), reason="U"),
        ev("f", (-1, 1), reason="O"),  # half-call: ref haplotype overlapped
        ev("g", (-1, -1), reason="U"),
        ev("h", (-1, -1), reason="U"),
        ev("i", (0, 1)),
    ]
    agg = aggregate(frame(rows)).row(0, named=True)
    expected = {"M": 1, "P": 1, "D": 2, "U": 3, "O": 1}
    assert set(expected) == set(NO_CALL_REASONS)  # every reason of the vocabulary
    assert {r: agg[nocall_column(r)] for r in NO_CALL_REASONS} == expected
    assert (agg["n_samples"], agg["n_called"], agg["n_complete"]) == (9, 3, 1)
    # the counts add up across batches like every other aggregate
    merged = merge(aggregate(frame(rows[:4])), aggregate(frame(rows[4:]))).row(0, named=True)
    assert {r: merged[nocall_column(r)] for r in NO_CALL_REASONS} == expected
    with pytest.raises(ValueError, match="unknown no-call reasons"):
        aggregate(frame([ev("x", (-1, -1), reason="Z")]))


def test_no_call_vocabulary_is_the_one_source() -> None:
    from ngrl_assets.genomics.export import RNC_HEADER
    from ngrl_assets.genomics.site_qc_columns import COLUMN_DESCRIPTIONS
    from ngrl_assets.genomics.tables import JOINT_GENOTYPES

    for reason in NO_CALL_REASONS:
        assert nocall_column(reason) in AGGREGATE_SCHEMA
        assert f"reason {reason} " in COLUMN_DESCRIPTIONS[nocall_column(reason)]
        assert f"{reason} {NO_CALL_REASONS[reason]}" in JOINT_GENOTYPES.columns["no_call_reason"]
        assert f", {reason} " in RNC_HEADER


def test_hemizygous_chrx_outside_par() -> None:
    kw: dict[str, Any] = {"contig": "chrX", "pos": X_NONPAR}
    rows = [
        ev("m1", (1, 1), sex="XY", **kw),  # written diploid: one hemizygous ALT
        ev("m2", (0, 0), sex="XY", **kw),  # one REF allele
        ev("m3", (1, None), sex="XY", **kw),  # haploid ALT
        ev("m4", (-1, 1), sex="XY", **kw),  # ./1 in a haploid context: hemizygous ALT
        ev("m5", (0, 1), sex="XY", ad=(10, 10), **kw),  # het kept as written
        ev("f1", (1, 1), sex="XX", **kw),
        ev("f2", (0, 1), sex="XX", **kw),
        ev("u1", (1, 1), sex="unknown", **kw),  # unknown sex: as written
    ]
    got = site(rows)
    assert got["AN"] == 1 + 1 + 1 + 1 + 2 + 2 + 2 + 2
    assert got["AC_Hemi"] == 3
    assert got["AC_Het"] == 2
    assert got["AC_Hom"] == 4
    assert got["AC"] == 3 + 2 + 4
    assert got["ABratio"] is None  # the XY het is not tested, f2 has no AD
    agg = aggregate(frame(rows)).row(0, named=True)
    # HWE on chrX outside the PARs: XX samples only
    assert (agg["hwe_hom_ref"], agg["hwe_het"], agg["hwe_hom_alt"]) == (0, 1, 1)


@pytest.mark.parametrize(
    ("contig", "pos", "haploid"),
    [
        ("chrX", 10_000, True),
        ("chrX", 10_001, False),  # PAR1 start
        ("chrX", 2_781_479, False),  # PAR1 end
        ("chrX", 2_781_480, True),
        ("chrX", 155_701_383, False),  # PAR2
        ("chrX", 156_030_896, True),
        ("X", X_NONPAR, True),  # contig without the chr prefix
        ("chrY", 2_781_479, False),
        ("chrY", 56_887_903, False),  # chrY PAR2 (GRCh38 Y coordinates)
        ("chrY", 155_701_383, True),
        ("chr7", X_NONPAR, False),
    ],
)
def test_par_boundaries(contig: str, pos: int, haploid: bool) -> None:
    got = site([ev("m", (1, 1), sex="XY", contig=contig, pos=pos)])
    assert (got["AN"], got["AC_Hemi"], got["AC_Hom"]) == ((1, 1, 0) if haploid else (2, 0, 2))


def test_chry_ignores_xx_samples() -> None:
    kw: dict[str, Any] = {"contig": "chrY", "pos": 7_000_000}
    rows = [
        ev("m1", (1, None), sex="XY", **kw),
        ev("m2", (0, 0), sex="XY", **kw),
        ev("f1", (-1, -1), sex="XX", reason="M", dp=None, **kw),
        ev("f2", (1, 1), sex="XX", **kw),
    ]
    got = site(rows)
    assert (got["AN"], got["AC"], got["AC_Hemi"]) == (2, 1, 1)
    assert got["missingness"] == 0.0
    assert got["phwe"] is None  # no HWE on chrY: passes
    assert got["FILTER"] == "PASS"
    # a chrY site seen only in XX samples has nothing to measure
    assert aggregate(frame([ev("f1", (0, 0), sex="XX", **kw)])).height == 0


# --- depth and GQ medians -------------------------------------------------------------


def test_medians() -> None:
    rows = [
        ev("a", (0, 1), dp=10, gq=20),
        ev("b", (0, 0), dp=21, gq=31),
        ev("c", (1, 1), dp=40, gq=99),
        ev("d", (-1, -1), reason="D", dp=3, gq=5),  # counts for medianDepthAll only
        ev("e", (-1, -1), reason="M", dp=None, gq=None),  # DP unknown: in no median
        ev("f", (0, -1), dp=2, gq=1),  # half-call: not complete
    ]
    got = site(rows)
    assert got["medianDepthAll"] == 10.0  # DPs 2, 3, 10, 21, 40
    assert got["medianDepthNonMiss"] == 21.0  # 10, 21, 40
    assert got["medianGQ"] == 31.0  # 20, 31, 99


def test_even_median_and_caps() -> None:
    got = site([ev("a", (0, 1), dp=10, gq=14), ev("b", (0, 1), dp=21, gq=15)])
    assert (got["medianDepthAll"], got["medianGQ"]) == (15.5, 14.5)
    high = site([ev("a", (0, 0), dp=300, gq=120), ev("b", (0, 0), dp=900, gq=99)])
    # values at or above the top bin count as the cap (DP 127, GQ 99 as in aggV2)
    assert (high["medianDepthAll"], high["medianGQ"]) == (DP_BINS - 1, GQ_BINS - 1)
    just_below = site([ev("a", (0, 0), dp=DP_BINS - 2), ev("b", (0, 0), dp=DP_BINS + 50)])
    assert just_below["medianDepthAll"] == ((DP_BINS - 2) + (DP_BINS - 1)) / 2


def test_site_without_depth_fails_depth_and_gq() -> None:
    got = site([ev("a", (-1, -1), reason="M", dp=None, gq=None)])
    assert got["medianDepthAll"] is None and got["medianGQ"] is None
    assert got["FILTER"] == "missingness;depth;GQ;completeGTRatio"


# --- allele balance -------------------------------------------------------------------


def test_balance_limits_match_exact_binomial() -> None:
    totals = np.arange(1, 161)
    limits = balance_limits(totals, 0.01)
    for n, limit in zip(totals.tolist(), limits.tolist(), strict=True):
        for major in range((n + 1) // 2, n + 1):
            assert (major < limit) == (binom_p(major, n - major) > Fraction(1, 100)), (n, major)


def test_ab_ratio() -> None:
    ads = [(15, 15), (9, 21), (5, 25), (2, 28), (28, 2), (0, 12)]
    expected_pass = [binom_p(*ad) > Fraction(1, 100) for ad in ads]
    assert expected_pass == [True, True, False, False, False, False]
    rows = [ev(f"h{i}", (0, 1), ad=ad) for i, ad in enumerate(ads)]
    rows += [
        ev("noad", (0, 1), ad=None),  # het without AD: left out of the ratio
        ev("zero", (1, 0), ad=(0, 0)),  # no reads: left out
        ev("multi", (1, 2), ad=(0, 20)),  # ALT/other-ALT het: AD_ref/AD_alt says nothing
        ev("hom", (1, 1), ad=(1, 29)),
    ]
    got = site(rows)
    assert got["ABratio"] == 2 / 6
    assert got["AC_Het"] == 6 + 3


# --- HWE ------------------------------------------------------------------------------


def test_hwe_hand_case() -> None:
    # 2 samples, 2 ALT copies: P(0 hets) = 1/3, P(2 hets) = 2/3; observed 0 hets
    assert hwe_midp([0], [1], [1])[0] == pytest.approx(1 / 6, rel=1e-12)
    assert hwe_midp([2], [0], [0])[0] == pytest.approx(1 / 3 + 0.5 * 2 / 3, rel=1e-12)


def test_hwe_matches_brute_force() -> None:
    triples = [(h, a, b) for h in range(7) for a in range(6) for b in range(6) if h + a + b]
    rng = np.random.default_rng(7)
    for _ in range(60):
        n = int(rng.integers(20, 400))
        h = int(rng.integers(0, n + 1))
        a = int(rng.integers(0, n - h + 1))
        triples.append((h, a, n - h - a))
    triples += [(100, 100, 100), (0, 150, 150), (300, 0, 0), (1, 0, 399)]
    got = hwe_midp(*(np.array(col) for col in zip(*triples, strict=True)))
    for triple, value in zip(triples, got.tolist(), strict=True):
        exact = float(brute_midp(*triple))
        assert abs(value - exact) <= 1e-9 * exact or abs(value - exact) < 1e-24, triple


def test_hwe_edge_cases() -> None:
    got = hwe_midp([0, 0, 1, 5], [0, 7, 0, 2], [0, 0, 9, 3])
    assert np.isnan(got[0])  # no genotypes
    assert got[1] == 0.5 and got[2] == 0.5  # monomorphic / singleton: one configuration
    assert got[3] == hwe_midp([5], [3], [2])[0]  # symmetric in the homozygotes


def test_hwe_on_chrx_uses_xx_only() -> None:
    kw: dict[str, Any] = {"contig": "chrX", "pos": X_NONPAR}
    rows = [ev(f"f{i}", (1, 1), sex="XX", **kw) for i in range(3)]
    rows += [ev(f"g{i}", (0, 0), sex="XX", **kw) for i in range(3)]
    rows += [ev(f"m{i}", (0, 1), sex="XY", **kw) for i in range(20)]
    rows += [ev(f"u{i}", (0, 1), sex="unknown", **kw) for i in range(20)]
    assert site(rows)["phwe"] == pytest.approx(float(brute_midp(0, 3, 3)), rel=1e-12)
    par = [{**r, "pos": X_PAR1} for r in rows]  # in the PAR every sample counts
    assert site(par)["phwe"] == pytest.approx(float(brute_midp(40, 3, 3)), rel=1e-12)


# --- filters --------------------------------------------------------------------------


def hist(values: dict[int, int], bins: int) -> list[int]:
    out = [0] * bins
    for value, count in values.items():
        out[min(value, bins - 1)] += count
    return out


def agg_row(**over: Any) -> pl.DataFrame:
    """A 20-sample site that passes every aggV2 filter; override one thing at a time."""
    base: dict[str, Any] = {
        "contig": "chr1",
        "pos": 1,
        "ref": "A",
        "alt": "G",
        "n_samples": 20,
        "n_called": 20,
        "n_complete": 20,
        "n_nocall_m": 0,
        "n_nocall_p": 0,
        "n_nocall_d": 0,
        "n_nocall_u": 0,
        "n_nocall_o": 0,
        "n_an": 40,
        "n_ac": 10,
        "n_ac_het": 8,
        "n_ac_hom": 2,
        "n_ac_hemi": 0,
        "hwe_hom_ref": 11,
        "hwe_het": 8,
        "hwe_hom_alt": 1,
        "ab_hets": 8,
        "ab_hets_balanced": 8,
        "dp_hist_all": hist({30: 20}, DP_BINS),
        "dp_hist_complete": hist({30: 20}, DP_BINS),
        "gq_hist": hist({60: 20}, GQ_BINS),
    }
    base.update(over)
    return pl.DataFrame([base], schema=AGGREGATE_SCHEMA)


def filter_of(agg: pl.DataFrame, thresholds: QcThresholds = AGGV2) -> str:
    return str(metrics(agg, thresholds)["FILTER"][0])


@pytest.mark.parametrize(
    ("over", "expected"),
    [
        ({}, "PASS"),
        ({"n_called": 19}, "PASS"),  # missingness 1/20 = 5%
        ({"n_called": 18, "n_complete": 18}, "missingness"),  # 10%
        ({"dp_hist_all": hist({10: 10, 11: 10}, DP_BINS)}, "PASS"),  # median 10.5
        ({"dp_hist_all": hist({10: 10, 30: 10}, DP_BINS)}, "PASS"),  # median 20
        ({"dp_hist_all": hist({9: 10, 11: 10}, DP_BINS)}, "PASS"),  # median exactly 10
        ({"dp_hist_all": hist({9: 10, 10: 10}, DP_BINS)}, "depth"),  # 9.5
        ({"gq_hist": hist({15: 11, 3: 9}, GQ_BINS)}, "PASS"),  # median 15
        ({"gq_hist": hist({14: 10, 15: 10}, GQ_BINS)}, "GQ"),  # 14.5
        ({"ab_hets": 4, "ab_hets_balanced": 1}, "PASS"),  # 25%
        ({"ab_hets": 5, "ab_hets_balanced": 1}, "ABratio"),  # 20%
        ({"ab_hets": 0, "ab_hets_balanced": 0}, "PASS"),  # no testable het
        ({"n_complete": 10}, "PASS"),  # completeGTRatio 50% (10 half-calls)
        ({"n_complete": 9}, "completeGTRatio"),
        ({"hwe_hom_ref": 10, "hwe_het": 0, "hwe_hom_alt": 10}, "phwe"),
        ({"hwe_hom_ref": 0, "hwe_het": 0, "hwe_hom_alt": 0}, "PASS"),  # untestable
        (
            {
                "n_called": 10,
                "n_complete": 5,
                "dp_hist_all": hist({5: 20}, DP_BINS),
                "gq_hist": hist({5: 20}, GQ_BINS),
                "ab_hets_balanced": 0,
                "hwe_hom_ref": 10,
                "hwe_het": 0,
                "hwe_hom_alt": 10,
            },
            "missingness;depth;GQ;ABratio;completeGTRatio;phwe",
        ),
    ],
)
def test_filters_at_boundaries(over: dict[str, Any], expected: str) -> None:
    assert filter_of(agg_row(**over)) == expected


def test_phwe_threshold_is_inclusive() -> None:
    agg = agg_row(hwe_hom_ref=15, hwe_het=0, hwe_hom_alt=5)
    p = metrics(agg)["phwe"][0]
    assert 0 < p < 1
    assert filter_of(agg, QcThresholds(min_phwe=p)) == "PASS"
    assert filter_of(agg, QcThresholds(min_phwe=float(np.nextafter(p, 1.0)))) == "phwe"


def test_aggv2_defaults() -> None:
    assert QcThresholds(0.05, 10.0, 15.0, 0.25, 0.5, 1e-5) == AGGV2


# --- schemas, validation --------------------------------------------------------------


def test_schemas_and_empty_inputs() -> None:
    empty = aggregate(frame([]))
    assert dict(empty.schema) == AGGREGATE_SCHEMA and empty.height == 0
    assert dict(metrics(empty).schema) == SITE_QC_SCHEMA
    agg = aggregate(frame([ev("a", (0, 1)), ev("b", (0, 0), alt="T")]))
    assert dict(agg.schema) == AGGREGATE_SCHEMA
    assert dict(metrics(agg).schema) == SITE_QC_SCHEMA
    assert_frame_equal(merge(agg, empty), agg)


def test_validation() -> None:
    with pytest.raises(ValueError, match="lack columns"):
        aggregate(frame([ev("a")]).drop("gq"))
    with pytest.raises(ValueError, match="null site key"):
        aggregate(frame([ev("a")]).with_columns(pl.lit(None, pl.String).alias("alt")))
    bad = agg_row().with_columns(pl.lit([1, 2], dtype=pl.List(pl.Int32)).alias("gq_hist"))
    with pytest.raises(ValueError, match="histogram"):
        merge(bad, agg_row())
    with pytest.raises(ValueError, match="empty sites"):
        metrics(agg_row(n_samples=0))


def test_merge_accepts_unsigned_or_delta_read_types() -> None:
    agg = aggregate(frame([ev("a", (0, 1), ad=(4, 5)), ev("b", (1, 1))]))
    unsigned = agg.with_columns(pl.col(pl.Int32).exclude("pos").cast(pl.UInt32))
    assert_frame_equal(merge(unsigned, agg.clear()), agg)


# --- the merge invariant --------------------------------------------------------------

SITES = [
    ("chr1", 1000, "G"),
    ("chr1", 1000, "T"),  # second ALT of a split multiallelic
    ("chr2", 5, "G"),
    ("chrX", X_NONPAR, "G"),
    ("chrX", X_PAR1, "G"),
    ("chrY", 7_000_000, "G"),
]
GTS = [(0, 0), (0, 1), (1, 1), (1, 2), (0, 2), (2, 2), (1, -1), (1, None), (0, None)]
NO_CALL = (-1, -1)


@st.composite
def evaluations(draw: st.DrawFn) -> tuple[pl.DataFrame, list[bool]]:
    n = draw(st.integers(1, 10))
    sexes = draw(st.lists(st.sampled_from(["XX", "XY", "unknown"]), min_size=n, max_size=n))
    in_a = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    small = st.one_of(st.none(), st.integers(0, 40))
    rows = []
    for contig, pos, alt in SITES:
        for i in range(n):
            if not draw(st.integers(0, 5)):  # (site, sample) not evaluated
                continue
            reason = draw(st.sampled_from([None, None, None, "M", "P", "D"]))
            gt = NO_CALL if reason else draw(st.sampled_from(GTS))
            ad = draw(st.one_of(st.none(), st.tuples(st.integers(0, 40), st.integers(0, 40))))
            rows.append(
                ev(
                    f"s{i}",
                    gt,
                    contig=contig,
                    pos=pos,
                    alt=alt,
                    sex=sexes[i],
                    dp=draw(st.one_of(small, st.integers(100, 400))),
                    gq=draw(st.one_of(small, st.integers(80, 120))),
                    ad=ad,
                    reason=reason,
                )
            )
    return frame(rows), in_a


@settings(max_examples=60, deadline=None)
@given(evaluations())
def test_merge_equals_joint_aggregation(case: tuple[pl.DataFrame, list[bool]]) -> None:
    evals, in_a = case
    ids_a = [f"s{i}" for i, flag in enumerate(in_a) if flag]
    part_a = evals.filter(pl.col("participant_id").is_in(ids_a))
    part_b = evals.filter(~pl.col("participant_id").is_in(ids_a))
    whole = aggregate(evals)
    merged = merge(aggregate(part_a), aggregate(part_b))
    assert_frame_equal(merged, whole, check_exact=True)
    assert_frame_equal(merge(aggregate(part_b), aggregate(part_a)), whole, check_exact=True)
    assert_frame_equal(metrics(merged), metrics(whole), check_exact=True)


@settings(max_examples=60, deadline=None)
@given(evaluations(), st.integers(1, 4))
def test_total_equals_merging_each_sample_one_by_one(
    case: tuple[pl.DataFrame, list[bool]], groups: int
) -> None:
    """``total`` over one aggregate row per (sample, site), grouped into ``groups`` batches
    and over all of them, equals ``merge`` folding the samples in one at a time."""
    evals, _ = case
    people = sorted(set(evals["participant_id"].to_list()))
    assume(people)
    per_sample = [
        aggregate(evals.filter(pl.col("participant_id") == p)).with_columns(
            pl.lit(i % groups, dtype=pl.Int32).alias("batch")
        )
        for i, p in enumerate(people)
    ]
    rows = pl.concat(per_sample)
    for number in range(groups):
        mine = [a.drop("batch") for a in per_sample if a["batch"].to_list()[:1] == [number]]
        got = total(rows, by=["batch"]).filter(pl.col("batch") == number).drop("batch")
        expected = reduce(merge, mine) if mine else got.clear()
        assert_frame_equal(got, expected, check_exact=True)
    assert_frame_equal(total(rows.drop("batch"), by=[]), aggregate(evals), check_exact=True)
