"""The long ``diagnoses`` table: every ICD-10 code a participant carries in any source,
one row per (record, position), so researchers can ask "who has ever had C50" across
hospital episodes, outpatient appointments, death certificates and the cancer registry
in one query.

Sources and positions: HES APC ``DIAG_4_01..20`` and HES OP ``DIAG_4_01..12`` (position =
field number; 1 is the primary diagnosis), ONS (position 0 = the underlying cause, primary;
``S_COD_CODE_n`` = position n, unordered on the certificate), AV_TUMOUR (the tumour site,
position 1, primary). A&E diagnoses use the CDS A&E table, not ICD-10, and are not here.
Derived from the curated tables in one lazy pass, streamed in batches and rewritten whole
in one commit, so it is always exactly what the curated tables say (including after a full
refresh or a withdrawal) and memory stays bounded by a batch.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from ngrl_assets.clinical import validate
from ngrl_assets.clinical.sources import SOURCES, ClinicalSource
from ngrl_assets.clinical.tables import DIAGNOSES, DIAGNOSES_SCHEMA, DIAGNOSES_TABLE, EXTRACTS
from resources.lake import Lake

TABLE = DIAGNOSES_TABLE
SCHEMA = DIAGNOSES_SCHEMA
BATCH_ROWS = 500_000
FED_BY = ("hes_apc", "hes_op", "ons_mortality", "av_tumour")


def _position(source: ClinicalSource, field: str) -> int:
    """ONS underlying cause 0, ``S_COD_CODE_n`` n; the tumour site 1; HES field number."""
    if source.name == "ons_mortality" and field == source.primary_diagnosis:
        return 0
    if source.name == "av_tumour":
        return 1
    return int(field.rsplit("_", 1)[-1])


def from_source(frame: pl.LazyFrame, source: ClinicalSource) -> pl.LazyFrame:
    """Unpivot one curated table's ICD-10 fields into diagnosis rows."""
    fields = {f.lower(): _position(source, f) for f in source.diagnoses}
    key = source.field(source.key).column if source.key else None
    flags = validate.has_flags_column(source)
    index: list[pl.Expr | str] = [
        "participant_id",
        pl.col(source.field(source.event_date).column).alias("event_date"),
        (pl.col(key) if key else pl.lit(None, pl.Int64)).alias("record_key"),
        (pl.col(validate.FLAGS_COLUMN) if flags else pl.lit(None, pl.String)).alias("_flags"),
        "delivery",
    ]
    long = frame.select(*index, *fields).unpivot(
        index=["participant_id", "event_date", "record_key", "_flags", "delivery"],
        on=list(fields),
        variable_name="_field",
        value_name="icd10_code",
    )
    position = pl.col("_field").replace_strict(fields, return_dtype=pl.Int16)
    primary_field = (source.primary_diagnosis or "").lower()
    pos2 = position.cast(pl.String).str.zfill(2)
    flag = (
        pl.when(pl.col("_flags").str.contains(pos2 + "D", literal=True))
        .then(pl.lit("D"))
        .when(pl.col("_flags").str.contains(pos2 + "A", literal=True))
        .then(pl.lit("A"))
        .otherwise(pl.lit(None, pl.String))
    )
    return long.filter(pl.col("icd10_code").is_not_null()).select(
        "participant_id",
        pl.lit(source.name).alias("source"),
        "record_key",
        "event_date",
        "icd10_code",
        pl.col("icd10_code").str.slice(0, 3).alias("icd10_3char"),
        position.alias("position"),
        (pl.col("_field") == primary_field).alias("is_primary"),
        flag.alias("dagger_asterisk"),
        "delivery",
    )


def build(lake: Lake) -> dict[str, int]:
    """Rewrite ``curated/diagnoses`` from the curated source tables; rows per source."""
    parts = []
    for name in FED_BY:
        if lake.exists(EXTRACTS[name]):
            parts.append(from_source(lake.scan(EXTRACTS[name]), SOURCES[name]))
    frame = pl.concat(parts, how="vertical") if parts else DIAGNOSES.empty().lazy()
    counts: dict[str, int] = {}

    def counted(batches: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
        for batch in batches:
            for source, n in batch.group_by("source").len().iter_rows():
                counts[source] = counts.get(source, 0) + int(n)
            yield batch

    batches = frame.collect_batches(chunk_size=BATCH_ROWS)
    lake.write_batches(DIAGNOSES, counted(iter(batches)))
    return dict(sorted(counts.items()))
