"""Helpers of the consent integration tests: the consent domain's Dagster objects on a
lake, a real in-process run of the consent job, crafted feed files, and the scans for
direct identifiers outside the identity zone and in the event log."""

from __future__ import annotations

import dagster as dg
import polars as pl

from ngrl_assets.consent import feeds
from ngrl_assets.definitions import build_definitions
from resources import delta, objects
from resources.lake import Lake
from resources.zones import ZONES

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


def assert_no_identifiers_outside_identity(lake: Lake, registry: pl.DataFrame) -> None:
    """Scan every Delta table in every zone but identity and landing for direct identifiers."""
    identifiers = set(registry["nhs_number"]) | set(registry["postcode"])
    identifiers |= set(registry["forename"] + " " + registry["surname"])
    identifiers |= {d.isoformat() for d in registry["date_of_birth"]}
    forbidden_columns = {"nhs_number", "forename", "surname", "date_of_birth", "postcode", "dob"}
    scanned = 0
    for zone in ZONES:
        if zone in ("identity", "landing"):
            continue
        root = lake.zone(zone)
        tables = {
            o.uri.split("/_delta_log/")[0]
            for o in objects.list_objects(root)
            if "/_delta_log/" in o.uri
        }
        for uri in sorted(tables):
            frame = delta.scan(uri, lake.storage_options(uri)).collect()
            assert not forbidden_columns & set(frame.columns), uri
            for name, dtype in frame.schema.items():
                if dtype == pl.String:
                    values = set(frame[name].drop_nulls())
                    assert not values & identifiers, f"{uri}:{name} holds a direct identifier"
            scanned += 1
    assert scanned >= 3  # consent_status, rejected_rows, landing_ledger at least


def assert_no_identifiers_in_event_log(
    instance: dg.DagsterInstance, registry: pl.DataFrame
) -> None:
    """Nothing participant-level in Dagster's event log (metadata, logs): it cannot be erased."""
    needles = (
        set(registry["participant_id"])
        | set(registry["participant_reference"])
        | set(registry["nhs_number"])
    )
    for run in instance.get_runs():
        for record in instance.all_logs(run.run_id):
            text = dg.serialize_value(record)
            assert not any(n in text for n in needles), "participant identifier in the event log"
