"""The synthetic landing-zone generator (ngrl_assets.synth).

Every check re-derives its answer from the written files with rules written here, from
docs/landing.md, independently of the generator's own code."""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import gzip
import hashlib
import json
import math
import re
from pathlib import Path

import cyvcf2
import pysam
import pytest

from ngrl_assets.consent import nhs_number
from ngrl_assets.synth import REAL_GVCF_DIR, generate_cohort

N = 40
SEED = 11
AS_OF = dt.date(2026, 9, 30)
REPO = Path(__file__).resolve().parents[2]
HES_SPEC = REPO / "ngrl_assets" / "clinical" / "hes_spec"
CASES = {
    "adult_alive": True,
    "adult_deceased": True,
    "child_under16": True,
    "child_now16_alive": False,
    "child_now16_deceased": True,
    "child_consented_16plus_alive": False,
    "child_consented_16plus_deceased": False,
    "research_not_discussed": False,
    "research_not_agreed": False,
    "withdrawn_full": False,
    "withdrawn_no_further_contact": True,
}
ICD10 = re.compile(r"^[A-Z][0-9]{2}([0-9]|\.[0-9]|X|-)?(-[AD])?$")
OPCS4 = re.compile(r"^([A-Z][0-9]{3}|-)$")
MORTALITY = [
    "NEWNHSNO",
    "DOB",
    "DEC_SEX",
    "REG_DATE_OF_DEATH",
    "REG_DATE",
    "S_UNDERLYING_COD_ICD10",
    *(f"S_COD_CODE_{i}" for i in range(1, 16)),
]
TUMOUR = [
    "NEWNHSNO",
    "DOB",
    "TUMOURID",
    "DIAGNOSISDATEBEST",
    "SITE_ICD10_O2",
    "SITE_ICD10_O2_3CHAR",
    "MORPH_ICD10_O2",
    "BEHAVIOUR_ICD10_O2",
    "T_BEST",
    "N_BEST",
    "M_BEST",
    "STAGE_BEST",
    "GRADE",
    "ER_STATUS",
    "PR_STATUS",
    "HER2_STATUS",
]
PRIMARY = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY", "chrM"]


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("synth") / "landing"
    return out, generate_cohort(out, participants=N, seed=SEED)


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean") / "landing"
    return out, generate_cohort(out, participants=N, seed=SEED, defect_rate=0, real_gvcf_dir=None)


def deliveries(root: Path, truth: dict, kind: str) -> list[Path]:
    """Delivery folders of one kind (synthetic / real), as the truth file lists them."""
    found = sorted(
        name for name, d in truth["sequencing"]["deliveries"].items() if d["kind"] == kind
    )
    return [root / "sequencing" / name for name in found]


def tree_hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_table(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8")
    assert "\r" not in text
    if path.suffix == ".csv":
        return list(csv.DictReader(text.splitlines()))
    lines = text.rstrip("\n").split("\n")
    sep = "\t" if path.suffix == ".tsv" else "|"
    header = lines[0].split(sep)
    rows = [line.split(sep) for line in lines[1:]]
    assert all(len(r) == len(header) for r in rows), path
    return [dict(zip(header, r, strict=True)) for r in rows]


def parse_date(value: str, fmt: str = "%Y-%m-%d") -> dt.date | None:
    try:
        return dt.datetime.strptime(value, fmt).date()
    except ValueError:
        return None


def age(dob: dt.date, on: dt.date) -> int:
    return on.year - dob.year - ((on.month, on.day) < (dob.month, dob.day))


def hes_spec(source: str) -> list[tuple[str, str]]:
    text = (HES_SPEC / f"artificial_hes_{source}_schema_fields.tsv").read_text(encoding="utf-8")
    return [tuple(line.split("\t")[:2]) for line in text.splitlines() if line]  # type: ignore[misc]


# ---- independent validators: the set of rules a row breaks ---------------------------


def registration_problems(row: dict[str, str]) -> set[str]:
    problems = set()
    if not nhs_number.is_valid(row["nhs_number"]):
        problems.add("nhs_number_check_digit")
    dates = ["date_of_birth", "consent_date", "record_date"]
    if any(parse_date(row[c]) is None for c in dates) or (
        row["date_of_death"] and parse_date(row["date_of_death"]) is None
    ):
        problems.add("invalid_date")
    enums = {
        "sex": {"F", "M", "U"},
        "programme": {"gms", "100kgp"},
        "consent_category": {"adult", "child"},
        "life_status": {"alive", "deceased"},
        "research_discussed": {"true", "false"},
        "research_agreed": {"true", "false"},
    }
    if any(row[c] not in allowed for c, allowed in enums.items()):
        problems.add("invalid_enum")
    if not re.fullmatch(r"P\d{9}", row["participant_reference"]):
        problems.add("bad_reference")
    return problems


def good_registrations(root: Path) -> list[tuple[dict[str, str], int, int]]:
    """Valid registration rows with (file order, line number)."""
    out = []
    files = sorted((root / "consent" / "registrations").glob("registrations_*.csv"))
    for f_index, path in enumerate(files):
        for line, row in enumerate(read_table(path), start=2):
            if not registration_problems(row):
                out.append((row, f_index, line))
    return out


def registry(root: Path) -> dict[str, dict[str, str]]:
    """participant_reference -> latest valid record (record_date, then file, then line)."""
    latest: dict[str, tuple] = {}
    for row, f_index, line in good_registrations(root):
        key = (row["record_date"], f_index, line)
        ref = row["participant_reference"]
        if ref not in latest or key > latest[ref][0]:
            latest[ref] = (key, row)
    return {ref: row for ref, (_, row) in latest.items()}


def clinical_problems(source: str, row: dict[str, str], people: dict[str, str], seen: set):
    """people: NHS number -> registered DOB; seen: keys met earlier in this source."""
    problems = set()
    nhs = row["NEWNHSNO"]
    if not nhs_number.is_valid(nhs):
        problems.add("nhs_number_check_digit")
    elif nhs not in people:
        problems.add("unknown_patient")
    elif people[nhs] != row["DOB"]:
        problems.add("dob_mismatch")
    if source.startswith("hes_"):
        spec = hes_spec(source.removeprefix("hes_"))
        dates = [name for name, kind in spec if kind == "Date"]
        if any(row[c] and parse_date(row[c]) is None for c in dates):
            problems.add("invalid_date")
        key = {"hes_apc": "EPIKEY", "hes_op": "ATTENDKEY", "hes_ae": "AEKEY"}[source]
        if row[key] in seen:
            problems.add("duplicate_key")
        seen.add(row[key])
        if source == "hes_ae":
            diag2 = [v for c, v in row.items() if c.startswith("DIAG2_") and v]
            if not diag2 or any(not re.fullmatch(r"\d{2}", v) for v in diag2):
                problems.add("invalid_ae_diagnosis")
        else:
            codes = [
                v for c, v in row.items() if c.startswith("DIAG_4_0") or c.startswith("DIAG_4_1")
            ]
            if any(v and not ICD10.match(v) for v in codes):
                problems.add("invalid_icd10")
            ops = [v for c, v in row.items() if re.fullmatch(r"OPERTN_4_\d\d", c) and v]
            assert all(OPCS4.match(v) for v in ops), ops
    elif source == "ons_mortality":
        if any(parse_date(row[c], "%Y%m%d") is None for c in ("REG_DATE_OF_DEATH", "REG_DATE")):
            problems.add("invalid_date")
        codes = [row["S_UNDERLYING_COD_ICD10"]] + [row[f"S_COD_CODE_{i}"] for i in range(1, 16)]
        if not codes[0] or any(v and not ICD10.match(v) for v in codes):
            problems.add("invalid_icd10")
    else:
        if parse_date(row["DIAGNOSISDATEBEST"], "%d/%m/%Y") is None:
            problems.add("invalid_date")
        if not ICD10.match(row["SITE_ICD10_O2"]):
            problems.add("invalid_icd10")
    if parse_date(row["DOB"]) is None:
        problems.add("invalid_dob")
    return problems


def feed_problems(root: Path) -> dict[str, list[set[str]]]:
    """Every feed file -> the rules each data row breaks (index 0 = line 2)."""
    reg = registry(root)
    people = {nhs_number.normalise(r["nhs_number"]): r["date_of_birth"] for r in reg.values()}
    result: dict[str, list[set[str]]] = {}
    for path in sorted((root / "consent" / "registrations").glob("*.csv")):
        result[path.relative_to(root).as_posix()] = [
            registration_problems(r) for r in read_table(path)
        ]
    for path in sorted((root / "consent" / "withdrawals").glob("*.csv")):
        result[path.relative_to(root).as_posix()] = [
            ({"unknown_participant"} if r["participant_reference"] not in reg else set())
            | (
                {"invalid_enum"}
                if r["withdrawal_type"] not in ("full", "no_further_contact")
                else set()
            )
            | ({"invalid_date"} if parse_date(r["withdrawal_date"]) is None else set())
            for r in read_table(path)
        ]
    for source_dir in sorted((root / "clinical").iterdir()):
        seen: set[str] = set()
        for path in sorted(source_dir.glob("*.txt")):
            rows = read_table(path)
            result[path.relative_to(root).as_posix()] = [
                clinical_problems(source_dir.name, r, people, seen) for r in rows
            ]
    for manifest in sorted((root / "sequencing").glob("*/manifest.tsv")):
        problems = []
        for r in read_table(manifest):
            found = set()
            gz = manifest.parent / r["gvcf_path"]
            if hashlib.md5(gz.read_bytes()).hexdigest() != r["gvcf_md5"]:
                found.add("md5_mismatch")
            if r["participant_reference"] not in reg:
                found.add("unknown_participant")
            try:
                vcf = cyvcf2.VCF(str(gz))
                if vcf.samples != [r["sample_id"]]:
                    found.add("sample_mismatch")
                for _ in vcf:
                    pass
            except Exception:
                found.add("malformed_record")
            if not (manifest.parent / r["tbi_path"]).is_file():
                found.add("missing_index")
            problems.append(found)
        result[manifest.relative_to(root).as_posix()] = problems
    return result


# ---- tests ---------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(landing, tmp_path):
    root, truth = landing
    again = generate_cohort(tmp_path / "again", participants=N, seed=SEED)
    assert tree_hashes(tmp_path / "again") == tree_hashes(root)
    assert again == truth


def test_other_seed_differs(landing, tmp_path):
    root, _ = landing
    generate_cohort(tmp_path / "other", participants=N, seed=SEED + 1)
    mine, other = tree_hashes(root), tree_hashes(tmp_path / "other")
    assert mine != other
    for name in ("consent/registrations", "clinical/hes_apc", "_synth/truth.json"):
        assert {k: v for k, v in mine.items() if k.startswith(name)} != {
            k: v for k, v in other.items() if k.startswith(name)
        }


def test_refuses_a_non_empty_landing(landing):
    with pytest.raises(FileExistsError):
        generate_cohort(landing[0], participants=N, seed=SEED)


def test_truth_file_is_the_returned_summary(landing):
    root, truth = landing
    assert json.loads((root / "_synth" / "truth.json").read_text()) == truth
    assert truth["seed"] == SEED and truth["args"]["participants"] == N
    text = (root / "_synth" / "truth.json").read_text()
    assert not re.search(r"\d\d:\d\d:\d\d", text)  # no wall-clock timestamps
    assert truth["participants"]["count"] == N
    assert len(truth["eligibility"]["by_participant"]) == N


def test_layout_and_names(landing):
    root, truth = landing
    names = [p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()]
    patterns = [
        r"consent/registrations/registrations_\d{8}(_\d+)?\.csv",
        r"consent/withdrawals/withdrawals_\d{8}(_\d+)?\.csv",
        r"sequencing/[A-Za-z0-9_-]+/manifest\.tsv",
        r"sequencing/[A-Za-z0-9_-]+/gvcf/[^/]+\.g\.vcf\.gz(\.tbi)?",
        r"clinical/(hes_apc|hes_op|hes_ae|ons_mortality|av_tumour)/\1_\d{8}\.txt",
        r"_synth/truth\.json",
    ]
    assert all(any(re.fullmatch(p, n) for p in patterns) for n in names), names
    assert len(list((root / "consent" / "registrations").glob("*.csv"))) in (2, 3)
    assert len(list((root / "clinical" / "hes_apc").glob("*.txt"))) >= 2
    deliveries = sorted(p.name for p in (root / "sequencing").iterdir())
    assert "D2026-REAL" in deliveries and "D2026-001" in deliveries
    assert all(re.fullmatch(r"D\d{4}-(\d{3}|REAL)", d) for d in deliveries)
    assert set(truth["feeds"]) == {
        n for n in names if not n.startswith("_synth") and "/gvcf/" not in n
    }


def test_truth_defects_are_exactly_what_the_files_contain(landing):
    root, truth = landing
    problems = feed_problems(root)
    assert set(problems) == set(truth["feeds"])
    for name, info in truth["feeds"].items():
        rows = problems[name]
        assert len(rows) == info["good_rows"] + len(info["defects"]), name
        expected = {d["line"]: d["rule"] for d in info["defects"]}
        for line, found in enumerate(rows, start=2):
            if line in expected:
                assert expected[line] in found, (name, line, found)
            else:
                assert not found, (name, line, found)
    totals = truth["defect_totals"]
    for feed in (
        "consent/registrations",
        "consent/withdrawals",
        "sequencing/manifest",
        "clinical/hes_apc",
        "clinical/hes_op",
        "clinical/hes_ae",
        "clinical/ons_mortality",
        "clinical/av_tumour",
    ):
        assert sum(totals[feed].values()) > 0, feed


def test_defect_rate_zero_is_perfectly_clean(clean):
    root, truth = clean
    assert all(not info["defects"] for info in truth["feeds"].values())
    assert not any(truth["defect_totals"].values())
    for name, rows in feed_problems(root).items():
        assert all(not found for found in rows), name
        assert len(rows) == truth["feeds"][name]["good_rows"]
    assert not deliveries(root, truth, "real")
    assert not list((root / "sequencing").glob("*-REAL"))


def test_every_eligibility_case_is_present_and_derivable(landing):
    root, truth = landing
    reg = registry(root)
    withdrawn: dict[str, str] = {}
    for path in sorted((root / "consent" / "withdrawals").glob("*.csv")):
        for r in read_table(path):
            ref, kind = r["participant_reference"], r["withdrawal_type"]
            valid = ref in reg and kind in ("full", "no_further_contact")
            if valid and withdrawn.get(ref) != "full":
                withdrawn[ref] = kind
    derived = {}
    for ref, r in reg.items():
        dob, consent = parse_date(r["date_of_birth"]), parse_date(r["consent_date"])
        dead = r["life_status"] == "deceased"
        if withdrawn.get(ref) == "full":
            case = "withdrawn_full"
        elif r["research_discussed"] != "true":
            case = "research_not_discussed"
        elif r["research_agreed"] != "true":
            case = "research_not_agreed"
        elif withdrawn.get(ref) == "no_further_contact":
            case = "withdrawn_no_further_contact"
        elif r["consent_category"] == "adult":
            case = "adult_deceased" if dead else "adult_alive"
        elif age(dob, consent) >= 16:
            case = "child_consented_16plus_" + ("deceased" if dead else "alive")
        elif age(dob, AS_OF) < 16:
            case = "child_under16"
        else:
            case = "child_now16_" + ("deceased" if dead else "alive")
        assert consent < AS_OF
        derived[ref] = case
    assert derived == truth["eligibility"]["by_participant"]
    assert set(derived.values()) == set(CASES)
    cases = truth["eligibility"]["cases"]
    assert {k: v["eligible"] for k, v in cases.items()} == CASES
    assert sum(CASES[c] for c in derived.values()) == truth["participants"]["eligible"]


def test_registration_history_latest_record_wins(landing):
    root, truth = landing
    rows = good_registrations(root)
    files_per_ref: dict[str, set[int]] = {}
    for row, f_index, _ in rows:
        files_per_ref.setdefault(row["participant_reference"], set()).add(f_index)
    reappearing = [ref for ref, files in files_per_ref.items() if len(files) > 1]
    assert len(reappearing) == truth["participants"]["reappearing"] >= 1
    assert len(files_per_ref) == N


def test_gvcfs_parse_sorted_indexed_and_agree_on_ref(landing):
    root, truth = landing
    bad = {
        d["sample_id"]
        for info in truth["feeds"].values()
        for d in info["defects"]
        if d["rule"] == "malformed_record"
    }
    ref_at: dict[tuple[str, int], str] = {}
    kinds: set[str] = set()
    carriers: dict[tuple[str, int, str], int] = {}
    low_depth = 0
    n_samples = 0
    synthetic = deliveries(root, truth, "synthetic")
    for gz in sorted(g for folder in synthetic for g in folder.glob("gvcf/*.g.vcf.gz")):
        if gz.name.removesuffix(".g.vcf.gz") in bad:
            continue
        n_samples += 1
        vcf = cyvcf2.VCF(str(gz))
        header = vcf.raw_header
        assert "##fileformat=VCFv4.2" in header and "##reference=GRCh38" in header
        assert vcf.seqnames == PRIMARY
        assert dict(zip(vcf.seqnames, vcf.seqlens, strict=True))["chr22"] == 50818468
        order = {c: i for i, c in enumerate(vcf.seqnames)}
        last, records = (-1, 0), 0
        for rec in vcf:
            records += 1
            key = (order[rec.CHROM], rec.start)
            assert key > last, (gz.name, rec.CHROM, rec.POS)  # sorted, never overlapping
            last = (order[rec.CHROM], rec.end - 1)
            assert rec.ALT[-1] == "<NON_REF>"
            first = ref_at.setdefault((rec.CHROM, rec.POS), rec.REF[0])
            assert first == rec.REF[0], (rec.CHROM, rec.POS)
            if rec.INFO.get("END"):
                assert rec.FORMAT == ["GT", "AD", "DP", "GQ", "MIN_DP", "PL"]
                assert rec.genotypes[0][:2] == [0, 0]
                low_depth += int(rec.format("DP")[0][0]) < 10
                continue
            assert rec.FORMAT == ["GT", "AD", "DP", "GQ", "PL"]
            alts = rec.ALT[:-1]
            a, b = rec.genotypes[0][:2]
            for allele in {a, b} - {0}:
                alt = alts[allele - 1]
                if len(alt) == len(rec.REF) == 1:
                    kinds.add("snv")
                elif len(alt) > len(rec.REF):
                    kinds.add("insertion")
                    assert alt[0] == rec.REF[0]
                elif len(alt) < len(rec.REF):
                    kinds.add("deletion")
                    assert alt[0] == rec.REF[0]  # the anchor base
                carriers[(rec.CHROM, rec.POS, alt)] = carriers.get((rec.CHROM, rec.POS, alt), 0) + 1
        assert 1000 <= records <= 6000, (gz.name, records)
        tbx = pysam.TabixFile(str(gz))
        fetched = list(tbx.fetch("chr22", 10_515_000, 10_525_000))
        assert fetched and all(line.split("\t")[0] == "chr22" for line in fetched)
        assert len(fetched) == sum(1 for _ in vcf("chr22:10515001-10525000"))
    assert n_samples >= 15
    assert kinds == {"snv", "insertion", "deletion"}
    assert low_depth > 0
    counts = sorted(carriers.values())
    assert counts[0] == 1 and counts[-1] >= n_samples // 4  # private and common alleles


def test_chrx_is_hemizygous_looking_in_xy_samples(landing):
    root, truth = landing
    xy_calls = xx_hets = 0
    for manifest in [folder / "manifest.tsv" for folder in deliveries(root, truth, "synthetic")]:
        for r in read_table(manifest):
            gz = manifest.parent / r["gvcf_path"]
            if (
                r["inferred_sex"] not in ("XX", "XY")
                or hashlib.md5(gz.read_bytes()).hexdigest() != r["gvcf_md5"]
            ):
                continue
            try:
                records = list(cyvcf2.VCF(str(gz))("chrX"))
            except Exception:
                continue
            for rec in records:
                if rec.INFO.get("END"):
                    continue
                a, b = rec.genotypes[0][:2]
                if r["inferred_sex"] == "XY":
                    xy_calls += 1
                    assert a == b, (gz.name, rec.POS)
                else:
                    xx_hets += a != b
    assert xy_calls > 0 and xx_hets > 0


def test_real_delivery_maps_real_samples(landing):
    root, truth = landing
    assert (REAL_GVCF_DIR / "NA12878.g.vcf.gz").exists(), "the repo ships the real gVCFs"
    (folder,) = deliveries(root, truth, "real")
    real = read_table(folder / "manifest.tsv")
    synthetic = {
        r["participant_reference"]
        for m in deliveries(root, truth, "synthetic")
        for r in read_table(m / "manifest.tsv")
    }
    reg = registry(root)
    assert "NA12878" in {r["sample_id"] for r in real}
    refs = [r["participant_reference"] for r in real]
    assert len(set(refs)) == len(refs) == min(51, round(0.95 * N) // 2)
    assert all(ref in reg and ref not in synthetic for ref in refs)
    for r in real:
        gz = folder / r["gvcf_path"]
        assert cyvcf2.VCF(str(gz)).samples == [r["sample_id"]]
        assert pysam.TabixFile(str(gz)).contigs  # indexed (NA12878's .tbi is created)
        if r["sample_id"] == "NA12878":
            assert reg[r["participant_reference"]]["sex"] in ("F", "U")
            assert r["inferred_sex"] == "XX"


TRANSITIONS = {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}


def synthetic_gvcfs(root: Path, truth: dict) -> list[Path]:
    """The good synthetic samples' gVCFs (defect samples left out)."""
    bad = {
        d["sample_id"]
        for info in truth["feeds"].values()
        for d in info["defects"]
        if "sample_id" in d
    }
    return sorted(
        g
        for folder in deliveries(root, truth, "synthetic")
        for g in folder.glob("gvcf/*.g.vcf.gz")
        if g.name.removesuffix(".g.vcf.gz") not in bad
    )


def sample_statistics(gz: Path) -> dict[str, float]:
    """Ti/Tv of SNV calls, het/hom-alt, the indel share and mean allele balance of hets,
    from one gVCF's variant records (computed here, independently of the generator)."""
    ti = tv = het = hom = indels = 0
    balance = []
    for rec in cyvcf2.VCF(str(gz)):
        if rec.INFO.get("END"):
            continue
        a, b = rec.genotypes[0][:2]
        alts = rec.ALT[:-1]
        if a == b == 0:
            continue
        het += a != b
        hom += a == b
        for allele in {a, b} - {0}:
            alt = alts[allele - 1]
            if len(alt) == len(rec.REF) == 1:
                ti += (rec.REF, alt) in TRANSITIONS
                tv += (rec.REF, alt) not in TRANSITIONS
            else:
                indels += 1
        if a == 0 and b == 1:
            ad = rec.format("AD")[0]
            balance.append(ad[1] / max(1, ad[0] + ad[1]))
    return {
        "ti_tv": ti / tv,
        "het_hom": het / hom,
        "indel_share": indels / (ti + tv + indels),
        "balance": sum(balance) / len(balance),
        "snvs": ti + tv,
    }


def test_synthetic_genomes_have_human_like_statistics(landing):
    """Per sample, as whole-genome sequencing of European-ancestry people shows them:
    SNV Ti/Tv about 2.0-2.1, het/hom-alt 1.3-2.0, about a tenth of calls indels, hets
    balanced; and every sample inside the library's distribution bands (expectations)."""
    root, truth = landing
    stats = [sample_statistics(gz) for gz in synthetic_gvcfs(root, truth)]
    assert len(stats) >= 15 and min(s["snvs"] for s in stats) >= 300

    def median(key: str) -> float:
        values = sorted(s[key] for s in stats)
        return values[len(values) // 2]

    assert 1.9 <= median("ti_tv") <= 2.2
    assert 1.3 <= median("het_hom") <= 2.0
    assert 0.05 <= median("indel_share") <= 0.2
    assert 0.4 <= median("balance") <= 0.55
    assert all(1.6 <= s["ti_tv"] <= 2.6 for s in stats)
    assert all(0.8 <= s["het_hom"] <= 4.0 for s in stats)


def test_shared_gaps_and_rare_dropouts(landing):
    """Every sample lacks the genome's shared gaps (no record at all); beyond them a
    sample lacks a few short stretches, so at any variant site nearly every sample has
    data (reads and a record)."""
    from ngrl_assets.synth.genome import WINDOWS, shared_gaps

    root, truth = landing
    gaps = {w: shared_gaps(w) for w in WINDOWS}
    assert sum(len(g) for g in gaps.values()) >= 10
    window_bp = sum(w.end - w.start + 1 for w in WINDOWS)
    gap_bp = sum(e - s + 1 for g in gaps.values() for s, e in g)
    assert 0.01 <= gap_bp / window_bp <= 0.06
    sites: set[tuple[str, int]] = set()
    data: list[dict[str, list[tuple[int, int]]]] = []  # per sample: contig -> DP > 0 spans
    for gz in synthetic_gvcfs(root, truth):
        covered: dict[str, list[tuple[int, int]]] = {}
        for rec in cyvcf2.VCF(str(gz)):
            stop = rec.INFO.get("END") or rec.end
            w = next(x for x in WINDOWS if x.chrom == rec.CHROM and x.start <= rec.POS <= x.end)
            assert not any(s <= stop and e >= rec.POS for s, e in gaps[w]), (gz.name, rec.POS)
            if not rec.INFO.get("END"):
                sites.add((rec.CHROM, rec.POS))
            if int(rec.format("DP")[0][0]) > 0:
                covered.setdefault(rec.CHROM, []).append((rec.POS, stop))
        covered_bp = sum(e - s + 1 for spans in covered.values() for s, e in spans)
        assert (window_bp - gap_bp - covered_bp) / window_bp < 0.01, gz.name
        data.append(covered)

    def has_data(sample: dict[str, list[tuple[int, int]]], contig: str, pos: int) -> bool:
        spans = sample.get(contig, [])
        i = bisect.bisect_right(spans, (pos, math.inf)) - 1
        return i >= 0 and spans[i][1] >= pos

    missing = [
        sum(not has_data(sample, contig, pos) for sample in data) / len(data)
        for contig, pos in sites
    ]
    assert sum(missing) / len(missing) <= 0.01
    assert sum(m > 0.1 for m in missing) / len(missing) <= 0.02


def test_real_deliveries_state_the_coverage_their_files_hold(landing):
    """The bundled real gVCFs are fragments (chr22's first 1,000 records) or nearly
    read-less (NA12878): their manifest rows state the depth the files hold, below the
    sample-QC minimum (15x), so the library keeps them but never joint-calls them."""
    root, truth = landing
    (folder,) = deliveries(root, truth, "real")
    genome_bp = sum(reference_lengths().values())
    for r in read_table(folder / "manifest.tsv"):
        depth_bases = deep = 0
        for rec in cyvcf2.VCF(str(folder / r["gvcf_path"])):
            span = (rec.INFO.get("END") or rec.end) - rec.POS + 1
            dp = rec.format("DP")
            dp = int(dp[0][0]) if dp is not None and dp[0][0] >= 0 else 0
            depth_bases += dp * span
            deep += span if dp >= 15 else 0
        assert float(r["mean_coverage"]) == pytest.approx(depth_bases / genome_bp, abs=0.006)
        assert float(r["pct_bases_15x"]) == pytest.approx(100 * deep / genome_bp, abs=0.006)
        assert float(r["mean_coverage"]) < 15


def reference_lengths() -> dict[str, int]:
    from ngrl_assets.genomics.reference import GRCH38_CONTIGS

    return dict(GRCH38_CONTIGS)


def records_in(gz: Path, wanted: dict[str, tuple[int, int]]) -> dict[str, list[tuple]]:
    """Per contig of ``wanted`` (contig -> (start, end)): (pos, end, REF, is_variant) of
    every record of ``gz`` overlapping that interval (a text scan: NA12878's gVCF ships
    without an index)."""
    out: dict[str, list[tuple]] = {contig: [] for contig in wanted}
    with gzip.open(gz, "rt") as fh:
        for line in fh:
            contig = line[: line.find("\t")]
            if contig not in wanted:
                continue
            f = line.split("\t")
            pos, ref = int(f[1]), f[3].upper()
            stop = pos + len(ref) - 1
            for item in f[7].split(";"):
                if item.startswith("END="):
                    stop = int(item[4:])
            start, end = wanted[contig]
            if pos <= end and stop >= start:
                alts = [a for a in f[4].split(",") if a not in ("<NON_REF>", "<*>", ".")]
                out[contig].append((pos, stop, ref, bool(alts)))
    return out


def test_windows_lie_where_real_gvcfs_have_records_and_agree_with_them(landing):
    """Every synthetic window is covered base by base by the real gVCFs' records (all 51
    on chr22, NA12878 elsewhere); every real record there states the generator's
    reference bases, the synthetic gVCFs agree with them, and no synthetic variant
    record touches a real variant record."""
    from ngrl_assets.synth.genome import WINDOWS, reference

    root, truth = landing
    files = sorted(REAL_GVCF_DIR.rglob("*.g.vcf.gz"))
    assert len(files) == 51, "the repo ships 50 1000 Genomes gVCFs and NA12878's"
    thousand = [f for f in files if f.name != "NA12878.g.vcf.gz"]
    real_ref: dict[tuple[str, int], str] = {}
    real_variants: list[tuple[str, int, int]] = []
    assert {w.chrom for w in WINDOWS} >= {"chr22", "chrX"}
    spans = {
        c: (
            min(w.start for w in WINDOWS if w.chrom == c),
            max(w.end for w in WINDOWS if w.chrom == c),
        )
        for c in {w.chrom for w in WINDOWS}
    }
    for gz in files:
        holds = spans if gz.name == "NA12878.g.vcf.gz" else {"chr22": spans["chr22"]}
        for contig, records in records_in(gz, holds).items():
            for w in (w for w in WINDOWS if w.chrom == contig):
                covered = set()
                for pos, stop, _, _ in records:
                    covered.update(range(max(pos, w.start), min(stop, w.end) + 1))
                assert len(covered) == w.end - w.start + 1, (gz.name, w)
            for pos, stop, ref, variant in records:
                for k, base in enumerate(ref):
                    real_ref.setdefault((contig, pos + k), base)
                    assert real_ref[(contig, pos + k)] == base, (gz.name, contig, pos)
                if variant:
                    real_variants.append((contig, pos, stop))
    assert thousand and real_variants, "the 1000 Genomes files call variants in the windows"
    # the generator's reference is every real record's REF ...
    checked = 0
    for (contig, pos), base in real_ref.items():
        w = next((x for x in WINDOWS if x.chrom == contig and x.start <= pos <= x.end), None)
        if w is not None and base in "ACGT":
            checked += 1
            assert reference(w)[pos - w.start] == base, (contig, pos)
    assert checked > 1000
    # ... and the synthetic gVCFs state that reference, their variants never on a real one
    synthetic = deliveries(root, truth, "synthetic")
    for gz in sorted(g for folder in synthetic for g in folder.glob("gvcf/*.g.vcf.gz"))[:6]:
        try:
            records = list(cyvcf2.VCF(str(gz)))
        except Exception:  # the planted malformed gVCF
            continue
        for rec in records:
            w = next(x for x in WINDOWS if x.chrom == rec.CHROM and x.start <= rec.POS <= x.end)
            assert reference(w)[rec.POS - w.start :].startswith(rec.REF), (gz.name, rec.POS)
            if not rec.INFO.get("END"):
                stop = rec.POS + len(rec.REF) - 1
                assert not any(
                    c == rec.CHROM and s <= stop and e >= rec.POS for c, s, e in real_variants
                ), (gz.name, rec.CHROM, rec.POS)


def test_clinical_files_carry_the_spec_columns_in_order(landing):
    root, _ = landing
    for source in ("apc", "op", "ae"):
        expected = [name for name, _ in hes_spec(source)] + ["NEWNHSNO", "DOB"]
        for path in sorted((root / "clinical" / f"hes_{source}").glob("*.txt")):
            header = path.read_text(encoding="utf-8").split("\n", 1)[0].split("|")
            assert header == expected, path
    for source, expected in (("ons_mortality", MORTALITY), ("av_tumour", TUMOUR)):
        for path in sorted((root / "clinical" / source).glob("*.txt")):
            assert path.read_text(encoding="utf-8").split("\n", 1)[0].split("|") == expected


def test_clinical_conventions(clean):
    root, _ = clean
    apc = [r for p in sorted((root / "clinical" / "hes_apc").glob("*.txt")) for r in read_table(p)]
    assert len({r["EPIKEY"] for r in apc}) == len(apc)
    values = [r[f"DIAG_4_{i:02d}"] for r in apc for i in range(1, 21) if r[f"DIAG_4_{i:02d}"]]
    assert any("." in v for v in values) and any(re.fullmatch(r"[A-Z]\d{3}", v) for v in values)
    assert any(v.endswith("X") for v in values)
    assert {r["DISDATE"] for r in apc} & {"1800-01-01"}
    assert all(re.fullmatch(r"\d{6}", r["MYDOB"]) for r in apc)
    assert all(r["MYDOB"] == r["DOB"][5:7] + r["DOB"][:4] for r in apc)
    assert {r["OPERTN_4_01"] for r in apc} & {"-"}
    for r in apc:
        assert r["DIAG_4_CONCAT"] == ",".join(
            r[f"DIAG_4_{i:02d}"] for i in range(1, 21) if r[f"DIAG_4_{i:02d}"]
        )
        assert r["EPISTART"] <= r["EPIEND"] and r["ADMIDATE"] <= r["EPISTART"]
    reg = registry(root)
    deaths = {
        nhs_number.normalise(r["nhs_number"]): r["date_of_death"]
        for r in reg.values()
        if r["life_status"] == "deceased"
    }
    mortality = [
        r
        for p in sorted((root / "clinical" / "ons_mortality").glob("*.txt"))
        for r in read_table(p)
    ]
    assert mortality
    for r in mortality:
        death = dt.datetime.strptime(r["REG_DATE_OF_DEATH"], "%Y%m%d").date().isoformat()
        assert deaths[r["NEWNHSNO"]] == death
        assert r["REG_DATE"] >= r["REG_DATE_OF_DEATH"]
        assert r["S_UNDERLYING_COD_ICD10"] in {r[f"S_COD_CODE_{i}"] for i in range(1, 16)}


def test_small_cohorts_still_generate(tmp_path):
    truth = generate_cohort(tmp_path / "tiny", participants=5, seed=3, real_gvcf_dir=None)
    assert truth["participants"]["count"] == 5
    assert sum(c["count"] for c in truth["eligibility"]["cases"].values()) == 5
