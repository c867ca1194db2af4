"""Helpers of the consent integration tests: the consent domain's Dagster objects on a
lake, a real in-process run of the consent job, and crafted feed files."""

from __future__ import annotations

import dagster as dg

from ngrl_assets.consent import feeds
from ngrl_assets.definitions import build_definitions
from resources import objects
from resources.lake import Lake

REGISTRATION_HEADER = ",".join(feeds.REGISTRATION_COLUMNS)
WITHDRAWAL_HEADER = ",".join(feeds.WITHDRAWAL_COLUMNS)


def consent_definitions(lake: Lake) -> dg.Definitions:
    """The whole code location on ``lake`` (the consent job and sensor as deployed)."""
    return build_definitions(lake)


def run_consent(lake: Lake, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    """One real run of the consent intake job; it must succeed."""
    job = consent_definitions(lake).resolve_job_def("consent_intake_job")
    result = job.execute_in_process(instance=instance, raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return result


def registration(
    ref: str = "P1",
    nhs: str = "9434765919",
    forename: str = "Ann",
    record: str = "2020-01-02",
    **kw: str,
) -> str:
    values = {
        "participant_reference": ref,
        "nhs_number": nhs,
        "forename": forename,
        "surname": "Smith",
        "date_of_birth": "1980-01-02",
        "postcode": "LS1 4AP",
        "sex": "F",
        "programme": "gms",
        "consent_category": "adult",
        "research_discussed": "true",
        "research_agreed": "true",
        "consent_date": "2020-01-01",
        "life_status": "alive",
        "date_of_death": "",
        "record_date": record,
    }
    values.update(kw)
    return ",".join(values[c] for c in feeds.REGISTRATION_COLUMNS)


def registrations_file(*rows: str) -> bytes:
    return ("\n".join([REGISTRATION_HEADER, *rows]) + "\n").encode()


def withdrawals_file(*rows: str) -> bytes:
    return ("\n".join([WITHDRAWAL_HEADER, *rows]) + "\n").encode()


def land(lake: Lake, key: str, data: bytes) -> None:
    objects.write_bytes(lake.landing(key), data)
