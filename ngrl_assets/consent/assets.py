"""Dagster wiring for the identity and consent core: one intake run writes the participant
registry and withdrawal notices (identity zone) and consent status (curated zone)."""

import dagster as dg

from ngrl_assets.common.assets import asset_key, table_spec
from ngrl_assets.consent import checks, intake
from ngrl_assets.consent.tables import CONSENT_STATUS, PARTICIPANT_REGISTRY, WITHDRAWAL_NOTICES
from resources.lake import Lake

GROUP = "consent"

participant_registry_spec = table_spec(PARTICIPANT_REGISTRY, group=GROUP)
withdrawal_notices_spec = table_spec(WITHDRAWAL_NOTICES, group=GROUP)
consent_status_spec = table_spec(
    CONSENT_STATUS,
    group=GROUP,
    deps=[asset_key(PARTICIPANT_REGISTRY), asset_key(WITHDRAWAL_NOTICES)],
)


@dg.multi_asset(
    name="consent_intake",
    specs=[participant_registry_spec, withdrawal_notices_spec, consent_status_spec],
    check_specs=checks.CHECK_SPECS,
    pool="consent_intake",
)
def consent_intake(context: dg.AssetExecutionContext, lake: dg.ResourceParam[Lake]):
    """Ingest new consent-service registration and withdrawal files from landing."""
    summary = intake.run(lake, context.run_id)
    reg, wd = summary.registrations, summary.withdrawals
    for label, c in (("registrations", reg), ("withdrawals", wd)):
        context.log.info(
            f"{label}: {c.files} files ({c.files_quarantined} quarantined whole, "
            f"{c.duplicate_files} duplicates skipped), {c.rows_in} rows in, "
            f"{c.rows_accepted} accepted, {c.rows_quarantined} quarantined"
        )
    results = checks.evaluate(lake)
    yield dg.MaterializeResult(
        asset_key=asset_key(PARTICIPANT_REGISTRY),
        metadata={
            "dagster/row_count": summary.registry_rows,
            "files_ingested": reg.files,
            "files_quarantined": reg.files_quarantined,
            "duplicate_files_skipped": reg.duplicate_files,
            "rows_in": reg.rows_in,
            "rows_accepted": reg.rows_accepted,
            "rows_quarantined": reg.rows_quarantined,
            "rejects_by_rule": reg.rejects_by_rule,
            "new_participants": summary.new_participants,
            "superseded_records": summary.superseded_records,
        },
        check_results=[r for r in results if r.asset_key == asset_key(PARTICIPANT_REGISTRY)],
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(WITHDRAWAL_NOTICES),
        metadata={
            "dagster/row_count": summary.notices_total,
            "files_ingested": wd.files,
            "files_quarantined": wd.files_quarantined,
            "duplicate_files_skipped": wd.duplicate_files,
            "rows_in": wd.rows_in,
            "rows_accepted": wd.rows_accepted,
            "rows_quarantined": wd.rows_quarantined,
            "rejects_by_rule": wd.rejects_by_rule,
            "pending_registration": summary.notices_pending_registration,
        },
    )
    yield dg.MaterializeResult(
        asset_key=asset_key(CONSENT_STATUS),
        metadata={
            "dagster/row_count": summary.consent_rows,
            "by_withdrawal_state": summary.consent_by_withdrawal_state,
            "table_uri": dg.MetadataValue.path(lake.table_uri(CONSENT_STATUS)),
        },
        check_results=[r for r in results if r.asset_key == asset_key(CONSENT_STATUS)],
    )


ASSETS = [consent_intake]
