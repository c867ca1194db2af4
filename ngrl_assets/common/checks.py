"""A selection of every expectation-suite check (by name), for domain jobs to leave out.

Domain jobs run per partition (a delivery, a chunk, an extract file); the expectation
suites (``ngrl_assets/quality/``) validate whole tables, so they run once per automation
tick after whatever changed (their ``eager`` condition), not in every partition's run.
The selection matches check names (``expectations`` and ``expectations_*``) in the
resolved graph, so a domain's jobs need not import the suites.
"""

from collections.abc import Set

import dagster as dg
from dagster._core.definitions.asset_selection import AssetSelection
from dagster_shared.record import record

PREFIX = "expectations"


@record
class ExpectationChecks(AssetSelection):
    """Every asset check whose name is ``expectations`` or starts ``expectations_``."""

    def resolve_inner(self, asset_graph, allow_missing: bool) -> Set[dg.AssetKey]:  # type: ignore[no-untyped-def]
        return set()

    def resolve_checks_inner(self, asset_graph, allow_missing: bool) -> Set[dg.AssetCheckKey]:  # type: ignore[no-untyped-def,override]
        return {
            key
            for key in asset_graph.asset_check_keys
            if key.name == PREFIX or key.name.startswith(PREFIX + "_")
        }

    def to_serializable_asset_selection(self, asset_graph) -> AssetSelection:  # type: ignore[no-untyped-def]
        return dg.AssetSelection.checks(*self.resolve_checks_inner(asset_graph, True))


def without_expectations(*assets: str | dg.AssetKey) -> dg.AssetSelection:
    """These assets and their checks, except the expectation suites'."""
    return dg.AssetSelection.assets(*assets) - ExpectationChecks()
