"""Joint-calling sensor: when QC-passed deliveries exist that the genome chunks have not
absorbed yet, request one run over the whole chunk range (a single step; chunks without
data are absorbed without computation). The cursor holds the pending set already
requested, and the run key is its fingerprint, so a pending set is requested once."""

import hashlib

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from ngrl_assets.genomics.chunks import chunk_names
from ngrl_assets.genomics.jobs import joint_calling_job
from ngrl_assets.genomics.joint_store import pending_deliveries
from resources.lake import Lake


def range_tags() -> dict[str, str]:
    names = chunk_names()
    return {ASSET_PARTITION_RANGE_START_TAG: names[0], ASSET_PARTITION_RANGE_END_TAG: names[-1]}


@dg.sensor(
    name="joint_calling_sensor",
    job=joint_calling_job,
    minimum_interval_seconds=120,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="QC-passed deliveries not yet joint-called -> one run over every chunk.",
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
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"joint-{key}", tags=range_tags())], cursor=key
    )
