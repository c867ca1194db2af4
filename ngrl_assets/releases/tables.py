"""The release tables, declared once and derived from the table catalogue's curated
declarations (which tables are releasable and which of their columns may be released):
no second list. Each release holds its own copy under ``releases/<release id>/``
(:meth:`TableSpec.in_folder`); the registry and the pseudonym map are single tables.

Every release table keeps the participant in ``participant_id``, but there it holds the
release pseudonym (HMAC-SHA256 under the release's own key), never the internal id.
Columns are dates or plain numbers and strings (no naive timestamps, no column mapping):
reader 1 / writer 2, the widest protocol (docs/stack.md).
"""

from __future__ import annotations

import polars as pl

from ngrl_assets.clinical.tables import DIAGNOSES, EXTRACTS
from ngrl_assets.consent.tables import CONSENT_STATUS
from ngrl_assets.genomics.tables import (
    JOINT_GENOTYPES,
    LIBRARY_ONLY_GENOTYPE_COLUMNS,
    RAW_SEQUENCES,
    ROW_GROUP_ROWS,
    VARIANT_SITES,
    variant_sites_schema,
)
from resources.tables import TableSpec

# Every release table is an asset ``releases/<name>`` of the one ``release_tables``
# multi-asset; the registry and the dictionary are written by the same materialisation.
WRITER = "releases/participant"
PSEUDONYM = "release pseudonym of the participant (HMAC-SHA256 under this release's key; "
PSEUDONYM += "never the same in two releases)"
SAMPLE_PSEUDONYM = "release pseudonym of the sample (HMAC-SHA256 under this release's key)"


def _released(spec: TableSpec, name: str | None = None, description: str = "") -> TableSpec:
    """A curated table's released projection: its release columns, the participant as
    the release pseudonym."""
    columns = spec.release_columns
    return TableSpec(
        zone="releases",
        name=name or spec.name,
        description=description or spec.description,
        schema={c: spec.schema[c] for c in columns},
        columns={
            c: PSEUDONYM if c == spec.participant_column else spec.columns[c] for c in columns
        },
        written_by=(f"releases/{name or spec.name}",),
        participant_column=spec.participant_column,
    )


PARTICIPANT = TableSpec(
    zone="releases",
    name="participant",
    description=(
        "One row per participant in the release: the release pseudonym every other release "
        "table uses, year of birth, sex, programme, consent category, life status and year of "
        "death. Only participants eligible at the release's data-freeze date appear."
    ),
    schema={
        "participant_id": pl.String,
        "year_of_birth": pl.Int32,
        "sex": pl.String,
        "programme": pl.String,
        "consent_category": pl.String,
        "life_status": pl.String,
        "year_of_death": pl.Int32,
    },
    columns={
        "participant_id": PSEUDONYM,
        "year_of_birth": CONSENT_STATUS.columns["year_of_birth"],
        "sex": "registered sex F/M/U",
        "programme": CONSENT_STATUS.columns["programme"],
        "consent_category": CONSENT_STATUS.columns["consent_category"],
        "life_status": "alive or deceased at the data-freeze date, as last known",
        "year_of_death": "year of death (registered deaths up to the freeze date), else null",
    },
    written_by=("releases/participant",),
    participant_column="participant_id",
)

AGGREGATE_GVCF_SAMPLE_STATS = TableSpec(
    zone="releases",
    name="aggregate_gvcf_sample_stats",
    description=(
        "One row per released genome: the provider's QC (coverage, share of bases at >= 15x, "
        "contamination, inferred sex) and statistics of the sample's own calls (SNVs, indels, "
        "transition/transversion ratio, het/hom-alt ratio). The sample QC a researcher filters on."
    ),
    schema={
        "participant_id": pl.String,
        "sample_id": pl.String,
        "mean_coverage": pl.Float64,
        "pct_bases_15x": pl.Float64,
        "contamination": pl.Float64,
        "inferred_sex": pl.String,
        "n_calls": pl.Int64,
        "n_snv": pl.Int64,
        "n_indel": pl.Int64,
        "ti_tv": pl.Float64,
        "het_hom_ratio": pl.Float64,
    },
    columns={
        "participant_id": PSEUDONYM,
        "sample_id": SAMPLE_PSEUDONYM,
        "mean_coverage": RAW_SEQUENCES.columns["mean_coverage"],
        "pct_bases_15x": RAW_SEQUENCES.columns["pct_bases_15x"],
        "contamination": RAW_SEQUENCES.columns["contamination"],
        "inferred_sex": RAW_SEQUENCES.columns["inferred_sex"],
        "n_calls": "non-reference calls in the sample's gVCF (biallelic, after normalisation)",
        "n_snv": "single-nucleotide variant calls",
        "n_indel": "insertion and deletion calls",
        "ti_tv": "transitions / transversions over the sample's SNV calls",
        "het_hom_ratio": "heterozygous / homozygous-alternate calls",
    },
    written_by=("releases/aggregate_gvcf_sample_stats",),
    participant_column="participant_id",
)

_SITES = {c: t for c, t in variant_sites_schema().items() if c != "increment"}
RELEASE_VARIANT_SITES = TableSpec(
    zone="releases",
    name="variant_sites",
    description=(
        "Every biallelic site carried by at least one released sample, with AC/AN/AF, aggV2's "
        "site QC and FILTERs recomputed over the released cohort only (equal to joint calling "
        "the released samples alone). Not partitioned; a few large files."
    ),
    schema=_SITES,
    columns={c: VARIANT_SITES.columns[c] for c in _SITES},
    written_by=("releases/variant_sites",),
    row_group_rows=ROW_GROUP_ROWS,
    sort_by=("chunk", "pos", "ref", "alt"),
)

_GENOTYPES = {
    c: t for c, t in JOINT_GENOTYPES.schema.items() if c not in LIBRARY_ONLY_GENOTYPE_COLUMNS
}
RELEASE_JOINT_GENOTYPES = TableSpec(
    zone="releases",
    name="joint_genotypes",
    description=(
        "Joint-called genotypes of the released samples, sparse: every genotype that is not a "
        "confident hom-ref. A released participant of the chunk's cohort (joint_call_cohorts) "
        "without a row at a site is hom-ref there."
    ),
    schema=_GENOTYPES,
    columns={
        c: PSEUDONYM if c == "participant_id" else JOINT_GENOTYPES.columns[c] for c in _GENOTYPES
    },
    written_by=("releases/joint_genotypes",),
    row_group_rows=ROW_GROUP_ROWS,
    participant_column="participant_id",
    sort_by=("chunk", "pos", "ref", "alt", "participant_id"),
)

JOINT_CALL_COHORTS = TableSpec(
    zone="releases",
    name="joint_call_cohorts",
    description=(
        "Which released participants each genome chunk was joint-called over: with it a "
        "missing joint_genotypes row is provably hom-ref, not unknown."
    ),
    schema={"chunk": pl.String, "participant_id": pl.String},
    columns={"chunk": "genome chunk", "participant_id": PSEUDONYM},
    written_by=("releases/joint_call_cohorts",),
    row_group_rows=ROW_GROUP_ROWS,
    participant_column="participant_id",
    sort_by=("chunk", "participant_id"),
)

# Curated tables released as projections (catalogue: releasable), by curated name.
PROJECTED: dict[str, TableSpec] = {
    spec.name: _released(spec) for spec in (*EXTRACTS.values(), DIAGNOSES) if spec.releasable
}
# Curated tables released through a builder of their own (renamed or recomputed).
BUILT: dict[str, TableSpec] = {
    CONSENT_STATUS.name: PARTICIPANT,
    RAW_SEQUENCES.name: AGGREGATE_GVCF_SAMPLE_STATS,
    VARIANT_SITES.name: RELEASE_VARIANT_SITES,
    JOINT_GENOTYPES.name: RELEASE_JOINT_GENOTYPES,
}

DATA_DICTIONARY = TableSpec(
    zone="releases",
    name="data_dictionary",
    description="Every table and column of the release: type, description, example values.",
    schema={
        "table_name": pl.String,
        "column_name": pl.String,
        "type": pl.String,
        "description": pl.String,
        "examples": pl.String,
    },
    columns={
        "table_name": "release table",
        "column_name": "column",
        "type": "Delta / polars type",
        "description": "what the column means",
        "examples": "example values that identify nobody (codes, categories, ranges)",
    },
    written_by=(WRITER,),
)

RELEASE_TABLES: tuple[TableSpec, ...] = (
    PARTICIPANT,
    AGGREGATE_GVCF_SAMPLE_STATS,
    RELEASE_VARIANT_SITES,
    RELEASE_JOINT_GENOTYPES,
    JOINT_CALL_COHORTS,
    *PROJECTED.values(),
)

RELEASE_REGISTRY = TableSpec(
    zone="releases",
    name="release_registry",
    description=(
        "Every release and its state: the one place readers and `ngrl release list` look. A "
        "release is visible only once its row says published (after its manifest was written)."
    ),
    schema={
        "release_id": pl.String,
        "label": pl.String,
        "freeze_date": pl.Date,
        "status": pl.String,
        "manifest_key": pl.String,
        "manifest_sha256": pl.String,
        "participants": pl.Int64,
        "samples": pl.Int64,
        "parent_release": pl.String,
        "published_at": pl.Datetime("us", "UTC"),
    },
    columns={
        "release_id": "release id (e.g. v1)",
        "label": "human label (e.g. 2026-Q4)",
        "freeze_date": "data-freeze date: eligibility and data dated up to it",
        "status": "published (visible) or withdrawn_redacted (republished after redaction)",
        "manifest_key": "path of the manifest under the releases zone",
        "manifest_sha256": "SHA-256 of the manifest as committed",
        "participants": "participants in the release",
        "samples": "genomes in the release",
        "parent_release": "the previous published release (diffs and notes compare to it)",
        "published_at": "when it became visible",
    },
    written_by=(WRITER,),
)
