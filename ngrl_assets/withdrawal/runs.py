"""Withdrawal runs in the Dagster instance: which batch a run serves (tag
``ngrl/withdrawal_batch``), which process runs it (tag ``ngrl/worker``, set by the run
itself as it starts: :mod:`ngrl_assets.common.runs`), marking a run whose process is gone
failed (and freeing its pool slot) so that the sensor resumes its batch, and each batch's
progress (complete, running, pending, overdue) with the ``withdrawals_on_time`` verdict.
Tags carry the opaque batch id and the process, never a participant.

A withdrawal run is dead when its worker tag names a process of this host that is gone; a
STARTED one that never set the tag (killed in the instant between its start and its first
line) when it started more than ``lease.STALE_S`` ago. A run on another host is left to
Dagster's own run monitoring (its run launcher checks the worker's health)."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable

import dagster as dg
import polars as pl

from ngrl_assets.common import runs as common_runs
from ngrl_assets.withdrawal import lease
from ngrl_assets.withdrawal.batches import BatchStatus
from ngrl_assets.withdrawal.progress import Progress, Runs, progress

BATCH_TAG = "ngrl/withdrawal_batch"
WORKER_TAG = common_runs.WORKER_TAG
JOB = "withdrawal_job"
ON_TIME_CHECK = "withdrawals_on_time"


def tag_worker(context: dg.AssetExecutionContext) -> None:
    """Name this process on the run (the first thing a propagation run does)."""
    context.instance.add_run_tags(context.run_id, common_runs.worker_tags())


def alive(record: dg.RunRecord) -> bool:
    """Whether an unfinished withdrawal run may still be running."""
    return common_runs.alive(record, lease.STALE_S)


def fail_dead_runs(instance: dg.DagsterInstance) -> int:
    """Mark every withdrawal run whose process is gone failed and free its pool slot;
    returns how many. Its batch is then resumed by a new run."""
    return len(common_runs.fail_dead_runs(instance, JOB, lease.STALE_S))


def batch_runs(instance: dg.DagsterInstance, batch: str) -> list[dg.RunRecord]:
    return list(instance.get_run_records(filters=dg.RunsFilter(tags={BATCH_TAG: batch})))


def counts(records: Iterable[dg.RunRecord]) -> Runs:
    live = dead = failed = succeeded = 0
    for record in records:
        run = record.dagster_run
        if run.is_success:
            succeeded += 1
        elif run.is_finished:
            failed += 1
        elif alive(record):
            live += 1
        else:
            dead += 1
    return Runs(live, dead, failed, succeeded)


def progress_by_batch(
    instance: dg.DagsterInstance | None,
    batches: pl.DataFrame,
    now: dt.datetime,
    requested: Iterable[str] = (),
) -> dict[str, Progress]:
    """Every batch's :class:`Progress` (``batches``: ``audit/withdrawal_batches`` rows);
    ``requested``: batches a run was just requested for (pending, not overdue)."""
    asked = set(requested)
    out = {}
    for row in batches.iter_rows(named=True):
        batch = row["batch_id"]
        if row["status"] == BatchStatus.COMPLETE:
            out[batch] = Progress("complete")
        elif batch in asked:  # as good as running, unless past its deadline
            judged = progress(row["status"], row["opened_at"], Runs(live=1), now)
            out[batch] = (
                Progress("pending", "run requested") if judged.state == "running" else judged
            )
        else:
            runs = counts(batch_runs(instance, batch)) if instance is not None else None
            out[batch] = progress(row["status"], row["opened_at"], runs, now)
    return out


def on_time(states: dict[str, Progress]) -> dg.AssetCheckResult:
    """The ``withdrawals_on_time`` verdict: no batch overdue (ids are opaque batch ids)."""
    by_state: dict[str, int] = {}
    for state in states.values():
        by_state[state.state] = by_state.get(state.state, 0) + 1
    overdue = sorted(b for b, p in states.items() if p.state == "overdue")
    return dg.AssetCheckResult(
        check_name=ON_TIME_CHECK,
        asset_key="withdrawal_audit",
        passed=not overdue,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{len(overdue)} withdrawal batch(es) overdue: `ngrl withdrawal list`"
            if overdue
            else "no withdrawal batch overdue"
        ),
        metadata={
            **{state: by_state.get(state, 0) for state in ("pending", "running", "overdue")},
            "overdue_batches": dg.MetadataValue.json({b: states[b].reason for b in overdue}),
        },
    )


def fingerprint(result: dg.AssetCheckResult) -> str:
    """What the sensor remembers of the last verdict it reported (its cursor)."""
    meta = {k: getattr(v, "value", v) for k, v in (result.metadata or {}).items()}
    return json.dumps({"passed": result.passed, **meta}, sort_keys=True, default=str)


def report(instance: dg.DagsterInstance, result: dg.AssetCheckResult) -> None:
    """Record a verdict reached outside a run (by the withdrawal sensor)."""
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("withdrawal_audit"),
            check_name=ON_TIME_CHECK,
            passed=bool(result.passed),
            severity=result.severity,
            description=result.description,
            metadata=result.metadata or {},
        )
    )


def current_progress(batches: pl.DataFrame) -> dict[str, Progress]:
    """For ``ngrl withdrawal list``: progress judged with the runs of the instance in
    ``DAGSTER_HOME`` (without one, by the deadline alone)."""
    now = dt.datetime.now(dt.UTC)
    home = os.environ.get("DAGSTER_HOME")
    if not home or not os.path.isdir(home):
        return progress_by_batch(None, batches, now)
    with dg.DagsterInstance.get() as instance:
        return progress_by_batch(instance, batches, now)
