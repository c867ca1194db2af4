"""Waves of the synthetic generator: ``generate_cohort(..., wave=N)`` lands a later batch
into the landing zone of waves 1..N-1. Wave 1 is byte for byte the plain call; a later
wave only adds objects, with names the sensors accept and identifiers never seen before.
Checks re-read the written files (docs/landing.md), not the generator's internals."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from ngrl_assets.clinical import intake as clinical_intake
from ngrl_assets.clinical.sources import SOURCES
from ngrl_assets.common import ledger
from ngrl_assets.consent import nhs_number
from ngrl_assets.sequencing import intake as sequencing_intake
from ngrl_assets.synth import generate_cohort, truth_path

N1, N2, N3 = 30, 15, 6
SEED = 13
CLINICAL_KEYS = ("EPIKEY", "ATTENDKEY", "AEKEY", "TUMOURID")
# docs/landing.md, the layout block
CONSENT_NAME = re.compile(r"^(registrations|withdrawals)_(\d{8})(_\d+)?\.csv$")
DELIVERY_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def table(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    sep = "\t" if path.suffix == ".tsv" else "|"
    lines = text.rstrip("\n").split("\n")
    header = lines[0].split(sep)
    return [dict(zip(header, line.split(sep), strict=True)) for line in lines[1:]]


def digits(value: str) -> str:
    return "".join(c for c in value if c.isdigit())


def identifiers(root: Path, keys: set[str]) -> dict[str, set[str]]:
    """Every reference, NHS number, sample id and clinical record key in these files."""
    out: dict[str, set[str]] = {"ref": set(), "nhs": set(), "sample": set(), "key": set()}
    for key in sorted(keys):
        path = root / key
        if key.startswith("consent/"):
            for row in table(path):
                out["ref"].add(row["participant_reference"])
                if "nhs_number" in row:
                    out["nhs"].add(digits(row["nhs_number"]))
        elif key.endswith("manifest.tsv"):
            for row in table(path):
                out["sample"].add(row["sample_id"])
                out["ref"].add(row["participant_reference"])
        elif key.startswith("clinical/"):
            for row in table(path):
                out["nhs"].add(row["NEWNHSNO"])
                out["key"] |= {f"{k}:{row[k]}" for k in CLINICAL_KEYS if row.get(k)}
    return out


def good_rows(root: Path, truth: dict, key: str) -> list[dict[str, str]]:
    bad = {d["line"] for d in truth["feeds"][key]["defects"]}
    return [row for line, row in enumerate(table(root / key), start=2) if line not in bad]


@pytest.fixture(scope="module")
def waves(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("waves")
    root = base / "landing"
    truth1 = generate_cohort(root, participants=N1, seed=SEED)
    before = tree_hashes(root)
    shutil.copytree(root, base / "wave1_only")
    truth2 = generate_cohort(root, participants=N2, seed=SEED, wave=2)
    after = tree_hashes(root)
    return {
        "root": root,
        "wave1_only": base / "wave1_only",
        "truth1": truth1,
        "truth2": truth2,
        "before": before,
        "after": after,
        "new": sorted(set(after) - set(before)),
    }


def test_wave_one_is_the_plain_call(tmp_path):
    plain, explicit = tmp_path / "plain", tmp_path / "explicit"
    generate_cohort(plain, participants=20, seed=SEED, batch_size=8)
    generate_cohort(explicit, participants=20, seed=SEED, batch_size=8, wave=1)
    assert tree_hashes(plain) == tree_hashes(explicit)
    assert not truth_path(plain, 2).exists()


def test_wave_two_only_adds_objects(waves):
    before, after = waves["before"], waves["after"]
    assert {k: after[k] for k in before} == before  # nothing rewritten, nothing removed
    new = waves["new"]
    assert "_synth/truth_w2.json" in new and "_synth/truth.json" not in new
    tops = {k.split("/")[0] + "/" + k.split("/")[1] for k in new if not k.startswith("_")}
    assert {
        "consent/registrations",
        "consent/withdrawals",
        *(f"clinical/{s}" for s in SOURCES),
    } <= tops
    assert any(k.startswith("sequencing/") and k.endswith("/manifest.tsv") for k in new)
    # the truth lists exactly the new feed files, and its summary is the file's content
    feeds = sorted(k for k in new if not k.startswith("_") and "/gvcf/" not in k)
    assert sorted(waves["truth2"]["feeds"]) == feeds
    on_disk = json.loads((waves["root"] / "_synth" / "truth_w2.json").read_text())
    assert on_disk == waves["truth2"]


def test_names_follow_the_documented_patterns_and_come_later(waves):
    as_of_1 = waves["truth1"]["args"]["as_of"].replace("-", "")
    for key in waves["new"]:
        parts = key.split("/")
        if parts[0] == "_synth":
            assert ledger._hidden(key)  # the sensors never see the truth
            continue
        assert not ledger._hidden(key)
        if parts[0] == "consent":
            m = CONSENT_NAME.match(parts[2])
            assert m and m.group(1) == parts[1], key
            assert m.group(2) > as_of_1
        elif parts[0] == "sequencing":
            assert DELIVERY_ID.match(parts[1]) and sequencing_intake.valid_delivery_id(parts[1])
            assert re.fullmatch(r"D\d{4}-W2-\d{3}", parts[1]), key
            assert parts[2] == "manifest.tsv" or re.fullmatch(
                r"gvcf/[A-Za-z0-9_.-]+\.g\.vcf\.gz(\.tbi)?", "/".join(parts[2:])
            ), key
        else:
            assert parts[0] == "clinical" and len(parts) == 3, key
            assert clinical_intake.recognised(SOURCES[parts[1]], parts[2]), key
            delivered = clinical_intake.delivery_date(parts[2], dt.date.min)
            assert delivered.isoformat() > waves["truth1"]["args"]["as_of"]
    assert waves["truth2"]["args"]["as_of"] == "2026-11-30"


def test_no_identifier_is_shared_with_wave_one(waves):
    root = waves["root"]
    first = identifiers(root, set(waves["truth1"]["feeds"]))
    second = identifiers(root, set(waves["truth2"]["feeds"]))
    changed = set(waves["truth2"]["wave"]["case_changes"])
    assert changed and changed <= first["ref"]  # withdrawal notices for wave-1 participants
    # by default from further contact only (no curated row becomes barred)
    kinds = {c["case"] for c in waves["truth2"]["wave"]["case_changes"].values()}
    assert kinds == {"withdrawn_no_further_contact"}
    assert second["ref"] & first["ref"] == changed
    assert not second["sample"] & first["sample"]
    assert not second["key"] & first["key"]
    # NHS numbers: the only shared ones are wave-1 participants' new hospital activity
    registered2 = {
        digits(row["nhs_number"])
        for key in waves["truth2"]["feeds"]
        if key.startswith("consent/registrations/")
        for row in table(root / key)
    }
    assert not registered2 & first["nhs"]
    shared = second["nhs"] & first["nhs"]
    registered1 = {
        digits(row["nhs_number"])
        for key in waves["truth1"]["feeds"]
        if key.startswith("consent/registrations/")
        for row in good_rows(root, waves["truth1"], key)
    }
    assert shared <= registered1


def test_new_participants_are_valid_and_numbered_after_wave_one(waves):
    root, truth2 = waves["root"], waves["truth2"]
    refs, nhs = set(), set()
    for key in truth2["feeds"]:
        if key.startswith("consent/registrations/"):
            for row in good_rows(root, truth2, key):
                assert nhs_number.is_valid(row["nhs_number"])
                assert re.fullmatch(r"P\d{9}", row["participant_reference"])
                refs.add(row["participant_reference"])
                nhs.add(digits(row["nhs_number"]))
    assert refs == set(truth2["eligibility"]["by_participant"]) and len(refs) == N2
    assert len(nhs) == N2
    assert truth2["wave"]["first_participant_index"] == N1
    assert truth2["participants"]["count"] == N2


def test_wave_two_is_synthetic_and_covers_its_participants(waves):
    root, truth1, truth2 = waves["root"], waves["truth1"], waves["truth2"]
    kinds = {d["kind"] for d in truth2["sequencing"]["deliveries"].values()}
    assert kinds == {"synthetic"} and not truth2["args"]["real_gvcf"]
    assert truth1["args"]["real_gvcf"]
    real = {s for d in truth1["sequencing"]["deliveries"].values() for s in d.get("sources", {})}
    second = identifiers(root, set(truth2["feeds"]))
    assert real and not second["sample"] & real
    # every sequenced wave-2 participant is a wave-2 registrant
    refs2 = set(truth2["eligibility"]["by_participant"])
    for key in truth2["feeds"]:
        if key.endswith("manifest.tsv"):
            for row in good_rows(root, truth2, key):
                assert row["participant_reference"] in refs2
    # clinical extracts carry wave-2 participants (and maybe wave-1 ones' later activity)
    nhs2 = {
        digits(row["nhs_number"])
        for key in truth2["feeds"]
        if key.startswith("consent/registrations/")
        for row in good_rows(root, truth2, key)
    }
    clinical2 = {
        row["NEWNHSNO"]
        for key in truth2["feeds"]
        if key.startswith("clinical/")
        for row in good_rows(root, truth2, key)
    }
    assert clinical2 & nhs2
    # wave-1 participants' new activity is dated after wave 1's last clinical cut
    nhs1 = {
        digits(row["nhs_number"])
        for key in truth1["feeds"]
        if key.startswith("consent/registrations/")
        for row in good_rows(root, truth1, key)
    }
    cut1 = dt.date.fromisoformat(truth1["timeline"]["clinical_deliveries"][-1]) - dt.timedelta(30)
    dates = {"hes_apc": "EPIEND", "hes_op": "APPTDATE", "hes_ae": "ARRIVALDATE"}
    later = [
        row[dates[key.split("/")[1]]]
        for key in truth2["feeds"]
        if key.split("/")[0] == "clinical" and key.split("/")[1] in dates
        for row in good_rows(root, truth2, key)
        if row["NEWNHSNO"] in nhs1
    ]
    assert len(later) == truth2["clinical"]["earlier_wave_events"] > 0
    assert all(d > cut1.isoformat() for d in later)
    assert not clinical2 - nhs1 - nhs2  # good rows are only ever registered participants


def carried_alleles(root: Path, truth: dict) -> set[tuple[str, int, str, str]]:
    """(contig, pos, REF, ALT) carried by the good samples of a wave's synthetic gVCFs."""
    import cyvcf2

    bad = {d.get("sample_id") for f in truth["feeds"].values() for d in f["defects"]}
    out = set()
    for name, d in truth["sequencing"]["deliveries"].items():
        for gz in sorted((root / "sequencing" / name / "gvcf").glob("*.g.vcf.gz")):
            if d["kind"] != "synthetic" or gz.name.removesuffix(".g.vcf.gz") in bad:
                continue
            for rec in cyvcf2.VCF(str(gz)):
                if not rec.INFO.get("END"):
                    alleles = {a for a in rec.genotypes[0][:2] if a > 0}
                    out |= {(rec.CHROM, rec.POS, rec.REF, rec.ALT[a - 1]) for a in alleles}
    return out


def test_wave_two_genomes_come_from_the_same_population(waves):
    """A later wave's people are more of the same simulated population: their common
    alleles are the ones wave 1 carries (an independent simulation would share none)."""
    first = carried_alleles(waves["root"], waves["truth1"])
    second = carried_alleles(waves["root"], waves["truth2"])
    assert len(second) > 500
    assert len(second & first) / len(second) > 0.5


def test_wave_two_is_deterministic(waves, tmp_path):
    copy = tmp_path / "landing"
    shutil.copytree(waves["wave1_only"], copy)
    generate_cohort(copy, participants=N2, seed=SEED, wave=2)
    assert tree_hashes(copy) == waves["after"]


def test_wave_order_is_enforced(waves, tmp_path):
    with pytest.raises(FileNotFoundError):
        generate_cohort(tmp_path / "empty", participants=5, seed=SEED, wave=2)
    with pytest.raises(FileExistsError):
        generate_cohort(waves["root"], participants=5, seed=SEED, wave=2)
    with pytest.raises(FileNotFoundError):
        generate_cohort(waves["wave1_only"], participants=5, seed=SEED, wave=3)


def test_a_third_wave_collides_with_neither(waves, tmp_path):
    root = tmp_path / "landing"
    shutil.copytree(waves["root"], root)
    truth3 = generate_cohort(root, participants=N3, seed=SEED, wave=3, earlier_full_withdrawals=1)
    assert truth3["args"]["as_of"] == "2027-01-30"
    assert truth3["wave"]["first_participant_index"] == N1 + N2
    ids3 = identifiers(root, set(truth3["feeds"]))
    earlier = identifiers(root, set(waves["truth1"]["feeds"]) | set(waves["truth2"]["feeds"]))
    assert not ids3["sample"] & earlier["sample"]
    assert not ids3["key"] & earlier["key"]
    assert ids3["ref"] & earlier["ref"] == set(truth3["wave"]["case_changes"])
    cases = sorted(c["case"] for c in truth3["wave"]["case_changes"].values())
    assert cases == ["withdrawn_full", "withdrawn_no_further_contact"]
    # nobody withdraws twice
    assert not set(truth3["wave"]["case_changes"]) & set(waves["truth2"]["wave"]["case_changes"])
    assert all(re.fullmatch(r"D\d{4}-W3-\d{3}", d) for d in truth3["sequencing"]["deliveries"])
