"""The per-sample gVCF reader (ngrl_assets.genomics.gvcf).

Expected values are derived here from the VCF text each test writes (or from a small
reference decoder over the raw text, for the real files), never copied from the reader's
output. Line numbers are 1-based physical lines of the decompressed file."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import json
import pickle
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from ngrl_assets.genomics import gvcf as gvcf_module
from ngrl_assets.genomics.gvcf import GRCH38_CONTIGS, GvcfError, md5_file, read_gvcf, trim
from ngrl_assets.genomics.schemas import SAMPLE_BLOCKS_SCHEMA, SAMPLE_CALLS_SCHEMA
from tests.unit.gvcf_text import HEADER, chrom_line, write

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "data" / "gvcf"
KG = sorted((REAL / "1kg_chr22").glob("*.hg38.g.vcf.gz"))
NA12878 = REAL / "NA12878.g.vcf.gz"


def block(
    chrom: str, pos: int, end: int | None, dp: str = "12", gq: str = "30", gt: str = "0/0"
) -> str:
    info = "." if end is None else f"END={end}"
    sample = f"{gt}:{dp}:{gq}:{dp}:0,{gq},300"
    return f"{chrom}\t{pos}\t.\tA\t<NON_REF>\t.\t.\t{info}\tGT:DP:GQ:MIN_DP:PL\t{sample}"


def variant(
    chrom: str,
    pos: int,
    ref: str,
    alts: str,
    gt: str,
    ad: str | None = "5,5,0",
    dp: int = 10,
    gq: int = 40,
) -> str:
    fmt, values = ("GT:AD:DP:GQ", f"{gt}:{ad}:{dp}:{gq}") if ad else ("GT:DP:GQ", f"{gt}:{dp}:{gq}")
    return f"{chrom}\t{pos}\t.\t{ref}\t{alts}\t50\t.\tDP={dp}\t{fmt}\t{values}"


def line_of(lines: list[str], record: str) -> int:
    return lines.index(record) + 1


def calls_of(read) -> list[dict]:
    return read.calls.to_dicts()


# ---------------------------------------------------------------- normalisation


@pytest.mark.parametrize(
    ("ref", "alt", "pos", "want"),
    [
        ("A", "G", 10, ("A", "G", 10)),  # SNV untouched
        ("CA", "C", 10, ("CA", "C", 10)),  # deletion keeps its anchor base
        ("TCC", "TC", 5, ("TC", "T", 5)),  # common suffix C trimmed
        ("ACGT", "AGGT", 1, ("C", "G", 2)),  # suffix GT, then prefix A: pos moves right
        ("GATTACA", "GATTA", 7, ("TAC", "T", 10)),  # suffix A, then prefix GAT
        ("AAA", "AAAAA", 3, ("A", "AAA", 3)),
    ],
)
def test_trim(ref: str, alt: str, pos: int, want: tuple[str, str, int]) -> None:
    assert trim(ref, alt, pos) == want


def test_variant_normalisation(tmp_path: Path) -> None:
    records = [
        block("chr1", 100, 199),
        variant("chr1", 200, "TCC", "T,TC,<NON_REF>", "1/2", ad="1,4,5,0"),  # split, trimmed
        block("chr1", 201, 299),
        variant("chr1", 300, "A", "G,<NON_REF>", "0|1", ad="3,7,0"),  # NON_REF dropped, phased
        variant("chr1", 301, "C", "G,<NON_REF>", "0/2", ad="6,0,4"),  # sample has NON_REF
        variant("chr1", 302, "C", "*,A,<NON_REF>", "1/2", ad="0,3,2,0"),  # * dropped
        variant("chrX", 400, "G", "A,<NON_REF>", "1", ad=None),  # haploid, no AD
        variant("chrX", 401, "GT", "G,<NON_REF>", "./1", ad="2,3,0"),  # half-missing
    ]
    path, _ = write(tmp_path, records)
    read = read_gvcf(path, expected_sample="S1")
    assert read.calls.schema == pl.Schema(SAMPLE_CALLS_SCHEMA)
    rows = [
        (
            c["contig"],
            c["pos"],
            c["end"],
            c["ref"],
            c["alt"],
            c["a1"],
            c["a2"],
            c["phased"],
            c["ad_ref"],
            c["ad_alt"],
            c["dp"],
            c["gq"],
        )
        for c in calls_of(read)
    ]
    assert rows == [
        # TCC>T is a 2-base deletion at 200; TCC>TC trims to TC>T, a 1-base deletion
        ("chr1", 200, 202, "TCC", "T", 1, 2, False, 1, 4, 10, 40),
        ("chr1", 200, 201, "TC", "T", 2, 1, False, 1, 5, 10, 40),
        ("chr1", 300, 300, "A", "G", 0, 1, True, 3, 7, 10, 40),
        ("chr1", 301, 301, "C", "G", 0, 2, False, 6, 0, 10, 40),
        ("chr1", 302, 302, "C", "A", 2, 1, False, 0, 2, 10, 40),
        ("chrX", 400, 400, "G", "A", 1, None, False, None, None, 10, 40),
        ("chrX", 401, 402, "GT", "G", -1, 1, False, 2, 3, 10, 40),
    ]
    assert read.contigs == ["chr1", "chrX"]
    assert read.records == len(records)


def test_blocks(tmp_path: Path) -> None:
    records = [
        block("chr1", 100, 149, dp="12", gq="30"),
        block("chr1", 150, None, dp="7", gq="21"),  # no END: the block is POS alone
        block("chr1", 151, 160, dp=".", gq="."),  # missing values -> null
        block("chr1", 161, 170, gt="./."),  # no coverage: skipped
        "chr1\t171\t.\tCA\tC,<NON_REF>\t0\t.\tDP=8\tGT:AD:DP:GQ:PL\t0/0:8,0,0:8:24:0,24,300,24,300,300",
        variant("chr1", 173, "A", "G,<NON_REF>", "./.", ad="0,0,0"),  # no call: nothing
        "chr1\t174\t.\tG\t<*>\t.\t.\tEND=180\tGT:DP:GQ\t0|0:9:27",  # <*> block, DP not MIN_DP
        "chr1\t181\t.\tT\t.\t.\t.\tEND=190\tGT:DP:GQ\t0:5:15",  # no ALT, haploid hom-ref
        "chr1\t191\t.\tA\t<NON_REF>,<*>\t.\t.\tEND=195\tGT:DP:GQ\t0/0:4:12",  # both symbols
        block("chr1", 196, 199, gt="0/."),  # half-missing: not hom-ref, skipped
    ]
    path, _ = write(tmp_path, records)
    read = read_gvcf(path)
    assert read.blocks.schema == pl.Schema(SAMPLE_BLOCKS_SCHEMA)
    assert read.blocks.rows() == [
        ("chr1", 100, 149, 12, 30),
        ("chr1", 150, 150, 7, 21),
        ("chr1", 151, 160, None, None),
        ("chr1", 171, 172, 8, 24),  # hom-ref variant record: its whole REF span
        ("chr1", 174, 180, 9, 27),
        ("chr1", 181, 190, 5, 15),
        ("chr1", 191, 195, 4, 12),
    ]
    assert read.skipped_blocks == 2
    assert read.no_call_records == 1
    assert read.calls.height == 0


def test_min_dp_preferred_over_dp(tmp_path: Path) -> None:
    rec = "chr1\t100\t.\tA\t<NON_REF>\t.\t.\tEND=110\tGT:DP:GQ:MIN_DP\t0/0:20:40:6"
    path, _ = write(tmp_path, [rec])
    assert read_gvcf(path).blocks.rows() == [("chr1", 100, 110, 6, 40)]


def test_batches_are_seamless(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding in batches of 3 (with the worker thread) gives the single-batch result,
    and a problem in a later batch still names its own line."""
    records = [block("chr1", 10 * k + 1, 10 * k + 10) for k in range(10)]
    records.insert(4, variant("chr1", 41, "A", "G,<NON_REF>", "0/1", ad="3,3,0"))
    records[5] = block("chr1", 42, 50)
    records += [block("chr2", 1, 10), variant("chr2", 11, "C", "T,<NON_REF>", "1/1", ad="0,4,0")]
    path, _ = write(tmp_path, records)
    whole = read_gvcf(path)
    monkeypatch.setattr(gvcf_module, "BATCH", 3)
    split = read_gvcf(path)
    assert split.blocks.equals(whole.blocks) and split.calls.equals(whole.calls)
    assert split.contigs == whole.contigs == ["chr1", "chr2"]
    bad = records[:]
    bad[8] = block("chr1", 5, 9)  # POS goes back, in the third batch
    path, lines = write(tmp_path, bad, name="bad")
    with pytest.raises(GvcfError) as err:
        read_gvcf(path)
    assert (err.value.rule, err.value.line) == ("unsorted", line_of(lines, bad[8]))
    bad = records[:]
    bad[6] = block("chr1", 30, 35)  # POS goes back on the first record of the third batch
    path, lines = write(tmp_path, bad, name="edge")
    with pytest.raises(GvcfError) as err:
        read_gvcf(path)
    assert (err.value.rule, err.value.line) == ("unsorted", line_of(lines, bad[6]))


# ---------------------------------------------------------------- real files


def data_records(path: Path) -> list[str]:
    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n") for line in fh if not line.startswith("#")]


def _num(values: dict[str, str]):
    return lambda k: None if values.get(k, ".") == "." else int(values[k])


def reference_decode(path: Path) -> tuple[list[tuple], list[tuple]]:
    """A deliberately plain re-statement of the semantics over the raw text."""
    blocks: list[tuple] = []
    calls: list[tuple] = []
    for line in data_records(path):
        chrom, pos_s, _, ref, alt, _, _, info, fmt, sample = line.split("\t")
        pos = int(pos_s)
        v = dict(zip(fmt.split(":"), sample.split(":"), strict=False))
        num = _num(v)
        gt = [-1 if a == "." else int(a) for a in v["GT"].replace("|", "/").split("/")]
        alts = [] if alt == "." else alt.split(",")
        keys = dict(x.split("=", 1) for x in info.split(";") if "=" in x)
        if all(a in ("<NON_REF>", "<*>") for a in alts):
            if all(a == 0 for a in gt):
                end = int(keys["END"]) if "END" in keys else pos + len(ref) - 1
                blocks.append(
                    (chrom, pos, end, num("MIN_DP") if "MIN_DP" in v else num("DP"), num("GQ"))
                )
            continue
        if all(a == 0 for a in gt):
            blocks.append(
                (
                    chrom,
                    pos,
                    pos + len(ref) - 1,
                    num("MIN_DP") if "MIN_DP" in v else num("DP"),
                    num("GQ"),
                )
            )
            continue
        if all(a == -1 for a in gt):
            continue
        ad = None if "AD" not in v else [int(x) for x in v["AD"].split(",")]
        for i, a in enumerate(alts, 1):
            if a in ("*", "<NON_REF>", "<*>"):
                continue
            r, x, p = ref, a, pos
            while len(r) > 1 and len(x) > 1 and r[-1] == x[-1]:
                r, x = r[:-1], x[:-1]
            while len(r) > 1 and len(x) > 1 and r[0] == x[0]:
                r, x, p = r[1:], x[1:], p + 1
            code = [0 if j == 0 else 1 if j == i else -1 if j < 0 else 2 for j in gt]
            calls.append((
                chrom, p, p + len(r) - 1, r, x, code[0], code[1] if len(code) > 1 else None,
                "|" in v["GT"], num("GQ"), num("DP"), ad and ad[0], ad and ad[i],
            ))  # fmt: skip
    return blocks, calls


@pytest.mark.parametrize("path", KG, ids=lambda p: p.name.split(".")[0])
def test_real_1kg_gvcfs(path: Path) -> None:
    sample = path.name.split(".")[0]
    read = read_gvcf(path, expected_sample=sample)
    assert read.records == len(data_records(path))
    blocks, calls = reference_decode(path)
    assert read.blocks.rows() == blocks
    assert read.calls.rows() == calls
    assert read.contigs == ["chr22"]
    assert read.calls["ad_ref"].null_count() == 0  # the variant records do carry AD


def test_real_na12878() -> None:
    read = read_gvcf(NA12878, expected_sample="NA12878")
    records = data_records(NA12878)
    assert read.records == len(records) > 300_000
    assert read.contigs == list(dict.fromkeys(r.split("\t", 1)[0] for r in records))
    blocks, calls = reference_decode(NA12878)
    assert read.blocks.rows() == blocks
    assert read.calls.rows() == calls


def test_grch38_lengths_match_a_real_header() -> None:
    with gzip.open(NA12878, "rt") as fh:
        header = [line for line in fh if line.startswith("##contig=<ID=chr")]
    lengths = {}
    for line in header:
        fields = dict(x.split("=", 1) for x in line.strip()[len("##contig=<") : -1].split(","))
        lengths[fields["ID"]] = int(fields["length"])
    names = [*(f"chr{i}" for i in range(1, 23)), "chrX", "chrY", "chrM"]
    assert {k: lengths[k] for k in names} == GRCH38_CONTIGS


def test_one_reference_for_the_reader_the_chunk_plan_the_export_and_the_synthetic_data() -> None:
    from ngrl_assets.genomics import chunks, export, reference, site_qc
    from ngrl_assets.synth import genome
    from ngrl_assets.synth import gvcf as synth_gvcf

    lengths = reference.GRCH38_CONTIGS
    assert GRCH38_CONTIGS is lengths and export.GRCH38_CONTIGS is lengths
    assert dict(genome.GRCH38_CONTIGS) == lengths and synth_gvcf.GRCH38_CONTIGS is lengths
    assert genome.PAR_X == reference.PARS["chrX"] == site_qc.PARS["X"]
    # chunks_grch38.tsv tiles every reference contig, in order, from 1 to its length
    plan = chunks.genome_chunks(chunks.PLAN_FILE)
    assert list(dict.fromkeys(c.contig for c in plan)) == list(lengths)
    for contig, length in lengths.items():
        mine = [c for c in plan if c.contig == contig]
        assert mine[0].start == 1 and mine[-1].end == length, contig
        assert all(b.start == a.end + 1 for a, b in itertools.pairwise(mine)), contig
        assert [c.name for c in mine] == [f"{contig}_{i:03d}" for i in range(len(mine))]


def test_md5_file(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"ngrl" * 300_000)
    assert md5_file(path) == hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ngrl_assets.synth import generate_cohort

    out = tmp_path_factory.mktemp("cohort")
    generate_cohort(out, participants=20, seed=1)
    return out


def manifest_rows(cohort: Path) -> Iterator[tuple[Path, str]]:
    for manifest in sorted(cohort.glob("sequencing/*/manifest.tsv")):
        rows = manifest.read_text().splitlines()
        keys = rows[0].split("\t")
        for row in rows[1:]:
            r = dict(zip(keys, row.split("\t"), strict=True))
            yield manifest.parent / r["gvcf_path"], r["sample_id"]


def test_synthetic_cohort(cohort: Path) -> None:
    truth = json.loads((cohort / "_synth" / "truth.json").read_text())
    defects = {
        d["sample_id"]: d
        for name, feed in truth["feeds"].items()
        if name.startswith("sequencing/")
        for d in feed["defects"]
    }
    seen = set()
    for path, sample in manifest_rows(cohort):
        defect = defects.get(sample, {})
        if defect.get("rule") == "malformed_record":
            with pytest.raises(GvcfError) as err:
                read_gvcf(path, expected_sample=sample)
            assert (err.value.rule, err.value.line) == ("malformed_record", defect["vcf_line"])
            seen.add("malformed")
        elif defect.get("rule") == "sample_mismatch":
            with gzip.open(path, "rt") as fh:
                chrom = next(n for n, line in enumerate(fh, 1) if line.startswith("#CHROM"))
            with pytest.raises(GvcfError) as err:
                read_gvcf(path, expected_sample=sample)
            assert (err.value.rule, err.value.line) == ("sample_mismatch", chrom)
            seen.add("mismatch")
        else:
            read = read_gvcf(path, expected_sample=sample)
            assert read.records == len(data_records(path))
            assert (read.blocks.rows(), read.calls.rows()) == reference_decode(path)
    assert seen == {"malformed", "mismatch"}


# ---------------------------------------------------------------- bad input


def expect(path: Path, rule: str, line: int, **kwargs) -> GvcfError:
    with pytest.raises(GvcfError) as err:
        read_gvcf(path, **kwargs)
    assert (err.value.rule, err.value.line) == (rule, line), str(err.value)
    assert str(err.value) == f"{path}:{line}: {rule}: {err.value.message}"
    return err.value


GOOD = [block("chr1", 100, 199), block("chr1", 200, 299), block("chr1", 300, 399)]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (block("chr1", 200, 299, dp="1O"), "htslib refuses: DP not an integer"),
        (block("chr1", 200, 299, gq="3.5"), "htslib refuses: GQ not an integer"),
        (block("chr1", 200, 299).replace("\t200\t", "\t2x0\t"), "POS not a number"),
        (block("chr1", 200, 299).replace("END=299", "END=29x"), "htslib would read END=29"),
        (block("chr1", 200, 299).replace("END=299", "END=99999999999"), "END overflow"),
        (block("chr1", 200, 299, dp="99999999999"), "htslib would make DP missing"),
        (block("chr1", 200, 299) + "\t0/0:1:1:1:0,0,0", "an 11th column (ignored by htslib)"),
        ("\t".join(block("chr1", 200, 299).split("\t")[:9]), "no sample column"),
        (block("chr1", 200, 299).replace("\t.\t.\tEND", "\t\t.\tEND"), "empty QUAL field"),
        ("", "blank line"),
        (variant("chr1", 200, "A", "G,<NON_REF>", "0/3"), "GT allele beyond the ALTs"),
        (variant("chr1", 200, "A", "G,<NON_REF>", "0/x"), "GT not a genotype"),
        (variant("chr1", 200, "A", "G,<NON_REF>", "0/1/1", ad="2,3,0"), "triploid GT"),
        (block("chr1", 200, 299, gt="0/2"), "block GT allele beyond <NON_REF>"),
        (variant("chr1", 200, "A", "G,<NON_REF>", "0/1", ad="5,5"), "AD too short"),
        (variant("chr1", 200, "A", "G1,<NON_REF>", "0/1"), "ALT not bases"),
        (block("chr1", 200, 299, dp="-3"), "negative depth"),
        (block("chr1", 200, 248956423), "END beyond chr1"),
    ],
)
def test_malformed_record(tmp_path: Path, bad: str, why: str) -> None:
    path, lines = write(tmp_path, [GOOD[0], bad, GOOD[2]])
    assert len(HEADER) + 3 == line_of(lines, bad)  # after the header, #CHROM, GOOD[0]
    expect(path, "malformed_record", line_of(lines, bad))


def with_ref(record: str, ref: str) -> str:
    cols = record.split("\t")
    cols[3] = ref
    return "\t".join(cols)


@pytest.mark.parametrize("ref", ["K", "ZCCAT", "R", "A-", "AC*"])
@pytest.mark.parametrize(
    "record",
    [
        block("chr1", 200, 299),  # a plain reference block
        "chr1\t200\t.\tA\t<*>\t.\t.\tEND=299\tGT:DP:GQ\t0|0:9:27",  # <*> block
        "chr1\t200\t.\tA\t.\t.\t.\tEND=299\tGT:DP:GQ\t0:5:15",  # no ALT
        "chr1\t200\t.\tA\t<NON_REF>,<*>\t.\t.\tEND=299\tGT:DP:GQ\t0/0:4:12",  # both symbols
        block("chr1", 200, 299, gt="./."),  # a block that is skipped still obeys the rule
        variant("chr1", 200, "A", "G,<NON_REF>", "0/0"),  # hom-ref variant record
        variant("chr1", 200, "A", "G,<NON_REF>", "0/1"),
    ],
)
def test_every_record_obeys_the_ref_allele_rule(tmp_path: Path, record: str, ref: str) -> None:
    bad = with_ref(record, ref)
    path, lines = write(tmp_path, [GOOD[0], bad, GOOD[2]])
    err = expect(path, "malformed_record", line_of(lines, bad))
    assert err.path == str(path)
    assert err.message == "REF is not a sequence of A, C, G, T, N"  # never the value


def test_ref_alleles_are_case_insensitive(tmp_path: Path) -> None:
    records = [with_ref(GOOD[0], "a"), with_ref(GOOD[1], "N"), with_ref(GOOD[2], "c")]
    path, _ = write(tmp_path, records)
    assert read_gvcf(path).blocks.height == 3


def test_malformed_message_names_the_field(tmp_path: Path) -> None:
    bad = block("chr1", 200, 299, dp="1O")
    path, lines = write(tmp_path, [GOOD[0], bad, GOOD[2]])
    err = expect(path, "malformed_record", line_of(lines, bad))
    assert "DP" in err.message and "1O" not in err.message  # names the field, not the value


def test_first_problem_wins(tmp_path: Path) -> None:
    """A silently-coerced value (found by the byte scan) after a decode problem."""
    records = [
        GOOD[0],
        block("chr1", 50, 60),
        block("chr1", 300, 399).replace("END=399", "END=39x"),
    ]
    path, lines = write(tmp_path, records)
    expect(path, "unsorted", line_of(lines, records[1]))
    records = [GOOD[0], GOOD[1].replace("END=299", "END=29x"), block("chr1", 50, 60)]
    path, lines = write(tmp_path, records, name="b")
    expect(path, "malformed_record", line_of(lines, records[1]))


def test_end_before_pos(tmp_path: Path) -> None:
    records = [GOOD[0], block("chr1", 200, 150), GOOD[2]]
    path, lines = write(tmp_path, records)
    expect(path, "end_before_pos", line_of(lines, records[1]))
    rec = variant("chr1", 200, "A", "G,<NON_REF>", "0/1").replace("\tDP=10\t", "\tDP=10;END=150\t")
    path, lines = write(tmp_path, [GOOD[0], rec, GOOD[2]], name="v")
    expect(path, "end_before_pos", line_of(lines, rec))


def test_unsorted(tmp_path: Path) -> None:
    records = [*GOOD, block("chr1", 250, 260)]
    path, lines = write(tmp_path, records)
    expect(path, "unsorted", line_of(lines, records[3]))
    records = [GOOD[0], block("chr2", 1, 10), block("chr1", 500, 510)]
    path, lines = write(tmp_path, records, name="c")
    expect(path, "unsorted", line_of(lines, records[2]))


def test_unknown_contig(tmp_path: Path) -> None:
    records = [GOOD[0], block("chrZ", 1, 10)]  # declared in the header, not GRCh38
    path, lines = write(tmp_path, records)
    expect(path, "unknown_contig", line_of(lines, records[1]))
    records = [GOOD[0], block("chr7_KI270803v1_alt", 1, 10)]  # undeclared
    path, lines = write(tmp_path, records, name="u")
    expect(path, "unknown_contig", line_of(lines, records[1]))
    grch37 = [h.replace("length=248956422", "length=249250621") for h in HEADER]
    path, lines = write(tmp_path, GOOD, header=grch37, name="h")
    expect(path, "unknown_contig", line_of(lines, "##contig=<ID=chr1,length=249250621>"))


def test_custom_contig_set(tmp_path: Path) -> None:
    path, _ = write(tmp_path, [block("chrZ", 1, 10)])
    assert read_gvcf(path, contigs={"chrZ": 1_000_000}).contigs == ["chrZ"]


def test_sample_checks(tmp_path: Path) -> None:
    path, lines = write(tmp_path, GOOD, samples=("NA1",))
    chrom = line_of(lines, chrom_line("NA1"))
    expect(path, "sample_mismatch", chrom, expected_sample="NA2")
    assert read_gvcf(path, expected_sample="NA1").sample == "NA1"
    two = [r + "\t0/0:1:1:1:0,0,0" for r in GOOD]
    path, lines = write(tmp_path, two, samples=("NA1", "NA2"), name="two")
    expect(path, "not_single_sample", line_of(lines, chrom_line("NA1", "NA2")))
    none = ["\t".join(r.split("\t")[:8]) for r in GOOD]
    path, lines = write(tmp_path, none, samples=(), name="none")
    expect(path, "not_single_sample", line_of(lines, chrom_line()))


def test_empty(tmp_path: Path) -> None:
    path, _ = write(tmp_path, [])
    expect(path, "empty", 0)


def test_not_bgzip(tmp_path: Path) -> None:
    _, lines = write(tmp_path, GOOD)
    text = ("\n".join(lines) + "\n").encode()
    plain = tmp_path / "plain.g.vcf.gz"
    plain.write_bytes(text)
    expect(plain, "not_bgzip", 0)
    gz = tmp_path / "gzip.g.vcf.gz"
    gz.write_bytes(gzip.compress(text))  # ordinary gzip: no BGZF extra field
    expect(gz, "not_bgzip", 0)


def bgzf_blocks(data: bytes) -> list[tuple[int, int]]:
    """(offset, size) of each BGZF block, from the BSIZE field of its header."""
    out, offset = [], 0
    while offset < len(data):
        size = struct.unpack_from("<H", data, offset + 16)[0] + 1
        out.append((offset, size))
        offset += size
    return out


@pytest.fixture
def multi_block(tmp_path: Path) -> tuple[Path, bytes, list[tuple[int, int]]]:
    records = [block("chr1", 10 * k + 1, 10 * k + 10, dp=str(k % 50)) for k in range(20_000)]
    path, _ = write(tmp_path, records)
    data = path.read_bytes()
    blocks = bgzf_blocks(data)
    assert len(blocks) > 4
    return path, data, blocks


def lines_before(data: bytes, offset: int) -> int:
    return gzip.decompress(data[:offset]).count(b"\n")


def test_truncated_mid_block(tmp_path: Path, multi_block) -> None:
    _, data, blocks = multi_block
    start, size = blocks[3]
    cut = tmp_path / "cut.g.vcf.gz"
    cut.write_bytes(data[: start + size // 2])
    expect(cut, "truncated", lines_before(data, start) + 1)


def test_truncated_at_block_boundary(tmp_path: Path, multi_block) -> None:
    _, data, blocks = multi_block
    start, _ = blocks[3]
    cut = tmp_path / "cut.g.vcf.gz"
    cut.write_bytes(data[:start])  # every block intact, the EOF marker gone
    expect(cut, "truncated", 0)


def test_corrupted_block(tmp_path: Path, multi_block) -> None:
    _, data, blocks = multi_block
    start, _ = blocks[2]
    broken = bytearray(data)
    for k in range(start + 40, start + 60):  # inside the deflate data of block 2
        broken[k] ^= 0x5A
    bad = tmp_path / "bad.g.vcf.gz"
    bad.write_bytes(bytes(broken))
    expect(bad, "truncated", lines_before(data, start) + 1)


def test_error_is_picklable() -> None:
    err = GvcfError("/x.g.vcf.gz", 12, "unsorted", "POS 5 after 9")
    again = pickle.loads(pickle.dumps(err))
    assert (again.path, again.line, again.rule, str(again)) == (err.path, 12, "unsorted", str(err))
    assert str(err) == "/x.g.vcf.gz:12: unsorted: POS 5 after 9"
    assert isinstance(err, ValueError)


def test_htslib_stays_silent_and_the_platform_reports_the_record(tmp_path: Path) -> None:
    """htslib prints its own error line (``[E::vcf_parse_format_fill5] Invalid character
    ...``, with the record's value and position) on the process's stderr when it refuses
    a record; the reader silences it (the quarantine line names file, line and rule).
    In a child process: the C library writes to file descriptor 2, not sys.stderr."""
    bad = block("chr1", 200, 299, dp="1O")
    path, lines = write(tmp_path, [GOOD[0], bad, GOOD[2]])
    code = (
        "import sys\n"
        "from ngrl_assets.genomics.gvcf import GvcfError, read_gvcf\n"
        "try:\n"
        "    read_gvcf(sys.argv[1])\n"
        "except GvcfError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == (
        f"{path}:{line_of(lines, bad)}: malformed_record: "
        "FORMAT/DP is not Integer (htslib refused the record)"
    )
    assert "[E::" not in done.stderr and "[W::" not in done.stderr, done.stderr
