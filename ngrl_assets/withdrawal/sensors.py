"""Withdrawal sensor: every pending withdrawal batch (opened by consent intake when a full
withdrawal is recorded, or by an intake that refused a re-delivery) -> one propagation run.

Exactly once per batch: a batch is requested while it is pending and no run for it is in
flight; a successful run completes it (status ``complete``), so it is never requested
again. A failed run (e.g. the residue scan found something, or the process died) is
retried with a new run key, up to ``MAX_ATTEMPTS``; after that the batch waits for an
operator (re-execute from the UI or ``ngrl withdrawal propagate BATCH``). The sensor reads
the audit zone's batch table only: runs carry the opaque batch id, never a participant.
"""

import dagster as dg

from ngrl_assets.consent import tombstones
from ngrl_assets.withdrawal.jobs import withdrawal_job
from ngrl_assets.withdrawal.partitions import WITHDRAWAL_BATCH_PARTITIONS
from resources.lake import LakeResource

BATCH_TAG = "ngrl/withdrawal_batch"
MAX_ATTEMPTS = 3


@dg.sensor(
    name="withdrawal_sensor",
    job=withdrawal_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="A new full withdrawal (an opaque batch) -> propagation and erasure run.",
)
def withdrawal_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    frame = tombstones.batches(lake)
    pending = frame.filter(frame["status"] != "complete")["batch_id"].to_list()
    requests, new_partitions, waiting = [], [], 0
    known = set(context.instance.get_dynamic_partitions(WITHDRAWAL_BATCH_PARTITIONS))
    for batch in pending:
        runs = context.instance.get_runs(filters=dg.RunsFilter(tags={BATCH_TAG: batch}))
        if any(not r.is_finished for r in runs):
            waiting += 1
            continue
        if any(r.is_success for r in runs):
            waiting += 1  # finished but the batch is still pending: an operator looks
            continue
        if len(runs) >= MAX_ATTEMPTS:
            waiting += 1
            continue
        if batch not in known:
            new_partitions.append(batch)
        requests.append(
            dg.RunRequest(
                run_key=f"withdrawal-{batch}-{len(runs) + 1}",
                partition_key=batch,
                tags={BATCH_TAG: batch},
            )
        )
    if not requests:
        reason = f"{waiting} batch(es) in flight or waiting" if waiting else "no pending batch"
        return dg.SensorResult(skip_reason=reason)
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            dg.AddDynamicPartitionsRequest(WITHDRAWAL_BATCH_PARTITIONS, new_partitions)
        ]
        if new_partitions
        else [],
    )
