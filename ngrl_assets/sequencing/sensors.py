"""Delivery sensor: a new ``landing/sequencing/<delivery>/manifest.tsv`` (the provider's
"complete" signal) becomes a dynamic partition of the sequencing assets and one intake run
for it. Exactly once: a delivery already registered as a partition is never re-requested,
and the run key is the delivery id."""

import dagster as dg

from ngrl_assets.sequencing.intake import list_deliveries
from ngrl_assets.sequencing.jobs import delivery_job
from ngrl_assets.sequencing.partitions import DELIVERY_PARTITIONS, deliveries
from resources.lake import LakeResource


@dg.sensor(
    name="delivery_sensor",
    job=delivery_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New delivery manifest in landing/sequencing/ -> partition + intake run.",
)
def delivery_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    known = set(context.instance.get_dynamic_partitions(DELIVERY_PARTITIONS))
    new = [d for d in list_deliveries(lake) if d not in known]
    if not new:
        return dg.SensorResult(skip_reason="no new delivery manifests")
    return dg.SensorResult(
        dynamic_partitions_requests=[deliveries.build_add_request(new)],
        run_requests=[dg.RunRequest(run_key=f"delivery-{d}", partition_key=d) for d in new],
    )
