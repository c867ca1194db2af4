"""Drive the library the way the Dagster daemon does, in-process: evaluate each real sensor,
apply what it asks (dynamic partitions, cursor), run what it requested, and repeat until
every sensor is quiet; then evaluate the automation conditions and run what they request
(``diagnoses`` after a clinical table changed, the consent checks after
``consent_status`` changed). Used by ``ngrl materialize``, ``make demo`` and the
integration tests, so they exercise the sensors themselves, not a second copy of their
logic.

Order of one pass: consent feed -> deliveries -> joint calling -> clinical sources; a pass
that requested nothing ends the loop. Every run executed here names this process (tag
``ngrl/worker``); before the first pass, a run an earlier, killed process left ``STARTED``
is marked failed and its pool slot freed (``common/runs.py``), so it blocks nothing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from tqdm import tqdm

from ngrl_assets.common.runs import fail_dead_runs, worker_tags
from resources.lake import Lake

# Console logging of in-process runs: warnings and errors only (the event log in the
# instance keeps everything; ``make ui`` shows it).
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class _PartitionTimestampFallback(logging.Filter):
    """Dagster warns on every evaluation that an asset with more than 100 updated
    partitions (e.g. deliveries) falls back to the tick's timestamp. That fallback is on
    the safe side for the timed condition of ``common.automation`` (a source stamped with
    the tick is newer than the table: it is rebuilt), so the console keeps the platform's
    own account instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "per-partition timestamp fetching" not in str(record.msg)


logging.getLogger("dagster").addFilter(_PartitionTimestampFallback())
MAX_PASSES = 10

OnRun = Callable[[str, dg.ExecuteInProcessResult], None]


@dataclass
class PipelineResult:
    runs: list[dg.ExecuteInProcessResult] = field(default_factory=list)
    sensor_ticks: list[tuple[str, int]] = field(default_factory=list)  # (sensor, runs requested)

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


def _merge_config(config: dict[str, Any] | None) -> dict[str, Any]:
    return {**QUIET, **(config or {})}


def _as_result(returned: Any, cursor: str | None) -> dg.SensorResult:
    """What a sensor function returned, as a ``SensorResult`` (the daemon accepts a
    ``SensorResult``, a ``SkipReason``, a ``RunRequest`` or an iterable of them)."""
    if isinstance(returned, dg.SensorResult):
        return returned
    if returned is None or isinstance(returned, dg.SkipReason):
        return dg.SensorResult(cursor=cursor)
    if isinstance(returned, dg.RunRequest):
        return dg.SensorResult(run_requests=[returned], cursor=cursor)
    return dg.SensorResult(run_requests=list(returned), cursor=cursor)


def tick(
    defs: dg.Definitions,
    sensor: dg.SensorDefinition,
    lake: Lake,
    instance: dg.DagsterInstance,
    cursor: str | None,
    on_run: OnRun | None = None,
    progress: bool = False,
) -> tuple[list[dg.ExecuteInProcessResult], str | None]:
    """One evaluation of a real sensor, then every run it requested, in order."""
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        sensor_name=sensor.name,
        resources={"lake": lake},
        definitions=defs,
    )
    data = _as_result(sensor(context), cursor)
    for change in data.dynamic_partitions_requests or []:
        if isinstance(change, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(change.partitions_def_name, change.partition_keys)
        else:
            for key in change.partition_keys:
                instance.delete_dynamic_partition(change.partitions_def_name, key)
    runs: list[dg.ExecuteInProcessResult] = []
    requests: list[dg.RunRequest] = list(data.run_requests or [])
    bar = tqdm(requests, desc=sensor.name, unit="run", disable=not progress or len(requests) < 2)
    for request in bar:
        job = defs.resolve_job_def(str(request.job_name or sensor.job_name))
        result = job.execute_in_process(
            instance=instance,
            partition_key=request.partition_key,
            tags={**request.tags, "dagster/sensor_name": sensor.name, **worker_tags()},
            run_config=_merge_config(dict(request.run_config) if request.run_config else None),
            raise_on_error=False,
        )
        runs.append(result)
        if on_run:
            on_run(sensor.name, result)
    return runs, data.cursor if data.cursor is not None else cursor


def automation_tick(
    defs: dg.Definitions,
    lake: Lake,
    instance: dg.DagsterInstance,
    cursor: Any,
    on_run: OnRun | None = None,
) -> tuple[list[dg.ExecuteInProcessResult], Any]:
    """Evaluate every automation condition and run what it requested (assets and checks)."""
    evaluation = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assets: set[dg.AssetKey] = set()
    checks: set[dg.AssetCheckKey] = set()
    for evaluated in evaluation.results:
        if evaluated.true_subset.size == 0:
            continue
        if isinstance(evaluated.key, dg.AssetCheckKey):
            checks.add(evaluated.key)
        else:
            assets.add(evaluated.key)
    runs: list[dg.ExecuteInProcessResult] = []
    if assets or checks:
        selection: dg.AssetSelection = dg.AssetSelection.checks(*checks)
        if assets:
            selection = dg.AssetSelection.assets(*assets) | selection
        job = dg.define_asset_job("automation_run", selection=selection).resolve(
            asset_graph=defs.resolve_asset_graph(), resource_defs=defs.resources
        )
        result = job.execute_in_process(
            instance=instance,
            run_config=QUIET,
            tags={"dagster/sensor_name": "automation_sensor", **worker_tags()},
            raise_on_error=False,
        )
        runs.append(result)
        if on_run:
            on_run("automation_sensor", result)
    return runs, evaluation.cursor


def landing_sensors(defs: dg.Definitions) -> list[dg.SensorDefinition]:
    """The code location's sensors that watch landing and request runs, in its order."""
    return [
        s for s in defs.sensors or [] if not isinstance(s, dg.AutomationConditionSensorDefinition)
    ]


def run_sensors(
    defs: dg.Definitions,
    lake: Lake,
    instance: dg.DagsterInstance,
    sensors: Sequence[dg.SensorDefinition] | None = None,
    on_run: OnRun | None = None,
    automation: bool = True,
    progress: bool = False,
) -> PipelineResult:
    """Tick ``sensors`` (default: every sensor of ``defs`` but the automation sensor, in
    the order the code location lists them) until none requests a run, then run what the
    automation conditions request."""
    result = PipelineResult()
    fail_dead_runs(instance)  # a killed process's runs: failed, their pool slots freed
    landing = list(sensors) if sensors is not None else landing_sensors(defs)
    automation_cursor = None
    if automation:  # a baseline, so that what changes below counts as an update
        _, automation_cursor = automation_tick(defs, lake, instance, None, on_run)
    cursors: dict[str, str | None] = {}
    for _ in range(MAX_PASSES):
        requested = 0
        for sensor in landing:
            runs, cursors[sensor.name] = tick(
                defs, sensor, lake, instance, cursors.get(sensor.name), on_run, progress
            )
            result.runs += runs
            result.sensor_ticks.append((sensor.name, len(runs)))
            requested += len(runs)
        if not requested:
            break
    if automation:
        runs, _ = automation_tick(defs, lake, instance, automation_cursor, on_run)
        result.runs += runs
    return result


def run_all(
    defs: dg.Definitions,
    lake: Lake,
    instance: dg.DagsterInstance,
    on_run: OnRun | None = None,
    progress: bool = False,
) -> PipelineResult:
    """Everything that has landed, through every sensor, then automation."""
    return run_sensors(defs, lake, instance, on_run=on_run, progress=progress)


def run_clinical(
    defs: dg.Definitions, lake: Lake, instance: dg.DagsterInstance
) -> list[dg.ExecuteInProcessResult]:
    """Every clinical file not yet a partition (through the clinical sensors), then what
    the automation conditions request (diagnoses)."""
    from ngrl_assets.clinical.sources import SOURCES

    names = {f"{source.name}_sensor" for source in SOURCES.values()}
    clinical = [s for s in landing_sensors(defs) if s.name in names]
    return run_sensors(defs, lake, instance, sensors=clinical).runs
