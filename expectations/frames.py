"""What Great Expectations is shown: the frames each suite validates, built with polars.

- :func:`rows`: the table's rows (a deterministic sample above :data:`MAX_ROWS`: rows
  whose key hashes to 0 modulo ``ceil(rows / MAX_ROWS)``), plus derived ``dq_`` columns
  for the cross-table rules GE cannot express on one frame (referential integrity, AF
  against AC/AN, FILTER flags).
- :func:`genotype_statistics`: one row per participant of a genotype table (Ti/Tv of
  SNVs, het/hom ratio, call rate, allele balance of hets), computed over every row.
- :func:`reference_block_statistics`: one row per participant of the reference blocks.
- :func:`to_pandas`: the conversion GE validates (pandas; Arrow-backed columns, dates
  and timestamps as numpy datetimes), whose column types the type expectations name.

Statistics frames carry no participant id: a failed expectation can only ever report
aggregate values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import polars as pl

from ngrl_assets.consent.tables import CONSENT_STATUS
from ngrl_assets.genomics import call_stats
from ngrl_assets.genomics.tables import VARIANT_SITES
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    PARTICIPANT,
    RELEASE_VARIANT_SITES,
)
from resources.lake import Lake
from resources.tables import TableSpec

if TYPE_CHECKING:
    import pandas as pd

MAX_ROWS = 500_000  # larger tables are validated on a deterministic sample of ~this size
FILTERS = ("missingness", "depth", "GQ", "ABratio", "completeGTRatio", "phwe")

Derive = Callable[["Lake", TableSpec, pl.LazyFrame], pl.LazyFrame]


def ge_type(dtype: pl.DataType) -> str:
    """The type name GE's ``ExpectColumnValuesToBeOfType`` sees for a column of this
    polars type after :func:`to_pandas`."""
    if dtype == pl.Date or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None):
        return "datetime64"
    if isinstance(dtype, pl.Datetime):
        return "Timestamp"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    if dtype == pl.Boolean:
        return "bool"
    if isinstance(dtype, pl.List):
        return "list"
    return "str"


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """Arrow-backed pandas columns (nullable integers and booleans keep their type),
    temporal columns as numpy datetimes (what GE compares dates with)."""
    temporal = [c for c, t in frame.schema.items() if t.is_temporal()]
    out = frame.drop(temporal).to_pandas(use_pyarrow_extension_array=True)
    for column in temporal:
        out[column] = frame[column].to_pandas()
    return out[frame.columns]


def _sampled(lf: pl.LazyFrame, key: tuple[str, ...]) -> pl.LazyFrame:
    total = int(lf.select(pl.len()).collect().item())
    if total <= MAX_ROWS or not key:
        return lf
    every = math.ceil(total / MAX_ROWS)
    return lf.filter(pl.struct(list(key)).hash(seed=20261202) % every == 0)


def rows(key: tuple[str, ...] = (), *derive: Derive) -> Callable[[Lake, TableSpec], pl.DataFrame]:
    """Every row of the table (sampled by ``key`` above MAX_ROWS), with derived columns."""

    def build(lake: Lake, spec: TableSpec) -> pl.DataFrame:
        lf = _sampled(lake.scan(spec), key)
        for step in derive:
            lf = step(lake, spec, lf)
        return lf.collect()

    return build


# ---- derived columns -----------------------------------------------------------------
def _participants(lake: Lake, spec: TableSpec) -> pl.LazyFrame:
    """The participant table a row's participant must be in: ``consent_status`` for a
    curated table, the release's own ``participant`` table for a release table."""
    if spec.zone == "releases":
        return lake.scan(PARTICIPANT.in_folder(spec.folder)).select("participant_id")
    return lake.scan(CONSENT_STATUS).select("participant_id")


def participant_known(lake: Lake, spec: TableSpec, lf: pl.LazyFrame) -> pl.LazyFrame:
    """``dq_participant_known``: the row's participant is in the participant table."""
    column = spec.participant_column or "participant_id"
    known = _participants(lake, spec).with_columns(dq_participant_known=pl.lit(True))
    return lf.join(
        known.rename({"participant_id": column}), on=column, how="left", nulls_equal=False
    ).with_columns(pl.col("dq_participant_known").fill_null(False))


def af_checks(_lake: Lake, _spec: TableSpec, lf: pl.LazyFrame) -> pl.LazyFrame:
    """``dq_af_minus_ac_over_an`` (0 where AN > 0) and one ``dq_fails_<filter>`` flag
    per aggV2 FILTER."""
    flags = {
        f"dq_fails_{name}": pl.col("FILTER").str.split(";").list.contains(name) for name in FILTERS
    }
    return lf.with_columns(
        dq_af_minus_ac_over_an=pl.when(pl.col("AN") > 0)
        .then(pl.col("AF") - pl.col("AC") / pl.col("AN"))
        .otherwise(0.0),
        dq_passes=pl.col("FILTER") == "PASS",
        **flags,
    )


# ---- statistics frames -----------------------------------------------------------------
def genotype_statistics(
    call_rate: bool = False,
) -> Callable[[Lake, TableSpec], pl.DataFrame]:
    """Per participant of a genotype table (``ref``, ``alt``, ``a1``, ``a2``, ``ad_ref``,
    ``ad_alt``): counts of carrier calls, SNVs, transitions and transversions, hets and
    hom-alts, Ti/Tv, het/hom ratio, mean allele balance of 0/1 hets, invalid allele codes
    and negative depths. ``call_rate``: the table is the sparse joint
    call, so the participant's call rate over the cohort's sites is computed too (a site
    without a row is a confident hom-ref call); release tables read their own
    ``variant_sites``. ``dq_in_sample_stats`` (release tables): the participant has a row
    in the release's ``aggregate_gvcf_sample_stats``."""

    def build(lake: Lake, spec: TableSpec) -> pl.DataFrame:
        a1, a2 = pl.col("a1"), pl.col("a2")
        carries, complete = call_stats.CARRIES, call_stats.COMPLETE
        het01 = complete & (a1 == 0) & (a2 == 1).fill_null(False)
        depth = pl.col("ad_ref") + pl.col("ad_alt")
        balance = pl.when(het01 & (depth > 0)).then(pl.col("ad_alt") / depth)
        stats = (
            lake.scan(spec)
            .group_by("participant_id")
            .agg(
                n_rows=pl.len(),
                n_calls=carries.sum(),
                n_snv=(carries & call_stats.SNV).sum(),
                n_ti=(carries & call_stats.TI).sum(),
                n_tv=(carries & call_stats.TV).sum(),
                n_het=(carries & call_stats.HET).sum(),
                n_hom_alt=(carries & call_stats.HOM_ALT).sum(),
                n_no_call=(~complete).sum(),
                mean_het_allele_balance=balance.mean(),
                n_invalid_alleles=(
                    ~a1.is_between(-1, 2) | (a2.is_not_null() & ~a2.is_between(-1, 2))
                ).sum(),
                n_negative_depth=((pl.col("ad_ref") < 0) | (pl.col("ad_alt") < 0)).sum(),
            )
            .with_columns(ti_tv=call_stats.TI_TV, het_hom_ratio=call_stats.HET_HOM_RATIO)
        )
        if call_rate:
            sites_spec = (
                RELEASE_VARIANT_SITES.in_folder(spec.folder)
                if spec.zone == "releases"
                else VARIANT_SITES
            )
            n_sites = int(lake.scan(sites_spec).select(pl.len()).collect().item())
            stats = stats.with_columns(
                call_rate=1.0 - pl.col("n_no_call") / max(n_sites, 1),
            )
        if spec.zone == "releases":
            listed = (
                lake.scan(AGGREGATE_GVCF_SAMPLE_STATS.in_folder(spec.folder))
                .select("participant_id")
                .unique()
                .with_columns(dq_in_sample_stats=pl.lit(True))
            )
            stats = stats.join(listed, on="participant_id", how="left").with_columns(
                pl.col("dq_in_sample_stats").fill_null(False)
            )
        stats = participant_known(lake, spec, stats)
        return stats.drop("participant_id").collect()

    return build


def reference_block_statistics(lake: Lake, spec: TableSpec) -> pl.DataFrame:
    """Per participant of ``sample_reference_blocks``: blocks, bases covered, blocks
    whose end precedes their start, negative depths or qualities."""
    stats = (
        lake.scan(spec)
        .group_by("participant_id")
        .agg(
            n_blocks=pl.len(),
            bases=(pl.col("end") - pl.col("start") + 1).sum(),
            n_inverted=(pl.col("end") < pl.col("start")).sum(),
            n_negative=((pl.col("min_dp") < 0) | (pl.col("gq") < 0)).sum(),
        )
    )
    return participant_known(lake, spec, stats).drop("participant_id").collect()
