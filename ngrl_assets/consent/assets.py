"""Dagster wiring for the identity and consent core: one intake run writes the participant
registry and withdrawal notices (identity zone) and consent status (curated zone)."""

import dagster as dg

from ngrl_assets.common.specs import table_spec
from ngrl_assets.consent import checks, intake
from ngrl_assets.consent.registry import (
    CONSENT_STATUS_SCHEMA,
    REGISTRY_SCHEMA,
    WITHDRAWAL_NOTICE_SCHEMA,
)
from resources.lake import LakeResource

GROUP = "consent"

participant_registry_spec = table_spec(
    "participant_registry",
    zone="identity",
    group=GROUP,
    description=(
        "Every participant as the consent service registered them: NHS number, name, date "
        "of birth, postcode, programme, and the opaque internal participant id that every "
        "other table uses instead. Lives in the identity zone; only consent and linkage "
        "code reads it, and nothing in it ever reaches researchers."
    ),
    schema=REGISTRY_SCHEMA,
    columns={
        "participant_id": "opaque internal id (random, not derived from any identifier)",
        "participant_reference": "consent service participant id",
        "nhs_number": "NHS number (Modulus 11 validated)",
        "forename": "registered forename",
        "surname": "registered surname",
        "date_of_birth": "date of birth",
        "postcode": "postcode",
        "sex": "registered sex F/M/U",
        "programme": "recruiting programme (gms, 100kgp)",
        "record_date": "date of the consent-service record these values come from",
        "updated_at": "when the platform last changed this row",
    },
)

withdrawal_notices_spec = table_spec(
    "withdrawal_notices",
    zone="identity",
    group=GROUP,
    description=(
        "Every withdrawal notice received from the consent service, kept by participant "
        "reference, including notices that arrived before the participant's registration "
        "(applied as soon as it lands). The legal record of who asked to leave and when."
    ),
    schema=WITHDRAWAL_NOTICE_SCHEMA,
    columns={
        "participant_reference": "consent service participant id",
        "withdrawal_type": "full (no further use) or no_further_contact",
        "withdrawal_date": "date the withdrawal was recorded",
        "source_file": "landing key of the notice file",
        "source_line": "line of the notice in that file",
        "received_at": "when the platform ingested the notice",
    },
)

consent_status_spec = table_spec(
    "consent_status",
    zone="curated",
    group=GROUP,
    deps=["participant_registry", "withdrawal_notices"],
    description=(
        "What each participant has agreed to, keyed only by the internal participant id: "
        "consent category, research discussion and answer, consent date, life status, "
        "withdrawal state and year of birth. Release eligibility and withdrawal "
        "propagation start here; it carries no direct identifier."
    ),
    schema=CONSENT_STATUS_SCHEMA,
    columns={
        "participant_id": "opaque internal participant id",
        "programme": "recruiting programme (gms, 100kgp)",
        "consent_category": "adult or child consent form",
        "research_discussed": "research use was discussed",
        "research_agreed": "answer to research use was yes",
        "consent_date": "date consent was given",
        "life_status": "alive or deceased, as last known",
        "year_of_birth": "year of birth (dates of birth stay in the identity zone)",
        "consented_under_16": "child consent given before the 16th birthday",
        "withdrawal_state": "none, no_further_contact or full",
        "withdrawal_date": "date of the strongest withdrawal, if any",
        "record_date": "date of the consent-service record in force",
        "updated_at": "when the platform last changed this row",
    },
)


@dg.multi_asset(
    name="consent_intake",
    specs=[participant_registry_spec, withdrawal_notices_spec, consent_status_spec],
    check_specs=checks.CHECK_SPECS,
    pool="consent_intake",
)
def consent_intake(context: dg.AssetExecutionContext, lake: LakeResource):
    """Ingest new consent-service registration and withdrawal files from landing."""
    summary = intake.run(lake, context.run_id)
    reg, wd = summary.registrations, summary.withdrawals
    context.log.info(
        f"registrations: {reg.files} files, {reg.rows_in} rows in, {reg.rows_accepted} "
        f"accepted, {reg.rows_quarantined} quarantined; withdrawals: {wd.files} files, "
        f"{wd.rows_in} rows in, {wd.rows_accepted} accepted, {wd.rows_quarantined} quarantined"
    )
    results = checks.evaluate(lake)
    yield dg.MaterializeResult(
        asset_key="participant_registry",
        metadata={
            "dagster/row_count": summary.registry_rows,
            "files_ingested": reg.files,
            "duplicate_files_skipped": reg.duplicate_files,
            "rows_in": reg.rows_in,
            "rows_accepted": reg.rows_accepted,
            "rows_quarantined": reg.rows_quarantined,
            "rejects_by_rule": reg.rejects_by_rule,
            "new_participants": summary.new_participants,
            "superseded_records": summary.superseded_records,
        },
        check_results=[r for r in results if r.asset_key == dg.AssetKey("participant_registry")],
    )
    yield dg.MaterializeResult(
        asset_key="withdrawal_notices",
        metadata={
            "dagster/row_count": summary.notices_total,
            "files_ingested": wd.files,
            "duplicate_files_skipped": wd.duplicate_files,
            "rows_in": wd.rows_in,
            "rows_accepted": wd.rows_accepted,
            "rows_quarantined": wd.rows_quarantined,
            "rejects_by_rule": wd.rejects_by_rule,
            "pending_registration": summary.notices_pending_registration,
        },
    )
    yield dg.MaterializeResult(
        asset_key="consent_status",
        metadata={
            "dagster/row_count": summary.consent_rows,
            "by_withdrawal_state": summary.consent_by_withdrawal_state,
            "table_uri": dg.MetadataValue.path(lake.table(*intake.CONSENT_TABLE)),
        },
        check_results=[r for r in results if r.asset_key == dg.AssetKey("consent_status")],
    )
