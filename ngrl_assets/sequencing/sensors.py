"""Delivery sensor: a new ``landing/sequencing/<delivery>/manifest.tsv`` (the provider's
"complete" signal) becomes a dynamic partition of the sequencing assets and one intake run
for it. Exactly once: a delivery already registered as a partition is never re-requested,
and the run key is the delivery id.

Only a valid delivery id (``[A-Za-z0-9_-]+``, at most 64 characters) becomes a partition.
A manifest in a folder with any other name is requested, once per set of such manifests,
as a run of ``invalid_delivery_job`` (run key: an opaque hash), which records it as
quarantined in the ledger; the sensor itself writes nothing, and the folder's name never
reaches a partition key, a run key or a tag."""

import dagster as dg

from ngrl_assets.sequencing.intake import fingerprint, pending_invalid_manifests, scan_landing
from ngrl_assets.sequencing.jobs import delivery_job, invalid_delivery_job
from ngrl_assets.sequencing.partitions import DELIVERY_PARTITIONS, deliveries
from resources.lake import Lake


@dg.sensor(
    name="delivery_sensor",
    jobs=[delivery_job, invalid_delivery_job],
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New delivery manifest in landing/sequencing/ -> partition + intake run; "
    "a manifest in an invalidly named folder -> a quarantine run.",
)
def delivery_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]
) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(DELIVERY_PARTITIONS))
    valid, invalid = scan_landing(lake)
    new = [d for d in valid if d not in known]
    pending = pending_invalid_manifests(lake) if invalid else []
    if not new and not pending:
        return dg.SensorResult(skip_reason="no new delivery manifests")
    requests = [
        dg.RunRequest(run_key=f"delivery-{d}", partition_key=d, job_name=delivery_job.name)
        for d in new
    ]
    if pending:
        requests.append(
            dg.RunRequest(
                run_key=f"invalid-deliveries-{fingerprint(pending)}",
                job_name=invalid_delivery_job.name,
            )
        )
    return dg.SensorResult(
        dynamic_partitions_requests=[deliveries.build_add_request(new)] if new else [],
        run_requests=requests,
    )
