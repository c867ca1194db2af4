"""Runs after a crash, cheaply (a consent-only lake, a real instance with pools as
deployed, a real process that is gone): a withdrawal run left ``STARTED`` by a dead
process, holding the ``withdrawal`` pool's slot, is marked failed and its slot freed by the
sensor's next evaluation, which requests a new run that completes the batch; a batch whose
every attempt failed is overdue, and the ``withdrawals_on_time`` check the sensor records
says so; a consent intake run a killed ``ngrl materialize`` left holding its slot blocks
nothing. (The same crash with real ``ngrl materialize`` processes killed
at several points: ``test_withdrawal_robustness.py``.)"""

from __future__ import annotations

import datetime as dt
import socket
import subprocess
import sys
import uuid

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.common import liveness
from ngrl_assets.consent import intake
from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import run_sensors, tick
from ngrl_assets.withdrawal import batches as withdrawal_batches
from ngrl_assets.withdrawal import runs
from ngrl_assets.withdrawal.progress import MAX_ATTEMPTS
from tests.integration.consent_runs import land, registration, registrations_file, withdrawals_file

CHECK = dg.AssetCheckKey(dg.AssetKey("withdrawal_audit"), runs.ON_TIME_CHECK)


def _dead_worker() -> str:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return f"{socket.gethostname()}/{int(child.stdout)}/gone"


def _run(instance: dg.DagsterInstance, batch: str, status, tags: dict | None = None) -> str:
    """A run of the batch as a process that died would have left it in the instance."""
    run_id = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name=runs.JOB,
            run_id=run_id,
            status=status,
            tags={runs.BATCH_TAG: batch, **(tags or {})},
        )
    )
    return run_id


def _withdraw(lake, ref: str, name: str) -> str:
    before = set(withdrawal_batches.read(lake)["batch_id"].to_list())
    land(lake, f"consent/withdrawals/{name}", withdrawals_file(f"{ref},full,2026-10-01"))
    intake.run(lake, f"consent-{name}")
    [batch] = [b for b in withdrawal_batches.read(lake)["batch_id"].to_list() if b not in before]
    return batch


def _verdicts(instance: dg.DagsterInstance) -> list[bool]:
    """Every recorded ``withdrawals_on_time`` evaluation's verdict, oldest first."""
    history = instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=20)
    events = [r.event.dagster_event for r in history if r.event and r.event.dagster_event]
    return [e.event_specific_data.passed for e in events][::-1]


@pytest.fixture
def instance(tmp_path):
    with dg.instance_for_test(
        temp_dir=str(tmp_path), overrides={"concurrency": {"pools": {"default_limit": 1}}}
    ) as instance:
        yield instance


def test_a_dead_run_is_failed_its_slot_freed_and_its_batch_resumed(lake, instance):
    refs = {"P000000401": "9434765919", "P000000402": "4010232137", "P000000403": "9434765870"}
    land(
        lake,
        "consent/registrations/registrations_20260101.csv",
        registrations_file(*(registration(r, nhs=n) for r, n in refs.items())),
    )
    intake.run(lake, "consent-1")
    batch = _withdraw(lake, "P000000401", "first.csv")
    defs = build_definitions(lake)
    sensor = next(s for s in defs.sensors or [] if s.name == "withdrawal_sensor")

    # a propagation run whose process was killed: STARTED for ever, the pool slot its
    dead = _run(instance, batch, dg.DagsterRunStatus.STARTED, {runs.WORKER_TAG: _dead_worker()})
    pools = instance.event_log_storage
    assert pools.initialize_concurrency_limit_to_default("withdrawal")  # limit 1, as deployed
    assert pools.claim_concurrency_slot("withdrawal", dead, "withdrawal_propagation").is_claimed
    claimed = instance.event_log_storage.get_concurrency_info("withdrawal").claimed_slots
    assert [s.run_id for s in claimed] == [dead]
    frame = withdrawal_batches.read(lake)
    assert runs.progress_by_batch(instance, frame, dt.datetime.now(dt.UTC))[batch].state == (
        "overdue"
    )

    # the sensor's next evaluation: the dead run failed, its slot free, a new run completes
    new_runs, cursor = tick(defs, sensor, lake, instance, None)
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    assert instance.event_log_storage.get_concurrency_info("withdrawal").claimed_slots == []
    assert [r.success for r in new_runs] == [True]
    done = withdrawal_batches.read(lake).filter(pl.col("batch_id") == batch)
    assert done["status"].to_list() == ["complete"]
    worker = instance.get_run_by_id(new_runs[0].run_id).tags[runs.WORKER_TAG]
    assert liveness.Worker.parse(worker) == liveness.current()  # this process ran it
    assert _verdicts(instance) and all(_verdicts(instance))  # nothing overdue on record

    # a batch whose every attempt failed waits for an operator: overdue, and the check
    # the sensor records fails, naming the batch (opaque id) and why
    stuck = _withdraw(lake, "P000000402", "second.csv")
    for _ in range(MAX_ATTEMPTS):
        _run(instance, stuck, dg.DagsterRunStatus.FAILURE)
    requested, cursor = tick(defs, sensor, lake, instance, cursor)
    assert requested == []
    assert _verdicts(instance)[-1] is False
    [record] = instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=1)
    evaluation = record.event.dagster_event.event_specific_data
    overdue = evaluation.metadata["overdue_batches"].value
    assert list(overdue) == [stuck] and "operator" in overdue[stuck]
    assert evaluation.metadata["overdue"].value == 1
    # the verdict is recorded again only when it changes (the cursor holds the last one)
    recorded = len(_verdicts(instance))
    tick(defs, sensor, lake, instance, cursor)
    assert len(_verdicts(instance)) == recorded


def test_a_killed_intake_run_never_blocks_the_next_materialize(lake, instance):
    """Any run ``ngrl materialize`` executes names its process; one an earlier, killed
    ``ngrl materialize`` left STARTED holding its pool's slot (here consent intake: the
    next intake would wait for that slot for ever, and a withdrawal landing then would
    never be recorded) is failed and its slot freed before the first pass."""
    refs = {"P000000501": "9434765919", "P000000502": "4010232137"}
    land(
        lake,
        "consent/registrations/registrations_20260101.csv",
        registrations_file(*(registration(r, nhs=n) for r, n in refs.items())),
    )
    defs = build_definitions(lake)
    by_name = {s.name: s for s in defs.sensors or []}
    consent, withdrawal = by_name["consent_feed_sensor"], by_name["withdrawal_sensor"]
    first = run_sensors(defs, lake, instance, sensors=[consent], automation=False)
    assert [r.success for r in first.runs] == [True]
    tags = instance.get_run_by_id(first.runs[0].run_id).tags
    assert liveness.Worker.parse(tags.get(runs.WORKER_TAG)) == liveness.current()

    # killed mid-intake: STARTED for ever, the consent_intake slot its
    dead = str(uuid.uuid4())
    instance.add_run(
        dg.DagsterRun(
            job_name="consent_intake_job",
            run_id=dead,
            status=dg.DagsterRunStatus.STARTED,
            tags={runs.WORKER_TAG: _dead_worker()},
        )
    )
    pools = instance.event_log_storage
    pools.initialize_concurrency_limit_to_default("consent_intake")
    assert pools.claim_concurrency_slot("consent_intake", dead, "consent_intake").is_claimed

    land(lake, "consent/withdrawals/w.csv", withdrawals_file("P000000501,full,2026-10-01"))
    after = run_sensors(defs, lake, instance, sensors=[consent, withdrawal], automation=False)
    assert instance.get_run_by_id(dead).status == dg.DagsterRunStatus.FAILURE
    assert pools.get_concurrency_info("consent_intake").claimed_slots == []
    assert [r.job_def.name for r in after.runs] == ["consent_intake_job", runs.JOB]
    assert after.success and withdrawal_batches.read(lake)["status"].to_list() == ["complete"]
