"""Consent jobs (asset selections by key; no asset bodies imported)."""

import dagster as dg

from ngrl_assets.common.checks import without_expectations
from ngrl_assets.consent.tables import CONSENT_ASSETS

consent_job = dg.define_asset_job(
    "consent_intake_job",
    selection=without_expectations(*CONSENT_ASSETS),
    description="Ingest pending consent-service files into the registry and consent status.",
)

JOBS = [consent_job]
