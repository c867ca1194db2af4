"""A full withdrawal, end to end, on a synthetic library built by the real sensors: the
notice lands, consent intake tombstones the participant and opens an opaque batch, the
withdrawal sensor requests one run, and afterwards every table and the published release
equal a library built from scratch without the participant; the residue scan of every
object of every zone finds none of their values; the audit report says so."""

from __future__ import annotations

import json

import dagster as dg
import polars as pl
import pytest

from ngrl_assets import catalogue
from ngrl_assets.common.assets import table_spec
from ngrl_assets.consent import linkage
from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY, WITHDRAWAL_TOMBSTONES
from ngrl_assets.definitions import build_definitions
from ngrl_assets.genomics.tables import RAW_SEQUENCES
from ngrl_assets.pipeline import run_all
from ngrl_assets.releases import registry
from ngrl_assets.withdrawal import batches as withdrawal_batches
from ngrl_assets.withdrawal.propagate import residue_scan
from ngrl_assets.withdrawal.report import report_markdown
from ngrl_assets.withdrawal.sensors import BATCH_TAG
from resources import objects
from resources.tables import TableSpec
from tests.integration.libraries import SMALL_LIBRARY, build_library
from tests.integration.support_withdrawal import (
    compare_lakes,
    land_notice,
    rich_participants,
    without,
)

LIBRARY = SMALL_LIBRARY.with_release()


@pytest.fixture(scope="module")
def library(libraries):
    """Built through the sensors, v1 cut and published."""
    return libraries.get(LIBRARY)


@pytest.fixture(scope="module")
def landing(library):
    """The synthetic landing folder the library was built from."""
    return library.source


@pytest.fixture
def built(library, copy_library):
    return copy_library(library)


def test_a_full_withdrawal_is_propagated_erased_and_proven(built, landing, tmp_path):
    lake, instance, _ = built
    people = rich_participants(lake, "v1", 2)
    refs_before = {p["participant_id"]: p["reference"] for p in people}
    needles = sorted(
        {
            v
            for p in people
            for _, v in linkage.participant_needles(lake, p["reference"], RAW_SEQUENCES)
        }
    )
    before_v1 = registry.get(lake, "v1")
    assert before_v1 is not None

    earlier = set(withdrawal_batches.read(lake)["batch_id"].to_list())  # the cohort's own
    land_notice(lake, "late_notice.csv", [p["reference"] for p in people])
    result = run_all(build_definitions(lake), lake, instance)
    assert result.success, result.failures()

    # one opaque batch, complete, run once by the withdrawal sensor
    batches = withdrawal_batches.read(lake)
    assert batches["status"].to_list() == ["complete"] * batches.height
    new = [b for b in batches["batch_id"].to_list() if b not in earlier]
    assert len(new) == 1
    batch = new[0]
    runs = instance.get_runs(filters=dg.RunsFilter(tags={BATCH_TAG: batch}))
    assert len(runs) == 1 and runs[0].is_success
    # the event log names the batch only
    for run in instance.get_runs():
        text = json.dumps(run.tags) + json.dumps(run.run_config, default=str) + (run.run_id or "")
        assert not any(n in text for n in needles)
    records = instance.get_event_records(
        dg.EventRecordsFilter(event_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    )
    redacted_assets = set()
    for record in records:
        mat = record.asset_materialization
        assert mat is not None
        blob = json.dumps({k: str(v.value) for k, v in mat.metadata.items()}) + str(mat.description)
        assert not any(n in blob for n in needles)
        if mat.metadata.get("ngrl/withdrawal_batch"):
            redacted_assets.add(mat.asset_key.to_user_string())
    assert {"consent_status", "raw_sequences", "joint_genotypes", "hes_apc"} <= redacted_assets

    # only the tombstone is left: the residue scan of every zone is clean
    findings, scanned = residue_scan(lake, needles)
    assert findings == [] and scanned > 100
    stones = lake.read(WITHDRAWAL_TOMBSTONES)
    assert set(refs_before) <= set(stones["participant_id"])

    # the release was redacted, on record
    after_v1 = registry.get(lake, "v1")
    assert after_v1 is not None and after_v1.participants == before_v1.participants - 2
    manifest = registry.read_manifest(lake, "v1")
    events = [h for h in manifest["history"] if h["event"] == "redacted"]
    assert len(events) == 1 and events[0]["batch_id"] == batch
    assert events[0]["participants_removed"] == 2

    # the audit report for the DPO
    report = report_markdown(lake, batch)
    assert "INCOMPLETE" not in report and "curated/hes_apc" in report

    # equivalence: the same library built from scratch without them
    scratch = tmp_path / "scratch"
    without(landing, scratch / "landing", needles)
    fresh = build_library(scratch / "landing", scratch, release_label="")
    differ = compare_lakes(
        lake, fresh, ["v1"], refs_before, only_in_a=("consent/withdrawals/late_notice.csv",)
    )
    assert differ == [], "\n".join(differ)


def test_no_further_contact_erases_nothing(built):
    lake, instance, _ = built
    person = rich_participants(lake, "v1", 1)[0]
    before = {name: lake.read(spec).height for name, spec in _curated(lake)}
    batches_before = withdrawal_batches.read(lake).height
    objects.write_bytes(
        lake.landing("consent/withdrawals/nfc.csv"),
        f"participant_reference,withdrawal_type,withdrawal_date\n{person['reference']},no_further_contact,2026-11-20\n".encode(),
    )
    assert run_all(build_definitions(lake), lake, instance).success
    assert withdrawal_batches.read(lake).height == batches_before  # no batch, nothing erased
    after = {name: lake.read(spec).height for name, spec in _curated(lake)}
    assert after == before
    regs = lake.read(PARTICIPANT_REGISTRY)
    flags = dict(zip(regs["participant_reference"], regs["may_recontact"], strict=True))
    assert flags[person["reference"]] is False
    assert sum(1 for v in flags.values() if v) > len(flags) // 2


def _curated(lake):
    return [(s.key, s) for s in catalogue.TABLES if s.zone == "curated" and lake.exists(s)]


def test_a_table_asset_added_later_is_redacted_the_day_it_is_added(built, monkeypatch):
    """A new curated table downstream of consent, declared the usual way (a TableSpec in
    the catalogue, an asset spec from it): the next withdrawal erases it too."""
    lake, instance, _ = built
    dummy = TableSpec(
        zone="curated",
        name="dummy_research_flags",
        description="A new table a later issue might add: one flag per participant.",
        schema={"participant_id": pl.String, "flag": pl.Boolean},
        columns={"participant_id": "opaque internal participant id", "flag": "a flag"},
        written_by=("dummy_research_flags",),
        participant_column="participant_id",
    )
    monkeypatch.setattr(catalogue, "TABLES", (*catalogue.TABLES, dummy))

    @dg.multi_asset(specs=[table_spec(dummy, group="dummy", deps=["consent_status"])])
    def dummy_research_flags():
        return None

    people = rich_participants(lake, "v1", 3)
    lake.overwrite(
        dummy,
        pl.DataFrame({"participant_id": [p["participant_id"] for p in people], "flag": [True] * 3}),
    )
    base = build_definitions(lake)
    extended = dg.Definitions(
        assets=[*(base.assets or []), dummy_research_flags],
        asset_checks=base.asset_checks,
        jobs=base.jobs,
        sensors=base.sensors,
        resources=base.resources,
    )
    land_notice(lake, "dummy_notice.csv", [people[0]["reference"]])
    assert run_all(extended, lake, instance).success
    left = lake.read(dummy)["participant_id"].to_list()
    assert sorted(left) == sorted(p["participant_id"] for p in people[1:])
    events = instance.fetch_materializations(dg.AssetKey("dummy_research_flags"), limit=5)
    assert any(
        r.asset_materialization.metadata.get("ngrl/withdrawal_batch") for r in events.records
    )
