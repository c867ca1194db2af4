"""Withdrawing samples from joint-called site aggregates, exactly. Pure: frames in and out.

A sample's genotype at a site depends only on its own variant calls and reference blocks
(:func:`genotyper.genotype_sparse`), and every site aggregate (:mod:`site_qc`) is a sum over samples
(counts and histograms). So the contribution of withdrawn samples W can be recomputed
from W's own per-sample rows and subtracted: ``aggregate(all) - aggregate(W)`` equals
``aggregate(all - W)`` at every site, and the site QC metrics and FILTER follow from the
aggregates alone. A site W carried (allele code 1 in W's own calls, the discovery rule of
:func:`joint.discover_all`) that no remaining sample carries would not be discovered by a
joint call without W: it is dropped. Nothing here reads another sample's genotypes.
"""

from __future__ import annotations

import polars as pl

from ngrl_assets.genomics import site_qc
from ngrl_assets.genomics.genotyper import genotype_sparse
from ngrl_assets.genomics.joint import SITES_SCHEMA
from ngrl_assets.genomics.schemas import SITE_KEY

# the summable aggregate columns (everything of AGGREGATE_SCHEMA but the site key)
COUNT_COLUMNS = [
    c for c, t in site_qc.AGGREGATE_SCHEMA.items() if c not in SITE_KEY and t == pl.Int32
]
HISTOGRAM_COLUMNS = [
    c for c, t in site_qc.AGGREGATE_SCHEMA.items() if c not in SITE_KEY and t != pl.Int32
]
_KEY_SCHEMA = pl.Schema({k: SITES_SCHEMA[k] for k in SITE_KEY})
_AGG_TYPES = pl.Schema(site_qc.AGGREGATE_SCHEMA)


def contribution(
    sites: pl.DataFrame,
    samples: pl.DataFrame,
    calls: pl.DataFrame,
    blocks: pl.DataFrame,
    min_dp: int = 1,
) -> pl.DataFrame:
    """The withdrawn ``samples``' AGGREGATE rows (``site_qc.AGGREGATE_SCHEMA``) at ``sites``
    (SITES_SCHEMA columns), genotyped from their own ``calls`` and ``blocks`` (CALLS_SCHEMA
    / BLOCKS_SCHEMA; every row of theirs that overlaps a site must be present) exactly as
    joint calling genotyped them. A site where no sample is counted (a chrY site and only
    XX samples) has no row: they contributed nothing there."""
    if sites.height == 0 or samples.height == 0:
        return pl.DataFrame(schema=site_qc.AGGREGATE_SCHEMA)
    return genotype_sparse(
        sites.select(list(SITES_SCHEMA)), samples, calls, blocks, min_dp
    ).aggregates


def subtract(state: pl.DataFrame, contribution: pl.DataFrame) -> pl.DataFrame:
    """``state`` (site key + the aggregate columns, other columns kept as they are) with
    ``contribution``'s counts and histograms taken away at its sites; sites without a
    contribution row are unchanged. Refuses (ValueError) a contribution at a site the
    state does not hold, and any result below zero: that contribution is not part of the
    state (it was subtracted already, or never added)."""
    missing = [c for c in site_qc.AGGREGATE_SCHEMA if c not in state.columns]
    if missing:
        raise ValueError(f"site state lacks aggregate columns {missing}")
    part = contribution.select(list(site_qc.AGGREGATE_SCHEMA)).cast(_AGG_TYPES)
    if part.height == 0:
        return state
    if part.select(SITE_KEY).is_duplicated().any():
        raise ValueError("contribution has more than one row per site")
    order = state.columns
    joined = state.with_row_index("_row").join(
        part.rename({c: f"{c}_w" for c in part.columns if c not in SITE_KEY}),
        on=SITE_KEY,
        how="left",
    )
    unknown = part.join(state.select(SITE_KEY), on=SITE_KEY, how="anti").height
    if unknown:
        raise ValueError(f"contribution at {unknown} site(s) the state does not hold")
    has = pl.col("n_samples_w").is_not_null()
    out = joined.with_columns(
        *[
            pl.when(has).then(pl.col(c) - pl.col(f"{c}_w")).otherwise(pl.col(c)).alias(c)
            for c in COUNT_COLUMNS
        ],
        *[
            pl.when(has).then(pl.col(h) - pl.col(f"{h}_w")).otherwise(pl.col(h)).alias(h)
            for h in HISTOGRAM_COLUMNS
        ],
    )
    negative = out.select(
        pl.any_horizontal(
            *[pl.col(c) < 0 for c in COUNT_COLUMNS],
            *[pl.col(h).list.min() < 0 for h in HISTOGRAM_COLUMNS],
        ).sum()
    ).item()
    if negative:
        raise ValueError(
            f"subtraction would leave negative counts at {negative} site(s): "
            "the contribution is not part of the state (subtracted twice?)"
        )
    return (
        out.sort("_row")
        .select(order)
        .cast(pl.Schema({c: _AGG_TYPES[c] for c in COUNT_COLUMNS + HISTOGRAM_COLUMNS}))
    )


def carried_sites(calls: pl.DataFrame) -> pl.DataFrame:
    """Site keys of the calls that carry their own allele (allele code 1), the
    :func:`joint.discover_all` rule, one row per site, sorted."""
    carried = calls.filter((pl.col("a1") == 1) | (pl.col("a2") == 1).fill_null(False))
    return carried.select(SITE_KEY).unique().cast(_KEY_SCHEMA).sort(SITE_KEY)


def dropped_sites(
    carried_by_withdrawn: pl.DataFrame, carried_by_others: pl.DataFrame
) -> pl.DataFrame:
    """Site keys (sorted, distinct) the withdrawn samples carried and no other sample
    does: a joint call without them would not discover these sites. Both inputs are
    frames with the site-key columns (e.g. :func:`carried_sites`)."""
    withdrawn = carried_by_withdrawn.select(SITE_KEY).cast(_KEY_SCHEMA).unique()
    others = carried_by_others.select(SITE_KEY).cast(_KEY_SCHEMA).unique()
    return withdrawn.join(others, on=SITE_KEY, how="anti").sort(SITE_KEY)
