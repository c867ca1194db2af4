"""The withdrawal batches, their members and working set, and the audit ledger, declared once
(see :mod:`ngrl_assets.catalogue`)."""

from __future__ import annotations

import polars as pl

from resources.tables import TableSpec

_TS = pl.Datetime("us", "UTC")

# The opaque batches that carry a withdrawal through the platform (withdrawal.batches).
WITHDRAWAL_BATCH_MEMBERS = TableSpec(
    zone="identity",
    name="withdrawal_batch_members",
    description=(
        "Which participants each opaque withdrawal batch carries: the batch id is all that "
        "Dagster runs, tags, logs and the audit ledger ever name; the members stay here."
    ),
    schema={
        "batch_id": pl.String,
        "participant_id": pl.String,
        "reason": pl.String,
        "added_at": pl.Datetime("us", "UTC"),
    },
    columns={
        "batch_id": "opaque withdrawal batch id (wd-...)",
        "participant_id": "internal participant id of a member",
        "reason": "withdrawal (a new full withdrawal) or redelivery (data re-delivered later)",
        "added_at": "when the member was added",
    },
    written_by=("consent_status",),
    participant_column=None,
    identifier_columns=("participant_id",),
)

WITHDRAWAL_BATCHES = TableSpec(
    zone="audit",
    name="withdrawal_batches",
    description=(
        "Every withdrawal batch by its opaque id: when its notices landed, how many "
        "participants it carries, and whether propagation has completed. The withdrawal "
        "sensor reads only this table; it names no participant."
    ),
    schema={
        "batch_id": pl.String,
        "reason": pl.String,
        "members": pl.Int64,
        "notice_landed_at": pl.Datetime("us", "UTC"),
        "opened_at": pl.Datetime("us", "UTC"),
        "status": pl.String,
        "completed_at": pl.Datetime("us", "UTC"),
    },
    columns={
        "batch_id": "opaque withdrawal batch id (wd-...)",
        "reason": "withdrawal or redelivery",
        "members": "participants in the batch",
        "notice_landed_at": "earliest ingestion time of the batch's withdrawal notices",
        "opened_at": "when the batch was opened",
        "status": "pending, or complete once propagation and the residue scan finished",
        "completed_at": "when propagation completed",
    },
    written_by=("consent_status", "withdrawal_audit"),
)

WITHDRAWAL_WORK = TableSpec(
    zone="identity",
    name="withdrawal_work",
    description=(
        "Working set of a withdrawal batch while it propagates: the identifying values of "
        "its members (references, NHS numbers, sample ids, landing keys, release pseudonyms) "
        "that the erasure steps and the residue scan search for. Captured before anything "
        "is erased so that a run killed half-way resumes with every value; erased itself "
        "when the batch completes."
    ),
    schema={
        "batch_id": pl.String,
        "participant_id": pl.String,
        "kind": pl.String,
        "value": pl.String,
    },
    columns={
        "batch_id": "opaque withdrawal batch id",
        "participant_id": "internal participant id",
        "kind": "what the value is (internal id, NHS number, sample id, pseudonym (release v1)...)",
        "value": "the identifying value",
    },
    written_by=("withdrawal_audit",),
    participant_column=None,
    identifier_columns=("participant_id", "value"),
)

# The catalogue lists these after the consent tables (the data dictionary's order).
BATCH_TABLES = (WITHDRAWAL_BATCH_MEMBERS, WITHDRAWAL_BATCHES, WITHDRAWAL_WORK)

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
