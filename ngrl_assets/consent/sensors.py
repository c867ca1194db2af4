"""Consent feed sensor: notices new registration/withdrawal files in ``landing/consent/``
and requests one consent intake run for them.

Exactly once: the landing ledger is the source of truth for what has been ingested, the
cursor remembers the pending set already requested (so a tick during a running intake
requests nothing), and the run key is the pending set's fingerprint (so Dagster itself
refuses a duplicate). A failed run is not retried blindly: re-execute it from the UI, or
the next new file triggers a run covering both.
"""

import hashlib

import dagster as dg

from ngrl_assets.common import ledger
from ngrl_assets.consent.jobs import consent_job
from resources.lake import Lake

CONSENT_PREFIXES = ("consent/registrations", "consent/withdrawals")


def fingerprint(files: list[ledger.LandingFile]) -> str:
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.key):
        digest.update(f"{f.key}\t{f.size}\n".encode())
    return digest.hexdigest()[:32]


@dg.sensor(
    name="consent_feed_sensor",
    job=consent_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New consent-service feed files in landing/consent/ -> consent intake run.",
)
def consent_feed_sensor(
    context: dg.SensorEvaluationContext, lake: dg.ResourceParam[Lake]
) -> dg.SensorResult:
    pending = [f for prefix in CONSENT_PREFIXES for f in ledger.pending(lake, prefix)]
    if not pending:
        return dg.SensorResult(skip_reason="no new consent feed files", cursor=context.cursor)
    key = fingerprint(pending)
    if context.cursor == key:
        return dg.SensorResult(skip_reason="intake already requested for these files", cursor=key)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=f"consent-{key}", tags={"ngrl/new_files": str(len(pending))})
        ],
        cursor=key,
    )
