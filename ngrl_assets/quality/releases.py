"""The release tables' expectation suites as part of the release gate.

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

import dagster as dg

from expectations import run, summaries
from expectations.spec import Suite
from expectations.suites import (
    catalogue_suites,
    curated_suites,
    dictionary_suite,
    release_suites,
)
from ngrl_assets.quality.checks import check_results
from ngrl_assets.releases.cut import INPUTS_VALID_AS_CUT, CutResult, GateFinding
from resources.lake import Lake

RULE = "expectations_passed"


def suites(release_id: str) -> list[Suite]:
    return [*release_suites(release_id), dictionary_suite(release_id), *catalogue_suites()]


def input_suites() -> list[Suite]:
    """The blocking suites of the curated tables a release is cut from: the cut validates
    them again on the tables as it reads them (a check result from before a later write
    says nothing about the rows being cut)."""
    return [s for s in curated_suites() if s.blocking]


def check_specs() -> list[dg.AssetCheckSpec]:
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
        for suite in suites("template")
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
        chosen = suites(result.release_id)
        inputs = input_suites()
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
            for rule, pairs in ((RULE, self.validated), (INPUTS_VALID_AS_CUT, revalidated))
            for s, o in pairs
        ]

    def results_for(self, asset_key: dg.AssetKey) -> list[dg.AssetCheckResult]:
        report = summaries.markdown([o for _, o in self.validated])
        out = []
        for suite, outcome in self.validated:
            if dg.AssetKey.from_user_string(suite.asset_key) == asset_key:
                out += check_results(suite, outcome, report)
        return out
