"""The table catalogue is the only map of the lake: every asset that is a table is declared,
the asset specs come from the declarations, the data dictionary is generated from them,
and on a lake the whole pipeline wrote, every table is declared, carries the declared
statistics columns, and no direct identifier sits anywhere in a Delta log."""

import gzip
import json
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow.parquet as pq
import pytest

from ngrl_assets import catalogue
from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY
from ngrl_assets.definitions import build_definitions, defs
from ngrl_assets.genomics.tables import RAW_SEQUENCES
from ngrl_assets.pipeline import run_all
from ngrl_assets.synth import generate_cohort
from ngrl_assets.withdrawal.erasure import ZERO_RETENTION
from resources.lake import Lake
from tests.integration.lakes import put_landing

DICTIONARY = Path(__file__).parents[2] / "docs" / "data_dictionary.md"


def test_every_table_asset_is_declared_and_its_spec_comes_from_the_declaration():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    for key in keys:
        spec = catalogue.get(key)  # raises for an undeclared table asset
        node = graph.get(dg.AssetKey.from_user_string(key))
        schema = node.metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == list(spec.schema), key
        assert [c.description for c in schema.columns] == [spec.columns[c] for c in spec.schema]
        assert node.description == spec.description
        assert node.tags["ngrl/zone"] == spec.zone
    for table in catalogue.TABLES:
        assert table.written_by, table.name
        assert set(table.written_by) <= keys, (table.name, table.written_by)


def test_catalogue_answers_what_releases_and_withdrawal_ask():
    identity = {t.name for t in catalogue.in_zone("identity")}
    assert identity == {
        "participant_registry",
        "withdrawal_notices",
        "release_pseudonyms",
        "withdrawal_tombstones",
        "withdrawal_batch_members",
        "withdrawal_work",
    }
    released = {t.name for t in catalogue.release_tables()}
    assert {"participant", "aggregate_gvcf_sample_stats", "variant_sites", "hes_apc"} <= released
    assert all(t.zone == "releases" for t in catalogue.release_tables())
    holding = {t.name for t in catalogue.holding_participants()}
    assert {"raw_sequences", "sample_variant_calls", "joint_genotypes", "hes_apc"} <= holding
    assert {"variant_sites", "rejected_rows", "landing_ledger"}.isdisjoint(holding)
    for table in catalogue.releasable():
        assert table.zone == "curated"
        released = set(table.release_columns)
        assert not released & set(table.identifier_columns), table.name
        assert not released & set(table.landing_columns), table.name
    assert "participant_registry" not in {t.name for t in catalogue.releasable()}
    for table in catalogue.from_landing():
        assert table.landing_columns or catalogue.get(table.traced_via or "").landing_columns
    assert catalogue.written_by("raw_sequences") == [
        RAW_SEQUENCES,
        *[t for t in catalogue.TABLES if t.name in ("rejected_rows", "landing_ledger")],
    ]


def test_identifiers_never_get_statistics():
    for table in catalogue.TABLES:
        stats = table.configuration["delta.dataSkippingStatsColumns"].split(",")
        assert not set(stats) & set(table.identifier_columns), table.name
    assert {"nhs_number", "date_of_birth", "postcode", "surname"} <= set(
        PARTICIPANT_REGISTRY.identifier_columns
    )


def test_data_dictionary_is_generated_from_the_catalogue():
    assert DICTIONARY.read_text() == catalogue.dictionary_markdown(), (
        "docs/data_dictionary.md is stale: run `uv run ngrl dictionary --out "
        "docs/data_dictionary.md`"
    )


def _log_texts(table_dir: Path) -> list[tuple[str, str]]:
    """Every object of a table's _delta_log as text (JSON commits; checkpoint Parquet with
    its values and footer statistics decoded)."""
    out = []
    for path in sorted((table_dir / "_delta_log").rglob("*")):
        if not path.is_file():
            continue
        if path.suffix == ".parquet":
            pf = pq.ParquetFile(path)
            out.append((str(path), json.dumps(pf.read().to_pylist(), default=str)))
            out.append((str(path), str(pf.metadata.to_dict())))
        elif path.suffix == ".gz":
            out.append((str(path), gzip.decompress(path.read_bytes()).decode(errors="replace")))
        else:
            out.append((str(path), path.read_text(errors="replace")))
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    source = tmp_path_factory.mktemp("landing")
    generate_cohort(source, participants=40, seed=11, defect_rate=0.05, batch_size=20)
    lake = Lake(root_uri=str(tmp_path_factory.mktemp("lake")))
    put_landing(lake, source)
    with dg.instance_for_test() as instance:
        result = run_all(build_definitions(lake), lake, instance)
        assert result.success, result.failures()
        yield lake, instance, result


@pytest.fixture(scope="module")
def built_lake(built) -> Lake:
    return built[0]


def test_the_pipeline_is_driven_by_the_real_sensors(built):
    _, instance, result = built
    launched = {r.dagster_run.tags.get("dagster/sensor_name") for r in result.runs}
    assert None not in launched
    assert {
        "consent_feed_sensor",
        "delivery_sensor",
        "joint_calling_sensor",
        "hes_apc_sensor",
        "automation_sensor",
    } <= launched
    jobs = {r.job_def.name for r in result.runs}
    assert {"consent_intake_job", "delivery_intake_job", "joint_calling_job"} <= jobs
    # Every sensor ended quiet: the last pass requested nothing.
    last = result.sensor_ticks[-len({name for name, _ in result.sensor_ticks}) :]
    assert all(n == 0 for _, n in last)
    assert instance.get_dynamic_partitions("sequencing_delivery")


def test_no_identifier_in_the_event_log(built):
    lake, instance, _ = built
    registry = lake.read(PARTICIPANT_REGISTRY)
    raw = lake.read(RAW_SEQUENCES)
    needles = set(registry["nhs_number"].to_list()) | set(registry["participant_reference"])
    needles |= set(registry["participant_id"]) | set(raw["sample_id"].drop_nulls())
    runs = instance.get_runs()
    text = "\n".join(dg.serialize_value(e) for r in runs for e in instance.all_logs(r.run_id))
    text += "\n".join(f"{r.tags} {r.run_config}" for r in runs)
    for name in ("sequencing_delivery", "hes_apc_delivery"):
        text += "\n".join(instance.get_dynamic_partitions(name))
    assert len(text) > 10000
    found = [n for n in needles if n and n in text]
    assert not found, f"{len(found)} identifiers in the event log"


def test_every_table_written_is_declared_with_its_statistics_columns(built_lake):
    found = set()
    for zone in ("identity", "curated", "quarantine", "audit"):
        for log in Path(built_lake.zone(zone)).glob("*/_delta_log"):
            name = log.parent.name
            spec = catalogue.get(name)
            assert spec.zone == zone, name
            config = built_lake.delta_table(spec).metadata().configuration
            # a table a withdrawal erased from keeps zero retention (docs/withdrawal.md)
            assert config in (spec.configuration, {**spec.configuration, **ZERO_RETENTION}), name
            found.add(name)
    assert {"participant_registry", "consent_status", "raw_sequences", "hes_apc"} <= found


def test_no_direct_identifier_in_any_delta_log(built_lake):
    registry = built_lake.read(PARTICIPANT_REGISTRY)
    raw = built_lake.read(RAW_SEQUENCES)
    needles = set()
    for column in ("nhs_number", "participant_reference", "surname", "postcode"):
        needles |= set(registry[column].drop_nulls().to_list())
    needles |= {d.isoformat() for d in registry["date_of_birth"].drop_nulls().to_list()}
    needles |= set(raw["sample_id"].drop_nulls().to_list())
    needles = {n for n in needles if len(n) >= 5}
    assert len(needles) > 100
    hits = []
    for zone in ("identity", "curated", "quarantine", "audit"):
        for table_dir in Path(built_lake.zone(zone)).iterdir():
            for where, text in _log_texts(table_dir):
                hits += [(where, n) for n in needles if n in text]
    # Dates of birth can coincide with other dates (episode dates) in statistics: report
    # only identifiers that are not plain dates, plus any date in the identity logs.
    real = [(w, n) for w, n in hits if not (len(n) == 10 and n[4] == "-") or "/identity/" in w]
    assert not real, real[:5]
    # Quarantine reasons describe the rule broken, never the rejected value.
    reasons = "\n".join(built_lake.read(catalogue.get("rejected_rows"))["reason"].to_list())
    assert reasons
    assert not [n for n in needles if n in reasons]


def test_every_landing_object_ends_in_the_ledger_with_honest_counts(built_lake):
    """Manifests, gVCFs, indexes, consent feeds and clinical extracts: each one landing
    object, one ledger row, a known status, rows in = accepted + quarantined."""
    from ngrl_assets.common import ledger

    landed = {f.key for f in ledger.list_landing(built_lake, "")}
    entries = built_lake.read(ledger.LEDGER)
    assert entries["landing_key"].n_unique() == entries.height  # one row per object
    missing = landed - set(entries["landing_key"])
    assert not missing, sorted(missing)[:5]
    assert set(entries["status"]) <= set(ledger.STATUSES)
    unbalanced = entries.filter(
        (pl.col("status") != "duplicate")
        & (pl.col("rows_in") != pl.col("rows_accepted") + pl.col("rows_quarantined"))
    )
    assert unbalanced.is_empty()
    assert any(k.endswith(".g.vcf.gz") for k in landed)
