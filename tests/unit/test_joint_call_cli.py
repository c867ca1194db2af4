"""`ngrl joint-call` on the real 1000 Genomes gVCFs, checked by reading the VCF back with
cyvcf2 and against the gVCFs themselves."""

from pathlib import Path

import pytest
from cyvcf2 import VCF

from ngrl_assets.cli import main
from ngrl_assets.genomics import export

GVCFS = sorted(
    (Path(__file__).resolve().parents[2] / "data" / "gvcf" / "1kg_chr22").glob("*.g.vcf.gz")
)


@pytest.fixture(scope="module")
def joint_vcf(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("jc") / "joint.vcf.gz"
    assert main(["joint-call", *map(str, GVCFS[:12]), "--out-vcf", str(out), "--min-dp", "1"]) == 0
    return out


def test_output_is_a_valid_indexed_multisample_vcf(joint_vcf):
    vcf = VCF(str(joint_vcf))
    assert len(vcf.samples) == 12
    records = list(vcf("chr22"))  # region query through the tabix index
    assert records
    for rec in records:
        gts = [g for g in rec.genotypes]
        ac = sum(1 for g in gts for a in g[:-1] if a == 1)
        an = sum(1 for g in gts for a in g[:-1] if a >= 0)
        assert rec.INFO["AC"] == ac or rec.INFO["AC"] == (ac, 0)
        assert rec.INFO["AN"] == an
        assert ac >= 1  # a site exists only because some sample carries it


def test_carriers_match_their_own_gvcf_calls(joint_vcf):
    vcf = VCF(str(joint_vcf))
    names = vcf.samples
    carried = {}
    for rec in vcf:
        for name, g in zip(names, rec.genotypes, strict=True):
            if 1 in g[:-1]:
                carried.setdefault(name, set()).add((rec.POS, rec.REF, rec.ALT[0]))
    for path in GVCFS[:12]:
        sample_vcf = VCF(str(path))
        name = sample_vcf.samples[0]
        own = set()
        for rec in sample_vcf:
            alts = [a for a in rec.ALT if a not in ("<NON_REF>", "<*>", "*")]
            if len(rec.ALT) == 1 and not alts:
                continue
            gt = rec.genotypes[0][:-1]
            for i, alt in enumerate(rec.ALT, start=1):
                if alt in alts and i in gt and len(rec.REF) == 1 and len(alt) == 1:
                    own.add((rec.POS, rec.REF, alt))
        snvs = {c for c in carried.get(name, set()) if len(c[1]) == 1 and len(c[2]) == 1}
        assert snvs == own, name


def _body(vcf_gz: Path) -> list[str]:
    import gzip

    with gzip.open(vcf_gz, "rt") as fh:
        return [line for line in fh if not line.startswith("##source")]


def test_sample_batches_change_nothing_and_the_scratch_lake_is_removed(
    joint_vcf, tmp_path, monkeypatch
):
    """The same 12 gVCFs in batches of 5 (three tiles per chunk), parsed by one process
    instead of two, and written in windows of 4 sites (48 cells) instead of all at once,
    give the same VCF, byte for byte after decompression; the scratch lake under
    --work-dir is gone afterwards."""
    monkeypatch.setattr(export, "CELLS_PER_WINDOW", 48)
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "batched.vcf.gz"
    args = ["joint-call", *map(str, GVCFS[:12]), "--out-vcf", str(out), "--batch-size", "5"]
    args += ["--workers", "1"]  # the fixture parsed with 2 processes
    assert main([*args, "--work-dir", str(work)]) == 0
    assert _body(out) == _body(joint_vcf)
    assert list(work.iterdir()) == []


def test_two_inputs_with_one_sample_name_are_refused_naming_the_file(tmp_path, capsys):
    out = tmp_path / "dup.vcf.gz"
    assert main(["joint-call", str(GVCFS[0]), str(GVCFS[0]), "--out-vcf", str(out)]) == 2
    err = capsys.readouterr().err
    assert GVCFS[0].name in err and "also the sample of" in err
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--batch-size", "0"], "NGRL_SAMPLE_BATCH_SIZE must be between 1"),
        (["--work-dir", "no/such/folder"], "no/such/folder"),
    ],
)
def test_a_bad_option_is_an_error_naming_it_not_a_traceback(tmp_path, capsys, extra, said):
    out = tmp_path / "bad.vcf.gz"
    assert main(["joint-call", str(GVCFS[0]), "--out-vcf", str(out), *extra]) == 2
    assert said in capsys.readouterr().err
    assert not out.exists()
