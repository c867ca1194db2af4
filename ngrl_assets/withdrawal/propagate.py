"""Withdrawal propagation: carry one opaque batch of full withdrawals through every table,
every live release and landing, physically, then prove it with the residue scan.

Order (each step idempotent, so a run killed anywhere is completed by a rerun):

1. **capture**: the members' identifying values (internal ids, references, NHS numbers,
   sample ids, landing keys, release pseudonyms) go to the identity zone's work table, so a
   rerun after identifiers were erased still knows what to erase and scan for;
2. **genomics**: the members' share is subtracted from the library's joint-called site
   aggregates (sites only they carried are dropped) while their per-sample rows still exist;
3. **releases**: every published release is redacted (rows by pseudonym, genomic
   aggregates recomputed for the remaining cohort, manifest history, registry);
4. **erase**: their rows are erased from every table the asset graph and the catalogue say
   holds participants (:func:`ngrl_assets.withdrawal.targets.erasure_targets`);
5. **landing**: their objects are deleted and their feed lines blanked (ledger and
   quarantine updated, old S3 versions removed);
6. **identity**: registry, notices and pseudonym rows go; only the tombstone stays;
7. **scan**: every object of every zone is searched for every captured value; anything
   found fails the run (the batch stays pending and is retried);
8. **complete**: the work rows are erased and the batch is marked complete.

Only counts leave this module (audit ledger, Dagster metadata); never a value.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from ngrl_assets.consent import linkage, tombstones
from ngrl_assets.consent.tables import (
    PARTICIPANT_REGISTRY,
    RELEASE_PSEUDONYMS,
    WITHDRAWAL_NOTICES,
    WITHDRAWAL_TOMBSTONES,
)
from ngrl_assets.genomics import withdraw_store
from ngrl_assets.genomics.tables import RAW_SEQUENCES, VARIANT_SITES
from ngrl_assets.releases import registry
from ngrl_assets.withdrawal import audit, batches, erasure, landing, lease
from ngrl_assets.withdrawal import releases as release_redaction
from ngrl_assets.withdrawal.audit import AuditRow
from ngrl_assets.withdrawal.scan import Finding, exclude_prefixes, scan
from ngrl_assets.withdrawal.steps import audit_row, genomics_detail, purge_table
from ngrl_assets.withdrawal.tables import WITHDRAWAL_BATCH_MEMBERS, WITHDRAWAL_WORK
from ngrl_assets.withdrawal.targets import Target
from resources.lake import Lake
from resources.tables import TableSpec

KILL_AT = "NGRL_WITHDRAWAL_KILL_AT"  # tests: SIGKILL this process after the named step
STEPS = ("captured", "genomics", "releases", "erased", "landing", "identity", "scanned")
KILL_POINTS = ("leased", *STEPS)  # "leased": the lease just taken, nothing done yet


class ResidueFound(RuntimeError):
    """The residue scan found a withdrawn participant's value; the batch stays pending."""

    def __init__(self, message: str, findings_count: int, objects_scanned: int) -> None:
        super().__init__(message)
        self.findings_count = findings_count
        self.objects_scanned = objects_scanned


@dataclass
class Propagation:
    batch_id: str
    members: int = 0
    releases_redacted: list[str] = field(default_factory=list)
    tables_redacted: list[str] = field(default_factory=list)
    rows_removed: dict[str, int] = field(default_factory=dict)
    aggregates_changed: list[str] = field(default_factory=list)
    needles: int = 0
    needle_kinds: dict[str, int] = field(default_factory=dict)
    objects_scanned: int = 0
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    completed: bool = False


def _stage(name: str) -> None:
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def capture(lake: Lake, batch_id: str, member_ids: list[str]) -> pl.DataFrame:
    """The batch's identifying values: what the identity door still knows of its members,
    plus what an earlier attempt (or an intake that refused a re-delivery) stored in the
    work table; whatever is new is stored, so a rerun after the identifiers were erased
    still has every value."""
    lake.ensure(WITHDRAWAL_WORK)
    stored = (
        lake.scan(WITHDRAWAL_WORK).filter(pl.col("batch_id") == batch_id).collect().drop("batch_id")
    )
    fresh = linkage.members_needles(lake, member_ids, RAW_SEQUENCES)
    new = fresh.join(stored, on=["participant_id", "kind", "value"], how="anti")
    if new.height:
        lake.append(WITHDRAWAL_WORK, new.with_columns(pl.lit(batch_id).alias("batch_id")))
    return pl.concat([stored, new]).unique().sort("participant_id", "kind", "value")


def _values(work: pl.DataFrame, *kinds: str) -> list[str]:
    rows = work.filter(pl.col("kind").is_in(list(kinds))) if kinds else work
    return sorted(set(rows["value"].to_list()))


def propagate(
    lake: Lake,
    batch_id: str,
    targets: Sequence[Target],
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> Propagation:
    """Propagate one withdrawal batch (see the module docstring). Raises
    :class:`ResidueFound` when the scan finds anything; rerun to complete."""
    batches.validate_batch_id(batch_id)
    with lease.held(lake, batch_id):
        _stage("leased")
        return _propagate(lake, batch_id, targets, now)


def _propagate(
    lake: Lake,
    batch_id: str,
    targets: Sequence[Target],
    now: Callable[[], dt.datetime],
) -> Propagation:
    clock = time.perf_counter()
    run = _start(lake, batch_id, targets, now)
    _stage("captured")
    _subtract_genomics(run)
    _stage("genomics")
    _redact_releases(run)
    _stage("releases")
    _erase_tables(run)
    _stage("erased")
    _purge_landing(run)
    _stage("landing")
    # a release published while this ran: redact it too (the cut checks tombstones again
    # after publishing, so between the two every release is covered)
    _redact_releases(run)
    _erase_identity(run)
    _stage("identity")
    _scan_residue(run)
    _stage("scanned")
    _refuse_residue(run)
    _complete(run, clock)
    return run.out


@dataclass
class _Run:
    """One propagation attempt: what its steps share."""

    lake: Lake
    batch_id: str
    targets: Sequence[Target]
    now: Callable[[], dt.datetime]
    out: Propagation
    member_ids: list[str]
    started: dt.datetime
    work: pl.DataFrame
    redacted: set[str] = field(default_factory=set)  # releases already redacted

    def record(self, rows: list[AuditRow]) -> None:
        audit.record(self.lake, rows)

    def row(
        self,
        step: str,
        target: str,
        result: erasure.TableErasure | None,
        started: dt.datetime,
        **counts: Any,
    ) -> None:
        """Record one step's audit row (``counts``: :func:`audit_row`'s overrides)."""
        self.record([audit_row(self.batch_id, step, target, result, started, **counts)])


def _start(
    lake: Lake,
    batch_id: str,
    targets: Sequence[Target],
    now: Callable[[], dt.datetime],
) -> _Run:
    """1. capture: the members and their identifying values (see :func:`capture`)."""
    out = Propagation(batch_id)
    member_ids = batches.members(lake, batch_id)
    out.members = len(member_ids)
    started = now()
    work = capture(lake, batch_id, member_ids)
    return _Run(lake, batch_id, targets, now, out, member_ids, started, work)


def _subtract_genomics(run: _Run) -> None:
    """2. genomics: subtract before the per-sample rows are erased."""
    genomics = withdraw_store.withdraw_from_library(run.lake, run.member_ids, marker=run.batch_id)
    sites = purge_table(run.lake, VARIANT_SITES)
    if genomics.sites_updated or genomics.sites_dropped:
        run.out.aggregates_changed.append(VARIANT_SITES.key)
    run.row(
        "genomics",
        VARIANT_SITES.key,
        sites,
        started=run.started,
        rows_removed=genomics.sites_dropped,
        files_rewritten=genomics.chunks_rewritten,
        detail=genomics_detail(genomics),
    )


def _redact_releases(run: _Run) -> None:
    """3. every published release not redacted yet by this run."""
    tables = [t.table for t in run.targets if t.per_release and t.kind == "rows"]
    _redact_published(
        run.lake, run.batch_id, run.work, run.redacted, run.out, run.record, run.now, tables
    )


def _erase_tables(run: _Run) -> None:
    """4. every table that holds participants (from the asset graph and the catalogue).
    A table partitioned by delivery or sample batch is erased in the members' own
    partitions only (``_places``): a withdrawal rewrites their batch's tiles and reads no
    other batch's."""
    places = _places(run)
    for target in run.targets:
        if target.per_release or target.kind != "rows":
            continue
        started = run.now()
        result = erasure.erase_participants(run.lake, target.table, run.member_ids, places=places)
        run.out.tables_redacted.append(target.table.key)
        run.out.rows_removed[target.table.key] = result.rows_removed
        run.row("erase", target.table.key, result, started=started)


def _places(run: _Run) -> pl.DataFrame:
    """The members' deliveries and sample batches (``raw_sequences``), read before any
    table is erased: every per-sample row of a member is in one of their deliveries'
    partitions, and every joint-called row in their sample's batch (a sample keeps its
    batch for good). A member whose ``raw_sequences`` rows are already gone (a rerun after
    a crash) is erased by id alone."""
    ids = pl.Series(run.member_ids, dtype=pl.String).implode()
    return (
        run.lake.scan(RAW_SEQUENCES)
        .filter(pl.col("participant_id").is_in(ids))
        .select("participant_id", "delivery", "sample_batch")
        .collect()
    )


def _purge_landing(run: _Run) -> None:
    """5. landing objects and lines (ledger and quarantine follow)."""
    started = run.now()
    purge = landing.purge_landing(
        run.lake,
        _values(run.work, "participant reference", "NHS number", "sample id"),
        _values(run.work, "landing key"),
    )
    run.row(
        "landing",
        "landing",
        None,
        started=started,
        rows_removed=purge.lines_blanked,
        files_rewritten=purge.files_rewritten,
        objects_deleted=purge.objects_deleted + purge.versions_purged,
        detail=json.dumps(purge.as_dict()),
    )


def _erase_identity(run: _Run) -> None:
    """6. identity: only the tombstone (and the batch membership) stays."""
    started = run.now()
    work = run.work
    identity = [
        erasure.erase_participants(run.lake, PARTICIPANT_REGISTRY, run.member_ids),
        erasure.erase_rows_where(
            run.lake,
            WITHDRAWAL_NOTICES,
            pl.DataFrame({"participant_reference": _values(work, "participant reference")}),
        ),
        erasure.erase_rows_where(
            run.lake,
            RELEASE_PSEUDONYMS,
            pl.DataFrame({"internal_id": _values(work, "internal id", "sample id")}),
        ),
    ]
    for result in identity:
        run.row("identity", result.table, result, started=started)


def _scan_residue(run: _Run) -> None:
    """7. the proof: every object of every zone searched for every captured value."""
    started = run.now()
    out = run.out
    searched = run.work.filter(pl.col("kind") != "landing key")
    needles = _values(searched)
    out.needles = len(needles)
    kinds = searched.group_by("kind").len()
    out.needle_kinds = dict(zip(kinds["kind"].to_list(), kinds["len"].to_list(), strict=True))
    out.findings, out.objects_scanned = residue_scan(run.lake, needles)
    run.row(
        "scan",
        "every zone",
        None,
        started=started,
        rows_removed=0,
        files_rewritten=0,
        objects_deleted=0,
        detail=json.dumps(
            {
                "clean": not out.findings,
                "needles": out.needles,
                "needles_by_kind": _kind_counts(out.needle_kinds),
                "objects_scanned": out.objects_scanned,
                "findings": len(out.findings),
                "objects_with_findings": len({f.uri for f in out.findings}),
            }
        ),
    )


def _refuse_residue(run: _Run) -> None:
    """Anything found fails the run: the batch stays pending and is retried."""
    found = run.out.findings
    if found:
        raise ResidueFound(
            f"withdrawal batch {run.batch_id}: the residue scan found {len(found)} "
            f"value(s) in {len({f.uri for f in found})} object(s); rerun to complete",
            len(found),
            run.out.objects_scanned,
        )


def _complete(run: _Run, clock: float) -> None:
    """8. done: the working set goes, the batch is complete."""
    started = run.now()
    work_erased = erasure.erase_rows_where(
        run.lake, WITHDRAWAL_WORK, pl.DataFrame({"batch_id": [run.batch_id]})
    )
    run.out.seconds = time.perf_counter() - clock
    run.row(
        "complete",
        WITHDRAWAL_WORK.key,
        work_erased,
        started=started,
        detail=json.dumps({"seconds": round(run.out.seconds, 3)}),
    )
    batches.mark(run.lake, run.batch_id, batches.BatchStatus.COMPLETE, run.now())
    run.out.completed = True


def _kind_counts(kinds: dict[str, int]) -> dict[str, int]:
    """Needle counts by kind, releases folded together (``pseudonym (release v1)`` ->
    ``pseudonym``): the audit names kinds, never values."""
    folded: dict[str, int] = {}
    for kind, n in kinds.items():
        base = kind.split(" (release ")[0]
        folded[base] = folded.get(base, 0) + n
    return dict(sorted(folded.items()))


def _redact_published(
    lake: Lake,
    batch_id: str,
    work: pl.DataFrame,
    redacted: set[str],
    out: Propagation,
    record: Callable[[list[AuditRow]], None],
    now: Callable[[], dt.datetime],
    tables: Sequence[TableSpec],
) -> None:
    for release in registry.list_published(lake):
        if release.release_id in redacted:
            continue
        result = release_redaction.redact(
            lake, release.release_id, batch_id, work, published=True, now=now(), tables=tables
        )
        redacted.add(release.release_id)
        if result.audit:  # the batch had pseudonyms in this release
            out.releases_redacted.append(release.release_id)
        record(result.audit)


def residue_scan(lake: Lake, needles: list[str]) -> tuple[list[Finding], int]:
    """Every object of every zone, except what the tombstone is (tombstones, batch
    membership, the batch's own working set and the tombstone key)."""
    exempt = exclude_prefixes(
        lake.table_uri(WITHDRAWAL_TOMBSTONES),
        lake.table_uri(WITHDRAWAL_BATCH_MEMBERS),
        lake.table_uri(WITHDRAWAL_WORK),
        lake.uri("identity", tombstones.KEY_OBJECT[0]),
    )
    if not needles:
        return [], 0
    seen: list[str] = []

    def exclude(uri: str) -> bool:
        if exempt(uri):
            return True
        seen.append(uri)
        return False

    findings = scan(lake, needles, exclude=exclude)
    return findings, len(seen)


def participants_pending(lake: Lake) -> list[str]:
    """Batches not complete yet (what the sensor and the release cut look at)."""
    frame = batches.read(lake)
    return frame.filter(pl.col("status") != batches.BatchStatus.COMPLETE)["batch_id"].to_list()


def tombstoned_ids(lake: Lake) -> set[str]:
    lake.ensure(WITHDRAWAL_TOMBSTONES)
    return set(lake.read(WITHDRAWAL_TOMBSTONES)["participant_id"].to_list())
