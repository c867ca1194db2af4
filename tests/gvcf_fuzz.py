"""Generated gVCFs for the fuzz tests of the gVCF reader and of delivery intake
(``tests/unit/test_gvcf_fuzz.py``, ``tests/integration/test_delivery_fuzz.py``).

A case is a valid single-sample gVCF (header, sorted reference blocks and variant records
on a few GRCh38 contigs) plus zero or more named defects applied in three layers: to the
text lines (header and records), to the decompressed bytes (CRLF, binary junk, huge
lines, ...) and to the BGZF framing (truncation, flipped bytes, plain gzip, ...). A case
without defects is a file the reader must read; every case must be read or refused with a
:class:`GvcfError` (file, line, rule), never anything else. See docs/genomics.md
("Fuzzing the gVCF reader")."""

from __future__ import annotations

import gzip
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pysam
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from ngrl_assets.genomics.gvcf import GRCH38_CONTIGS, GvcfError, GvcfRead, read_gvcf
from ngrl_assets.genomics.gvcf_validate import BGZF_EOF, RULES
from tests.unit.gvcf_text import FIELDS, FILE_FORMAT, FIXED

SAMPLE = "FUZZ-SAMPLE-1"
CONTIGS = ("chr1", "chr2", "chrX", "chrM")  # chrM is short: ENDs near its end are cheap

# The default run is small and derandomised (the same examples every run, CI stays cheap);
# NGRL_FUZZ_EXAMPLES=<n> runs n fresh random examples per test (or the `slow` tests).
settings.register_profile(
    "gvcf-fuzz",
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "gvcf-fuzz-more",
    max_examples=int(os.environ.get("NGRL_FUZZ_EXAMPLES", "1000")),
    deadline=None,
    derandomize=False,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
MORE = "NGRL_FUZZ_EXAMPLES" in os.environ

HEADER = [
    FILE_FORMAT,
    '##FILTER=<ID=PASS,Description="All filters passed">',
    *FIELDS,
    *(f"##contig=<ID={c},length={GRCH38_CONTIGS[c]}>" for c in CONTIGS),
]


@dataclass(repr=False)
class Case:
    """One generated gVCF: text lines, the defects applied, and the file's bytes."""

    header: list[str]
    body: list[str]
    defects: list[str] = field(default_factory=list)
    text: bytes = b""  # decompressed content
    data: bytes = b""  # the file as written

    def __repr__(self) -> str:
        return f"Case(defects={self.defects!r}, text={self.text!r})"

    def write(self, path: Path) -> Path:
        path.write_bytes(self.data)
        return path

    @classmethod
    def of(cls, body: list[str], defects: list[str], sample: str = SAMPLE) -> Case:
        """A hand-written case (regression examples, good samples): bgzipped text lines."""
        text = "\n".join([*HEADER, "\t".join([*FIXED, sample]), *body]).encode() + b"\n"
        return cls(list(HEADER), body, defects, text, bgzip(text))


def bgzip(text: bytes) -> bytes:
    """``text`` compressed by htslib's bgzip (pysam), as a provider's pipeline would."""
    with tempfile.TemporaryDirectory(prefix="ngrl-fuzz-") as tmp:
        plain, out = Path(tmp) / "fuzz.vcf", Path(tmp) / "fuzz.vcf.gz"
        plain.write_bytes(text)
        pysam.tabix_compress(str(plain), str(out), force=True)
        return out.read_bytes()


# ---- valid records ------------------------------------------------------------------------
BASES = st.text("ACGTNacgt", min_size=1, max_size=6)


@st.composite
def _block(draw: st.DrawFn, contig: str, pos: int) -> tuple[str, int]:
    end = pos + draw(st.integers(0, 300))
    alt = draw(st.sampled_from(["<NON_REF>", "<*>", ".", "<NON_REF>,<*>"]))
    gt = draw(st.sampled_from(["0/0", "0|0", "0", "./.", "."]))
    dp, gq = draw(st.integers(0, 99)), draw(st.integers(0, 99))
    ref = draw(st.sampled_from("ACGTN"))
    info = draw(st.sampled_from([f"END={end}", f"END={end};DP={dp}", f"DP={dp};END={end}"]))
    sample = f"{gt}:{dp}:{gq}:{dp}:0,{gq},300"
    line = f"{contig}\t{pos}\t.\t{ref}\t{alt}\t.\t.\t{info}\tGT:DP:GQ:MIN_DP:PL\t{sample}"
    return line, end + 1


@st.composite
def _variant(draw: st.DrawFn, contig: str, pos: int) -> tuple[str, int]:
    ref = draw(BASES)
    alts = draw(st.lists(BASES | st.just("*"), min_size=1, max_size=3))
    if draw(st.booleans()):
        alts.append("<NON_REF>")
    index = st.integers(0, len(alts)) | st.just(".")
    alleles = draw(st.lists(index, min_size=1, max_size=2))
    gt = draw(st.sampled_from("/|")).join(map(str, alleles))
    ad = ",".join(str(draw(st.integers(0, 60))) for _ in range(len(alts) + 1))
    dp, gq = draw(st.integers(0, 200)), draw(st.integers(0, 99))
    fmt, values = draw(
        st.sampled_from(
            [("GT:AD:DP:GQ", f"{gt}:{ad}:{dp}:{gq}"), ("GT:DP:GQ", f"{gt}:{dp}:{gq}"), ("GT", gt)]
        )
    )
    qual = draw(st.sampled_from([".", "50", "3.5e2"]))
    line = f"{contig}\t{pos}\t.\t{ref}\t{','.join(alts)}\t{qual}\tPASS\tDP={dp}\t{fmt}\t{values}"
    return line, pos + len(ref)


@st.composite
def valid_records(draw: st.DrawFn) -> list[str]:
    """Sorted records on one to three contigs (each contig once, any order)."""
    contigs = draw(st.permutations(CONTIGS))[: draw(st.integers(1, 3))]
    lines: list[str] = []
    for contig in contigs:
        pos = draw(st.integers(1, 2_000))
        for _ in range(draw(st.integers(1, 6))):
            line, pos = draw(st.one_of(_block(contig, pos), _variant(contig, pos)))
            lines.append(line)
            pos += draw(st.integers(0, 50))
    return lines


# ---- defects ------------------------------------------------------------------------------
JUNK = st.text(st.characters(codec="utf-8"), max_size=12)  # any unicode, controls included
TEXT_FIELD = st.sampled_from(["", " ", ".", "\u00e9", "\u202e", "\x00", "\t", "NaN"]) | JUNK


def _field(draw: st.DrawFn, lines: list[str], column: int, values: st.SearchStrategy) -> None:
    i = draw(st.integers(0, len(lines) - 1))
    cols = lines[i].split("\t")
    if column < len(cols):
        cols[column] = draw(values)
        lines[i] = "\t".join(cols)


def _record_defect(draw: st.DrawFn, name: str, body: list[str], header: list[str]) -> None:
    """Apply the record-level defect ``name`` to ``body`` (in place)."""
    i = draw(st.integers(0, len(body) - 1))
    cols = body[i].split("\t")
    if name == "contig":
        bad = ["chrUn_bogus", "chr23", "1", "chr1 ", "chrM\u00e9", "chr7_KI270803v1_alt", ""]
        _field(draw, body, 0, st.sampled_from(bad) | TEXT_FIELD)
    elif name == "pos":
        bad = ["0", "-1", "1e3", "12a", " 5", "+5", "99999999999", "2147483648", "\u0663"]
        _field(draw, body, 1, st.sampled_from(bad) | TEXT_FIELD)
    elif name == "ref":
        bad = ["K", "*", "<NON_REF>", "A-", "ZCCAT", "A" * 5000, "."]
        _field(draw, body, 3, st.sampled_from(bad) | TEXT_FIELD)
    elif name == "alt":
        bad = ["<NON_REF>", "<*>", "<*>,<NON_REF>", "*", "<DEL>", "A[chr1:5[", "]chr2:9]C",
               "G,G", ",", "A,,C", "<NON_REF>,A", "<NON_REF", "A" * 3000]  # fmt: skip
        _field(draw, body, 4, st.sampled_from(bad) | TEXT_FIELD)
    elif name == "qual_filter_id":
        _field(draw, body, draw(st.sampled_from([2, 5, 6])), TEXT_FIELD)
    elif name == "info":
        bad = ["END=", "END=11o", "END=-3", "END=0", "END=99999999999", "END=2147483647",
               "END=5;END=7", "DP=x;END=9", "END=1,2", "=", ";;", "END"]  # fmt: skip
        _field(draw, body, 7, st.sampled_from(bad) | TEXT_FIELD)
    elif name == "end_before_pos" and len(cols) > 7 and cols[1].isdigit():
        cols[7] = f"END={int(cols[1]) - draw(st.integers(1, 5))}"
        body[i] = "\t".join(cols)
    elif name == "format":
        bad = ["GT:DP", "DP:GT", "GT:GT", "", "XX", "GT:AD:DP:GQ:PL:MIN_DP:SB", ":"]
        _field(draw, body, 8, st.sampled_from(bad) | TEXT_FIELD)
    elif name == "gt" and len(cols) > 9:
        bad = ["0/5", "a/b", "0/1/1", "", "0//1", "-1/0", "|", "0/1/", ".|.|.", "00/01", "0/",
               "1/1", "0/1", "2147483648/0", "0\\1"]  # fmt: skip
        values = cols[9].split(":")
        values[0] = draw(st.sampled_from(bad) | TEXT_FIELD)
        cols[9] = ":".join(values)
        body[i] = "\t".join(cols)
    elif name == "sample_values" and len(cols) > 9:
        bad = ["0/0:-5:3:1:0,0,0", "0/0:1.5:2", "0/0", "0/0:1:2:3:4:5:6:7", "0/0:.:.:.:.",
               "0/0:99999999999:1:1:0", "0/0::1", "0/1:3,4:7:9"]  # fmt: skip
        _field(draw, body, 9, st.sampled_from(bad) | TEXT_FIELD)
    elif name == "drop_column":
        del cols[draw(st.integers(0, len(cols) - 1))]
        body[i] = "\t".join(cols)
    elif name == "extra_column":
        cols.insert(draw(st.integers(0, len(cols))), draw(TEXT_FIELD))
        body[i] = "\t".join(cols)
    elif name == "overlap" and len(body) > 1:  # a block reaching past the next record
        j = min(i, len(body) - 2)
        nxt = body[j + 1].split("\t")
        cols = body[j].split("\t")
        if len(cols) > 7 and len(nxt) > 1 and nxt[1].isdigit():
            cols[7] = f"END={int(nxt[1]) + draw(st.integers(0, 100))}"
            body[j] = "\t".join(cols)
    elif name == "swap" and len(body) > 1:
        j = draw(st.integers(0, len(body) - 1))
        body[i], body[j] = body[j], body[i]
    elif name == "duplicate":
        body.insert(i, body[i])
    elif name == "unicode":
        k = draw(st.integers(0, len(cols) - 1))
        cols[k] = cols[k] + draw(st.text(min_size=1, max_size=8))
        body[i] = "\t".join(cols)
    elif name == "huge":  # one very long field (htslib grows its buffers)
        k = draw(st.sampled_from([2, 3, 4, 7, 9]))
        if k < len(cols):
            cols[k] = cols[k] + draw(st.sampled_from(["A", ";X=1", ",0", "x"])) * 200_000
            body[i] = "\t".join(cols)
    elif name == "blank_line":
        body.insert(i, draw(st.sampled_from(["", " ", "\t", "\r"])))
    elif name == "header_in_body":
        body.insert(
            i, draw(st.sampled_from(["##INFO=<ID=X>", "#CHROM", "#", "##contig=<ID=chr1>"]))
        )


def _header_defect(draw: st.DrawFn, name: str, header: list[str]) -> None:
    if name == "drop_header_line":
        del header[draw(st.integers(0, len(header) - 1))]
    elif name == "contig_line":
        bad = ["##contig=<ID=chr1,length=249250621>", "##contig=<length=5>", "##contig=<ID=>",
               "##contig=<ID=chr2,length=x>", "##contig=<ID=chrX,length=-1>", "##contig=<",
               "##contig=<ID=chrM,length=16569,length=1>", "##contig=<ID=chr1,,>"]  # fmt: skip
        header.insert(draw(st.integers(1, len(header))), draw(st.sampled_from(bad)))
    elif name == "typed":
        bad = ['##FORMAT=<ID=GT,Number=1,Type=Integer,Description="x">',
               '##FORMAT=<ID=DP,Number=1,Type=Float,Description="x">',
               '##FORMAT=<ID=GQ,Number=A,Type=String,Description="x">',
               '##INFO=<ID=END,Number=1,Type=String,Description="x">',
               '##INFO=<ID=END,Number=1,Type=Flag,Description="x">',
               '##FORMAT=<ID=AD,Number=.,Type=Character,Description="x">',
               "##FORMAT=<ID=MIN_DP>", "##INFO=<ID=,Number=1,Type=Integer>"]  # fmt: skip
        header.insert(draw(st.integers(1, len(header))), draw(st.sampled_from(bad)))
    elif name == "fileformat":
        header[0] = draw(st.sampled_from(["##fileformat=VCFv4.5", "##fileformat=BCF", "#", ""]))
    elif name == "header_junk":
        header.insert(draw(st.integers(0, len(header))), "##" + draw(JUNK))


def _chrom_line(draw: st.DrawFn) -> str:
    sample = st.sampled_from(
        [[SAMPLE], [], [SAMPLE, "OTHER"], ["SOMEONE-ELSE"], [SAMPLE + " "], [""], [SAMPLE] * 2]
    )
    fixed = st.sampled_from([FIXED, FIXED[:8], FIXED[:7], [c.lower() for c in FIXED]])
    return "\t".join(draw(fixed) + draw(sample))


RECORD_DEFECTS = (
    "contig", "pos", "ref", "alt", "qual_filter_id", "info", "end_before_pos", "format", "gt",
    "sample_values", "drop_column", "extra_column", "overlap", "swap", "duplicate", "unicode",
    "huge", "blank_line", "header_in_body",
)  # fmt: skip
HEADER_DEFECTS = ("drop_header_line", "contig_line", "typed", "fileformat", "header_junk")
CHROM_DEFECTS = ("chrom_line",)
BYTE_DEFECTS = ("crlf", "crlf_some", "binary", "nul", "no_final_newline", "no_records", "bom")
FRAME_DEFECTS = (
    "plain", "gzip", "truncate", "flip", "junk_after", "no_eof", "empty_file", "eof_only",
    "twice",
)  # fmt: skip
DEFECTS = RECORD_DEFECTS + HEADER_DEFECTS + CHROM_DEFECTS + BYTE_DEFECTS + FRAME_DEFECTS


def _bytes_defect(draw: st.DrawFn, name: str, text: bytes) -> bytes:
    if name == "crlf":
        return text.replace(b"\n", b"\r\n")
    if name == "crlf_some":
        lines = text.split(b"\n")
        k = draw(st.integers(0, len(lines) - 1))
        lines[k] += b"\r"
        return b"\n".join(lines)
    if name in ("binary", "nul"):
        junk = draw(st.binary(min_size=1, max_size=64)) if name == "binary" else b"\x00"
        at = draw(st.integers(0, len(text)))
        return text[:at] + junk + text[at:]
    if name == "no_final_newline":
        return text.rstrip(b"\n")
    if name == "bom":
        return b"\xef\xbb\xbf" + text
    return text


def _frame_defect(draw: st.DrawFn, name: str, data: bytes, text: bytes) -> bytes:
    if name == "plain":
        return text
    if name == "gzip":
        return gzip.compress(text)
    if not data:  # an earlier defect left nothing to break
        return data
    if name == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    if name == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    if name == "junk_after":
        return data + draw(st.binary(min_size=1, max_size=64))
    if name == "no_eof":
        return data.removesuffix(BGZF_EOF)
    if name == "empty_file":
        return b""
    if name == "eof_only":
        return BGZF_EOF
    if name == "twice":  # the blocks twice over, one end-of-file marker
        return data[:-len(BGZF_EOF)] + data + BGZF_EOF  # fmt: skip
    return data


@st.composite
def cases(draw: st.DrawFn, defects: int = 3) -> Case:
    """A gVCF written as bytes: valid records, then up to ``defects`` named defects."""
    header, body = list(HEADER), draw(valid_records())
    names = draw(st.lists(st.sampled_from(DEFECTS), max_size=defects))
    chrom = "\t".join([*FIXED, SAMPLE])
    for name in names:
        if name in RECORD_DEFECTS and body:
            _record_defect(draw, name, body, header)
        elif name in HEADER_DEFECTS:
            _header_defect(draw, name, header)
        elif name == "chrom_line":
            chrom = _chrom_line(draw)
    if "no_records" in names:
        body = []
    text = "\n".join([*header, chrom, *body]).encode() + b"\n"
    for name in names:
        text = _bytes_defect(draw, name, text)
    data = bgzip(text)
    for name in names:
        if name in FRAME_DEFECTS:
            data = _frame_defect(draw, name, data, text)
            if name == "twice":
                text += text  # what the file now decompresses to
    return Case(header, body, names, text, data)


# ---- the property -------------------------------------------------------------------------
def read_or_rule(path: Path, case: Case) -> GvcfRead | GvcfError:
    """Read ``path`` with the real reader: it must return a read or raise GvcfError with
    a known rule, a line within the file and a one-line message in the project's
    ``file:line: rule: message`` form that does not echo the sample name; a case without
    defects must be read, every record of it."""
    try:
        read = read_gvcf(path, expected_sample=SAMPLE)
    except GvcfError as err:
        assert err.rule in RULES, err.rule
        assert str(err) == f"{path}:{err.line}: {err.rule}: {err.message}"
        assert "\n" not in str(err) and "\r" not in str(err), repr(str(err))
        assert 0 <= err.line <= case.text.count(b"\n") + 1, (err.line, str(err))
        assert SAMPLE not in err.message, err.message
        assert case.defects, f"a valid gVCF was refused: {err}"
        return err
    assert read.sample == SAMPLE
    if not case.defects:
        assert read.records == len(case.body)
        assert read.contigs == list(dict.fromkeys(r.split("\t")[0] for r in case.body))
    return read
