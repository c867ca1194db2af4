"""Withdrawal sensor: every pending withdrawal batch (opened by consent intake when a full
withdrawal is recorded, or by an intake that refused a re-delivery) -> one propagation run.

Exactly once per batch: a batch is requested while it is pending and no live run for it
is in flight; a successful run completes it (status ``complete``), so it is never requested
again. A run whose process is gone (killed, crashed, the machine restarted: see
``withdrawal/runs.py``) is first marked failed, as Dagster's run monitoring would, so it
never blocks its batch. A failed run is retried with a new run key (the propagation
resumes where the dead one stopped), up to ``MAX_ATTEMPTS``; after that the batch waits
for an operator (re-execute from the UI or ``ngrl withdrawal propagate BATCH``) and is
shown overdue. Each evaluation also records the ``withdrawals_on_time`` check when its
verdict changed (the cursor holds the last one). The sensor reads the audit zone's batch
table only: runs carry the opaque batch id, never a participant.
"""

import datetime as dt

import dagster as dg

from ngrl_assets.withdrawal import batches, runs
from ngrl_assets.withdrawal.jobs import withdrawal_job
from ngrl_assets.withdrawal.partitions import WITHDRAWAL_BATCH_PARTITIONS
from ngrl_assets.withdrawal.progress import MAX_ATTEMPTS
from resources.lake import Lake

BATCH_TAG = runs.BATCH_TAG


@dg.sensor(
    name="withdrawal_sensor",
    job=withdrawal_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A new full withdrawal (an opaque batch) -> propagation and erasure run; "
    "a run whose process died is marked failed and its batch resumed.",
)
def withdrawal_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]
) -> dg.SensorResult:
    instance = context.instance
    dead = runs.fail_dead_runs(instance)
    if dead:
        context.log.warning(f"{dead} withdrawal run(s) whose process is gone marked failed")
    frame = batches.read(lake)
    pending = frame.filter(frame["status"] != batches.BatchStatus.COMPLETE)["batch_id"].to_list()
    requests, new_partitions, waiting = [], [], 0
    known = set(instance.get_dynamic_partitions(WITHDRAWAL_BATCH_PARTITIONS))
    for batch in pending:
        found = [r.dagster_run for r in runs.batch_runs(instance, batch)]
        if any(not r.is_finished for r in found):
            waiting += 1  # alive: dead ones were marked failed above
            continue
        if any(r.is_success for r in found):
            waiting += 1  # finished but the batch is still pending: an operator looks
            continue
        if len(found) >= MAX_ATTEMPTS:
            waiting += 1
            continue
        if batch not in known:
            new_partitions.append(batch)
        requests.append(
            dg.RunRequest(
                run_key=f"withdrawal-{batch}-{len(found) + 1}",
                partition_key=batch,
                tags={BATCH_TAG: batch},
            )
        )
    verdict = runs.on_time(
        runs.progress_by_batch(
            instance, frame, dt.datetime.now(dt.UTC), [str(r.partition_key) for r in requests]
        )
    )
    cursor = runs.fingerprint(verdict)
    if cursor != context.cursor:
        runs.report(instance, verdict)
    if not requests:
        reason = f"{waiting} batch(es) in flight or waiting" if waiting else "no pending batch"
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            dg.AddDynamicPartitionsRequest(WITHDRAWAL_BATCH_PARTITIONS, new_partitions)
        ]
        if new_partitions
        else [],
        cursor=cursor,
    )
