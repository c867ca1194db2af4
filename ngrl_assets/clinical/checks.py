"""Standalone asset checks on the curated clinical tables. Asset jobs include the checks
of the assets they select, so each intake run evaluates them after writing its delivery;
they can also run on their own (the Dagster UI, the automation below).

- ``ledger_reconciled``: the table agrees with the landing ledger, delivery by delivery
  (:mod:`ngrl_assets.clinical.reconcile`); fails when the table changed behind intake.
- ``only_consented_participants``: no row belongs to a participant who has fully
  withdrawn or whose consent does not allow research use, as ``consent_status`` says
  *now*. Its automation condition requests it whenever ``consent_status`` is
  materialised, so a withdrawal that lands after curation shows up without waiting for
  the next delivery (until erasure removes the rows). Metadata: counts, never ids.
"""

import dagster as dg
import polars as pl

from ngrl_assets.clinical.reconcile import reconcile
from ngrl_assets.clinical.sources import SOURCES, ClinicalSource
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.consent.linkage import STATUS_ASSET, nhs_number_linkage
from resources.clinical_feeds import ClinicalFeeds
from resources.lake import Lake

CONSENT_ASSET = STATUS_ASSET
CONSENT_CHANGED = dg.AutomationCondition.any_deps_updated().allow(
    dg.AssetSelection.assets(CONSENT_ASSET)
)


def barred_rows(lake: Lake, source: ClinicalSource) -> int:
    """Curated rows of participants whose consent (now) bars curation, by the rules
    intake applies (through the linkage door: consent_status joined to the registry;
    only the internal ids leave this function's memory)."""
    barred = (
        nhs_number_linkage(lake)
        .filter((pl.col("_withdrawal") == "full") | ~pl.col("_research_ok").fill_null(False))
        .select(pl.col("_participant_id").alias("participant_id"))
        .lazy()
    )
    return int(
        lake.scan(EXTRACTS[source.name])
        .join(barred, on="participant_id", how="semi")
        .select(pl.len())
        .collect()
        .item()
    )


def build_consent_check(source: ClinicalSource) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=source.table,
        name="only_consented_participants",
        description=(
            "no row belongs to a participant who has fully withdrawn or whose consent does "
            "not allow research use (as consent_status says now); re-evaluated whenever "
            "consent_status changes"
        ),
        additional_deps=[CONSENT_ASSET],
        automation_condition=CONSENT_CHANGED,
    )
    def _consent(lake: dg.ResourceParam[Lake]) -> dg.AssetCheckResult:
        rows = barred_rows(lake, source)
        return dg.AssetCheckResult(passed=rows == 0, metadata={"rows_of_barred_participants": rows})

    return _consent


def build_ledger_check(source: ClinicalSource) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=source.table,
        name="ledger_reconciled",
        description=(
            "for every delivery the landing ledger records as processed, the table holds "
            "the rows it accepted (full refresh: only the latest delivery; ONS: earlier "
            "registrations may have been replaced), and no row of any other delivery"
        ),
    )
    def _ledger(
        lake: dg.ResourceParam[Lake], clinical: dg.ResourceParam[ClinicalFeeds]
    ) -> dg.AssetCheckResult:
        result = reconcile(lake, source, clinical.mode(source.name))
        return dg.AssetCheckResult(passed=result.passed, metadata=result.metadata())

    return _ledger


CHECKS: list[dg.AssetChecksDefinition] = [
    build(s) for s in SOURCES.values() for build in (build_ledger_check, build_consent_check)
]
