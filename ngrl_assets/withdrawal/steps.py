"""Small helpers shared by the propagation steps: audit rows from erasure results, and the
history purge of a table whose rows were rewritten rather than deleted (no Dagster)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from ngrl_assets.withdrawal import erasure
from ngrl_assets.withdrawal.audit import AuditRow
from resources.lake import Lake
from resources.tables import TableSpec


def purge_table(lake: Lake, spec: TableSpec) -> erasure.TableErasure:
    """Purge a table's history and unreferenced files (an aggregate table rewritten
    without the withdrawn participants' share: its old files still hold it)."""
    return erasure.purge(lake, spec)


def genomics_detail(genomics: Any) -> str:
    """The audit detail of a subtraction from joint-called aggregates (counts only)."""
    return json.dumps(
        {
            "sites_updated": genomics.sites_updated,
            "sites_dropped": genomics.sites_dropped,
            "genotype_rows_removed_at_dropped_sites": (
                genomics.genotype_rows_removed_at_dropped_sites
            ),
            "already_applied": genomics.already_applied,
        }
    )


def audit_row(
    batch_id: str,
    step: str,
    target: str,
    result: erasure.TableErasure | None,
    started: dt.datetime,
    release_id: str | None = None,
    rows_removed: int | None = None,
    files_rewritten: int | None = None,
    objects_deleted: int | None = None,
    detail: str | None = None,
) -> AuditRow:
    return AuditRow(
        batch_id=batch_id,
        step=step,
        target=target,
        release_id=release_id,
        rows_removed=rows_removed
        if rows_removed is not None
        else (result.rows_removed if result else 0),
        files_rewritten=(
            files_rewritten
            if files_rewritten is not None
            else (result.files_rewritten if result else 0)
        ),
        bytes_vacuumed=result.bytes_vacuumed if result else 0,
        objects_deleted=(
            objects_deleted
            if objects_deleted is not None
            else (result.objects_version_purged if result else 0)
        ),
        version_before=result.version_before if result else None,
        version_after=result.version_after if result else None,
        started_at=started,
        finished_at=dt.datetime.now(dt.UTC),
        detail=detail,
    )
