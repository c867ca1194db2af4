"""Linked clinical extracts end to end: synthetic NHS England extracts (HES APC/OP/A&E,
ONS, AV_TUMOUR) in landing -> per-source sensors -> partitioned intake assets on a real
Dagster instance -> curated Delta tables and the long diagnoses table. Checked against the
generator's ground truth, line by line."""

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.clinical import diagnoses
from ngrl_assets.clinical.partitions import PARTITIONS
from ngrl_assets.clinical.sensors import CLINICAL_SENSORS
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.common.ledger import LEDGER_TABLE
from ngrl_assets.common.quarantine import QUARANTINE_TABLE
from ngrl_assets.consent.eligibility import age_on
from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import run_clinical
from ngrl_assets.synth import generate_cohort
from resources.lake import Lake
from tests.integration.clinical_truth import expected_quarantine, rows
from tests.integration.consent_runs import (
    assert_no_identifiers_in_event_log,
    assert_no_identifiers_outside_identity,
)
from tests.integration.lakes import put_landing, read

PARTICIPANTS = 120


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landing")
    truth = generate_cohort(
        out, participants=PARTICIPANTS, seed=21, defect_rate=0.03, real_gvcf_dir=None
    )
    return out, truth


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, landing):
    """Consent, then every clinical file through its sensor's partition and job."""
    source, _ = landing
    lake = Lake(root_uri=str(tmp_path_factory.mktemp("lake")))
    put_landing(lake, source, "consent")
    put_landing(lake, source, "clinical")
    defs = build_definitions(lake)
    with dg.instance_for_test() as instance:
        assert (
            defs.resolve_job_def("consent_intake_job").execute_in_process(instance=instance).success
        )
        requested = {}
        for sensor in CLINICAL_SENSORS:
            with dg.build_sensor_context(instance=instance, resources={"lake": lake}) as ctx:
                result = sensor(ctx)
            assert isinstance(result, dg.SensorResult)
            requested[sensor.name] = [r.partition_key for r in result.run_requests or []]
        runs = run_clinical(defs, lake, instance)
        yield lake, instance, defs, requested, runs


def test_each_source_sensor_requests_each_file_once(ingested, landing):
    lake, instance, _, requested, _ = ingested
    _, truth = landing
    for name in SOURCES:
        files = sorted(
            k.rsplit("/", 1)[1] for k in truth["feeds"] if k.startswith(f"clinical/{name}/")
        )
        assert requested[f"{name}_sensor"] == files
        assert sorted(instance.get_dynamic_partitions(PARTITIONS[name].name)) == files
    # partitions now exist: the sensors ask for nothing more
    for sensor in CLINICAL_SENSORS:
        with dg.build_sensor_context(instance=instance, resources={"lake": lake}) as ctx:
            result = sensor(ctx)
        assert isinstance(result, dg.SensorResult) and not result.run_requests


def test_every_run_succeeds_and_every_check_passes(ingested):
    _, _, _, _, runs = ingested
    assert all(r.success for r in runs)
    intake_runs = [r for r in runs if r.job_def.name.endswith("_intake_job")]
    evaluations = [e for r in intake_runs for e in r.get_asset_check_evaluations()]
    # per delivery run: key uniqueness (intake), ledger reconciliation and consent
    # (standalone checks, included in the asset job)
    assert len(evaluations) == 3 * len(intake_runs)
    assert {"ledger_reconciled", "only_consented_participants"} <= {
        e.check_name for e in evaluations
    }
    all_evaluations = [e for r in runs for e in r.get_asset_check_evaluations()]
    assert all(e.passed for e in all_evaluations), [
        e.check_name for e in all_evaluations if not e.passed
    ]


@pytest.mark.parametrize("name", list(SOURCES))
def test_quarantine_matches_the_ground_truth_line_by_line(ingested, landing, name):
    lake = ingested[0]
    source, truth = landing
    expected = expected_quarantine(source, truth, name)
    quarantine = read(lake, "quarantine", QUARANTINE_TABLE).filter(
        pl.col("feed") == f"clinical/{name}"
    )
    for key, want in expected.items():
        got = quarantine.filter(pl.col("source_file") == key)
        assert set(zip(got["line"], got["rule"], strict=True)) == want, key
        assert got.height == len(want)  # one record per line
        assert all(r and "|" not in r for r in got["reason"])
    assert any(rule == "participant_withdrawn" for w in expected.values() for _, rule in w) or (
        name in ("av_tumour", "ons_mortality")
    )


@pytest.mark.parametrize("name", list(SOURCES))
def test_rows_are_conserved_per_delivery(ingested, landing, name):
    lake, instance = ingested[0], ingested[1]
    _, truth = landing
    ledger = read(lake, "audit", LEDGER_TABLE).filter(pl.col("feed") == f"clinical/{name}")
    quarantine = read(lake, "quarantine", QUARANTINE_TABLE)
    table = read(lake, "curated", SOURCES[name].table)
    assert ledger.height == len([k for k in truth["feeds"] if k.startswith(f"clinical/{name}/")])
    for row in ledger.iter_rows(named=True):
        info = truth["feeds"][row["landing_key"]]
        assert row["status"] == "processed"
        assert row["rows_in"] == info["good_rows"] + len(info["defects"])
        assert row["rows_in"] == row["rows_accepted"] + row["rows_quarantined"]
        assert (
            row["rows_quarantined"]
            == quarantine.filter(pl.col("source_file") == row["landing_key"]).height
        )
        delivery = row["landing_key"].rsplit("/", 1)[1]
        if name != "ons_mortality":  # ONS: a later registration can replace an earlier one
            assert table.filter(pl.col("delivery") == delivery).height == row["rows_accepted"]
        # the materialisation metadata says the same
        mats = instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(SOURCES[name].table), asset_partitions=[delivery]
            ),
            limit=1,
        ).records
        meta = mats[0].asset_materialization.metadata
        assert meta["rows_in"].value == row["rows_in"]
        assert meta["rows_curated"].value == row["rows_accepted"]
        assert meta["rows_quarantined"].value == row["rows_quarantined"]
        assert meta["conserved"].value is True


def test_curated_rows_carry_the_linked_participant_and_no_identifier(ingested, landing):
    lake = ingested[0]
    source, truth = landing
    registry = read(lake, "identity", "participant_registry")
    by_nhs = dict(zip(registry["nhs_number"], registry["participant_id"], strict=True))
    dob = dict(zip(registry["participant_id"], registry["date_of_birth"], strict=True))
    apc = read(lake, "curated", "hes_apc")
    # every curated episode is the one the landing file holds for that participant
    for key in (k for k in truth["feeds"] if k.startswith("clinical/hes_apc/")):
        for row in rows(source / key):
            hit = apc.filter(pl.col("epikey") == int(row["EPIKEY"]))
            if hit.height:
                assert hit["participant_id"][0] == by_nhs[row["NEWNHSNO"]]
                assert hit["epistart"][0] == dt.date.fromisoformat(row["EPISTART"])
    forbidden = {"newnhsno", "dob", "mydob", "pseudo_hesid", "lsoa11", "lsoa01", "msoa11"}
    for name, s in SOURCES.items():
        table = read(lake, "curated", s.table)
        assert table.height > 0, name
        assert not forbidden & set(table.columns)
        assert set(table["participant_id"]) <= set(registry["participant_id"])
        # no date column is anyone's date of birth; ages derive from the registered DOB
        born = table["participant_id"].replace_strict(dob, return_dtype=pl.Date)
        for column, dtype in table.schema.items():
            if dtype == pl.Date:
                assert not (table[column] == born).any(), f"{name}.{column} holds a DOB"
        # calendar arithmetic on plain dates (this test once repeated the code's own polars
        # formula, and with it an Int8 overflow that made many ages wrong)
        event = table[s.field(s.event_date).column].to_list()
        expected = [
            None if e is None or b is None else age_on(b, e)
            for e, b in zip(event, born.to_list(), strict=True)
        ]
        assert table[s.age_column].to_list() == expected, name
    assert_no_identifiers_outside_identity(lake, registry)
    assert_no_identifiers_in_event_log(ingested[1], registry)


def test_mortality_keeps_one_registration_per_participant(ingested):
    lake = ingested[0]
    deaths = read(lake, "curated", "mortality")
    assert deaths["participant_id"].is_unique().all()
    assert (deaths["reg_date"] >= deaths["reg_date_of_death"]).all()


def test_diagnoses_hold_every_curated_icd10_code(ingested):
    lake = ingested[0]
    table = read(lake, "curated", diagnoses.TABLE)
    for name in diagnoses.FED_BY:
        s = SOURCES[name]
        curated = read(lake, "curated", s.table)
        fields = [f.lower() for f in s.diagnoses]
        codes = curated.select(pl.sum_horizontal(pl.col(fields).is_not_null())).to_series().sum()
        assert table.filter(pl.col("source") == name).height == codes, name
    assert table["icd10_code"].str.contains(r"^[A-Z][0-9]{2}[0-9]?$").all()
    primary = table.filter(pl.col("is_primary"))
    apc = read(lake, "curated", "hes_apc")
    assert primary.filter(pl.col("source") == "hes_apc").height == apc["diag_4_01"].count()
    assert set(table["dagger_asterisk"].drop_nulls()) <= {"D", "A"}
    assert table.filter(pl.col("source") == "ons_mortality", pl.col("position") == 0).height == (
        read(lake, "curated", "mortality").height
    )


def test_diagnoses_is_requested_by_its_automation_condition(ingested):
    _, instance, defs, _, _ = ingested
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    assert first.total_requested == 0  # diagnoses was rebuilt after every source
    delivery = sorted(instance.get_dynamic_partitions(PARTITIONS["av_tumour"].name))[0]
    rerun = defs.resolve_job_def("av_tumour_intake_job").execute_in_process(
        instance=instance, partition_key=delivery
    )
    assert rerun.success
    second = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    requested = {r.key for r in second.results if r.true_subset.size}
    # diagnoses is rebuilt; the re-written table's expectation suite is requested too (its
    # eager condition), and so is diagnoses' own (its upstream changed)
    assert requested == {
        dg.AssetKey(diagnoses.TABLE),
        dg.AssetCheckKey(dg.AssetKey("av_tumour"), "expectations"),
        dg.AssetCheckKey(dg.AssetKey(diagnoses.TABLE), "expectations"),
    }, requested
    assert second.get_requested_partitions(dg.AssetKey(diagnoses.TABLE)) == {None}


def test_diagnoses_is_rebuilt_when_it_and_a_source_change_between_evaluations(ingested):
    """What the demo's wave 2 did in one ``ngrl materialize``: diagnoses is rewritten (by
    a withdrawal run) and then a source delivery is ingested before the next automation
    evaluation. Plain ``eager()`` let its reset win that tie (both are OR conditions with
    no timing in dagster 1.13) and never rebuilt diagnoses; the timed clause does."""
    _, instance, defs, _, _ = ingested
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    rewrite = dg.define_asset_job("rewrite_diagnoses", selection=[diagnoses.TABLE]).resolve(
        asset_graph=defs.resolve_asset_graph(), resource_defs=defs.resources
    )
    assert rewrite.execute_in_process(instance=instance).success
    delivery = sorted(instance.get_dynamic_partitions(PARTITIONS["hes_op"].name))[0]
    assert (
        defs.resolve_job_def("hes_op_intake_job")
        .execute_in_process(instance=instance, partition_key=delivery)
        .success
    )
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=baseline.cursor)
    assert after.get_requested_partitions(dg.AssetKey(diagnoses.TABLE)) == {None}


def test_a_withdrawal_after_curation_fails_the_standalone_consent_check(ingested):
    """Curated rows of a participant who withdraws later: materialising consent_status
    requests the standalone only_consented_participants checks (their automation
    condition), and the one on the participant's table fails, with a count, never an id.
    Re-running a delivery evaluates the check too (asset jobs include their checks)."""
    lake, instance, defs, _, _ = ingested
    apc = read(lake, "curated", "hes_apc")
    deliveries = sorted(instance.get_dynamic_partitions(PARTITIONS["hes_apc"].name))
    first = apc.filter(pl.col("delivery") == deliveries[0])
    registry = read(lake, "identity", "participant_registry")
    victim = registry.filter(pl.col("participant_id") == first["participant_id"][0])
    reference = victim["participant_reference"][0]
    baseline = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    consent_checks = {
        dg.AssetCheckKey(dg.AssetKey(s.table), "only_consented_participants")
        for s in SOURCES.values()
    }
    landing_withdrawals = Path(lake.uri("landing", "consent", "withdrawals"))
    (landing_withdrawals / "withdrawals_20261101.csv").write_text(
        f"participant_reference,withdrawal_type,withdrawal_date\n{reference},full,2026-11-01\n"
    )
    assert defs.resolve_job_def("consent_intake_job").execute_in_process(instance=instance).success
    evaluated = dg.evaluate_automation_conditions(
        defs=defs, instance=instance, cursor=baseline.cursor
    )
    requested = {
        r.key
        for r in evaluated.results
        if isinstance(r.key, dg.AssetCheckKey) and r.true_subset.size
    }
    # ... and consent_status's own expectation suite (the table was re-written)
    suite = dg.AssetCheckKey(dg.AssetKey("consent_status"), "expectations")
    assert requested == consent_checks | {suite}
    requested.discard(suite)
    job = dg.define_asset_job("consent_checks", selection=dg.AssetSelection.checks(*requested))
    run = job.resolve(
        asset_graph=defs.resolve_asset_graph(), resource_defs=defs.resources
    ).execute_in_process(instance=instance, raise_on_error=False)
    verdicts = {e.asset_key.to_user_string(): e for e in run.get_asset_check_evaluations()}
    assert verdicts["hes_apc"].passed is False
    assert verdicts["hes_apc"].metadata["rows_of_barred_participants"].value == (
        apc.filter(pl.col("participant_id") == victim["participant_id"][0]).height
    )
    # nothing asks again until consent_status changes again
    quiet = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=evaluated.cursor)
    assert not any(
        isinstance(r.key, dg.AssetCheckKey) and r.true_subset.size for r in quiet.results
    )
    delivery = deliveries[-1]
    rerun = defs.resolve_job_def("hes_apc_intake_job").execute_in_process(
        instance=instance, partition_key=delivery
    )
    checks = {e.check_name: e for e in rerun.get_asset_check_evaluations()}
    # the re-run delivery no longer holds them; the earlier delivery still does
    assert checks["only_consented_participants"].passed is False
    assert checks["ledger_reconciled"].passed is True
    assert checks["only_consented_participants"].metadata["rows_of_barred_participants"].value > 0
    after = read(lake, "curated", "hes_apc")
    assert after.filter(
        pl.col("participant_id") == victim["participant_id"][0], pl.col("delivery") == delivery
    ).is_empty()


@pytest.mark.s3
def test_clinical_intake_on_s3(s3_lake, tmp_path):
    landing = tmp_path / "landing"
    truth = generate_cohort(landing, participants=30, seed=4, defect_rate=0.05, real_gvcf_dir=None)
    put_landing(s3_lake, landing, "consent")
    put_landing(s3_lake, landing, "clinical")
    defs = build_definitions(s3_lake)
    with dg.instance_for_test() as instance:
        assert (
            defs.resolve_job_def("consent_intake_job").execute_in_process(instance=instance).success
        )
        runs = run_clinical(defs, s3_lake, instance)
        assert all(r.success for r in runs)
    ledger = read(s3_lake, "audit", LEDGER_TABLE).filter(
        pl.col("feed").str.starts_with("clinical/")
    )
    assert ledger.height == len([k for k in truth["feeds"] if k.startswith("clinical/")])
    for row in ledger.iter_rows(named=True):
        info = truth["feeds"][row["landing_key"]]
        assert row["rows_in"] == info["good_rows"] + len(info["defects"])
        assert row["rows_quarantined"] >= len(info["defects"])
    for name in diagnoses.FED_BY:
        assert read(s3_lake, "curated", diagnoses.TABLE).filter(pl.col("source") == name).height
