"""Asset checks on the joint-called tables, read back from the lake after a run. Failures
report counts only."""

import dagster as dg
import polars as pl

from ngrl_assets.common.assets import asset_key
from ngrl_assets.genomics.joint_store import batch_totals_mismatched
from ngrl_assets.genomics.tables import JOINT_GENOTYPES, VARIANT_SITES
from resources.lake import Lake

CHECK_SPECS = [
    dg.AssetCheckSpec(
        "allele_counts_match_genotypes",
        asset=asset_key(VARIANT_SITES),
        description="Autosomal AC equals the alternate alleles stored in joint_genotypes.",
    ),
    dg.AssetCheckSpec(
        "one_row_per_site_and_participant",
        asset=asset_key(JOINT_GENOTYPES),
        description="No (site, participant) appears twice.",
    ),
    dg.AssetCheckSpec(
        "site_aggregates_are_the_sum_of_batches",
        asset=asset_key(VARIANT_SITES),
        description="Every site's QC aggregates equal the sum of its site_batch_aggregates "
        "rows over the sample batches (none missing on either side).",
    ),
]

KEY = ["contig", "pos", "ref", "alt"]


def evaluate(lake: Lake, chunk_names: list[str]) -> list[dg.AssetCheckResult]:
    wanted = pl.Series(chunk_names, dtype=pl.String).implode()
    sites = lake.scan(VARIANT_SITES).filter(pl.col("chunk").is_in(wanted)).collect()
    genotypes = lake.scan(JOINT_GENOTYPES).filter(pl.col("chunk").is_in(wanted)).collect()
    alt = (pl.col("a1") == 1).cast(pl.Int64) + (pl.col("a2") == 1).fill_null(False).cast(pl.Int64)
    counted = genotypes.group_by(KEY).agg(alt.sum().alias("stored_ac"))
    autosomal = sites.filter(~pl.col("contig").is_in(["chrX", "chrY", "chrM"])).join(
        counted, on=KEY, how="left"
    )
    mismatched = autosomal.filter(pl.col("AC") != pl.col("stored_ac").fill_null(0)).height
    duplicated = genotypes.height - genotypes.select([*KEY, "participant_id"]).n_unique()
    checked, unsummed = batch_totals_mismatched(lake, chunk_names)
    return [
        dg.AssetCheckResult(
            asset_key=asset_key(VARIANT_SITES),
            check_name="allele_counts_match_genotypes",
            passed=mismatched == 0,
            metadata={"sites_checked": autosomal.height, "mismatched": mismatched},
        ),
        dg.AssetCheckResult(
            asset_key=asset_key(JOINT_GENOTYPES),
            check_name="one_row_per_site_and_participant",
            passed=duplicated == 0,
            metadata={"rows_checked": genotypes.height, "duplicated": duplicated},
        ),
        dg.AssetCheckResult(
            asset_key=asset_key(VARIANT_SITES),
            check_name="site_aggregates_are_the_sum_of_batches",
            passed=unsummed == 0,
            metadata={"sites_checked": checked, "mismatched": unsummed},
        ),
    ]
