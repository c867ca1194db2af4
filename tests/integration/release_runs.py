"""Helpers of the release integration tests: the synthetic library's freeze date, the
release master key they cut with, a real in-process run of the release cut job, the
text of a failed run's step errors, and the scan of a release's genomic tables for
internal ids."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl

from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import QUIET
from ngrl_assets.releases.genomics import GENOMIC_TABLES, release_spec
from ngrl_assets.releases.partitions import RELEASE_PARTITIONS
from resources.lake import Lake

FREEZE = dt.date(2026, 9, 30)  # the synthetic library's own date: everything landed by then
KEY_ENV = {"NGRL_SECRET_RELEASE_MASTER_KEY": "ab" * 32}


def cut_in_dagster(
    lake: Lake,
    instance: dg.DagsterInstance,
    release_id: str,
    freeze: dt.date = FREEZE,
    label: str | None = None,
) -> dg.ExecuteInProcessResult:
    """One run of the release cut job for ``release_id`` (its partition added if new)."""
    if release_id not in instance.get_dynamic_partitions(RELEASE_PARTITIONS):
        instance.add_dynamic_partitions(RELEASE_PARTITIONS, [release_id])
    job = build_definitions(lake).resolve_job_def("release_cut_job")
    config = {"freeze_date": freeze.isoformat(), "label": label or ""}
    return job.execute_in_process(
        instance=instance,
        partition_key=release_id,
        run_config={**QUIET, "ops": {"release_tables": {"config": config}}},
        raise_on_error=False,
    )


def failure_text(run: dg.ExecuteInProcessResult) -> str:
    """Every failed step's error, as one string."""
    return " ".join(
        e.step_failure_data.error.to_string()
        for e in run.all_events
        if e.event_type_value == "STEP_FAILURE" and e.step_failure_data.error
    )


def assert_no_internal_ids(lake: Lake, release: str, internal: set[str]) -> None:
    """No string value of any written release table, and nothing in its Delta log, is an
    internal participant id."""
    assert internal
    for spec in GENOMIC_TABLES:
        frame = lake.read(release_spec(spec, release))
        for column, dtype in frame.schema.items():
            if dtype == pl.String:
                assert not set(frame[column].drop_nulls().to_list()) & internal, column
        log = Path(lake.table_uri(release_spec(spec, release))) / "_delta_log"
        text = "".join(p.read_text() for p in sorted(log.glob("*.json")))
        assert not [i for i in internal if i in text], spec.name
