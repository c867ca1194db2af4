"""Byte-level checks of a bgzipped single-sample gVCF, run before cyvcf2 decodes it.

htslib (under cyvcf2) stops at a corrupted BGZF block after printing an error, parses
``END=11o`` as 11, sets an out-of-range integer to missing and ignores surplus columns,
often without a warning. :func:`scan_gvcf` therefore streams the decompressed bytes
once (constant memory): it checks the BGZF framing and CRCs, reads the header (sample
column, contig lengths), counts the data lines and finds the first data line whose
syntax htslib would coerce silently. The checks are whole-buffer byte operations, not a
per-line Python loop; a per-line look happens only where a buffer is suspect.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .schemas import MISSING

RULES = (
    "not_bgzip",
    "truncated",
    "malformed_record",
    "end_before_pos",
    "unsorted",
    "unknown_contig",
    "sample_mismatch",
    "not_single_sample",
    "empty",
)
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
FIXED_COLUMNS = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
INT32_MAX = 2**31 - 1
INT32_MIN_VALID = -(2**31) + 8  # htslib reserves the 8 lowest int32 values as sentinels
INT_FIELDS = (b"DP", b"GQ", b"MIN_DP", b"AD")  # the FORMAT integers the reader uses
_READ = 1 << 18  # compressed bytes per read
_BATCH = 1 << 21  # decompressed bytes checked at a time
# digits 1-9 -> "0" (a run of 10 marks a number too wide for int32), newline -> tab (an
# empty field, blank line or trailing tab then shows up as a doubled separator)
_SQUASH = bytes.maketrans(b"123456789\n", b"000000000\t")
_NOT_SEPARATOR = bytes(b for b in range(256) if b not in b"\t\n")
_SEPARATORS = b"\t" * 9 + b"\n"  # of a 10-column line
_BAD_END = re.compile(rb"END=(?<=[\t;]END=)(?![0-9]{1,9}[;\t])")
_CONTIG = re.compile(rb"^##contig=<(.*)>\s*$")
_TYPED = re.compile(rb"^##(INFO|FORMAT)=<ID=([^,>]+),Number=[^,>]*,Type=(\w+)")
_GT = re.compile(r"(?:\.|[0-9]+)(?:[/|](?:\.|[0-9]+))*")
_INT = re.compile(r"[-+]?[0-9]+")
_GT_SPLIT = re.compile(r"[/|]")
# The allele rule every record's REF (reference blocks included) and every sequence ALT
# obeys: one or more of A, C, G, T, N, case-insensitive (VCF 4.2 section 1.4.1). IUPAC
# ambiguity codes (K, R, ...) and other letters are refused.
BASES = frozenset("ACGTN")
ALLELE_PATTERN = r"^[ACGTNacgtn]+$"  # the same rule, for vectorised checks


class GvcfError(ValueError):
    """A gVCF that cannot be read. ``line`` is the 1-based physical line in the
    decompressed file (header lines count); 0 means the whole file."""

    def __init__(self, path: str | Path, line: int, rule: str, message: str) -> None:
        assert rule in RULES, rule
        self.path, self.line, self.rule, self.message = str(path), line, rule, message
        super().__init__(f"{self.path}:{line}: {rule}: {message}")

    def __reduce__(self):  # keep it picklable (multiprocessing, Dagster)
        return (GvcfError, (self.path, self.line, self.rule, self.message))


@dataclass
class Scan:
    header_lines: int  # physical lines before the first record (the #CHROM line included)
    data_lines: int
    sample: str
    first_bad: GvcfError | None  # earliest malformed data line htslib would not reject
    types: dict[tuple[str, str], str]  # ("INFO"|"FORMAT", ID) -> header Type


def scan_gvcf(path: Path, *, contigs: Mapping[str, int], expected_sample: str | None) -> Scan:
    """Stream ``path`` once; raise GvcfError for framing and header problems, and
    return the line layout plus the first silently-coercible malformed data line."""
    with open(path, "rb") as fh:
        head = fh.read(18)
        if len(head) < 18 or head[:4] != b"\x1f\x8b\x08\x04" or head[12:14] != b"BC":
            raise GvcfError(path, 0, "not_bgzip", "not a BGZF (bgzip) file")
        fh.seek(0)
        scanner = _Scanner(path, contigs, expected_sample)
        # A truncated or corrupted block is reported at the first line it touches: the
        # lines of the blocks before it (CRC-checked) + 1.
        dec = zlib.decompressobj(31)
        parts: list[bytes] = []  # verified blocks, not yet checked
        member: list[bytes] = []  # output of the current block, until its CRC checks out
        size = 0
        while raw := fh.read(_READ):
            while raw:
                try:
                    member.append(dec.decompress(raw))
                except zlib.error as exc:
                    line = scanner.lines + sum(x.count(b"\n") for x in parts) + 1
                    raise GvcfError(
                        path, line, "truncated", f"corrupted BGZF block: {exc}"
                    ) from exc
                if dec.eof:
                    parts += member
                    size += sum(map(len, member))
                    raw, dec, member = dec.unused_data, zlib.decompressobj(31), []
                else:
                    raw = b""
            if size >= _BATCH:
                text = b"".join(parts)
                cut = text.rfind(b"\n") + 1
                scanner.feed(text[:cut])
                parts, size = [text[cut:]], len(text) - cut
        tail = b"".join(parts)
        if member:  # the last block never reached its end
            line = scanner.lines + tail.count(b"\n") + 1
            raise GvcfError(path, line, "truncated", "the file ends inside a BGZF block")
        fh.seek(max(0, fh.tell() - len(BGZF_EOF)))
        if fh.read() != BGZF_EOF:
            raise GvcfError(path, 0, "truncated", "no BGZF end-of-file marker")
    if tail and not tail.endswith(b"\n"):
        tail += b"\n"
    scanner.feed(tail)
    return scanner.finish()


class _Scanner:
    def __init__(self, path: Path, contigs: Mapping[str, int], expected: str | None) -> None:
        self.path, self.contigs, self.expected = path, contigs, expected
        self.lines = 0  # complete lines seen so far
        self.header_lines = 0
        self.in_header = True
        self.sample: str | None = None
        self.first_bad: GvcfError | None = None
        self.types: dict[tuple[str, str], str] = {}

    def _fail(self, line: int, rule: str, message: str) -> GvcfError:
        return GvcfError(self.path, line, rule, message)

    def feed(self, chunk: bytes) -> None:
        """``chunk`` holds whole lines (it ends with a newline or is empty)."""
        start = 0
        while self.in_header and start < len(chunk):
            stop = chunk.index(b"\n", start)
            line = chunk[start:stop].rstrip(b"\r")
            if not line.startswith(b"#"):
                break
            self.lines += 1
            self._header_line(line, self.lines)
            start = stop + 1
        if start < len(chunk):
            if self.in_header:
                if self.sample is None:
                    raise self._fail(self.lines + 1, "malformed_record", "no #CHROM header line")
                self.in_header = False
            body = chunk[start:] if start else chunk
            n = body.count(b"\n")
            if self.first_bad is None:
                self.first_bad = self._check_body(body, n, self.lines)
            self.lines += n

    def _header_line(self, line: bytes, no: int) -> None:
        if self.sample is not None:
            raise self._fail(no, "malformed_record", "header line after the #CHROM line")
        if no == 1 and not line.startswith(b"##fileformat=VCF"):
            raise self._fail(no, "malformed_record", "first line is not ##fileformat=VCF...")
        if line.startswith(b"##"):
            m = _CONTIG.match(line)
            if m:
                self._contig_line(m.group(1), no)
            elif m := _TYPED.match(line):
                kind, key, kind_type = (x.decode("utf-8", "replace") for x in m.groups())
                self.types[kind, key] = kind_type
            return
        cols = line.decode("utf-8", "replace").split("\t")
        if cols[: len(FIXED_COLUMNS)] != FIXED_COLUMNS[: len(cols)] or len(cols) < 8:
            raise self._fail(no, "malformed_record", "bad #CHROM header line")
        samples = cols[len(FIXED_COLUMNS) :]
        if len(samples) != 1:
            raise self._fail(
                no, "not_single_sample", f"{len(samples)} samples, expected exactly one"
            )
        self.sample = samples[0]
        self.header_lines = no
        if self.expected is not None and self.sample != self.expected:
            raise self._fail(
                no, "sample_mismatch", "the gVCF's sample name is not the manifest's sample_id"
            )

    def _contig_line(self, body: bytes, no: int) -> None:
        fields = dict(x.partition(b"=")[::2] for x in body.split(b","))
        name = fields.get(b"ID", b"").decode("utf-8", "replace")
        if not name:
            raise self._fail(no, "malformed_record", "##contig line without ID")
        length = fields.get(b"length")
        if name not in self.contigs or length is None:
            return  # contigs outside the reference set only matter if records use them
        if length != str(self.contigs[name]).encode():
            raise self._fail(
                no,
                "unknown_contig",
                f"{name} has length {length.decode(errors='replace')} in the header,"
                f" {self.contigs[name]} in the reference",
            )

    def _check_body(self, body: bytes, n: int, before: int) -> GvcfError | None:
        """First malformed line of ``body`` (``n`` whole lines; ``before`` precede it)."""
        found: list[tuple[int, str]] = []  # (byte offset, message)
        if (i := body.find(b"\0")) >= 0:  # htslib's C strings would end there
            found.append((i, "NUL byte"))
        # every line has exactly 9 tabs: its separators alone are 9 tabs and a newline
        # (a total count would let a short line and a long one cancel out)
        if body.translate(None, _NOT_SEPARATOR) != _SEPARATORS * n:
            for offset, line in _lines(body):
                columns = line.rstrip(b"\r").count(b"\t") + 1
                if columns != 10:
                    found.append((offset, f"{columns} columns, expected 10"))
                    break
        squashed = body.translate(_SQUASH)
        if squashed[:1] == b"\t":
            found.append((0, "empty field or blank line"))
        elif (i := squashed.find(b"\t\t")) >= 0:
            found.append((i + 1, "empty field or blank line"))
        m = _BAD_END.search(body)
        if m:
            found.append((m.start(), "INFO/END is not a position"))
        i = squashed.find(b"0" * 10)
        while i >= 0 and (not found or i < min(found)[0]):
            s = body.rfind(b"\n", 0, i) + 1
            problem = _wide_int(body[s : body.index(b"\n", i)])
            if problem:
                found.append((i, problem))
                break
            i = squashed.find(b"0" * 10, body.index(b"\n", i))
        if not found:
            return None
        offset, message = min(found)
        return self._fail(before + body.count(b"\n", 0, offset) + 1, "malformed_record", message)

    def finish(self) -> Scan:
        if self.lines == 0:
            raise self._fail(0, "empty", "no content")
        if self.sample is None:
            raise self._fail(0, "malformed_record", "no #CHROM header line")
        data = self.lines - self.header_lines
        if data == 0:
            raise self._fail(0, "empty", "no records")
        return Scan(self.header_lines, data, self.sample, self.first_bad, self.types)


def _lines(body: bytes):
    offset = 0
    for line in body.split(b"\n")[:-1]:
        yield offset, line
        offset += len(line) + 1


def _wide_int(line: bytes) -> str | None:
    """Why a data line holding a 10+ digit number is malformed, or None if that number
    sits in a field the reader does not use as an int32 (e.g. INFO/RAW_MQ)."""
    cols = line.rstrip(b"\r").split(b"\t")
    if len(cols) < 10:
        return None  # reported by the column count
    values = dict(zip(cols[8].split(b":"), cols[9].split(b":"), strict=False))
    for key in INT_FIELDS:
        for x in values.get(key, b".").split(b","):
            if (
                x != b"."
                and x.lstrip(b"-").isdigit()
                and not INT32_MIN_VALID <= int(x) <= INT32_MAX
            ):
                return f"FORMAT/{key.decode()}={x.decode()} does not fit in 32 bits"
    return None


def explain_line(path: Path, number: int, types: Mapping[tuple[str, str], str]) -> str:
    """Why htslib refused data line ``number`` (re-read from the file; error path only)."""
    line = _raw_line(path, number)
    if line is None:
        return "unreadable record"
    cols = line.rstrip(b"\r").decode("utf-8", "replace").split("\t")
    if len(cols) != 10:
        return f"{len(cols)} columns, expected 10"
    if not cols[1].isdigit():
        return "POS is not a position"
    fields = [("INFO", *item.partition("=")[::2]) for item in cols[7].split(";")]
    keys, values = cols[8].split(":"), cols[9].split(":")
    if len(values) > len(keys):
        return f"{len(values)} sample values for {len(keys)} FORMAT keys"
    fields += [("FORMAT", k, v) for k, v in zip(keys, values, strict=False)]
    for kind, key, value in fields:
        if kind == "FORMAT" and key == "GT" and not _GT.fullmatch(value):
            return "FORMAT/GT is not a genotype"
        kind_type = types.get((kind, key))
        for x in value.split(",") if kind_type in ("Integer", "Float") else []:
            if x != "." and not _number(x, kind_type == "Integer"):
                return f"{kind}/{key} is not {kind_type}"
    return "unparseable record"


def _number(text: str, integer: bool) -> bool:
    if integer:
        return _INT.fullmatch(text) is not None
    try:
        float(text)
    except ValueError:
        return False
    return True


def _raw_line(path: Path, number: int) -> bytes | None:
    seen, buf = 0, b""
    dec = zlib.decompressobj(31)
    with open(path, "rb") as fh:
        while raw := fh.read(_READ):
            while raw:
                try:
                    buf += dec.decompress(raw)
                except zlib.error:
                    return None
                if dec.eof:
                    raw, dec = dec.unused_data, zlib.decompressobj(31)
                else:
                    raw = b""
            lines = buf.split(b"\n")
            if seen + len(lines) - 1 >= number:
                return lines[number - seen - 1]
            seen, buf = seen + len(lines) - 1, lines[-1]
    return buf if seen + 1 == number and buf else None


class RowError(Exception):
    """A problem in one record, before its line number is known."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule, self.message = rule, message


def bad_allele(kind: str, allele: str) -> str | None:
    """Why ``allele`` (``kind`` REF or ALT) breaks the allele rule, or None."""
    if allele and BASES.issuperset(allele.upper()):
        return None
    return f"{kind} is not a sequence of A, C, G, T, N"


def check_allele(kind: str, allele: str) -> str:
    """``allele`` upper-cased; RowError (malformed_record) when it breaks the rule."""
    problem = bad_allele(kind, allele)
    if problem:
        raise RowError("malformed_record", problem)
    return allele.upper()


def parse_genotype(gt: str, n_alleles: int) -> tuple[list[int], bool]:
    """Allele indexes (-1 missing) and phasing of a GT string; validates the indexes."""
    parts = _GT_SPLIT.split(gt)
    if len(parts) > 2:
        raise RowError("malformed_record", "GT: ploidy above 2 is not supported")
    try:
        alleles = [MISSING if x == "." else int(x) for x in parts]
    except ValueError:
        raise RowError("malformed_record", "GT is not a genotype") from None
    if any(a >= n_alleles or a < MISSING for a in alleles):
        raise RowError("malformed_record", f"GT names an allele beyond the {n_alleles} alleles")
    return alleles, "|" in gt


def parse_ints(text: str | None) -> list[int | None] | None:
    """A comma-separated list of non-negative int32 values ("." -> None)."""
    if text is None:
        return None
    out: list[int | None] = []
    for x in text.split(","):
        if x == ".":
            out.append(None)
            continue
        try:
            value = int(x)
        except ValueError:
            raise RowError("malformed_record", "a value is not an integer") from None
        if not 0 <= value <= INT32_MAX:
            raise RowError("malformed_record", f"integer out of range: {x}")
        out.append(value)
    return out


def info_end(info: str) -> int | None:
    """INFO/END, or None when absent or missing."""
    for item in info.split(";"):
        if item.startswith("END="):
            value = parse_ints(item[4:])
            return value[0] if value else None
    return None
