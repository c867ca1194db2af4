"""Run the whole library in order, in-process, on a Dagster instance: what the sensors do
one file at a time, done at once (``ngrl materialize``, ``make demo``, integration tests).

consent intake -> every landed sequencing delivery (one partition run each) -> joint
calling over every chunk (one single-step run) -> every landed clinical extract file (one
partition run each, per source, in file order) -> the diagnoses table."""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from ngrl_assets.clinical import intake as clinical_intake
from ngrl_assets.clinical.assets import PARTITIONS as CLINICAL_PARTITIONS
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.sequencing.assets import DELIVERY_PARTITIONS
from ngrl_assets.sequencing.intake import list_deliveries
from resources.lake import LakeResource
from sensors.joint_calling import range_tags


@dataclass
class PipelineResult:
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return all(r.success for r in self.runs)

    def failures(self) -> list[str]:
        """The error of every failed step, as text (for the CLI and for test messages)."""
        out = []
        for run in self.runs:
            for event in run.all_events:
                if event.event_type_value == "STEP_FAILURE" and event.step_failure_data.error:
                    out.append(f"{run.job_def.name}: {event.step_failure_data.error.to_string()}")
        return out

    def check_evaluations(self) -> list:
        return [e for r in self.runs for e in r.get_asset_check_evaluations()]


def run_all(
    defs: dg.Definitions, lake: LakeResource, instance: dg.DagsterInstance
) -> PipelineResult:
    result = PipelineResult()
    result.runs.append(
        defs.resolve_job_def("consent_intake_job").execute_in_process(
            instance=instance, raise_on_error=False
        )
    )
    known = set(instance.get_dynamic_partitions(DELIVERY_PARTITIONS))
    landed = list_deliveries(lake)
    new = [d for d in landed if d not in known]
    if new:
        instance.add_dynamic_partitions(DELIVERY_PARTITIONS, new)
    delivery_job = defs.resolve_job_def("delivery_intake_job")
    for delivery in new:
        result.runs.append(
            delivery_job.execute_in_process(
                instance=instance, partition_key=delivery, raise_on_error=False
            )
        )
    joint = defs.resolve_job_def("joint_calling_job")
    result.runs.append(
        joint.execute_in_process(instance=instance, tags=range_tags(), raise_on_error=False)
    )
    result.runs += run_clinical(defs, lake, instance)
    return result


def run_clinical(
    defs: dg.Definitions, lake: LakeResource, instance: dg.DagsterInstance
) -> list[dg.ExecuteInProcessResult]:
    """Every clinical file not yet a partition, per source in file order, then diagnoses."""
    runs = []
    for source in SOURCES.values():
        name = CLINICAL_PARTITIONS[source.name].name or ""
        known = set(instance.get_dynamic_partitions(name))
        new = [d for d in clinical_intake.list_deliveries(lake, source) if d not in known]
        if not new:
            continue
        instance.add_dynamic_partitions(name, new)
        job = defs.resolve_job_def(f"{source.name}_intake_job")
        for delivery in new:
            runs.append(
                job.execute_in_process(
                    instance=instance, partition_key=delivery, raise_on_error=False
                )
            )
    runs.append(
        defs.resolve_job_def("diagnoses_job").execute_in_process(
            instance=instance, raise_on_error=False
        )
    )
    return runs
