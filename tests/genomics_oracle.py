"""The first joint genotyper (polars: a dense cross join of sites and samples, interval
joins, group-bys), kept as the test oracle of :mod:`ngrl_assets.genomics.genotyper`: the
engine must decide every (site x sample) cell exactly as this does. Not used in
production (about 1.3 kB and 11-14 us of CPU per cell). Semantics:
:mod:`ngrl_assets.genomics.joint`."""

from __future__ import annotations

import polars as pl

from ngrl_assets.genomics.joint import SITES_SCHEMA
from ngrl_assets.genomics.schemas import GENOTYPE_EVAL_SCHEMA, SITE_KEY


def _genome_coordinates(*contig_columns: pl.Series) -> dict[str, int]:
    contigs: set[str] = set()
    for column in contig_columns:
        contigs |= set(column.to_list())
    return {c: i for i, c in enumerate(sorted(contigs))}


def _genome(index: dict[str, int], contig: str, position: str) -> pl.Expr:
    """One genome-wide coordinate (contig index << 32 | position). Overlaps on it are pure
    interval joins (IEJoin); with a contig-equality predicate polars would hash-join on the
    contig and filter afterwards, which is quadratic in memory."""
    if not index:  # both sides empty: an empty mapping would keep the string dtype
        return pl.lit(None, dtype=pl.Int64)
    offset = pl.col(contig).replace_strict(index, return_dtype=pl.Int64) * (1 << 32)
    return offset + pl.col(position).cast(pl.Int64)


def _overlapped(own: pl.DataFrame, calls: pl.DataFrame) -> pl.DataFrame:
    """Own calls overlapped by other carried variant records, with how many records."""
    carried = calls.filter((pl.col("a1") == 1) | (pl.col("a2") == 1))
    if own.height == 0 or carried.height == 0:  # e.g. a batch without calls in the chunk
        return pl.DataFrame(
            schema={"sid": own.schema["sid"], "participant_id": pl.String, "_n_over": pl.UInt32}
        )
    index = _genome_coordinates(own["contig"], carried["contig"])
    carriers = carried.select(
        pl.col("participant_id").alias("o_participant"),
        pl.col("pos").alias("o_pos"),
        _genome(index, "contig", "pos").alias("g_o_pos"),
        _genome(index, "contig", "end").alias("g_o_end"),
    )
    left = own.select(
        "sid",
        "participant_id",
        "pos",
        _genome(index, "contig", "pos").alias("g_pos"),
        _genome(index, "contig", "end").alias("g_end"),
    )
    pairs = left.join_where(
        carriers, pl.col("g_o_pos") <= pl.col("g_end"), pl.col("g_o_end") >= pl.col("g_pos")
    )
    hits = pairs.filter(
        (pl.col("o_participant") == pl.col("participant_id")) & (pl.col("o_pos") != pl.col("pos"))
    )
    return hits.group_by("sid", "participant_id").agg(pl.col("o_pos").n_unique().alias("_n_over"))


def _own_calls(sites: pl.DataFrame, calls: pl.DataFrame, min_dp: int) -> pl.DataFrame:
    joined = sites.join(calls, on=SITE_KEY, how="inner")
    overlapped = _overlapped(joined, calls)
    own = joined.select("sid", "participant_id", "a1", "a2", "dp", "gq", "ad_ref", "ad_alt")
    own = own.join(overlapped, on=["sid", "participant_id"], how="left")
    if overlapped.height:
        # an overlapping record the call's own "other allele" (2) accounts for is the
        # same multiallelic record split into rows, not a second variant
        explained = (pl.col("a1") == 2).cast(pl.Int32) + (pl.col("a2") == 2).fill_null(False).cast(
            pl.Int32
        )
        ref_lost = pl.col("_n_over").fill_null(0) > explained
        own = own.with_columns(
            pl.when(ref_lost & (pl.col("a1") == 0))
            .then(-1)
            .otherwise(pl.col("a1"))
            .cast(pl.Int8)
            .alias("a1"),
            pl.when(ref_lost & (pl.col("a2") == 0))
            .then(-1)
            .otherwise(pl.col("a2"))
            .cast(pl.Int8)
            .alias("a2"),
            pl.when(ref_lost & ((pl.col("a1") == 0) | (pl.col("a2") == 0)))
            .then(pl.lit("O"))
            .otherwise(None)
            .alias("_o_reason"),
        )
    else:
        own = own.with_columns(pl.lit(None, dtype=pl.String).alias("_o_reason"))
    own = own.drop("_n_over")
    if min_dp <= 0:
        return own.rename({"_o_reason": "no_call_reason"})
    no_ad = pl.col("ad_ref").is_null() | pl.col("ad_alt").is_null()
    # an unknown depth (no FORMAT/DP) is not a depth of zero: only a known DP can fail
    shallow = (pl.col("dp") < min_dp).fill_null(False)

    def allele_depth_ok(allele: pl.Expr) -> pl.Expr:
        by_ad = (
            pl.when(allele == 0)
            .then(pl.col("ad_ref") >= min_dp)
            .when(allele == 1)
            .then(pl.col("ad_alt") >= min_dp)
            .otherwise(True)
        )
        return pl.when(no_ad).then(~shallow).otherwise(by_ad)

    def revise(allele: str) -> pl.Expr:
        col = pl.col(allele)
        return (
            pl.when(col.is_null() | (col == -1) | allele_depth_ok(col))
            .then(col)
            .otherwise(pl.lit(-1, dtype=pl.Int8))
            .alias(allele)
        )

    revised = own.with_columns(revise("a1"), revise("a2"))
    lost = (revised["a1"] != own["a1"]) | (revised["a2"].fill_null(0) != own["a2"].fill_null(0))
    return revised.with_columns(
        pl.when(pl.col("_o_reason").is_not_null())
        .then(pl.col("_o_reason"))
        .when(pl.Series(lost))
        .then(pl.lit("D"))
        .otherwise(None)
        .alias("no_call_reason")
    ).drop("_o_reason")


def _coverage(
    sites: pl.DataFrame,
    calls: pl.DataFrame,
    blocks: pl.DataFrame,
    own_pairs: pl.DataFrame,
    min_dp: int,
) -> pl.DataFrame:
    """Per (site, sample) without an own call: does the sample's data cover the site?"""
    intervals = pl.concat(
        [
            blocks.select(
                "participant_id",
                pl.col("contig").alias("iv_contig"),
                pl.col("start").alias("iv_start"),
                pl.col("end").alias("iv_end"),
                pl.col("min_dp").alias("iv_dp"),
                pl.col("gq").alias("iv_gq"),
                pl.lit(0, dtype=pl.Int8).alias("nonref"),
                pl.lit(None, dtype=pl.Int32).alias("carrier_pos"),
            ),
            calls.select(
                "participant_id",
                pl.col("contig").alias("iv_contig"),
                pl.col("pos").alias("iv_start"),
                pl.col("end").alias("iv_end"),
                pl.col("dp").alias("iv_dp"),
                pl.col("gq").alias("iv_gq"),
                (
                    pl.col("a1").is_in([1, 2]).cast(pl.Int8)
                    + pl.col("a2").is_in([1, 2]).fill_null(False).cast(pl.Int8)
                ).alias("nonref"),
                # the position of a record that carries its own allele (1): counts records
                pl.when((pl.col("a1") == 1) | (pl.col("a2") == 1))
                .then(pl.col("pos"))
                .otherwise(None)
                .alias("carrier_pos"),
            ),
        ]
    )
    index = _genome_coordinates(sites["contig"], intervals["iv_contig"])
    left = sites.select(
        "sid",
        "pos",
        "end",
        _genome(index, "contig", "pos").alias("g_pos"),
        _genome(index, "contig", "end").alias("g_end"),
    )
    right = intervals.with_columns(
        _genome(index, "iv_contig", "iv_start").alias("g_iv_start"),
        _genome(index, "iv_contig", "iv_end").alias("g_iv_end"),
    )
    hits = left.join_where(
        right, pl.col("g_iv_start") <= pl.col("g_end"), pl.col("g_iv_end") >= pl.col("g_pos")
    )
    hits = hits.join(own_pairs, on=["sid", "participant_id"], how="anti")
    # as for own calls, an interval without a depth (no MIN_DP/DP) does not fail the rule
    depth_ok = (pl.col("iv_dp") >= min_dp).fill_null(True) if min_dp > 0 else pl.lit(True)
    hits = hits.with_columns(
        pl.max_horizontal("iv_start", "pos").alias("c_start"),
        pl.min_horizontal("iv_end", "end").alias("c_end"),
        depth_ok.alias("deep"),
    )

    def covered(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        ordered = frame.sort(["sid", "participant_id", "c_start"])
        prev_end = pl.col("c_end").cum_max().shift(1).over(["sid", "participant_id"])
        gap = (
            pl.when(prev_end.is_null())
            .then(pl.col("c_start") > pl.col("pos"))
            .otherwise(pl.col("c_start") > prev_end + 1)
        )
        return (
            ordered.with_columns(gap.alias("gap"))
            .group_by(["sid", "participant_id"])
            .agg(
                ((~pl.col("gap").any()) & (pl.col("c_end").max() >= pl.col("end").first())).alias(
                    name
                )
            )
        )

    summary = hits.group_by(["sid", "participant_id"]).agg(
        pl.col("nonref").max().alias("n_other"),
        pl.col("carrier_pos").drop_nulls().n_unique().alias("n_variant_records"),
        pl.col("iv_dp").min().alias("dp"),
        pl.col("iv_gq").min().alias("gq"),
    )
    summary = summary.join(covered(hits, "full_any"), on=["sid", "participant_id"], how="left")
    summary = summary.join(
        covered(hits.filter(pl.col("deep")), "full_deep"), on=["sid", "participant_id"], how="left"
    ).with_columns(pl.col("full_deep").fill_null(False))
    unphased = pl.col("n_variant_records") >= 2
    called = pl.col("full_deep") & ~unphased
    return summary.select(
        "sid",
        "participant_id",
        pl.when(~called)
        .then(-1)
        .when(pl.col("n_other") >= 2)
        .then(2)
        .otherwise(0)
        .cast(pl.Int8)
        .alias("a1"),
        pl.when(~called)
        .then(-1)
        .when(pl.col("n_other") >= 1)
        .then(2)
        .otherwise(0)
        .cast(pl.Int8)
        .alias("a2"),
        pl.col("dp").cast(pl.Int32),
        pl.col("gq").cast(pl.Int32),
        pl.lit(None, dtype=pl.Int32).alias("ad_ref"),
        pl.lit(None, dtype=pl.Int32).alias("ad_alt"),
        pl.when(called)
        .then(None)
        .when(~pl.col("full_any"))
        .then(pl.lit("P"))
        .when(unphased)
        .then(pl.lit("U"))
        .otherwise(pl.lit("D"))
        .alias("no_call_reason"),
    )


def genotype(
    sites: pl.DataFrame,
    samples: pl.DataFrame,
    calls: pl.DataFrame,
    blocks: pl.DataFrame,
    min_dp: int = 1,
) -> pl.DataFrame:
    """Every (site, sample) decision: GENOTYPE_EVAL_SCHEMA rows (any contigs at once)."""
    if sites.height == 0 or samples.height == 0:
        return pl.DataFrame(schema=GENOTYPE_EVAL_SCHEMA)
    sites = sites.select(list(SITES_SCHEMA)).with_row_index("sid")
    calls = calls.filter(pl.col("participant_id").is_in(samples["participant_id"].implode()))
    calls = calls.unique(subset=["participant_id", *SITE_KEY], keep="first", maintain_order=True)
    blocks = blocks.filter(pl.col("participant_id").is_in(samples["participant_id"].implode()))
    own = _own_calls(sites, calls, min_dp)
    covered = _coverage(sites, calls, blocks, own.select("sid", "participant_id"), min_dp)
    decided = pl.concat([own, covered], how="vertical_relaxed")
    dense = sites.join(samples.select("participant_id", "sex"), how="cross")
    out = dense.join(decided, on=["sid", "participant_id"], how="left").with_columns(
        pl.col("a1").fill_null(-1),
        pl.when(pl.col("no_call_reason").is_null() & pl.col("a1").is_null())
        .then(pl.lit("M"))
        .otherwise(pl.col("no_call_reason"))
        .alias("no_call_reason"),
    )
    out = out.with_columns(
        pl.when(pl.col("no_call_reason") == "M")
        .then(-1)
        .otherwise(pl.col("a2"))
        .cast(pl.Int8)
        .alias("a2")
    )
    return (
        out.sort(["sid", "participant_id"])
        .select(list(GENOTYPE_EVAL_SCHEMA))
        .cast(GENOTYPE_EVAL_SCHEMA)  # type: ignore[arg-type]
    )


def sparse(evals: pl.DataFrame) -> pl.DataFrame:
    """Drop the implicit calls: hom-ref (0/0 or haploid 0) with no no-call reason."""
    hom_ref = (pl.col("a1") == 0) & (pl.col("a2").is_null() | (pl.col("a2") == 0))
    return evals.filter(~(hom_ref & pl.col("no_call_reason").is_null()))
