"""A second batch lands: wave 1 of the synthetic cohort goes through the whole pipeline,
then wave 2 (``generate_cohort(..., wave=2)``) lands in the same landing zone and the
pipeline runs again on the same instance. The second run takes in exactly the new files,
quarantines exactly what the wave-2 truth lists (plus the consent rules the truth implies)
and joint calling folds the new deliveries in."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.common.ledger import LEDGER_TABLE
from ngrl_assets.common.quarantine import QUARANTINE_TABLE
from ngrl_assets.synth import generate_cohort
from resources import objects
from resources.lake import Lake
from resources.uris import join
from tests.integration.clinical_truth import (
    erased_lines,
    erased_nhs_numbers,
    expected_quarantine,
)
from tests.integration.lakes import put_landing, read

WAVE1, WAVE2, SEED = 40, 20, 31
CLINICAL = ("hes_apc", "hes_op", "hes_ae", "ons_mortality", "av_tumour")


def feed_files(root: Path) -> set[str]:
    return {
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.relative_to(root).as_posix().startswith("_")
    }


def land_new(lake: Lake, source: Path, before: set[str]) -> list[str]:
    """Copy only the objects the second wave added (a sender never rewrites a file)."""
    new = sorted(feed_files(source) - before)
    for key in new:
        objects.write_bytes(join(lake.zone("landing"), key), (source / key).read_bytes())
    return new


def fully_withdrawn(source: Path) -> set[str]:
    refs = set()
    for path in (source / "consent" / "withdrawals").glob("*.csv"):
        for row in pl.read_csv(path, infer_schema=False).iter_rows(named=True):
            if row["withdrawal_type"] == "full":
                refs.add(row["participant_reference"])
    return refs


def merged_truth(truth1: dict, truth2: dict) -> dict:
    """Both waves' files, and every participant's case after wave 2 (wave-1 participants
    who withdrew in wave 2 take their new case)."""
    cases = {
        **truth1["eligibility"]["by_participant"],
        **truth2["eligibility"]["by_participant"],
        **{ref: c["case"] for ref, c in truth2["wave"]["case_changes"].items()},
    }
    return {
        "feeds": {**truth1["feeds"], **truth2["feeds"]},
        "eligibility": {"by_participant": cases},
    }


@pytest.fixture(scope="module")
def two_waves(tmp_path_factory):
    source = tmp_path_factory.mktemp("landing")
    lake = Lake(root_uri=str(tmp_path_factory.mktemp("lake")))
    truth1 = generate_cohort(
        source, participants=WAVE1, seed=SEED, defect_rate=0.05, batch_size=20, real_gvcf_dir=None
    )
    put_landing(lake, source)
    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_all

    defs = build_definitions(lake)
    with dg.instance_for_test() as instance:
        first = run_all(defs, lake, instance)
        assert first.success, first.failures()
        state1 = {
            "ledger": read(lake, "audit", LEDGER_TABLE),
            "quarantine": read(lake, "quarantine", QUARANTINE_TABLE),
            "raw": read(lake, "curated", "raw_sequences"),
        }
        before = feed_files(source)
        truth2 = generate_cohort(
            source, participants=WAVE2, seed=SEED, wave=2, defect_rate=0.05, batch_size=10
        )
        new = land_new(lake, source, before)
        second = run_all(defs, lake, instance)
    return {
        "source": source,
        "lake": lake,
        "truth1": truth1,
        "truth2": truth2,
        "state1": state1,
        "new": new,
        "second": second,
    }


def test_second_run_succeeds_and_its_checks_pass(two_waves):
    second = two_waves["second"]
    assert second.success, second.failures()
    assert second.runs  # the sensors saw the new files
    # every check passes, the distribution bands (WARN) on the genomes included: the
    # synthetic genomes look like human ones (docs/genomics.md, "The synthetic cohort")
    failed = [e.check_name for e in second.check_evaluations() if not e.passed]
    assert not failed
    assert any(e.check_name == "expectations_distribution" for e in second.check_evaluations())


def test_ledger_gains_exactly_the_new_objects(two_waves):
    lake, new = two_waves["lake"], two_waves["new"]
    before = set(two_waves["state1"]["ledger"]["landing_key"])
    after = set(read(lake, "audit", LEDGER_TABLE)["landing_key"])
    assert before < after
    assert after - before == set(new)
    feeds = set(two_waves["truth2"]["feeds"])  # consent files, manifests, clinical extracts
    assert feeds <= after - before
    assert any(k.startswith("consent/registrations/") for k in feeds)
    assert any(k.startswith("consent/withdrawals/") for k in feeds)
    assert any(k.endswith("/manifest.tsv") for k in feeds)
    assert {k.split("/")[1] for k in feeds if k.startswith("clinical/")} == set(CLINICAL)


def test_wave_one_quarantine_is_left_alone(two_waves):
    lake = two_waves["lake"]
    first = two_waves["state1"]["quarantine"]
    now = read(lake, "quarantine", QUARANTINE_TABLE)
    wave2 = set(two_waves["truth2"]["feeds"]) | {
        k.split("/manifest.tsv")[0].split("/", 1)[1]
        for k in two_waves["truth2"]["feeds"]
        if k.endswith("/manifest.tsv")
    }
    cols = ["feed", "source_file", "line", "rule"]
    kept = now.filter(
        ~pl.col("source_file").is_in(list(wave2)) & ~pl.col("batch").is_in(list(wave2))
    )
    assert kept.select(cols).sort(cols).equals(first.select(cols).sort(cols))


def test_consent_quarantine_is_the_wave_two_truth(two_waves):
    lake, truth2 = two_waves["lake"], two_waves["truth2"]
    quarantine = read(lake, "quarantine", QUARANTINE_TABLE)
    expected = {
        (key, d["line"], d["rule"])
        for key, info in truth2["feeds"].items()
        if key.startswith("consent/")
        for d in info["defects"]
        if d["rule"] != "unknown_participant"  # an unknown reference's notice waits
    }
    got = {
        (r["source_file"], r["line"], r["rule"])
        for r in quarantine.filter(pl.col("source_file").is_in(list(truth2["feeds"]))).iter_rows(
            named=True
        )
        if r["source_file"].startswith("consent/")
    }
    assert got == expected
    # every registered participant who fully withdrew (either wave) was erased from the
    # registry by withdrawal propagation; only their tombstone remains
    cases = merged_truth(two_waves["truth1"], truth2)["eligibility"]["by_participant"]
    erased = {ref for ref, case in cases.items() if case == "withdrawn_full"}
    assert erased
    registry = read(lake, "identity", "participant_registry")
    assert registry.height == WAVE1 + WAVE2 - len(erased)
    assert not erased & set(registry["participant_reference"])
    tombstones = read(lake, "identity", "withdrawal_tombstones")
    assert tombstones.height == len(erased) and (tombstones["withdrawal_type"] == "full").all()
    consent = read(lake, "curated", "consent_status").join(
        registry.select("participant_id", "participant_reference"), on="participant_id"
    )
    assert consent.height == registry.height
    states = dict(zip(consent["participant_reference"], consent["withdrawal_state"], strict=True))
    for ref, change in truth2["wave"]["case_changes"].items():
        if change["case"] == "withdrawn_full":  # applied, propagated: erased
            assert ref not in states
        else:  # wave-1 participants' new withdrawals from further contact applied
            assert states[ref] == "no_further_contact"


def test_new_deliveries_quarantine_only_what_the_truth_lists(two_waves):
    lake, source, truth2 = two_waves["lake"], two_waves["source"], two_waves["truth2"]
    manifests = {k: v for k, v in truth2["feeds"].items() if k.endswith("/manifest.tsv")}
    deliveries = {k.split("/")[1] for k in manifests}
    assert deliveries == set(truth2["sequencing"]["deliveries"])
    full = fully_withdrawn(source)
    withdrawn = 0
    for key, info in manifests.items():
        bad = {d["line"] for d in info["defects"]}
        refs = pl.read_csv(source / key, separator="\t", infer_schema=False)
        for line, ref in enumerate(refs["participant_reference"], start=2):
            withdrawn += line not in bad and ref in full
    expected = sorted(
        [d["rule"] for v in manifests.values() for d in v["defects"]]
        + ["participant_withdrawn"] * withdrawn
    )
    quarantine = read(lake, "quarantine", QUARANTINE_TABLE).filter(
        (pl.col("feed") == "sequencing_deliveries") & pl.col("batch").is_in(list(deliveries))
    )
    assert sorted(quarantine["rule"]) == expected
    assert "duplicate_sample" not in expected
    raw = read(lake, "curated", "raw_sequences")
    new_raw = raw.filter(pl.col("delivery").is_in(list(deliveries)))
    rows_in = sum(v["good_rows"] + len(v["defects"]) for v in manifests.values())
    assert new_raw.height == rows_in
    assert raw.height == two_waves["state1"]["raw"].height + rows_in


def test_joint_calling_folds_the_new_deliveries_in(two_waves):
    lake, truth2 = two_waves["lake"], two_waves["truth2"]
    deliveries = set(truth2["sequencing"]["deliveries"])
    raw = read(lake, "curated", "raw_sequences")
    passed = raw.filter(pl.col("qc_verdict") == "pass")
    new_passed = passed.filter(pl.col("delivery").is_in(list(deliveries)))
    assert new_passed.height > 0
    increments = read(lake, "curated", "joint_call_increments")
    genome = set(increments.filter(pl.col("chunk") == "genome")["delivery"])
    assert genome == set(passed["delivery"]) and deliveries & genome == set(new_passed["delivery"])
    genotypes = read(lake, "curated", "joint_genotypes")
    called = set(genotypes["participant_id"])
    assert set(new_passed["participant_id"]) & called
    assert called <= set(passed["participant_id"])


@pytest.mark.parametrize("name", CLINICAL)
def test_new_extracts_quarantine_only_what_the_truth_implies(two_waves, name):
    lake, source = two_waves["lake"], two_waves["source"]
    truth1, truth2 = two_waves["truth1"], two_waves["truth2"]
    merged = merged_truth(truth1, truth2)
    erased = erased_nhs_numbers(source, merged)  # their lines were blanked by propagation
    expected = expected_quarantine(source, merged, name, erased)
    quarantine = read(lake, "quarantine", QUARANTINE_TABLE).filter(
        pl.col("feed") == f"clinical/{name}"
    )
    keys = [k for k in truth2["feeds"] if k.startswith(f"clinical/{name}/")]
    assert keys
    for key in keys:
        got = quarantine.filter(pl.col("source_file") == key)
        assert set(zip(got["line"], got["rule"], strict=True)) == expected[key], key
        assert got.height == len(expected[key])
        # in the lake's landing copy exactly the erased participants' lines are now empty
        landed = objects.read_bytes(lake.landing(key)).decode().splitlines()
        assert {n for n, line in enumerate(landed, start=1) if not line} == erased_lines(
            source / key, erased
        ), key
        assert len(landed) == len((source / key).read_text().splitlines())
    ledger = read(lake, "audit", LEDGER_TABLE).filter(pl.col("landing_key").is_in(keys))
    for row in ledger.iter_rows(named=True):
        info = truth2["feeds"][row["landing_key"]]
        blanked = erased_lines(source / row["landing_key"], erased)
        assert row["rows_in"] == info["good_rows"] + len(info["defects"]) - len(blanked)
        assert row["rows_accepted"] == row["rows_in"] - len(expected[row["landing_key"]])


@pytest.mark.s3
def test_cli_lands_a_second_wave_on_s3(s3_lake, tmp_path):
    """``ngrl synth --wave 2`` on an S3 landing zone reads the first wave and uploads only
    the new objects (every first-wave object keeps its ETag); the answer key of both waves
    goes to ``--truth-dir``, never into the lake."""
    from ngrl_assets.cli import main

    landing = s3_lake.zone("landing")
    truth_dir = tmp_path / "truth"
    common = ["--seed", "7", "--landing", landing, "--truth-dir", str(truth_dir), "--quiet"]
    assert main(["synth", "--participants", "10", *common]) == 0
    first = {o.uri: o.version for o in objects.list_objects(landing)}
    assert main(["synth", "--participants", "5", "--wave", "2", *common]) == 0
    second = {o.uri: o.version for o in objects.list_objects(landing)}
    assert {k: second[k] for k in first} == first
    new = sorted(set(second) - set(first))
    assert sorted(p.name for p in truth_dir.iterdir()) == ["truth.json", "truth_w2.json"]
    assert not any("/_synth/" in k or "truth" in k.rsplit("/", 1)[-1] for k in second)
    assert any("/sequencing/D2026-W2-001/gvcf/" in k for k in new)
    assert not any("/gvcf/" in k and "-W2-" not in k for k in new)
