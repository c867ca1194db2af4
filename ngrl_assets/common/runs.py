"""Dagster runs whose process is gone: a run names the process that executes it in the tag
``ngrl/worker`` (:mod:`ngrl_assets.common.liveness`: host, pid, start time; never anything
about a participant). A run killed with its process (SIGKILL, a crash, a restart) stays
``STARTED`` for ever and keeps the pool slot its step claimed, so every later run of that
pool waits for ever; :func:`fail_dead_runs` marks such runs failed, with an engine event
saying why, and frees their slots, as Dagster's run monitoring does for launchers that can
check a worker's health. Only this host's processes can be judged; a run elsewhere is left
to Dagster's run monitoring."""

from __future__ import annotations

import time

import dagster as dg

from ngrl_assets.common import liveness

WORKER_TAG = "ngrl/worker"

UNFINISHED = [
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def worker_tags() -> dict[str, str]:
    """The tag naming this process (for a run executed here)."""
    return {WORKER_TAG: str(liveness.current())}


def alive(record: dg.RunRecord, untagged_after_s: float | None = None) -> bool:
    """Whether an unfinished run may still be running: its worker is not known to be gone.
    A STARTED run that names no worker is taken for dead only when ``untagged_after_s`` is
    given and it started longer ago than that."""
    run = record.dagster_run
    if run.is_finished:
        return False
    worker = liveness.Worker.parse(run.tags.get(WORKER_TAG))
    if worker is not None:
        return liveness.alive(worker) is not False
    if untagged_after_s is None or run.status != dg.DagsterRunStatus.STARTED:
        return True  # queued or starting: the coordinator's and run monitoring's business
    started = record.start_time or record.create_timestamp.timestamp()
    return time.time() - started < untagged_after_s


def fail_dead_runs(
    instance: dg.DagsterInstance, job_name: str | None = None, untagged_after_s: float | None = None
) -> list[dg.DagsterRun]:
    """Mark every unfinished run (of ``job_name``, or of any job) that is not
    :func:`alive` failed and free the pool slots it held; returns those runs."""
    records = instance.get_run_records(
        filters=dg.RunsFilter(job_name=job_name, statuses=UNFINISHED)
    )
    dead = [r.dagster_run for r in records if not alive(r, untagged_after_s)]
    for run in dead:
        message = (
            f"the process running this run is gone "
            f"({run.tags.get(WORKER_TAG) or 'it never started its step'}): marked failed and "
            "its pool slots freed, so that it blocks no later run"
        )
        instance.report_engine_event(message, run)
        instance.report_run_failed(run, message)
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return dead
