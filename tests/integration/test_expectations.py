"""The Great Expectations suites as Dagster asset checks, on a library built by the real
sensors (30 participants): they run after intake (automation), pass on clean data, keep
their Data Docs in the reports zone with history and without any participant value; a
corrupted curated table fails its blocking check and the release gate then says no-go
naming it, publishing nothing; a release cut runs the release tables' suites and writes
the release's Data Docs index; a corrupted release table stops its own cut."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from expectations import offline, run, suites
from ngrl_assets import catalogue
from ngrl_assets.clinical.tables import EXTRACTS
from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY
from ngrl_assets.definitions import build_definitions
from ngrl_assets.pipeline import QUIET
from ngrl_assets.releases import cut, registry
from ngrl_assets.releases.tables import PROJECTED, RELEASE_TABLES
from resources import objects
from resources.lake import Lake
from tests.integration.libraries import SMALL_LIBRARY
from tests.integration.release_runs import FREEZE, cut_in_dagster, failure_text

APC = EXTRACTS["hes_apc"]
PLANTED_NHS = "943 476 5919"  # NHS-number-like (a valid check digit), planted in a code column


LIBRARY = SMALL_LIBRARY


@pytest.fixture
def built(libraries, copy_library):
    """A private copy of the library built by the real sensors: its lake and instance."""
    lake, instance, _ = copy_library(libraries.get(LIBRARY))
    return lake, instance


def _suite_keys(suite_list) -> list[tuple[dg.AssetCheckKey, bool]]:
    """(check key, is the critical check) of every check of these suites."""
    return [
        (dg.AssetCheckKey(dg.AssetKey.from_user_string(s.asset_key), name), name == s.check_name)
        for s in suite_list
        for name in s.check_names
    ]


def _latest(instance, keys):
    return instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)


def _evaluation(record):
    return record.event.dagster_event.event_specific_data


def _identifiers(lake: Lake) -> list[str]:
    regs = lake.read(PARTICIPANT_REGISTRY)
    values = [
        *regs["participant_id"].to_list(),
        *regs["participant_reference"].to_list(),
        *regs["nhs_number"].to_list(),
    ]
    return [v for v in values if v]


def _report_text(lake: Lake) -> str:
    return "\n".join(
        objects.read_bytes(o.uri).decode("utf-8", "replace")
        for o in objects.list_objects(lake.zone("reports"))
        if o.uri.endswith((".html", ".json", ".md"))
    )


# ---- coverage ----------------------------------------------------------------------------
def test_every_curated_and_release_table_has_a_suite():
    curated = {s.table.key for s in suites.curated_suites()}
    assert curated == {t.key for t in catalogue.in_zone("curated")}
    released = {s.table.name for s in suites.release_suites("v9")}
    assert released == {t.name for t in RELEASE_TABLES}
    extra = {s.table.name for s in (suites.dictionary_suite("v9"), *suites.catalogue_suites())}
    assert extra == {"data_dictionary", "release_registry"}
    blocking = {s.table.name for s in suites.curated_suites() if s.blocking}
    assert blocking == {
        "consent_status",
        "raw_sequences",
        "variant_sites",
        "joint_genotypes",
    } | set(PROJECTED)
    assert all(s.blocking for s in suites.release_suites("v9"))


# ---- after intake --------------------------------------------------------------------
def test_the_suites_ran_as_checks_after_intake_and_their_data_docs_hold_no_identifier(built):
    lake, instance = built
    keys = _suite_keys(suites.curated_suites())
    latest = _latest(instance, [k for k, _ in keys])
    assert set(latest) == {k for k, _ in keys}, "a suite never ran"
    for key, critical in keys:
        record = latest[key]
        evaluation = _evaluation(record)
        if critical:
            assert record.status == AssetCheckExecutionRecordStatus.SUCCEEDED, (
                key,
                evaluation.metadata["failed_expectations"],
            )
        meta = evaluation.metadata
        assert meta["success_percent"].value > 0
        page = meta["data_docs"].value.removeprefix("file://")
        assert Path(page).is_file(), page
        assert "| suite |" in meta["expectation_report"].value
    # the Data Docs site and its history; nothing of any participant in the reports zone
    docs = Path(run.docs_root(lake))
    assert (docs / "index.html").is_file()
    first = sorted((docs / "validations" / "curated" / "hes_apc").rglob("*.html"))
    [apc] = [s for s in suites.curated_suites() if s.name == "curated.hes_apc"]
    outcomes = run.validate(lake, [apc], run_name="second-run")
    assert outcomes[0].suite == "curated.hes_apc" and outcomes[0].success
    again = sorted((docs / "validations" / "curated" / "hes_apc").rglob("*.html"))
    assert len(again) == len(first) + 1 and set(first) < set(again)
    assert "second-run" in (docs / "index.html").read_text()
    text = _report_text(lake)
    leaked = [v for v in _identifiers(lake) if v in text]
    assert leaked == []


# ---- a corrupted curated table ---------------------------------------------------------
def _corrupt_apc(lake: Lake) -> str:
    """One hes_apc row copied with an invalid ICD-10 code and an NHS-number-like value in
    a code column; returns its participant id."""
    row = lake.read(APC).head(1)
    bad = row.with_columns(
        pl.lit("XYZ").alias("diag_4_01"),
        pl.lit(PLANTED_NHS).alias("procode5"),
        (pl.col("epikey") + 10**9).alias("epikey"),
    )
    lake.append(APC, bad)
    return str(row["participant_id"][0])


def _run_checks(lake, instance, keys: list[dg.AssetCheckKey]) -> dg.ExecuteInProcessResult:
    defs = build_definitions(lake)
    job = dg.define_asset_job("dq_checks", selection=dg.AssetSelection.checks(*keys)).resolve(
        asset_graph=defs.resolve_asset_graph(), resource_defs=defs.resources
    )
    return job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=False)


def test_a_clean_cut_publishes_then_a_corrupted_table_fails_its_check_and_stops_the_next(built):
    lake, instance = built
    # the clean cut runs the release suites and writes the release's Data Docs index
    first = cut_in_dagster(lake, instance, "v1", FREEZE)
    assert first.success, failure_text(first)
    release_keys = _suite_keys(suites.release_suites("v1"))
    evaluations = {
        dg.AssetCheckKey(e.asset_key, e.check_name): e for e in first.get_asset_check_evaluations()
    }
    for key, critical in release_keys:
        assert key in evaluations, key
        if critical:
            assert evaluations[key].passed, (key, evaluations[key].metadata)
            assert evaluations[key].severity == dg.AssetCheckSeverity.ERROR
    index = Path(run.docs_root(lake)) / "releases" / "v1" / "index.html"
    page = index.read_text()
    links = re.findall(r"href='([^']+)'", page)
    assert len(links) == len(suites.release_suites("v1")) + 2
    assert all((index.parent / link).resolve().is_file() for link in links)
    assert "releases.hes_apc" in page and "no-go" not in page

    # a corrupted curated table: its blocking check fails, naming the broken rules
    participant = _corrupt_apc(lake)
    key = dg.AssetCheckKey(dg.AssetKey("hes_apc"), "expectations")
    checked = _run_checks(lake, instance, [key])
    [evaluation] = checked.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    failed = evaluation.metadata["failed_expectations"].value
    assert "diag_4_01" in failed and "procode5" in failed
    assert "1 unexpected" in failed
    shown = " ".join(str(v.value) for v in evaluation.metadata.values())
    assert PLANTED_NHS not in shown and participant not in shown and "XYZ" not in shown
    assert PLANTED_NHS not in _report_text(lake)

    # ... and the gate says no-go naming it; nothing is published
    second = cut_in_dagster(lake, instance, "v2", FREEZE)
    assert not second.success
    text = failure_text(second)
    assert "input_checks_passed at hes_apc:expectations" in text, text[:2000]
    assert registry.get(lake, "v2") is None
    assert not objects.exists(lake.uri("releases", "v2", "manifest.json"))
    assert [r.release_id for r in registry.list_published(lake)] == ["v1"]


@pytest.mark.slow  # a third cut; `make test-all`
def test_a_corrupted_release_table_stops_its_own_cut(built, monkeypatch):
    lake, instance = built
    real = cut.write_tables

    def corrupting(lake_, release_id, *args, **kwargs):
        counts = real(lake_, release_id, *args, **kwargs)
        placed = PROJECTED["hes_apc"].in_folder(release_id)
        rows = lake_.read(placed).with_row_index("i")
        bad = pl.when(pl.col("i") == 0).then(pl.lit("XYZ")).otherwise(pl.col("diag_4_01"))
        lake_.overwrite(placed, rows.with_columns(diag_4_01=bad).drop("i"))
        return counts

    monkeypatch.setattr(cut, "write_tables", corrupting)
    result = cut_in_dagster(lake, instance, "v1", FREEZE)
    assert not result.success
    text = failure_text(result)
    assert "expectations_passed at releases/hes_apc:expectations" in text, text[:2000]
    assert registry.get(lake, "v1") is None
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    assert not evaluations[("releases/hes_apc", "expectations")].passed
    page = (Path(run.docs_root(lake)) / "releases" / "v1" / "index.html").read_text()
    assert "no-go" in page


# ---- Data Docs are presentation ----------------------------------------------------------
def test_missing_data_docs_assets_are_a_warning_never_a_failed_check(built, tmp_path, monkeypatch):
    """Without the npm step of the install the Data Docs pages cannot be made offline: the
    checks still validate and decide on the data alone (pass on good data, fail on bad),
    and the page problem is a logged warning and the checks' ``data_docs_warning``."""
    lake, instance = built
    empty = tmp_path / "no-assets"
    empty.mkdir()
    monkeypatch.setenv(offline.ASSETS_ENV, str(empty))
    key = dg.AssetCheckKey(dg.AssetKey("hes_apc"), "expectations")

    good = _run_checks(lake, instance, [key])
    assert good.success
    [evaluation] = good.get_asset_check_evaluations()
    assert evaluation.passed, evaluation.metadata["failed_expectations"].value
    warning = evaluation.metadata["data_docs_warning"].value
    assert warning.startswith("rendered, not made offline (Data Docs assets not installed: ")
    assert "install-data-docs-assets.sh" in warning
    assert Path(evaluation.metadata["data_docs"].value.removeprefix("file://")).is_file()
    logged = [
        e.user_message
        for e in instance.all_logs(good.run_id)
        if e.level == logging.WARNING and "Data Docs" in e.user_message
    ]
    assert any("assets not installed" in m for m in logged), logged

    _corrupt_apc(lake)
    bad = _run_checks(lake, instance, [key])
    [evaluation] = bad.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert "diag_4_01" in evaluation.metadata["failed_expectations"].value
    assert "not installed" in evaluation.metadata["data_docs_warning"].value
