"""The curated tables' expectation suites as Dagster asset checks.

Each suite gives its asset an ``expectations`` check (its critical expectations: ERROR
and ``blocking`` for the curated tables a release is cut from, WARN otherwise) and, if it
has distribution bands, an ``expectations_distribution`` check (WARN, never blocking).
The checks are grouped into a few multi-asset checks, one per depth of the asset graph
(no check op then holds both a blocking check and a check on one of its asset's
descendants), so one step validates many tables and pays GE's import once. They run
when their asset has been updated (``AutomationCondition.eager()``), in the automation
run that follows every intake; domain jobs leave them out (:mod:`.keys`). The release
tables' suites run inside the release cut, as part of its gate (``releases/assets.py``).
A Data Docs page that could not be built or made offline never changes a verdict: the
check says so in ``data_docs_warning`` (and the run logs a warning).
"""

from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg

from expectations import run, summaries
from expectations.spec import Suite
from expectations.suites import curated_suites
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
