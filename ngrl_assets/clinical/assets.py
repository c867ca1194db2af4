"""Dagster wiring for the linked clinical extracts: one asset per source, partitioned by
delivery (a dynamic partition per landed file), each run ingesting one file; and the long
``diagnoses`` table, rebuilt automatically whenever a source table changes."""

import dagster as dg
import polars as pl

from ngrl_assets.clinical import diagnoses, intake, validate
from ngrl_assets.clinical.columns import describe
from ngrl_assets.clinical.partitions import PARTITIONS
from ngrl_assets.clinical.sources import SOURCES, ClinicalSource
from ngrl_assets.common.specs import table_spec
from resources import delta
from resources.clinical_feeds import ClinicalFeedsResource
from resources.lake import LakeResource

GROUP = "clinical"
LINKAGE_DEPS = ["participant_registry", "consent_status"]



def _spec(source: ClinicalSource) -> dg.AssetSpec:
    schema = validate.curated_schema(source)
    return table_spec(
        source.table,
        zone="curated",
        group=GROUP,
        deps=LINKAGE_DEPS,
        description=source.description,
        schema=schema,
        columns=describe(source, schema),
    )


def _checks(source: ClinicalSource) -> list[dg.AssetCheckSpec]:
    unique = "participant_id" if source.key is None else source.key.lower()
    return [
        dg.AssetCheckSpec(
            "rows_conserved",
            asset=source.table,
            description="rows in = curated + quarantined for the delivery",
        ),
        dg.AssetCheckSpec(
            f"{unique}_unique",
            asset=source.table,
            description=f"no two curated rows share a {unique}",
        ),
        dg.AssetCheckSpec(
            "only_consented_participants",
            asset=source.table,
            description=(
                "no row belongs to a participant who has fully withdrawn or whose consent "
                "does not allow research use (as consent_status says now)"
            ),
        ),
    ]


def _unique_check(lake: LakeResource, source: ClinicalSource) -> dg.AssetCheckResult:
    column = "participant_id" if source.key is None else source.field(source.key).column
    uri = lake.table("curated", source.table)
    opts = lake.storage_options(uri)
    repeated = 0
    if delta.exists(uri, opts):
        repeated = (
            delta.scan(uri, opts)
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


def _consent_check(lake: LakeResource, source: ClinicalSource) -> dg.AssetCheckResult:
    uri = lake.table("curated", source.table)
    consent_uri = lake.table("curated", "consent_status")
    rows = 0
    if delta.exists(uri, lake.storage_options(uri)):
        barred = (
            delta.scan(consent_uri, lake.storage_options(consent_uri))
            .filter(
                (pl.col("withdrawal_state") == "full")
                | ~(pl.col("research_discussed") & pl.col("research_agreed"))
            )
            .select("participant_id")
        )
        rows = (
            delta.scan(uri, lake.storage_options(uri))
            .join(barred, on="participant_id", how="semi")
            .select(pl.len())
            .collect()
            .item()
        )
    return dg.AssetCheckResult(
        check_name="only_consented_participants",
        asset_key=source.table,
        passed=rows == 0,
        metadata={"rows_of_barred_participants": int(rows)},
    )


def build_extract_asset(source: ClinicalSource) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name=f"{source.name}_intake",
        specs=[_spec(source)],
        check_specs=_checks(source),
        partitions_def=PARTITIONS[source.name],
        pool=f"clinical_{source.name}",
    )
    def _intake(
        context: dg.AssetExecutionContext, lake: LakeResource, clinical: ClinicalFeedsResource
    ):
        result = intake.ingest_extract(
            lake, source, context.partition_key, context.run_id, mode=clinical.mode(source.name)
        )
        context.log.info(
            f"{result.landing_key} ({result.mode}): {result.status}, {result.rows_in} rows in, "
            f"{result.rows_curated} curated, {result.rows_quarantined} quarantined"
        )
        conserved = result.rows_in == result.rows_curated + result.rows_quarantined
        return dg.MaterializeResult(
            asset_key=source.table,
            metadata=result.metadata(),
            check_results=[
                dg.AssetCheckResult(
                    check_name="rows_conserved",
                    asset_key=source.table,
                    passed=conserved,
                    metadata={
                        "rows_in": result.rows_in,
                        "rows_curated": result.rows_curated,
                        "rows_quarantined": result.rows_quarantined,
                    },
                ),
                _unique_check(lake, source),
                _consent_check(lake, source),
            ],
        )

    _intake.__doc__ = f"Ingest one {source.name} delivery into {source.table}."
    return _intake


EXTRACT_ASSETS = [build_extract_asset(s) for s in SOURCES.values()]

diagnoses_spec = table_spec(
    diagnoses.TABLE,
    zone="curated",
    group=GROUP,
    deps=[SOURCES[name].table for name in diagnoses.FED_BY],
    description=(
        "Every ICD-10 diagnosis a participant has in any linked source, one row per code: "
        "hospital episodes and outpatient appointments (by position, 1 = primary), death "
        "certificates (0 = underlying cause) and cancer registrations (the tumour site). "
        "The cross-source phenotype table: who has ever had a code, first seen when."
    ),
    schema=diagnoses.SCHEMA,
    columns={
        "participant_id": "opaque internal participant id",
        "source": "hes_apc, hes_op, ons_mortality or av_tumour",
        "record_key": "EPIKEY / ATTENDKEY / TUMOURID of the record (null for deaths)",
        "event_date": "episode start, appointment, death or diagnosis date",
        "icd10_code": "ICD-10 code, 3 or 4 characters, no dot or filler",
        "icd10_3char": "the code's 3-character category",
        "position": "field position in the source (1 = first; ONS underlying cause = 0)",
        "is_primary": "primary diagnosis / underlying cause / tumour site",
        "dagger_asterisk": "D (dagger, aetiology), A (asterisk, manifestation) or null",
        "delivery": "delivery file the record came from",
    },
)


@dg.multi_asset(
    name="diagnoses_build",
    specs=[
        diagnoses_spec.replace_attributes(
            automation_condition=dg.AutomationCondition.eager().without(
                ~dg.AutomationCondition.any_deps_missing()
            )
        )
    ],
    pool="clinical_diagnoses",
)
def diagnoses_build(context: dg.AssetExecutionContext, lake: LakeResource):
    """Rebuild the long diagnoses table from the curated clinical tables."""
    counts = diagnoses.build(lake)
    context.log.info(f"diagnoses rebuilt: {sum(counts.values())} rows")
    return dg.MaterializeResult(
        asset_key=diagnoses.TABLE,
        metadata={"dagster/row_count": sum(counts.values()), "rows_by_source": counts},
    )


ASSETS = [*EXTRACT_ASSETS, diagnoses_build]
