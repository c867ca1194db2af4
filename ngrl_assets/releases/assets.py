"""Dagster wiring for research releases: one multi-asset writes every release table of one
release (a dynamic partition per release id), gated and published atomically by
``releases.cut``; the gate's verdict is each table's blocking asset check.

The cut takes what it needs from the domains above releases as arguments: the release
suites (``quality.checks``) and the withdrawals since the cohort was decided
(``withdrawal.releases``). :func:`build_release_tables` is handed them by
``ngrl_assets.definitions``, so nothing in ``releases/`` imports quality or withdrawal."""

import datetime as dt
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from pydantic import Field

from ngrl_assets.common import automation
from ngrl_assets.common.assets import asset_key, full_asset_graph, table_spec
from ngrl_assets.consent.tables import CONSENT_ASSETS
from ngrl_assets.releases import cut, notes_step
from ngrl_assets.releases.partitions import releases
from ngrl_assets.releases.tables import BUILT, PROJECTED, RELEASE_TABLES
from resources.lake import Lake
from resources.secrets import Secrets

GROUP = "releases"
# The curated assets a release is cut from (their checks must have passed).
INPUTS = [*BUILT, *PROJECTED]
GATE_CHECK = "release_gate"
# The consent door is consulted by intake, not derived from: a new registration does not
# make curated rows wrong, and a withdrawal reaches every table through its propagation
# (which the cut also applies). So its assets are not counted as upstream of the inputs.
CONSENT_DOOR = frozenset(dg.AssetKey(name) for name in CONSENT_ASSETS)
# gate rules about the inputs as a whole: every release table's gate check reports them
GENERAL_RULES = (
    "input_checks_passed",
    "inputs_fresh",
    "joint_calling_current",
    cut.INPUTS_VALID_AS_CUT,
)


class ReleaseConfig(dg.Config):
    freeze_date: str = Field(description="data-freeze date, yyyy-mm-dd")
    label: str = Field(default="", description="human label, e.g. 2026-Q4")


def _spec(spec) -> dg.AssetSpec:  # type: ignore[no-untyped-def]
    # a release reads every partition (delivery, chunk, extract file) of its inputs
    deps = [dg.AssetDep(name, partition_mapping=dg.AllPartitionMapping()) for name in INPUTS]
    return table_spec(spec, group=GROUP, deps=deps)


SPECS = [_spec(s) for s in RELEASE_TABLES]
GATE_CHECK_SPECS = [
    dg.AssetCheckSpec(
        GATE_CHECK,
        asset=spec.key,
        blocking=True,
        description="go/no-go: inputs' checks passed, row counts reconcile, no identifier",
    )
    for spec in SPECS
]


class ReleaseSuites(Protocol):
    """The release's expectation suites as the cut's ``expectations`` hook
    (``quality.checks.ReleaseExpectations``), keeping the outcomes for the checks."""

    index_uri: str

    def __call__(self, result: cut.CutResult) -> list[cut.GateFinding]: ...

    def results_for(self, asset_key: dg.AssetKey) -> list[dg.AssetCheckResult]: ...


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
    inputs = [dg.AssetKey(n) for n in INPUTS]
    stale = automation.stale_tables(context.instance, graph, inputs, CONSENT_DOOR)
    return [(s.table, s.describe()) for s in stale]


def build_release_tables(
    release_suites: Callable[[Lake, str], ReleaseSuites],
    suite_check_specs: Sequence[dg.AssetCheckSpec],
    withdrawals: cut.ApplyWithdrawals,
) -> dg.AssetsDefinition:
    """The ``release_tables`` multi-asset: ``release_suites(lake, run_id)`` builds the cut's
    expectations hook, ``suite_check_specs`` are the checks it reports, ``withdrawals`` is
    the cut's withdrawal step."""

    @dg.multi_asset(
        name="release_tables",
        specs=SPECS,
        check_specs=[*GATE_CHECK_SPECS, *suite_check_specs],
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
        suites = release_suites(lake, context.run_id)
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
            withdrawals=withdrawals,
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
            key = asset_key(spec)
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
                        asset_key=key,
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

    return release_tables
