"""The curated tables' expectation suites as Dagster asset checks.

Each suite gives its asset an ``expectations`` check (its critical expectations: ERROR
and ``blocking`` for the curated tables a release is cut from, WARN otherwise) and, if it
has distribution bands, an ``expectations_distribution`` check (WARN, never blocking).
The checks are grouped into a few multi-asset checks, one per depth of the asset graph
(no check op then holds both a blocking check and a check on one of its asset's
descendants), so one step validates many tables and pays GE's import once. They run
when their asset has been updated (``AutomationCondition.eager()``), in the automation
run that follows every intake; domain jobs leave them out (:mod:`ngrl_assets.common.checks`).
A Data Docs page that could not be built or made offline never changes a verdict: the
check says so in ``data_docs_warning`` (and the run logs a warning).

A release's suites (every release table, its data dictionary and the release registry)
run inside the cut once its tables and documents are written and before its manifest:
each suite's critical expectations are a gate rule (``expectations_passed`` at the
table), so a failed suite publishes nothing. The cut's asset reports them as the
release assets' ``expectations`` checks (blocking, ERROR) and, for suites with
distribution bands, ``expectations_distribution`` checks (WARN). The release's Data Docs
index is ``reports/data_docs/releases/<id>/index.html``.

The blocking suites of the curated inputs run again inside the cut too
(``inputs_valid_as_cut``): the checks' last results may predate a write to the table, so
the gate judges the rows it actually cut.
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from expectations import run, summaries
from expectations.spec import Suite
from expectations.suites import curated_suites, cut_input_suites, release_gate_suites
from ngrl_assets.releases.cut import INPUTS_VALID_AS_CUT, CutResult, GateFinding
from resources.lake import Lake

POOL = "expectations"


def _key(suite: Suite) -> dg.AssetKey:
    return dg.AssetKey.from_user_string(suite.asset_key)


def _validated(outcome: run.Outcome) -> str:
    if outcome.validates == "rows":
        return f"{outcome.rows:,} rows"
    return f"{outcome.rows:,} rows of {outcome.validates.replace('_', '-')}"


def check_results(suite: Suite, outcome: run.Outcome, report: str) -> list[dg.AssetCheckResult]:
    """The suite's check results: counts, percentages and aggregate observations only."""
    docs = outcome.docs_page
    link = dg.MetadataValue.url(docs if "://" in docs else f"file://{docs}") if docs else None
    out = []
    for name in suite.check_names:
        distribution = name != suite.check_name
        failed = [f for f in outcome.failed if (f.severity != "critical") == distribution]
        lines = [
            f"- `{f.expectation}`{f' on `{f.column}`' if f.column else ''}: {f.observed}"
            for f in failed
        ]
        metadata: dict[str, Any] = {
            "success_percent": dg.MetadataValue.float(outcome.success_percent),
            "expectations": dg.MetadataValue.int(outcome.evaluated),
            "not_met": dg.MetadataValue.int(len(failed)),
            "validated": dg.MetadataValue.text(_validated(outcome)),
            "failed_expectations": dg.MetadataValue.md("\n".join(lines) or "none"),
            "expectation_report": dg.MetadataValue.md(report),
        }
        if link is not None:
            metadata["data_docs"] = link
        if outcome.docs_warning:  # the pages are presentation: never the check's verdict
            metadata["data_docs_warning"] = dg.MetadataValue.text(outcome.docs_warning)
        blocking = suite.blocking and not distribution
        out.append(
            dg.AssetCheckResult(
                asset_key=_key(suite),
                check_name=name,
                passed=not failed,
                severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN,
                metadata=metadata,
            )
        )
    return out


def _depths(assets: Sequence[dg.AssetsDefinition]) -> dict[dg.AssetKey, int]:
    upstream: dict[dg.AssetKey, set[dg.AssetKey]] = {}
    for definition in assets:
        for key in definition.keys:
            upstream[key] = set(definition.asset_deps.get(key, set()))
    depth: dict[dg.AssetKey, int] = {}

    def visit(key: dg.AssetKey, seen: frozenset[dg.AssetKey]) -> int:
        if key in depth:
            return depth[key]
        parents = [p for p in upstream.get(key, set()) if p not in seen]
        depth[key] = 1 + max((visit(p, seen | {key}) for p in parents), default=-1)
        return depth[key]

    for key in upstream:
        visit(key, frozenset())
    return depth


def _build(layer: int, suites: list[Suite]) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(
            name,
            asset=_key(suite),
            blocking=suite.blocking and name == suite.check_name,
            description=(
                f"Great Expectations suite {suite.name}"
                + (" (distribution bands, warning severity)" if name != suite.check_name else "")
                + f": {suite.description}"
            ),
            automation_condition=dg.AutomationCondition.eager(),
        )
        for suite in suites
        for name in suite.check_names
    ]

    @dg.multi_asset_check(
        name=f"expectation_suites_{layer}",
        specs=specs,
        can_subset=True,
        pool=POOL,
        description="Great Expectations suites of the curated tables at this depth of the graph",
    )
    def _suites(
        context: dg.AssetCheckExecutionContext, lake: dg.ResourceParam[Lake]
    ) -> Iterator[dg.AssetCheckResult]:
        selected = context.selected_asset_check_keys
        chosen = [
            s
            for s in suites
            if any(dg.AssetCheckKey(_key(s), n) in selected for n in s.check_names)
        ]
        outcomes = run.validate(lake, chosen, run_name=context.run.run_id)
        report = summaries.markdown(outcomes)
        context.log.info("expectation suites: " + "; ".join(o.summary_line() for o in outcomes))
        if outcomes and outcomes[0].docs_warning:
            context.log.warning(f"Data Docs {outcomes[0].docs_warning}")
        for suite, outcome in zip(chosen, outcomes, strict=True):
            for result in check_results(suite, outcome, report):
                if dg.AssetCheckKey(_key(suite), result.check_name or "") in selected:
                    yield result

    return _suites


def build_checks(assets: Sequence[dg.AssetsDefinition]) -> list[dg.AssetChecksDefinition]:
    """One multi-asset check per depth of the asset graph holding suites."""
    depths = _depths(assets)
    layers: dict[int, list[Suite]] = {}
    for suite in curated_suites():
        layers.setdefault(depths[_key(suite)], []).append(suite)
    return [_build(layer, group) for layer, group in sorted(layers.items())]


# ---- the release tables' suites, run by the cut as part of its gate ----------------

RELEASE_RULE = "expectations_passed"


def release_check_specs() -> list[dg.AssetCheckSpec]:
    """The checks the release asset yields (names and assets do not depend on the id)."""
    return [
        dg.AssetCheckSpec(
            name,
            asset=dg.AssetKey.from_user_string(suite.asset_key),
            blocking=suite.blocking and name == suite.check_name,
            description=(
                f"Great Expectations suite {suite.name}"
                + (" (distribution bands, warning severity)" if name != suite.check_name else "")
                + f", run by the cut before publishing: {suite.description}"
            ),
        )
        for suite in release_gate_suites("template")
        for name in suite.check_names
    ]


class ReleaseExpectations:
    """The cut's ``expectations`` hook; keeps the outcomes for the asset's check results."""

    def __init__(self, lake: Lake, run_name: str) -> None:
        self.lake = lake
        self.run_name = run_name
        self.validated: list[tuple[Suite, run.Outcome]] = []
        self.index_uri = ""

    def __call__(self, result: CutResult) -> list[GateFinding]:
        chosen = release_gate_suites(result.release_id)
        inputs = cut_input_suites()
        outcomes = run.validate(
            self.lake, [*chosen, *inputs], run_name=f"{result.release_id}-{self.run_name}"
        )
        self.validated = list(zip(chosen, outcomes[: len(chosen)], strict=True))
        revalidated = list(zip(inputs, outcomes[len(chosen) :], strict=True))
        self.index_uri = summaries.release_index(
            self.lake, result.release_id, outcomes[: len(chosen)]
        )
        return [
            GateFinding(
                rule,
                f"{o.asset_key}:{s.check_name}",
                o.success or not s.blocking,
                o.summary_line(),
            )
            for rule, pairs in ((RELEASE_RULE, self.validated), (INPUTS_VALID_AS_CUT, revalidated))
            for s, o in pairs
        ]

    def results_for(self, asset_key: dg.AssetKey) -> list[dg.AssetCheckResult]:
        report = summaries.markdown([o for _, o in self.validated])
        out = []
        for suite, outcome in self.validated:
            if dg.AssetKey.from_user_string(suite.asset_key) == asset_key:
                out += check_results(suite, outcome, report)
        return out
