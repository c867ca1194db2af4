"""The joint genotyper: every (site x sample) decision of a chunk, without a dense table.

Semantics are those of ``docs/genomics.md`` (Joint-calling semantics): a sample's own call,
the ``min_dp`` rule, coverage of the whole REF span by its blocks and other calls, the
no-call reasons M/P/D/U/O, allele code 2 for another non-reference allele, half-calls and
haploid calls. This module decides them on integers: frames are encoded (a contig index
and genome positions ``contig << 32 | pos`` as int64, sites by index, each call's allele
as the index of the site it genotypes, samples by index, unknown values as ``NA``) for
one batch of samples at a time, then a compiled sweep walks each sample's records sorted
by start along the sites sorted by position, keeping only the records that overlap the
current site (an active window, so long deletions cost what they overlap). Only sparse
rows leave it:
every call that is not hom-ref and every no-call. Hom-ref stays implicit, but every cell,
hom-ref included, is counted into the per-site aggregates of :mod:`site_qc` on the way,
so those are exact. Nothing of size sites x samples is ever allocated. Pure: no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl
from numba import njit

from ngrl_assets.genomics import site_qc
from ngrl_assets.genomics.schemas import GENOTYPE_EVAL_SCHEMA, NO_CALL_REASONS, SITE_KEY

NA = int(np.iinfo(np.int32).min)  # an unknown (null) integer in the engine's arrays
HAPLOID = -128  # a2 of a haploid call (null in the frames)
# sample sex codes (the kernel's literals); any other text counts as unknown, a null sex
# is its own code (site_qc's null logic treats it differently from "unknown")
SEX_CODES = {"unknown": 0, "XX": 1, "XY": 2}
_UNKNOWN, _NULL_SEX = 0, 3
# no-call reason codes: 0 called, then NO_CALL_REASONS' letters in order
REASONS = [None, *NO_CALL_REASONS]
assert REASONS == [None, "M", "P", "D", "U", "O"]  # the kernel's codes 1..5
# the aggregate's count columns, in the engine's order
COUNT_COLUMNS = [
    c for c, t in site_qc.AGGREGATE_SCHEMA.items() if c not in SITE_KEY and t == pl.Int32
]
_C = {name: i for i, name in enumerate(COUNT_COLUMNS)}
# the kernel indexes counts by position: n_samples, n_called, n_complete, the five no-call
# reasons, n_an, n_ac, n_ac_het, n_ac_hom, n_ac_hemi, hwe by ALT copies (0, 1, 2), ab_hets,
# ab_hets_balanced
assert [_C[c] for c in ("n_an", "hwe_hom_ref", "ab_hets_balanced")] == [8, 13, 17]
assert len(COUNT_COLUMNS) == 18 and _C["hwe_hom_alt"] == 15
_NOCALL = np.array([-1] + [_C[site_qc.nocall_column(r)] for r in NO_CALL_REASONS], np.int64)
_DP_BINS, _GQ_BINS = site_qc.DP_BINS, site_qc.GQ_BINS
_CALL_VALUES = ["a1", "a2", "dp", "gq", "ad_ref", "ad_alt"]
# sparse output columns (int32 matrix)
SPARSE_COLUMNS = ["site", "sample", "a1", "a2", "dp", "gq", "ad_ref", "ad_alt", "reason"]


# samples genotyped together: their records (integer arrays) are all that is held in
# memory at once besides the output, so memory does not grow with cohort size x sites
SAMPLE_BATCH = 64


@dataclass(frozen=True)
class Sites:
    """A chunk's sites as the engine sees them: sorted by genome position."""

    frame: pl.DataFrame  # "sid" (the caller's order) and SITE_KEY, in engine order
    contigs: pl.Enum  # the sites' contigs, sorted by name: their index
    pos: npt.NDArray[np.int64]  # contig index << 32 | position
    end: npt.NDArray[np.int64]
    is_y: npt.NDArray[np.bool_]
    hap: npt.NDArray[np.bool_]  # chrX/chrY outside the PARs


@dataclass(frozen=True)
class Records:
    """A batch of samples' reference blocks and variant calls as integer arrays, grouped
    by sample and sorted by start; unknown values are NA, a haploid a2 is HAPLOID."""

    offsets: npt.NDArray[np.int64]  # the batch's i-th sample: [offsets[i], offsets[i+1])
    start: npt.NDArray[np.int64]
    end: npt.NDArray[np.int64]
    dp: npt.NDArray[np.int32]
    gq: npt.NDArray[np.int32]
    site: npt.NDArray[np.int32]  # the site a call genotypes, else -1 (blocks, other alleles)
    a1: npt.NDArray[np.int8]
    a2: npt.NDArray[np.int8]
    ad_ref: npt.NDArray[np.int32]
    ad_alt: npt.NDArray[np.int32]
    nonref: npt.NDArray[np.int8]  # alleles coded 1 or 2 (0 for blocks)
    carrier: npt.NDArray[np.bool_]  # a call carrying its own allele (code 1)


@dataclass(frozen=True)
class Tally:
    """Per-site aggregate accumulators (site_qc's counts and histograms), engine order."""

    counts: npt.NDArray[np.int64]
    dp_all: npt.NDArray[np.int32]
    dp_complete: npt.NDArray[np.int32]
    gq_hist: npt.NDArray[np.int32]

    @classmethod
    def zeros(cls, n_sites: int) -> Tally:
        return cls(
            np.zeros((n_sites, len(COUNT_COLUMNS)), np.int64),
            np.zeros((n_sites, _DP_BINS), np.int32),
            np.zeros((n_sites, _DP_BINS), np.int32),
            np.zeros((n_sites, _GQ_BINS), np.int32),
        )


@dataclass(frozen=True)
class Genotyped:
    """The engine's result: sparse GENOTYPE_EVAL rows and the sites' AGGREGATE rows."""

    # GENOTYPE_EVAL_SCHEMA; per batch of samples (SAMPLE_BATCH, in participant order)
    # sorted by site (the caller's order) and participant
    sparse: pl.DataFrame
    aggregates: pl.DataFrame  # site_qc.AGGREGATE_SCHEMA, sorted by SITE_KEY


def genotype_sparse(
    sites: pl.DataFrame,
    samples: pl.DataFrame,
    calls: pl.DataFrame,
    blocks: pl.DataFrame,
    min_dp: int = 1,
    batch: int = SAMPLE_BATCH,
) -> Genotyped:
    """Joint-genotype ``samples`` (participant_id, sex) at ``sites`` (contig, pos, ref, alt,
    end) from their ``calls`` and ``blocks`` (joint.CALLS_SCHEMA / BLOCKS_SCHEMA): the
    non-hom-ref rows and the per-site aggregates over every cell. ``batch`` samples are
    swept at a time (rows and aggregates do not depend on it, only the rows' order)."""
    if sites.height == 0 or samples.height == 0:
        return Genotyped(
            pl.DataFrame(schema=GENOTYPE_EVAL_SCHEMA), pl.DataFrame(schema=site_qc.AGGREGATE_SCHEMA)
        )
    where = index_sites(sites)
    people = samples.select("participant_id", "sex").sort("participant_id")
    sex = _sex_codes(people)
    ids = pl.Enum(people["participant_id"])
    calls = _owned(calls.select(*SITE_KEY, "end", *_CALL_VALUES, "participant_id"), ids)
    blocks = _owned(blocks.select("contig", "start", "end", "min_dp", "gq", "participant_id"), ids)
    ab_totals = _ab_totals(calls)
    ab_limits = site_qc.balance_limits(ab_totals)
    tally = Tally.zeros(where.pos.shape[0])
    parts, out = [], np.empty((1 << 16, len(SPARSE_COLUMNS)), np.int32)
    for lo in range(0, people.height, batch):
        hi = min(people.height, lo + batch)
        rec = records(where, calls, blocks, lo, hi)
        out, n_out = sweep(where, sex[lo:hi], lo, rec, ab_totals, ab_limits, min_dp, tally, out, 0)
        parts.append(_sparse_frame(where, people, out[:n_out]))
    sparse = pl.concat(parts, rechunk=False)
    return Genotyped(sparse, _aggregate_frame(where, tally))


def with_hom_ref(sparse: pl.DataFrame, sites: pl.DataFrame, samples: pl.DataFrame) -> pl.DataFrame:
    """Every (site, sample) cell as GENOTYPE_EVAL rows: ``sparse`` plus the implicit
    hom-ref cells (0/0, depth and quality not kept). Sites x samples rows: for small
    inspections only (conformance cases, tests), never joint calling itself."""
    cells = (
        sites.select(SITE_KEY)
        .with_row_index("_sid")
        .join(samples.select("participant_id", "sex"), how="cross")
    )
    out = cells.join(
        sparse.drop("sex"), on=[*SITE_KEY, "participant_id"], how="left", maintain_order="left"
    ).with_columns(
        pl.col("a1").fill_null(0),
        pl.when(pl.col("a1").is_null()).then(0).otherwise(pl.col("a2")).alias("a2"),
    )
    return (
        out.sort("_sid", "participant_id")
        .select(list(GENOTYPE_EVAL_SCHEMA))
        .cast(GENOTYPE_EVAL_SCHEMA)  # type: ignore[arg-type]
    )


def sweep(
    where: Sites,
    sex: npt.NDArray[np.int8],
    first: int,
    rec: Records,
    ab_totals: npt.NDArray[np.int64],
    ab_limits: npt.NDArray[np.int64],
    min_dp: int,
    tally: Tally,
    out: npt.NDArray[np.int32],
    n_out: int,
) -> tuple[npt.NDArray[np.int32], int]:
    """The compiled sweep over one batch of samples (the first is sample ``first``):
    counts every cell into ``tally`` and appends the sparse rows to ``out`` (an int32
    matrix of SPARSE_COLUMNS: engine site index, sample index, ...; grown when full)
    after its first ``n_out`` rows. Returns the buffer and its row count."""
    return _sweep(  # type: ignore[no-any-return]
        where.pos, where.end, where.is_y, where.hap, sex, np.int64(first), rec.offsets,
        rec.start, rec.end, rec.dp, rec.gq, rec.site, rec.a1, rec.a2, rec.ad_ref, rec.ad_alt,
        rec.nonref, rec.carrier, ab_totals, ab_limits, np.int64(min_dp), _NOCALL,
        tally.counts, tally.dp_all, tally.dp_complete, tally.gq_hist, out, np.int64(n_out),
    )  # fmt: skip


# --- encoding -------------------------------------------------------------------------


def index_sites(sites: pl.DataFrame) -> Sites:
    """The sites sorted by genome position, with their ploidy regions."""
    contigs = pl.Enum(sorted(set(sites["contig"].unique().to_list())))
    frame = (
        sites.select(*SITE_KEY, "end")
        .with_row_index("sid")
        .with_columns(
            _genome(contigs, "pos").alias("g_pos"), _genome(contigs, "end").alias("g_end")
        )
        .sort("g_pos", "sid")
    )
    is_y, hap = _ploidy_regions(frame)
    return Sites(
        frame=frame.select("sid", *SITE_KEY),
        contigs=contigs,
        pos=frame["g_pos"].to_numpy().astype(np.int64, copy=False),
        end=frame["g_end"].to_numpy().astype(np.int64, copy=False),
        is_y=is_y,
        hap=hap,
    )


def records(where: Sites, calls: pl.DataFrame, blocks: pl.DataFrame, lo: int, hi: int) -> Records:
    """Samples ``lo``..``hi - 1``'s calls and blocks on the sites' contigs as integer
    arrays (``calls`` and ``blocks`` carry the ``sample`` index, see ``_owned``). A
    sample's repeated call of one allele counts once (its first row), as a set."""
    mine = pl.col("sample").is_between(lo, hi - 1)
    keyed = calls.filter(mine).join(
        where.frame.select(*SITE_KEY).with_row_index("site"),
        on=SITE_KEY,
        how="left",
        maintain_order="left",
    )
    # repeated rows: by (sample, site) where the allele is a site, by its text elsewhere
    at_site = pl.col("site").is_not_null()
    cell = pl.col("sample").cast(pl.Int64) * len(where.pos) + pl.col("site")
    own = pl.concat(
        [
            keyed.filter(at_site).filter(cell.is_first_distinct()),
            keyed.filter(~at_site).filter(pl.struct("sample", *SITE_KEY).is_first_distinct()),
        ]
    )
    a1, a2 = pl.col("a1"), pl.col("a2")
    call_rows = own.select(
        "sample",
        _genome(where.contigs, "pos").alias("g_start"),
        _genome(where.contigs, "end").alias("g_end"),
        pl.col("dp").cast(pl.Int32),
        pl.col("gq").cast(pl.Int32),
        pl.col("site").cast(pl.Int32),
        a1.cast(pl.Int8),
        a2.cast(pl.Int8),
        pl.col("ad_ref").cast(pl.Int32),
        pl.col("ad_alt").cast(pl.Int32),
        (a1.is_in([1, 2]).cast(pl.Int8) + a2.is_in([1, 2]).fill_null(False).cast(pl.Int8)).alias(
            "nonref"
        ),
        ((a1 == 1) | (a2 == 1)).fill_null(False).alias("carrier"),
    )
    block_rows = blocks.filter(mine).select(
        "sample",
        _genome(where.contigs, "start").alias("g_start"),
        _genome(where.contigs, "end").alias("g_end"),
        pl.col("min_dp").cast(pl.Int32).alias("dp"),
        pl.col("gq").cast(pl.Int32),
        pl.lit(None, pl.Int32).alias("site"),
        pl.lit(0, pl.Int8).alias("a1"),
        pl.lit(0, pl.Int8).alias("a2"),
        pl.lit(None, pl.Int32).alias("ad_ref"),
        pl.lit(None, pl.Int32).alias("ad_alt"),
        pl.lit(0, pl.Int8).alias("nonref"),
        pl.lit(False).alias("carrier"),
    )
    rows = pl.concat([call_rows, block_rows]).filter(pl.col("g_start").is_not_null())
    _refuse_sentinels(rows)
    # by (sample, start) in one integer key when it fits (a genome position is below 2^47
    # for fewer than 2^15 contigs, a batch below 2^16 samples), else by both columns
    if hi - lo < 1 << 16 and len(where.contigs.categories) < 1 << 15:
        key = (pl.col("sample").cast(pl.Int64) - lo) * (1 << 47) + pl.col("g_start")
        rows = rows.sort(key)
    else:
        rows = rows.sort("sample", "g_start")
    first = rows["sample"].to_numpy()
    return Records(
        offsets=np.searchsorted(first, np.arange(lo, hi + 1)).astype(np.int64),
        start=rows["g_start"].to_numpy().astype(np.int64, copy=False),
        end=rows["g_end"].to_numpy().astype(np.int64, copy=False),
        dp=_ints(rows, "dp"),
        gq=_ints(rows, "gq"),
        site=rows["site"].fill_null(-1).to_numpy().astype(np.int32, copy=False),
        a1=rows["a1"].to_numpy().astype(np.int8, copy=False),
        a2=rows["a2"].fill_null(HAPLOID).to_numpy().astype(np.int8, copy=False),
        ad_ref=_ints(rows, "ad_ref"),
        ad_alt=_ints(rows, "ad_alt"),
        nonref=rows["nonref"].to_numpy().astype(np.int8, copy=False),
        carrier=rows["carrier"].to_numpy().astype(np.bool_, copy=False),
    )


def _owned(frame: pl.DataFrame, ids: pl.Enum) -> pl.DataFrame:
    """``frame`` with the ``sample`` index of its participant (its rank in ``ids``; null:
    not genotyped) instead of the participant id."""
    sample = pl.col("participant_id").cast(ids, strict=False).to_physical().cast(pl.Int32)
    return frame.with_columns(sample.alias("sample")).drop("participant_id")


def _ab_totals(calls: pl.DataFrame) -> npt.NDArray[np.int64]:
    """The distinct AD_ref + AD_alt of calls with both (the allele-balance test's n)."""
    both = (pl.col("ad_ref") >= 0) & (pl.col("ad_alt") >= 0) & pl.col("sample").is_not_null()
    total = pl.col("ad_ref").cast(pl.Int64) + pl.col("ad_alt")
    totals = calls.select(total.filter(both).unique().sort())
    return totals.to_series().to_numpy().astype(np.int64, copy=False)


def _sex_codes(people: pl.DataFrame) -> npt.NDArray[np.int8]:
    codes = people.select(
        pl.when(pl.col("sex").is_null())
        .then(_NULL_SEX)
        .otherwise(pl.col("sex").replace_strict(SEX_CODES, default=_UNKNOWN))
        .cast(pl.Int8)
    )
    return codes.to_series().to_numpy().astype(np.int8, copy=False)


def _genome(contigs: pl.Enum, position: str, contig: str = "contig") -> pl.Expr:
    """contig index << 32 | position; records on contigs without sites get null."""
    index: pl.Expr
    if len(contigs.categories) == 1:  # one contig (a chunk): a comparison, no lookup
        index = pl.when(pl.col(contig) == contigs.categories[0]).then(pl.lit(0, pl.Int64))
    else:
        index = pl.col(contig).cast(contigs, strict=False).to_physical().cast(pl.Int64)
    return index * (1 << 32) + pl.col(position).cast(pl.Int64)


def _refuse_sentinels(records: pl.DataFrame) -> None:
    """The engine codes unknown values as NA / HAPLOID: inputs must not hold them, and a
    call always has a first allele."""
    checks = records.select(
        pl.any_horizontal(
            *[(pl.col(c) == NA).any() for c in ("dp", "gq", "ad_ref", "ad_alt")],
            (pl.col("a2") == HAPLOID).any(),
            pl.col("a1").is_null().any(),
            pl.col("g_end").is_null().any(),
        )
    ).item()
    if checks:
        raise ValueError("calls or blocks hold a value the genotyper reserves, or lack a1/end")


def _ints(frame: pl.DataFrame, column: str) -> npt.NDArray[np.int32]:
    return frame[column].fill_null(NA).to_numpy().astype(np.int32, copy=False)


def _ploidy_regions(
    sites: pl.DataFrame,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Per site: on chrY; on chrX/chrY outside the PARs (site_qc's ploidy rule)."""
    core = pl.col("contig").str.strip_prefix("chr")
    in_par = pl.any_horizontal(
        pl.lit(False),
        *[
            (core == chrom) & pl.col("pos").is_between(start, end)
            for chrom, regions in site_qc.PARS.items()
            for start, end in regions
        ],
    )
    flags = sites.select(is_y=core == "Y", hap=core.is_in(["X", "Y"]) & ~in_par)
    return flags["is_y"].to_numpy().astype(np.bool_), flags["hap"].to_numpy().astype(np.bool_)


# --- output frames ----------------------------------------------------------------------


def _sparse_frame(where: Sites, people: pl.DataFrame, rows: npt.NDArray[np.int32]) -> pl.DataFrame:
    """GENOTYPE_EVAL rows of one batch's int32 rows, sorted by (site in the caller's
    order, participant)."""
    sid = where.frame["sid"].to_numpy()[rows[:, 0]].astype(np.int64)
    order = np.argsort(sid * (people.height + 1) + rows[:, 1])
    del sid
    cols = {name: rows[order, i] for i, name in enumerate(SPARSE_COLUMNS)}
    del order
    unknown = {
        c: pl.when(pl.col(c) != NA).then(pl.col(c)).alias(c)
        for c in ("dp", "gq", "ad_ref", "ad_alt")
    }
    ints = pl.DataFrame(cols).select(
        pl.col("a1"),
        pl.when(pl.col("a2") != HAPLOID).then(pl.col("a2")).alias("a2"),
        *unknown.values(),
        pl.col("reason")
        .replace_strict(dict(enumerate(REASONS)), return_dtype=pl.String)
        .alias("no_call_reason"),
    )
    out = pl.concat(
        [where.frame.select(SITE_KEY)[cols["site"]], people[cols["sample"]], ints],
        how="horizontal",
    )
    return out.select(list(GENOTYPE_EVAL_SCHEMA)).cast(GENOTYPE_EVAL_SCHEMA)  # type: ignore[arg-type]


def _aggregate_frame(where: Sites, tally: Tally) -> pl.DataFrame:
    """One AGGREGATE row per site where some sample is counted, sorted by SITE_KEY."""
    counted = tally.counts[:, _C["n_samples"]] > 0
    frame = pl.concat(
        [
            where.frame.select(SITE_KEY),
            pl.DataFrame({name: tally.counts[:, i] for i, name in enumerate(COUNT_COLUMNS)}),
            pl.DataFrame(
                [
                    pl.Series("dp_hist_all", tally.dp_all),
                    pl.Series("dp_hist_complete", tally.dp_complete),
                    pl.Series("gq_hist", tally.gq_hist),
                ]
            ),
        ],
        how="horizontal",
    ).filter(pl.Series(counted))
    return (
        frame.sort(SITE_KEY)
        .cast(site_qc.AGGREGATE_SCHEMA)  # type: ignore[arg-type]
        .select(list(site_qc.AGGREGATE_SCHEMA))
    )


# --- the compiled sweep -----------------------------------------------------------------


@njit(cache=True)
def _sweep(
    site_pos,
    site_end,
    site_is_y,
    site_hap,
    sex,
    first,
    offsets,
    start,
    end,
    dp,
    gq,
    site,
    a1,
    a2,
    ad_ref,
    ad_alt,
    nonref,
    carrier,
    ab_totals,
    ab_limits,
    min_dp,
    nocall_col,
    counts,
    dp_all,
    dp_complete,
    gq_hist,
    out,
    n_out,
):  # type: ignore[no-untyped-def]
    n_sites = site_pos.shape[0]
    n_samples = sex.shape[0]
    # per sample: the next record not yet seen, and the window of records overlapping
    # the current position (kept across tiles of sites)
    nxt = offsets[:-1].copy()
    n_act = np.zeros(n_samples, np.int64)
    active = np.empty((n_samples, 8), np.int64)
    window = np.empty(64, np.int64)
    # sites in tiles so that their aggregates stay in cache while every sample passes
    for t0 in range(0, n_sites, 64):
        t1 = min(n_sites, t0 + 64)
        for s in range(n_samples):
            hi = offsets[s + 1]
            nx = nxt[s]
            na = n_act[s]
            sx = sex[s]
            for j in range(t0, t1):
                p = site_pos[j]
                e = site_end[j]
                # records starting at or before the site enter the window; ended ones leave
                while nx < hi and start[nx] <= p:
                    if end[nx] >= p:
                        if na == active.shape[1]:
                            active = _grow_columns(active)
                        active[s, na] = nx
                        na += 1
                    nx += 1
                kept = 0
                for k in range(na):
                    r = active[s, k]
                    if end[r] >= p:
                        active[s, kept] = r
                        kept += 1
                na = kept
                # the overlapping records: the window, then those starting inside the site
                n_win = 0
                for k in range(na):
                    if n_win == window.shape[0]:
                        window = _grow1(window)
                    window[n_win] = active[s, k]
                    n_win += 1
                k = nx
                while k < hi and start[k] <= e:
                    if end[k] >= p:
                        if n_win == window.shape[0]:
                            window = _grow1(window)
                        window[n_win] = k
                        n_win += 1
                    k += 1
                own = -1
                for k in range(n_win):
                    if site[window[k]] == j:
                        own = window[k]
                        break
                if own >= 0:
                    c1, c2, cdp, cgq, cref, calt, why = _own_call(
                        own, window, n_win, p, start, carrier, a1, a2, dp, gq, ad_ref, ad_alt,
                        min_dp,
                    )  # fmt: skip
                else:
                    c1, c2, cdp, cgq, why = _coverage(
                        window, n_win, p, e, start, end, dp, gq, nonref, carrier, min_dp
                    )
                    cref = np.int32(-2147483648)
                    calt = np.int32(-2147483648)
                _count(
                    counts, dp_all, dp_complete, gq_hist, nocall_col, j, sx, site_is_y[j],
                    site_hap[j], c1, c2, cdp, cgq, cref, calt, why, ab_totals, ab_limits,
                )  # fmt: skip
                if c1 == 0 and (c2 == 0 or c2 == -128) and why == 0:
                    continue  # hom-ref stays implicit
                if n_out == out.shape[0]:
                    out = _grow2(out)
                out[n_out, 0] = j
                out[n_out, 1] = first + s
                out[n_out, 2] = c1
                out[n_out, 3] = c2
                out[n_out, 4] = cdp
                out[n_out, 5] = cgq
                out[n_out, 6] = cref
                out[n_out, 7] = calt
                out[n_out, 8] = why
                n_out += 1
            nxt[s] = nx
            n_act[s] = na
    return out, n_out


@njit(cache=True)
def _grow_columns(a):  # type: ignore[no-untyped-def]
    b = np.empty((a.shape[0], a.shape[1] * 2), a.dtype)
    b[:, : a.shape[1]] = a
    return b


@njit(cache=True)
def _grow1(a):  # type: ignore[no-untyped-def]
    b = np.empty(a.shape[0] * 2, a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True)
def _grow2(a):  # type: ignore[no-untyped-def]
    b = np.empty((a.shape[0] * 2, a.shape[1]), a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, inline="always")
def _own_call(own, window, n_win, p, start, carrier, a1, a2, dp, gq, ad_ref, ad_alt, min_dp):  # type: ignore[no-untyped-def]
    """The sample's own call: O when other variant records of its overlap the site and
    its 'other allele' codes do not account for them; D for an allele below min_dp."""
    na = -2147483648
    c1 = a1[own]
    c2 = a2[own]
    why = 0
    n_over = 0
    last = np.int64(-1)
    for k in range(n_win):
        r = window[k]
        if carrier[r] and start[r] != p and (n_over == 0 or start[r] != last):
            n_over += 1
            last = start[r]
    explained = (1 if c1 == 2 else 0) + (1 if c2 == 2 else 0)
    if n_over > explained:
        if c1 == 0 or c2 == 0:
            why = 5  # O
        if c1 == 0:
            c1 = -1
        if c2 == 0:
            c2 = -1
    if min_dp > 0:
        r_dp, r_ref, r_alt = dp[own], ad_ref[own], ad_alt[own]
        no_ad = r_ref == na or r_alt == na
        shallow = r_dp != na and r_dp < min_dp
        n1 = _depth_rule(c1, no_ad, shallow, r_ref, r_alt, min_dp)
        n2 = c2 if c2 == -128 else _depth_rule(c2, no_ad, shallow, r_ref, r_alt, min_dp)
        if why == 0 and (n1 != c1 or n2 != c2):
            why = 3  # D
        c1, c2 = n1, n2
    return c1, c2, dp[own], gq[own], ad_ref[own], ad_alt[own], why


@njit(cache=True, inline="always")
def _depth_rule(allele, no_ad, shallow, r_ref, r_alt, min_dp):  # type: ignore[no-untyped-def]
    if allele == -1:
        return allele
    if no_ad:
        ok = not shallow
    elif allele == 0:
        ok = r_ref >= min_dp
    elif allele == 1:
        ok = r_alt >= min_dp
    else:
        ok = True
    return allele if ok else np.int8(-1)


@njit(cache=True, inline="always")
def _coverage(window, n_win, p, e, start, end, dp, gq, nonref, carrier, min_dp):  # type: ignore[no-untyped-def]
    """Without an own call: called (0/0, 0/2, 2/2) when the sample's records cover every
    base of the site with enough depth and at most one of them is a variant record."""
    na = -2147483648
    if n_win == 0:
        return np.int8(-1), np.int8(-1), np.int32(na), np.int32(na), 1  # M
    n_other = 0
    n_var = 0
    last = np.int64(0)
    min_dp_seen = na
    min_gq_seen = na
    reach_any = p - 1
    gap_any = False
    reach_deep = p - 1
    gap_deep = False
    for k in range(n_win):
        r = window[k]
        if nonref[r] > n_other:
            n_other = nonref[r]
        if carrier[r] and (n_var == 0 or start[r] != last):
            n_var += 1
            last = start[r]
        d = dp[r]
        if d != na and (min_dp_seen == na or d < min_dp_seen):
            min_dp_seen = d
        g = gq[r]
        if g != na and (min_gq_seen == na or g < min_gq_seen):
            min_gq_seen = g
        cs = max(start[r], p)
        ce = min(end[r], e)
        if cs > reach_any + 1:
            gap_any = True
        reach_any = max(reach_any, ce)
        if min_dp <= 0 or d == na or d >= min_dp:
            if cs > reach_deep + 1:
                gap_deep = True
            reach_deep = max(reach_deep, ce)
    full_any = not gap_any and reach_any >= e
    full_deep = not gap_deep and reach_deep >= e
    unphased = n_var >= 2
    dpo = np.int32(min_dp_seen)
    gqo = np.int32(min_gq_seen)
    if full_deep and not unphased:
        c1 = np.int8(2) if n_other >= 2 else np.int8(0)
        c2 = np.int8(2) if n_other >= 1 else np.int8(0)
        return c1, c2, dpo, gqo, 0
    why = 2 if not full_any else (4 if unphased else 3)  # P, U, D
    return np.int8(-1), np.int8(-1), dpo, gqo, why


@njit(cache=True, inline="always")
def _count(
    counts, dp_all, dp_complete, gq_hist, nocall_col, j, sx, is_y, hap,
    a1, a2, dp, gq, ad_ref, ad_alt, why, ab_totals, ab_limits,
):  # type: ignore[no-untyped-def]  # fmt: skip
    """One cell into its site's aggregate, as site_qc.aggregate derives it."""
    if is_y and (sx == 1 or sx == 3):
        return  # XX samples (and samples of null sex) are not counted on chrY
    hap_ctx = hap and sx == 2
    x1 = a1
    x2 = a2
    if hap_ctx and a2 != -128 and (a1 == a2 or a1 < 0 or a2 < 0):
        x1 = max(a1, a2)
        x2 = -128
    p1 = x1 >= 0
    p2 = x2 >= 0
    ploidy = 1 if x2 == -128 else 2
    n_present = (1 if p1 else 0) + (1 if p2 else 0)
    n_alt = (1 if p1 and x1 == 1 else 0) + (1 if p2 and x2 == 1 else 0)
    has_ref = (p1 and x1 == 0) or (p2 and x2 == 0)
    complete = n_present == ploidy
    het = complete and ploidy == 2 and n_alt == 1
    hom = complete and ploidy == 2 and n_alt == 2
    hemi = complete and ploidy == 1 and n_alt == 1
    hwe_ok = complete and ploidy == 2 and not is_y and (not hap or sx == 1)
    has_ad = ad_ref >= 0 and ad_alt >= 0 and ad_ref + ad_alt > 0
    ab_ok = het and has_ref and not (hap and (sx == 2 or sx == 3)) and has_ad
    c = counts[j]
    c[0] += 1
    if n_present > 0:
        c[1] += 1
    if complete:
        c[2] += 1
    if why > 0:
        c[nocall_col[why]] += 1
    c[8] += n_present
    c[9] += n_alt
    if het:
        c[10] += 1
    if hom:
        c[11] += 2
    if hemi:
        c[12] += 1
    if hwe_ok:
        c[13 + n_alt] += 1
    if ab_ok:
        c[16] += 1
        total = np.int64(ad_ref) + ad_alt
        limit = ab_limits[np.searchsorted(ab_totals, total)]
        if max(ad_ref, ad_alt) < limit:
            c[17] += 1
    if dp >= 0:
        b = min(dp, 127)
        dp_all[j, b] += 1
        if complete:
            dp_complete[j, b] += 1
    if complete and gq >= 0:
        gq_hist[j, min(gq, 99)] += 1
