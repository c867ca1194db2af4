"""Delivery intake at its edges: hostile or malformed delivery folder names, manifests that
cannot be read, look-alike delivery ids, crash and re-run, traceability, and the delivery
checks failing on tampered tables."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.common import ledger
from ngrl_assets.common.ledger import LEDGER
from ngrl_assets.common.quarantine import QUARANTINE
from ngrl_assets.genomics.batches import SampleBatching
from ngrl_assets.genomics.tables import (
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
)
from ngrl_assets.sequencing import intake
from ngrl_assets.sequencing.assets import ASSETS
from ngrl_assets.sequencing.checks import (
    RECONCILE,
    SAMPLE_ROWS,
    reconcile_with_ledger,
    sample_rows_mismatch,
)
from ngrl_assets.sequencing.intake import (
    FEED,
    InvalidDeliveryId,
    ingest_delivery,
    list_deliveries,
    quarantine_invalid_deliveries,
)
from ngrl_assets.sequencing.jobs import JOBS, invalid_delivery_job
from ngrl_assets.sequencing.partitions import DELIVERY_PARTITIONS
from ngrl_assets.sequencing.sensors import delivery_sensor
from resources.lake import Lake
from tests.integration.sequencing_support import landed_cohort, manifest_rows, write_manifest

HOSTILE = "x' OR delivery <> '"
UNICODE = "D2026 F05é"


@pytest.fixture
def cohort(lake, tmp_path, monkeypatch) -> Path:
    return landed_cohort(lake, tmp_path / "landing", monkeypatch, defect_rate=0.0)


def seq_folder(lake: Lake, name: str) -> Path:
    return Path(lake.zone("landing")) / "sequencing" / name


def counts(lake: Lake) -> dict[str, int]:
    return {
        "raw": lake.read(RAW_SEQUENCES).height,
        "calls": lake.read(SAMPLE_VARIANT_CALLS).height,
        "blocks": lake.read(SAMPLE_REFERENCE_BLOCKS).height,
        "quarantine": lake.read(QUARANTINE).filter(pl.col("feed") == FEED).height,
    }


def ledger_of(lake: Lake, key: str) -> list[tuple]:
    rows = lake.read(LEDGER).filter(pl.col("landing_key") == key)
    return rows.select("status", "rows_in", "rows_accepted", "rows_quarantined").rows()


def sensor_tick(lake: Lake, instance: dg.DagsterInstance) -> dg.SensorResult:
    result = delivery_sensor(dg.build_sensor_context(instance=instance, resources={"lake": lake}))
    assert isinstance(result, dg.SensorResult)
    return result


def test_a_hostile_folder_name_is_quarantined_and_wipes_nothing(lake, cohort):
    valid = list_deliveries(lake)
    assert len(valid) >= 2
    for d in valid:
        ingest_delivery(lake, d, "run-1")
    before = counts(lake)
    assert before["raw"] > 0 and before["calls"] > 0
    # the injection: a folder named as a predicate, holding a copy of a real delivery
    for name in (HOSTILE, UNICODE):
        shutil.copytree(seq_folder(lake, valid[0]), seq_folder(lake, name))
    data_lines = len(manifest_rows(seq_folder(lake, valid[0]) / "manifest.tsv"))
    assert list_deliveries(lake) == valid  # never a deliverable partition

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DELIVERY_PARTITIONS, valid)
        result = sensor_tick(lake, instance)
        assert not result.dynamic_partitions_requests
        [request] = result.run_requests or []
        assert request.job_name == invalid_delivery_job.name and request.partition_key is None
        assert request.run_key and request.run_key.startswith("invalid-deliveries-")
        for text in (HOSTILE, UNICODE, "'", " "):
            assert text not in request.run_key and text not in str(request.tags)
        run = invalid_delivery_job.execute_in_process(instance=instance, resources={"lake": lake})
        assert run.success
        assert run.output_for_node("quarantine_invalid_deliveries") == 2
        assert sensor_tick(lake, instance).run_requests == []  # recorded: nothing pending

    assert counts(lake) == {**before, "quarantine": before["quarantine"] + 2}
    for name in (HOSTILE, UNICODE):
        key = f"sequencing/{name}/manifest.tsv"
        assert ledger_of(lake, key) == [("quarantined", data_lines, 0, data_lines)]
        q = lake.read(QUARANTINE).filter(pl.col("source_file") == key)
        assert q.select("feed", "line", "rule").rows() == [(FEED, 0, "invalid_delivery_id")]
        assert q["batch"][0].startswith("invalid-") and name not in q["batch"][0]
        folder = seq_folder(lake, name)
        for path in folder.rglob("*"):  # the folder's gVCFs and indexes are ledgered too
            if path.is_file() and path.name != "manifest.tsv":
                [(status, *_)] = ledger_of(lake, f"sequencing/{name}/{path.relative_to(folder)}")
                assert status == "quarantined"
        with pytest.raises(InvalidDeliveryId):
            ingest_delivery(lake, name, "run-x")  # defence in depth: refused before any I/O
    assert quarantine_invalid_deliveries(lake, "run-3") == 0  # exactly once
    # the other deliveries are intact, and re-running one still replaces only its own rows
    ingest_delivery(lake, valid[-1], "run-4")
    assert counts(lake) == {**before, "quarantine": before["quarantine"] + 2}
    assert reconcile_with_ledger(lake) == {}


def test_lookalike_delivery_ids_keep_their_own_quarantine(lake, tmp_path, monkeypatch):
    landing = landed_cohort(lake, tmp_path / "landing", monkeypatch, defect_rate=0.2)
    first, second = list_deliveries(lake)[:2]
    dash = first  # D<yyyy>-001
    under = dash.replace("-", "_")  # D<yyyy>_001: `_` was a LIKE wildcard matching `-`
    assert under != dash
    shutil.move(seq_folder(lake, second), seq_folder(lake, under))
    assert landing.exists()
    ingest_delivery(lake, dash, "run-1")
    ingest_delivery(lake, under, "run-1")

    def records(batch: str) -> list[tuple]:
        q = lake.read(QUARANTINE).filter(pl.col("batch") == batch)
        return sorted(q.select("source_file", "line", "rule").rows())

    dash_q, under_q = records(dash), records(under)
    assert dash_q and under_q
    assert all(s.startswith(f"sequencing/{dash}/") for s, _, _ in dash_q)
    for name in (under, dash, under):
        ingest_delivery(lake, name, "run-2")
        assert (records(dash), records(under)) == (dash_q, under_q)
    assert reconcile_with_ledger(lake, [dash, under]) == {}


@pytest.mark.parametrize(
    ("content", "status", "rule"),
    [
        (b"", ("quarantined", 0, 0, 0), "empty_file"),
        ("\t".join(["sample_id"]) + "\nS1\nS2\n", ("quarantined", 2, 0, 2), "missing_columns"),
        (None, ("quarantined", 3, 0, 3), "encoding"),
    ],
)
def test_an_unreadable_manifest_is_quarantined_as_a_file(lake, cohort, content, status, rule):
    good = list_deliveries(lake)[0]
    bad = seq_folder(lake, "DBAD-777")
    bad.mkdir(parents=True)
    if content is None:
        content = b"sample_id\tx\n\xff\xfe\n\xff\n\xc3\n"
    (bad / "manifest.tsv").write_bytes(content.encode() if isinstance(content, str) else content)
    result = ingest_delivery(lake, "DBAD-777", "run-1")
    assert result.file_quarantined
    assert ledger_of(lake, "sequencing/DBAD-777/manifest.tsv") == [status]
    q = lake.read(QUARANTINE).filter(pl.col("batch") == "DBAD-777")
    assert q["rule"].to_list() == [rule]
    # one bad delivery never blocks another
    assert ingest_delivery(lake, good, "run-1").accepted > 0
    assert reconcile_with_ledger(lake) == {}


def test_an_oversize_manifest_field_rejects_only_its_row(lake, cohort):
    name = list_deliveries(lake)[0]
    path = seq_folder(lake, name) / "manifest.tsv"
    rows = manifest_rows(path)
    rows[1] = {**rows[1], "participant_reference": "P" * 200_000}  # > the csv module's 128 KiB
    write_manifest(path, rows)
    result = ingest_delivery(lake, name, "run-1")
    assert (result.rows_in, result.quarantined) == (len(rows), 1)
    sample_records = lake.read(QUARANTINE).filter(pl.col("feed") == FEED)
    [(line, rule)] = sample_records.select("line", "rule").rows()
    assert (line, rule) == (3, "field_too_long")
    assert ledger_of(lake, f"sequencing/{name}/manifest.tsv") == [
        ("processed", len(rows), len(rows) - 1, 1)
    ]


def test_every_gvcf_and_index_is_traceable_to_its_landing_key(lake, cohort):
    for d in list_deliveries(lake):
        ingest_delivery(lake, d, "run-1")
    landed = {f.key for f in ledger.list_landing(lake, "sequencing")}
    raw = lake.read(RAW_SEQUENCES)
    assert raw.height > 0
    assert set(raw["gvcf_key"]) <= landed and set(raw["tbi_key"]) <= landed
    manifests = {k for k in landed if k.endswith("/manifest.tsv")}
    named = set(raw["gvcf_key"]) | set(raw["tbi_key"])
    # every landing object is either a recorded manifest or a file a recorded sample names
    recorded = set(lake.read(LEDGER)["landing_key"])
    assert manifests <= recorded
    # a withdrawn participant's objects get no raw_sequences row: their own quarantine
    # records name them (the redelivery purge finds them there)
    refused = lake.read(QUARANTINE).filter(
        (pl.col("feed") == "sequencing_objects") & (pl.col("rule") == "participant_withdrawn")
    )
    assert landed == manifests | named | set(refused["source_file"])
    assert set(refused["source_file"]).isdisjoint(named)


def _sorted_by_spec(lake: Lake, spec) -> bool:
    table = lake.delta_table(spec)
    for uri in table.file_uris():
        frame = pl.read_parquet(uri)
        if not frame.equals(frame.sort(list(spec.sort_by))):
            return False
    return True


def test_every_object_of_a_delivery_ends_in_the_ledger(lake, cohort):
    """gVCFs and indexes are ledgered with their sample's outcome, a stray object is
    quarantined as unexpected, and a re-run updates the entries instead of adding rows."""
    delivery = list_deliveries(lake)[0]
    folder = seq_folder(lake, delivery)
    (folder / "notes.txt").write_text("not named by the manifest\n")
    ingest_delivery(lake, delivery, "run-1")
    ingest_delivery(lake, delivery, "run-2")
    entries = lake.read(LEDGER).filter(
        pl.col("landing_key").str.starts_with(f"sequencing/{delivery}/")
    )
    on_disk = {
        p.relative_to(folder.parents[1]).as_posix() for p in folder.rglob("*") if p.is_file()
    }
    assert set(entries["landing_key"]) == on_disk
    assert entries.height == len(on_disk)  # one row per object after two runs
    by_key = {r["landing_key"]: r for r in entries.iter_rows(named=True)}
    stray = by_key[f"sequencing/{delivery}/notes.txt"]
    assert (stray["status"], stray["rows_in"]) == ("quarantined", 0)
    raw = lake.read(RAW_SEQUENCES).filter(pl.col("delivery") == delivery)
    for row in raw.iter_rows(named=True):
        want = "quarantined" if row["qc_verdict"] == "quarantined" else "processed"
        if row["gvcf_key"] in by_key:
            gvcf = by_key[row["gvcf_key"]]
            assert gvcf["status"] == want and gvcf["rows_in"] == 1
            assert len(gvcf["sha256"]) == 64
        if row["tbi_key"] in by_key:
            assert by_key[row["tbi_key"]]["status"] == want
    objects = lake.read(QUARANTINE).filter(pl.col("feed") == "sequencing_objects")
    assert objects.filter(pl.col("rule") == "unexpected_file")["source_file"].to_list() == [
        f"sequencing/{delivery}/notes.txt"
    ]


def test_a_crash_half_way_and_a_rerun_converge(lake, cohort, monkeypatch, tmp_path):
    name = list_deliveries(lake)[0]
    clean = Lake(root_uri=str(tmp_path / "clean"))
    shutil.copytree(lake.zone("landing"), clean.zone("landing"))
    ingest_delivery(clean, name, "run-clean")

    real = intake._store_sample
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker lost")
        return real(*args, **kwargs)

    ingest_delivery(lake, name, "run-0")  # a complete run, then a re-run that dies
    monkeypatch.setattr(intake, "_store_sample", dying)
    with pytest.raises(RuntimeError):
        ingest_delivery(lake, name, "run-1")
    assert lake.read(RAW_SEQUENCES).filter(pl.col("delivery") == name).height == 0
    assert lake.read(SAMPLE_VARIANT_CALLS)["participant_id"].n_unique() == 2  # partial
    assert sample_rows_mismatch(lake, [name])  # the check sees the half-written delivery
    monkeypatch.setattr(intake, "_store_sample", real)
    ingest_delivery(lake, name, "run-2")
    for spec in (SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS):
        order = list(spec.sort_by)
        assert lake.read(spec).sort(order).equals(clean.read(spec).sort(order))
        assert _sorted_by_spec(lake, spec)  # each written file is in the table's sort order
    raw = lake.read(RAW_SEQUENCES).drop("ingested_at").sort("sample_id")
    assert raw.equals(clean.read(RAW_SEQUENCES).drop("ingested_at").sort("sample_id"))
    assert reconcile_with_ledger(lake) == {} and sample_rows_mismatch(lake, [name]) == {}


def test_the_delivery_checks_run_in_the_asset_and_fail_on_tampered_tables(lake, cohort):
    name = list_deliveries(lake)[0]
    resources = {"lake": lake, "sample_batching": SampleBatching()}
    defs = dg.Definitions(assets=ASSETS, jobs=JOBS, resources=resources)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(DELIVERY_PARTITIONS, [name])
        run = defs.resolve_job_def("delivery_intake_job").execute_in_process(
            instance=instance, partition_key=name
        )
        assert run.success
        evaluations = {e.check_name: e.passed for e in run.get_asset_check_evaluations()}
    assert evaluations == {RECONCILE: True, SAMPLE_ROWS: True}

    raw = lake.read(RAW_SEQUENCES)
    accepted = raw.filter(pl.col("qc_verdict") != "quarantined")
    victim = accepted["sample_id"][0]
    # duplicated per-sample rows fail the row check
    one = lake.read(SAMPLE_VARIANT_CALLS).filter(
        pl.col("participant_id") == accepted["participant_id"][0]
    )
    lake.append(SAMPLE_VARIANT_CALLS, one.head(5))
    assert name in sample_rows_mismatch(lake, [name])
    # a sample row removed behind the ledger's back fails the reconciliation
    lake.delete(RAW_SEQUENCES, {"sample_id": victim})
    problems = reconcile_with_ledger(lake, [name])
    assert name in problems and "manifest rows" in problems[name]
