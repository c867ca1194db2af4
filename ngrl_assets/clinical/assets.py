"""Dagster wiring for the linked clinical extracts: one asset per source, partitioned by
delivery (a dynamic partition per landed file), each run ingesting one file; and the long
``diagnoses`` table, rebuilt automatically whenever a source table changes. The
whole-table checks (ledger reconciliation, consent) are standalone, in ``checks``."""

import dagster as dg
import polars as pl

from ngrl_assets.clinical import diagnoses, intake
from ngrl_assets.clinical.partitions import PARTITIONS
from ngrl_assets.clinical.sources import SOURCES, ClinicalSource
from ngrl_assets.clinical.tables import DIAGNOSES, EXTRACTS
from ngrl_assets.common.assets import table_spec
from ngrl_assets.common.automation import REBUILD_WHEN_UPSTREAM_CHANGES
from ngrl_assets.consent import linkage
from resources.clinical_feeds import ClinicalFeeds
from resources.lake import Lake

GROUP = "clinical"
LINKAGE_DEPS = [linkage.REGISTRY_ASSET, linkage.STATUS_ASSET]


def _unique_column(source: ClinicalSource) -> str:
    return "participant_id" if source.key is None else source.field(source.key).column


def _checks(source: ClinicalSource) -> list[dg.AssetCheckSpec]:
    unique = _unique_column(source)
    return [
        dg.AssetCheckSpec(
            f"{unique}_unique",
            asset=source.table,
            description=f"no two curated rows share a {unique}",
        ),
    ]


def _unique_check(lake: Lake, source: ClinicalSource) -> dg.AssetCheckResult:
    column = _unique_column(source)
    repeated = (
        lake.scan(EXTRACTS[source.name])
        .group_by(column)
        .len()
        .filter(pl.col("len") > 1)
        .select(pl.len())
        .collect()
        .item()
    )
    return dg.AssetCheckResult(
        check_name=f"{column}_unique",
        asset_key=source.table,
        passed=repeated == 0,
        metadata={"repeated_values": int(repeated)},
    )


def build_extract_asset(source: ClinicalSource) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"{source.name}_intake",
        specs=[table_spec(EXTRACTS[source.name], group=GROUP, deps=LINKAGE_DEPS)],
        check_specs=_checks(source),
        partitions_def=PARTITIONS[source.name],
        pool=f"clinical_{source.name}",
    )
    def _intake(
        context: dg.AssetExecutionContext,
        lake: dg.ResourceParam[Lake],
        clinical: dg.ResourceParam[ClinicalFeeds],
    ):
        result = intake.ingest_extract(
            lake, source, context.partition_key, context.run_id, mode=clinical.mode(source.name)
        )
        context.log.info(
            f"{result.label} ({result.mode}): {result.status}, {result.rows_in} rows in, "
            f"{result.rows_curated} curated, {result.rows_quarantined} quarantined"
        )
        if not result.recognised:
            context.log.warning(
                f"1 object in landing/{source.feed}/ has a name that is not a delivery file "
                "name: recorded as quarantined (unrecognised_file_name), nothing read"
            )
        return dg.MaterializeResult(
            asset_key=source.table,
            metadata=result.metadata(),
            check_results=[_unique_check(lake, source)],
        )

    _intake.__doc__ = f"Ingest one {source.name} delivery into {source.table}."
    return _intake


EXTRACT_ASSETS = [build_extract_asset(s) for s in SOURCES.values()]

diagnoses_spec = table_spec(
    DIAGNOSES, group=GROUP, deps=[SOURCES[name].table for name in diagnoses.FED_BY]
)


@dg.multi_asset(
    name="diagnoses_build",
    specs=[diagnoses_spec.replace_attributes(automation_condition=REBUILD_WHEN_UPSTREAM_CHANGES)],
    pool="clinical_diagnoses",
)
def diagnoses_build(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]):
    """Rebuild the long diagnoses table from the curated clinical tables."""
    counts = diagnoses.build(lake)
    context.log.info(f"diagnoses rebuilt: {sum(counts.values())} rows")
    return dg.MaterializeResult(
        asset_key=diagnoses.TABLE,
        metadata={"dagster/row_count": sum(counts.values()), "rows_by_source": counts},
    )


ASSETS = [*EXTRACT_ASSETS, diagnoses_build]
