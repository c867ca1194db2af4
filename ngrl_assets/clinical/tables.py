"""The curated clinical tables, declared once (see :mod:`ngrl_assets.catalogue`): one per
extract source (schema and descriptions derived from the source's field list) and the
long ``diagnoses`` table.

Traceability: every curated row carries ``delivery``, the file name of the delivery it
came from; its landing key is ``clinical/<source>/<delivery>`` (the ledger's
``landing_key`` and the quarantine's ``batch`` / ``source_file`` for that file).
"""

from __future__ import annotations

from typing import Any

import polars as pl

from ngrl_assets.clinical import validate
from ngrl_assets.clinical.columns import describe
from ngrl_assets.clinical.sources import DELIVERY_COLUMN, SOURCES, ClinicalSource
from resources.tables import TableSpec

DIAGNOSES_TABLE = "diagnoses"
DIAGNOSES_SCHEMA: dict[str, Any] = {
    "participant_id": pl.String,
    "source": pl.String,
    "record_key": pl.Int64,
    "event_date": pl.Date,
    "icd10_code": pl.String,
    "icd10_3char": pl.String,
    "position": pl.Int16,
    "is_primary": pl.Boolean,
    "dagger_asterisk": pl.String,
    "delivery": pl.String,
}


def _extract_table(source: ClinicalSource) -> TableSpec:
    schema = validate.curated_schema(source)
    columns = describe(source, schema)
    columns[DELIVERY_COLUMN] = (
        "NHS England delivery file the row came from; its landing key is "
        f"{source.landing_key('<delivery>')} (ledger landing_key, quarantine batch)"
    )
    return TableSpec(
        zone="curated",
        name=source.table,
        description=(
            f"{source.description} Each row names its delivery file (landing key "
            f"{source.landing_key('<delivery>')})."
        ),
        schema=schema,
        columns=columns,
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
    name=DIAGNOSES_TABLE,
    description=(
        "Every ICD-10 diagnosis a participant has in any linked source, one row per code: "
        "hospital episodes and outpatient appointments (by position, 1 = primary), death "
        "certificates (0 = underlying cause) and cancer registrations (the tumour site). "
        "The cross-source phenotype table: who has ever had a code, first seen when."
    ),
    schema=DIAGNOSES_SCHEMA,
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
        "delivery": "delivery file the record came from (landing key "
        "clinical/<source>/<delivery>; withheld from releases)",
    },
    written_by=(DIAGNOSES_TABLE,),
    participant_column="participant_id",
    withheld_columns=("delivery",),
    releasable=True,
)

TABLES = (*EXTRACTS.values(), DIAGNOSES)
