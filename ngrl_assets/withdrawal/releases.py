"""Redacting one release for a withdrawal batch (no Dagster).

A release is immutable except for this: the members' rows are erased from every release
table that holds participants (by their pseudonyms in that release), the genomic
aggregates are recomputed for the remaining cohort by subtracting the members' share
(``genomics.withdraw_store``), and, for a published release, the manifest's tables
(versions, rows, fingerprints, counts) are brought up to date and a ``redacted`` event is
appended to its history before the registry row is updated. Each step is idempotent, so a
rerun after a crash completes the redaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ngrl_assets.consent.tables import RELEASE_PSEUDONYMS, WITHDRAWAL_TOMBSTONES
from ngrl_assets.genomics import withdraw_store
from ngrl_assets.releases import registry
from ngrl_assets.releases.tables import RELEASE_TABLES
from ngrl_assets.withdrawal import audit, batches, erasure, lease
from ngrl_assets.withdrawal.audit import AuditRow
from ngrl_assets.withdrawal.steps import audit_row, genomics_detail, purge_table
from ngrl_assets.withdrawal.tables import WITHDRAWAL_WORK
from resources.lake import Lake
from resources.tables import TableSpec


@dataclass
class ReleaseRedaction:
    release_id: str
    participants_removed: int = 0
    samples_removed: int = 0
    audit: list[AuditRow] = field(default_factory=list)


def pseudonyms_in(work: pl.DataFrame, release_id: str, kind: str = "pseudonym") -> pl.DataFrame:
    """``participant_id, value`` of the batch's pseudonyms in one release."""
    return work.filter(pl.col("kind") == f"{kind} (release {release_id})").select(
        "participant_id", "value"
    )


def remaining_cohort(lake: Lake, release_id: str) -> list[str]:
    """Internal ids of the release's participants that are not tombstoned."""
    lake.ensure(WITHDRAWAL_TOMBSTONES)
    gone = lake.read(WITHDRAWAL_TOMBSTONES)["participant_id"].implode()
    rows = (
        lake.scan(RELEASE_PSEUDONYMS)
        .filter(
            (pl.col("release_id") == release_id)
            & (pl.col("kind") == "participant")
            & ~pl.col("internal_id").is_in(gone)
        )
        .select("internal_id")
        .collect()
    )
    return sorted(set(rows["internal_id"].to_list()))


def redact(
    lake: Lake,
    release_id: str,
    batch_id: str,
    work: pl.DataFrame,
    published: bool,
    now: dt.datetime,
    tables: Sequence[TableSpec] | None = None,
) -> ReleaseRedaction:
    """Redact the batch's members from one release (published or being cut).
    ``tables``: the release tables whose rows hold participants (propagation passes the
    ones its asset graph reaches; default: every release table with a participant
    column)."""
    out = ReleaseRedaction(release_id)
    people = pseudonyms_in(work, release_id)
    if people.height == 0:
        return out
    target = f"releases/{release_id}/variant_sites"
    if not _done(lake, batch_id, "release genomics", target):
        started = dt.datetime.now(dt.UTC)
        pairs = people.unique().sort("participant_id", "value")
        genomics = withdraw_store.withdraw_from_release(
            lake,
            release_id,
            pairs["participant_id"].to_list(),  # index for index with their pseudonyms
            pairs["value"].to_list(),
            remaining_cohort(lake, release_id),
            marker=batch_id,
        )
        # recorded before the purge: the purge ends the history that marks the commit
        row = audit_row(
            batch_id,
            "release genomics",
            target,
            None,
            started,
            release_id=release_id,
            rows_removed=genomics.sites_dropped,
            files_rewritten=genomics.chunks_rewritten,
            detail=genomics_detail(genomics),
        )
        audit.record(lake, [row])
        out.audit.append(row)
    purged = purge_table(lake, _placed("variant_sites", release_id))
    out.audit.append(
        audit_row(batch_id, "release purge", target, purged, dt.datetime.now(dt.UTC), release_id)
    )
    keys = pl.DataFrame({"participant_id": sorted(people["value"].to_list())})
    for spec in tables if tables is not None else RELEASE_TABLES:
        if not spec.participant_column:
            continue
        placed = spec.in_folder(release_id)
        if not lake.exists(placed):
            continue
        step_started = dt.datetime.now(dt.UTC)
        erased = erasure.erase_rows_where(
            lake, placed, keys.rename({"participant_id": spec.participant_column})
        )
        # what this call took out (a rerun, or a cut that redacted before publishing,
        # removes nothing and must not be counted again)
        if spec.name == "participant":
            out.participants_removed = erased.rows_removed
        elif spec.name == "aggregate_gvcf_sample_stats":
            out.samples_removed = erased.rows_removed
        out.audit.append(
            audit_row(
                batch_id,
                "release",
                f"releases/{release_id}/{spec.name}",
                erased,
                step_started,
                release_id=release_id,
            )
        )
    if published:
        record_redaction(lake, release_id, batch_id, out, now)
    return out


def _done(lake: Lake, batch_id: str, step: str, target: str) -> bool:
    rows = audit.rows(lake, batch_id)
    return bool(rows.filter((pl.col("step") == step) & (pl.col("target") == target)).height)


def _placed(name: str, release_id: str) -> Any:
    spec = next(s for s in RELEASE_TABLES if s.name == name)
    return spec.in_folder(release_id)


def record_redaction(
    lake: Lake,
    release_id: str,
    batch_id: str,
    redaction: ReleaseRedaction,
    now: dt.datetime,
) -> None:
    """Update a published release's manifest and registry row after a redaction (once per
    batch: a rerun refreshes the tables section and keeps one history event)."""
    manifest = registry.read_manifest(lake, release_id)
    before = {n: t.get("delta_version") for n, t in manifest.get("tables", {}).items()}
    kept = {n: t.get("deliveries", []) for n, t in manifest.get("tables", {}).items()}
    tables = registry.table_entries(lake, release_id, kept)
    history = [h for h in manifest.get("history", []) if h.get("batch_id") != batch_id]
    already = [h for h in manifest.get("history", []) if h.get("batch_id") == batch_id]
    # counts from the tables as they stand: right after a crash half-way, on a rerun,
    # and when the cut redacted before publishing (then nothing changed: no event)
    people_now = tables["participant"]["rows"]
    samples_now = tables["aggregate_gvcf_sample_stats"]["rows"]
    removed_people = manifest["participants"] - people_now
    removed_samples = manifest["samples"] - samples_now
    if already:
        removed_people += already[0].get("participants_removed", 0)
        removed_samples += already[0].get("samples_removed", 0)
    elif not removed_people and not removed_samples:
        return
    manifest["participants"], manifest["samples"] = people_now, samples_now
    history.append(
        {
            "event": "redacted",
            "at": now.isoformat(),
            "batch_id": batch_id,
            "reason": "full withdrawal",
            "participants_removed": removed_people,
            "samples_removed": removed_samples,
            "tables": {
                name: {
                    "version_before": before.get(name),
                    "version_after": entry["delta_version"],
                    "rows": entry["rows"],
                }
                for name, entry in tables.items()
                if before.get(name) != entry["delta_version"]
            },
            "note": "time travel ended for the redacted tables (erasure purges their history)",
        }
    )
    manifest["tables"] = tables
    manifest["history"] = history
    digest = registry.write_manifest(lake, release_id, manifest)
    registry.update_after_redaction(lake, manifest, digest)


def apply_to_cut(
    lake: Lake,
    release_id: str,
    people: pl.DataFrame,
    samples: pl.DataFrame,
    published: bool,
    now: dt.datetime | None = None,
) -> set[str]:
    """A release being cut meets the withdrawals recorded since its cohort was decided:
    redact every tombstoned member of ``people`` (internal ``participant_id``,
    ``pseudonym``) and ``samples`` (``participant_id``, ``sample_id``,
    ``sample_pseudonym``) from it, under each one's own batch id, and remove their rows of
    the release's pseudonym map. Before publishing (``published=False``) the cut then
    gates and publishes the redacted tables; after publishing it records the redaction in
    the manifest. Returns the internal ids redacted (the caller keeps them to itself)."""
    now = now or dt.datetime.now(dt.UTC)
    lake.ensure(WITHDRAWAL_TOMBSTONES)
    stones = lake.read(WITHDRAWAL_TOMBSTONES).select("participant_id", "batch_id")
    hit = stones.join(people.select("participant_id", "pseudonym"), on="participant_id")
    if hit.height == 0:
        return set()
    with lease.held(lake, f"cut-{release_id}"):
        _apply(lake, release_id, hit, samples, published, now)
    return set(hit["participant_id"].to_list())


def _apply(
    lake: Lake,
    release_id: str,
    hit: pl.DataFrame,
    samples: pl.DataFrame,
    published: bool,
    now: dt.datetime,
) -> None:
    known = batches.read(lake)
    pending = set(
        known.filter(pl.col("status") != batches.BatchStatus.COMPLETE)["batch_id"].to_list()
    )
    for (batch_id,), group in hit.group_by(["batch_id"], maintain_order=True):
        ids = group["participant_id"].implode()
        mine = samples.filter(pl.col("participant_id").is_in(ids))
        work = pl.concat(
            [
                group.select(
                    "participant_id",
                    pl.lit(f"pseudonym (release {release_id})").alias("kind"),
                    pl.col("pseudonym").alias("value"),
                ),
                mine.select(
                    "participant_id",
                    pl.lit(f"sample pseudonym (release {release_id})").alias("kind"),
                    pl.col("sample_pseudonym").alias("value"),
                ),
            ]
        )
        if batch_id in pending:  # the batch's own residue scan must look for these too
            lake.merge(
                WITHDRAWAL_WORK,
                work.with_columns(pl.lit(batch_id).alias("batch_id")).select(
                    list(WITHDRAWAL_WORK.schema)
                ),
                ["batch_id", "participant_id", "kind", "value"],
            )
        result = redact(lake, release_id, str(batch_id), work, published=published, now=now)
        audit.record(lake, result.audit)
        internal = [*group["participant_id"].to_list(), *mine["sample_id"].to_list()]
        erasure.erase_rows_where(
            lake,
            RELEASE_PSEUDONYMS,
            pl.DataFrame({"release_id": [release_id] * len(internal), "internal_id": internal}),
        )
