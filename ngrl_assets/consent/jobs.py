"""Consent jobs (asset selections by key; no asset bodies imported)."""

import dagster as dg

CONSENT_ASSETS = ["participant_registry", "withdrawal_notices", "consent_status"]

consent_job = dg.define_asset_job(
    "consent_intake_job",
    selection=dg.AssetSelection.assets(*CONSENT_ASSETS),
    description="Ingest pending consent-service files into the registry and consent status.",
)

JOBS = [consent_job]
