"""Dagster wiring for research releases: one multi-asset writes every release table of one
release (a dynamic partition per release id), gated and published atomically by
``releases.cut``; the gate's verdict is each table's blocking asset check."""

import datetime as dt
import sys
from typing import Any

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pydantic import Field

from ngrl_assets.common import automation
from ngrl_assets.common.assets import full_asset_graph, table_spec
from ngrl_assets.quality import releases as release_quality
from ngrl_assets.releases import cut, notes_step
from ngrl_assets.releases.partitions import releases
from ngrl_assets.releases.tables import BUILT, PROJECTED, RELEASE_TABLES
from resources.lake import Lake
from resources.secrets import Secrets

GROUP = "releases"
# The curated assets a release is cut from (their checks must have passed).
INPUTS = [*BUILT, *PROJECTED]
GATE_CHECK = "release_gate"
# gate rules about the inputs as a whole: every release table's gate check reports them
GENERAL_RULES = (
    "input_checks_passed",
    "inputs_fresh",
    "joint_calling_current",
    release_quality.INPUT_RULE,
)


class ReleaseConfig(dg.Config):
    freeze_date: str = Field(description="data-freeze date, yyyy-mm-dd")
    label: str = Field(default="", description="human label, e.g. 2026-Q4")


def _spec(spec) -> dg.AssetSpec:  # type: ignore[no-untyped-def]
    # a release reads every partition (delivery, chunk, extract file) of its inputs
    deps = [dg.AssetDep(name, partition_mapping=dg.AllPartitionMapping()) for name in INPUTS]
    base = table_spec(spec, group=GROUP, deps=deps)
    return base.replace_attributes(key=dg.AssetKey(["releases", spec.name]))


SPECS = [_spec(s) for s in RELEASE_TABLES]
CHECK_SPECS = [
    dg.AssetCheckSpec(
        GATE_CHECK,
        asset=spec.key,
        blocking=True,
        description="go/no-go: inputs' checks passed, row counts reconcile, no identifier",
    )
    for spec in SPECS
] + release_quality.check_specs()


def _passed(record) -> bool:  # type: ignore[no-untyped-def]
    """Succeeded, or failed at WARN severity (a distribution band for the DQ team: it
    does not hold a release back)."""
    if record.status == AssetCheckExecutionRecordStatus.SUCCEEDED:
        return True
    evaluation = getattr(getattr(record.event, "dagster_event", None), "event_specific_data", None)
    severity = getattr(evaluation, "severity", None)
    return record.status == AssetCheckExecutionRecordStatus.FAILED and (
        severity == dg.AssetCheckSeverity.WARN
    )


def input_checks(context: dg.AssetExecutionContext) -> list[tuple[str, str, bool | None]]:
    """Every check on the release's inputs, with whether its latest evaluation passed
    (a WARN-severity failure counts as passed)."""
    graph = full_asset_graph(context)
    keys = [k for name in INPUTS for k in graph.get(dg.AssetKey(name)).check_keys]
    latest = context.instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    out = []
    for key in sorted(keys, key=lambda k: (k.asset_key.to_user_string(), k.name)):
        record = latest.get(key)
        passed = None
        if record is not None:
            passed = _passed(record)
        out.append((key.asset_key.to_user_string(), key.name, passed))
    return out


def stale_inputs(context: dg.AssetExecutionContext) -> list[tuple[str, str]]:
    """The derived inputs (or tables upstream of them) materialised before one of their
    own upstreams, as (table, why) for the gate's ``inputs_fresh`` rule."""
    graph = full_asset_graph(context)
    stale = automation.stale_tables(context.instance, graph, [dg.AssetKey(n) for n in INPUTS])
    return [(s.table, s.describe()) for s in stale]


@dg.multi_asset(
    name="release_tables",
    specs=SPECS,
    check_specs=CHECK_SPECS,
    partitions_def=releases,
    pool="releases",
)
def release_tables(
    context: dg.AssetExecutionContext,
    config: ReleaseConfig,
    lake: dg.ResourceParam[Lake],
    secrets: dg.ResourceParam[Secrets],
):
    """Cut one release: cohort at the freeze date, pseudonymised tables, gate, notes,
    manifest, registry."""
    release_id = context.partition_key
    suites = release_quality.ReleaseExpectations(lake, context.run_id)
    result = cut.cut_release(
        lake,
        secrets.get_bytes,
        release_id,
        dt.date.fromisoformat(config.freeze_date),
        label=config.label or None,
        input_checks=input_checks(context),
        stale_inputs=stale_inputs(context),
        progress=sys.stderr.isatty(),
        after_tables=notes_step.writer(
            lake, dt.date.fromisoformat(config.freeze_date), config.label or None
        ),
        expectations=suites,
    )
    failed = result.failed_rules
    context.log.info(
        f"release {release_id}: {result.participants} participants, {result.samples} genomes, "
        f"gate {'go' if not failed else 'no-go'} ({len(failed)} rules failed)"
    )
    for spec in RELEASE_TABLES:
        mine = [g for g in result.gate if g.where in (spec.name,)]
        general = [g for g in result.gate if g.rule in GENERAL_RULES]
        problems = [g for g in [*mine, *general] if not g.passed]
        key = dg.AssetKey(["releases", spec.name])
        metadata: dict[str, Any] = {
            "dagster/row_count": result.tables.get(spec.name, 0),
            "published": result.published,
        }
        if suites.index_uri:
            metadata["data_docs"] = dg.MetadataValue.path(suites.index_uri)
        yield dg.MaterializeResult(
            asset_key=key,
            metadata=metadata,
            check_results=[
                *suites.results_for(key),
                dg.AssetCheckResult(
                    check_name=GATE_CHECK,
                    asset_key=dg.AssetKey(["releases", spec.name]),
                    passed=not problems,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={
                        "failed_rules": dg.MetadataValue.md(
                            "\n".join(f"- {g.rule} at {g.where}: {g.detail}" for g in problems)
                            or "none"
                        )
                    },
                ),
            ],
        )
    if failed:
        raise dg.Failure(
            description="release gate: no-go; nothing published. "
            + "; ".join(f"{g.rule} at {g.where}: {g.detail}" for g in failed[:10]),
        )


ASSETS = [release_tables]
