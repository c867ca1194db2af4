"""Joint-calling sensor: when QC-passed deliveries exist that the genome chunks have not
absorbed yet, request one joint-calling run (it plans its own work units; chunks without
data are absorbed without computation). The cursor holds the pending set already
requested, and the run key is its fingerprint, so a pending set is requested once."""

import hashlib

import dagster as dg

from ngrl_assets.genomics.jobs import joint_calling_job
from ngrl_assets.genomics.joint_store import pending_deliveries
from resources.lake import Lake


@dg.sensor(
    name="joint_calling_sensor",
    job=joint_calling_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="QC-passed deliveries not yet joint-called -> one joint-calling run.",
)
def joint_calling_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]
) -> dg.SensorResult:
    pending = pending_deliveries(lake)
    if not pending:
        return dg.SensorResult(skip_reason="every chunk is up to date", cursor=context.cursor)
    key = hashlib.sha256("\n".join(pending).encode()).hexdigest()[:16]
    if context.cursor == key:
        return dg.SensorResult(skip_reason="joint calling already requested", cursor=key)
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"joint-{key}")], cursor=key)
