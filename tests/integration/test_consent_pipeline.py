"""The consent assets end to end on a synthetic landing zone: local lake and S3 lake
(moto_server), a real Dagster instance, real Delta tables."""

from collections import Counter
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.common.ledger import LEDGER_TABLE
from ngrl_assets.common.quarantine import QUARANTINE_TABLE
from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY
from ngrl_assets.synth import generate_cohort
from resources import objects
from resources.lake import Lake
from tests.integration.consent_runs import (
    assert_no_identifiers_in_event_log,
    assert_no_identifiers_outside_identity,
    run_consent,
)
from tests.integration.lakes import put_landing, read

PARTICIPANTS = 40


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landing")
    truth = generate_cohort(out, participants=PARTICIPANTS, seed=11, defect_rate=0.1)
    return out, truth


def run_all(lake: Lake, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return run_consent(lake, instance)


def consent_truth(truth: dict) -> dict[str, dict]:
    return {k: v for k, v in truth["feeds"].items() if k.startswith("consent/")}


def check_pipeline(lake: Lake, landing: tuple[Path, dict]) -> None:
    source, truth = landing
    put_landing(lake, source)
    with dg.instance_for_test() as instance:
        result = run_all(lake, instance)
        assert all(e.passed for e in result.get_asset_check_evaluations())
        assert len(result.get_asset_check_evaluations()) == 4

        registry = read(lake, "identity", "participant_registry")
        consent = read(lake, "curated", "consent_status")
        quarantine = read(lake, "quarantine", QUARANTINE_TABLE)
        ledger = read(lake, "audit", LEDGER_TABLE)

        # every good participant registered once; every defect row quarantined where the
        # generator put it, with the rule it broke (unknown-participant withdrawals wait)
        assert registry.height == PARTICIPANTS
        assert consent.height == PARTICIPANTS
        expected_rejects = set()
        pending = 0
        for key, info in consent_truth(truth).items():
            for d in info["defects"]:
                if d["rule"] == "unknown_participant":
                    pending += 1
                else:
                    expected_rejects.add((key, d["line"], d["rule"]))
        got = {(r["source_file"], r["line"], r["rule"]) for r in quarantine.iter_rows(named=True)}
        assert got == expected_rejects
        notices = read(lake, "identity", "withdrawal_notices")
        assert (
            notices["participant_reference"]
            .is_in(registry["participant_reference"].implode())
            .not_()
            .sum()
            == pending
        )

        # counts reconcile per file: rows in = accepted + quarantined, and match the truth
        for row in ledger.iter_rows(named=True):
            info = truth["feeds"][row["landing_key"]]
            assert row["status"] == "processed"
            assert row["rows_in"] == info["good_rows"] + len(info["defects"])
            assert row["rows_in"] == row["rows_accepted"] + row["rows_quarantined"]
            in_quarantine = quarantine.filter(pl.col("source_file") == row["landing_key"]).height
            assert row["rows_quarantined"] == in_quarantine
        assert set(ledger["landing_key"]) == set(consent_truth(truth))

        # withdrawals applied: full outranks NFC
        states = Counter(consent["withdrawal_state"])
        assert states["full"] >= 1 and states["no_further_contact"] >= 1

        # idempotent: a second run ingests nothing and keeps every internal id
        run_all(lake, instance)
        again = read(lake, "identity", "participant_registry")
        assert again.sort("participant_reference").equals(registry.sort("participant_reference"))
        assert read(lake, "audit", LEDGER_TABLE).height == ledger.height

        assert_no_identifiers_outside_identity(lake, registry)
        assert_no_identifiers_in_event_log(instance, registry)


def test_consent_pipeline_on_a_local_lake(lake, landing):
    check_pipeline(lake, landing)


@pytest.mark.s3
def test_consent_pipeline_on_s3(s3_lake, landing):
    check_pipeline(s3_lake, landing)
    # the identity zone lives in its own bucket
    assert s3_lake.zone("identity").startswith("s3://") and "-identity/" in s3_lake.zone("identity")
    assert s3_lake.exists(PARTICIPANT_REGISTRY)
    assert s3_lake.table_uri(PARTICIPANT_REGISTRY).startswith(s3_lake.zone("identity"))


def test_a_later_registration_file_updates_the_registry(lake, landing):
    source, _ = landing
    put_landing(lake, source, "consent/registrations")
    with dg.instance_for_test() as instance:
        run_all(lake, instance)
        before = read(lake, "identity", "participant_registry")
        first = before.sort("participant_reference").row(0, named=True)
        header = (
            (source / "consent/registrations").glob("*.csv").__next__().read_text().splitlines()[0]
        )
        cols = header.split(",")
        update = dict.fromkeys(cols, "")
        update.update(
            participant_reference=first["participant_reference"],
            nhs_number=first["nhs_number"],
            forename=first["forename"],
            surname=first["surname"],
            date_of_birth=first["date_of_birth"].isoformat(),
            postcode="ZZ9 9ZZ",
            sex=first["sex"],
            programme=first["programme"],
            consent_category="adult",
            research_discussed="true",
            research_agreed="false",
            consent_date="2026-10-01",
            life_status="alive",
            record_date="2026-11-01",
        )
        body = header + "\n" + ",".join(update[c] for c in cols) + "\n"
        objects.write_bytes(
            lake.uri("landing", "consent/registrations/registrations_20261101.csv"), body.encode()
        )
        run_all(lake, instance)
        after = read(lake, "identity", "participant_registry").filter(
            pl.col("participant_reference") == first["participant_reference"]
        )
        assert after["postcode"].to_list() == ["ZZ9 9ZZ"]
        assert after["participant_id"].to_list() == [first["participant_id"]]
        status = read(lake, "curated", "consent_status").filter(
            pl.col("participant_id") == first["participant_id"]
        )
        assert status["research_agreed"].to_list() == [False]
