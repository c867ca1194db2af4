"""Clinical extract sensors, one per source: a new file in
``landing/clinical/<source>/`` becomes a dynamic partition of that source's asset and one
intake run. Exactly once: a file already registered as a partition is never requested
again, and the run key is the landing key. An object whose name is not a delivery file
name gets the partition ``unrecognised-<hash of its name>`` (never the name itself) and a
run that records it as quarantined; the sensor logs how many, never their names."""

import dagster as dg

from ngrl_assets.clinical.intake import landing_key, list_deliveries, unrecognised_count
from ngrl_assets.clinical.jobs import INTAKE_JOBS
from ngrl_assets.clinical.partitions import PARTITIONS
from ngrl_assets.clinical.sources import SOURCES, ClinicalSource
from resources.lake import Lake


def build_sensor(source: ClinicalSource) -> dg.SensorDefinition:
    partitions = PARTITIONS[source.name]

    @dg.sensor(
        name=f"{source.name}_sensor",
        job=INTAKE_JOBS[source.name],
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"New file in landing/{source.feed}/ -> partition + intake run.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]
    ) -> dg.SensorResult:
        known = set(context.instance.get_dynamic_partitions(partitions.name or ""))
        new = [d for d in list_deliveries(lake, source) if d not in known]
        if not new:
            return dg.SensorResult(skip_reason=f"no new {source.name} files")
        odd = unrecognised_count(new)
        if odd:
            context.log.warning(
                f"{odd} new object(s) in landing/{source.feed}/ with a name that is not a "
                "delivery file name: each gets a run that quarantines it"
            )
        return dg.SensorResult(
            dynamic_partitions_requests=[partitions.build_add_request(new)],
            run_requests=[
                dg.RunRequest(run_key=landing_key(source, d), partition_key=d) for d in new
            ],
        )

    return _sensor


CLINICAL_SENSORS = [build_sensor(s) for s in SOURCES.values()]
