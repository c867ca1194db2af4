"""The withdrawal audit ledger, declared once (see :mod:`ngrl_assets.catalogue`)."""

from __future__ import annotations

import polars as pl

from resources.tables import TableSpec

_TS = pl.Datetime("us", "UTC")

WITHDRAWAL_AUDIT = TableSpec(
    zone="audit",
    name="withdrawal_audit",
    description=(
        "The erasure record for the data protection officer: for each withdrawal batch (by "
        "its opaque id only) every step of its propagation, each table and release it "
        "redacted with rows removed, files rewritten, bytes vacuumed and the table's version "
        "before and after (erasure ends time travel), the landing objects purged, and the "
        "residue scan's verdict. Names no participant."
    ),
    schema={
        "batch_id": pl.String,
        "step": pl.String,
        "target": pl.String,
        "release_id": pl.String,
        "rows_removed": pl.Int64,
        "files_rewritten": pl.Int64,
        "bytes_vacuumed": pl.Int64,
        "objects_deleted": pl.Int64,
        "version_before": pl.Int64,
        "version_after": pl.Int64,
        "started_at": _TS,
        "finished_at": _TS,
        "detail": pl.String,
    },
    columns={
        "batch_id": "opaque withdrawal batch id",
        "step": (
            "genomics (aggregates recomputed), erase (rows removed from a table), release "
            "(a release redacted and its manifest history extended), landing (landing "
            "objects deleted or rewritten), identity (identifiers removed, tombstone kept), "
            "scan (residue scan), complete"
        ),
        "target": "table (zone/name, releases/<id>/<name>) or area the step worked on",
        "release_id": "the release, for release tables",
        "rows_removed": "rows removed",
        "files_rewritten": "data files rewritten or landing files rewritten",
        "bytes_vacuumed": "bytes of unreferenced files physically deleted",
        "objects_deleted": "objects deleted (landing objects, old S3 versions)",
        "version_before": "Delta version before the step",
        "version_after": "Delta version after (history before it is gone)",
        "started_at": "when the step started",
        "finished_at": "when the step finished",
        "detail": "further counts as JSON (never a participant-level value)",
    },
    written_by=("withdrawal_audit",),
)

TABLES = (WITHDRAWAL_AUDIT,)
