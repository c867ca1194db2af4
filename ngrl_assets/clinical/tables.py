"""The curated clinical tables, declared once (see :mod:`ngrl_assets.catalogue`): one per
extract source (schema and descriptions derived from the source's field list) and the
long ``diagnoses`` table."""

from __future__ import annotations

from ngrl_assets.clinical import diagnoses, validate
from ngrl_assets.clinical.columns import describe
from ngrl_assets.clinical.sources import DELIVERY_COLUMN, SOURCES, ClinicalSource
from resources.tables import TableSpec


def _extract_table(source: ClinicalSource) -> TableSpec:
    schema = validate.curated_schema(source)
    return TableSpec(
        zone="curated",
        name=source.table,
        description=source.description,
        schema=schema,
        columns=describe(source, schema),
        written_by=(source.table,),
        participant_column="participant_id",
        # the delivery file (landing key clinical/<source>/<delivery>) of every row
        landing_columns=(DELIVERY_COLUMN,),
        from_landing=True,
        releasable=True,
    )


EXTRACTS: dict[str, TableSpec] = {name: _extract_table(s) for name, s in SOURCES.items()}

DIAGNOSES = TableSpec(
    zone="curated",
    name=diagnoses.TABLE,
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
    written_by=(diagnoses.TABLE,),
    participant_column="participant_id",
    withheld_columns=("delivery",),
    releasable=True,
)

TABLES = (*EXTRACTS.values(), DIAGNOSES)
