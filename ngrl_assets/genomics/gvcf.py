"""Per-sample gVCF reader: one bgzipped single-sample gVCF -> normalised variant calls
(SAMPLE_CALLS_SCHEMA) and reference blocks (SAMPLE_BLOCKS_SCHEMA). Pure: no Dagster.

Two passes over the bytes, one parse: :func:`.gvcf_validate.scan_gvcf` streams the raw
decompressed text (BGZF integrity, header, syntax htslib coerces silently), then cyvcf2
parses every record once. Each parsed record is taken as htslib's canonical VCF line
(``str(variant)``: one C call, cheaper than several attribute reads) and the lines are
decoded in batches with vectorised polars string ops, on a worker thread while the main
thread parses the next batch; only variant records (a few percent) go through Python one
by one. Values are therefore exactly what htslib parsed; what htslib coerces silently is
caught by the byte scan. Every problem raises :class:`GvcfError` naming the path, the
physical line (1-based, header lines included; 0 = whole file) and the rule; htslib's own
messages are off while it parses (they would repeat the problem on stderr, with the
record's value).

Semantics:
- reference block: every ALT is ``<NON_REF>``/``<*>`` (or there is none); one block
  [POS, INFO/END] (END absent: the REF span), ``min_dp`` = MIN_DP if the record has
  it, else DP. A block whose GT is not hom-ref carries no coverage: skipped, counted.
- variant record: GT all-ref -> a block over its REF span; GT all-missing -> nothing
  (counted); otherwise one biallelic row per sequence ALT (``<NON_REF>``, ``<*>``,
  ``*``, other symbolic and breakend alleles dropped), common suffix then prefix
  trimmed, genotype re-coded per row (see :mod:`.schemas`), ad_ref/ad_alt from AD.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import cyvcf2.cyvcf2
import polars as pl
from cyvcf2 import VCF

from .gvcf_validate import (
    ALLELE_PATTERN,
    INT32_MAX,
    GvcfError,
    RowError,
    Scan,
    bad_allele,
    check_allele,
    explain_line,
    info_end,
    parse_genotype,
    parse_ints,
    scan_gvcf,
)
from .reference import GRCH38_CONTIGS
from .schemas import ALT, MISSING, OTHER, REF, SAMPLE_BLOCKS_SCHEMA, SAMPLE_CALLS_SCHEMA

__all__ = ["GRCH38_CONTIGS", "GvcfError", "GvcfRead", "md5_file", "read_gvcf"]

NON_REF = frozenset(("<NON_REF>", "<*>"))
BATCH = 1 << 16  # records decoded per vectorised step
_BLOCK_ALTS = ["<NON_REF>", "<*>", "."]
_HOM_REF = ["0/0", "0|0", "0"]
_NO_CALL = ["./.", ".|.", "."]
_COLUMNS = ["contig", "pos", "id", "ref", "alt", "qual", "filter", "info", "fmt", "sample"]
_USED = ["contig", "pos", "ref", "alt", "info", "fmt", "sample"]


@dataclass
class GvcfRead:
    sample: str
    calls: pl.DataFrame  # SAMPLE_CALLS_SCHEMA, file order
    blocks: pl.DataFrame  # SAMPLE_BLOCKS_SCHEMA, file order
    records: int  # data records in the file
    contigs: list[str]  # contigs with records, in file order
    skipped_blocks: int = 0  # reference blocks whose GT is not hom-ref (no coverage)
    no_call_records: int = 0  # variant records whose GT is all missing


# cyvcf2 links its own copy of htslib (not pysam's): its log level is set there
_HTSLIB = ctypes.CDLL(cyvcf2.cyvcf2.__file__)
_HTS_LOG_OFF = 0
_silence = threading.Lock()
_silenced = [0, 0]  # readers parsing now, the level to restore when the last one ends


@contextmanager
def _htslib_silent() -> Iterator[None]:
    """htslib's own messages off while gVCFs are parsed (they go straight to the
    process's stderr, e.g. ``[E::vcf_parse_format_fill5] Invalid character ...`` with the
    record's value and position; the reader reports the same problem as a GvcfError
    naming file, line and rule). The level is process-wide: it is restored when the last
    concurrent reader is done."""
    with _silence:
        if _silenced[0] == 0:
            _silenced[1] = _HTSLIB.hts_get_log_level()
            _HTSLIB.hts_set_log_level(_HTS_LOG_OFF)
        _silenced[0] += 1
    try:
        yield
    finally:
        with _silence:
            _silenced[0] -= 1
            if _silenced[0] == 0:
                _HTSLIB.hts_set_log_level(_silenced[1])


def md5_file(path: str | Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_gvcf(
    path: str | Path,
    *,
    expected_sample: str | None = None,
    contigs: Mapping[str, int] = GRCH38_CONTIGS,
) -> GvcfRead:
    """Validate and decode one single-sample gVCF (see the module docstring)."""
    path = Path(path)
    scan = scan_gvcf(path, contigs=contigs, expected_sample=expected_sample)
    with _htslib_silent():
        return _Decoder(path, scan, contigs).run()


class _Decoder:
    def __init__(self, path: Path, scan: Scan, contigs: Mapping[str, int]) -> None:
        self.path, self.scan, self.contigs = path, scan, contigs
        self.blocks: list[pl.DataFrame] = []
        self.calls: list[tuple] = []  # rows in SAMPLE_CALLS_SCHEMA column order
        self.order: list[str] = []  # contigs in file order
        self.lengths = dict(contigs)
        self.last_pos = 0
        self.skipped = self.no_calls = 0

    def fail(self, record: int, rule: str, message: str) -> GvcfError:
        return GvcfError(self.path, self.scan.header_lines + record + 1, rule, message)

    def run(self) -> GvcfRead:
        scan = self.scan
        bad = scan.first_bad
        limit = scan.data_lines if bad is None else bad.line - scan.header_lines - 1
        try:
            vcf = VCF(str(self.path), threads=2)  # htslib inflates on a helper thread
        except Exception as exc:  # the header passed our checks; htslib still refused it
            raise GvcfError(self.path, 0, "malformed_record", f"htslib: {exc}") from exc
        # cyvcf2 (GIL released inside htslib) and polars (GIL released) overlap: the
        # main thread parses batch k+1 while one worker decodes batch k; batches are
        # decoded strictly in order, so the earliest problem is still the one raised.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gvcf-decode")
        pending: Future[None] | None = None
        try:
            if list(vcf.samples) != [scan.sample]:
                raise GvcfError(self.path, scan.header_lines, "malformed_record", "samples")
            records, done = iter(vcf), 0
            while done < limit:
                lines: list[str] = []
                try:  # list.extend keeps what it got before an exception
                    lines.extend(map(str, islice(records, min(BATCH, limit - done))))
                except Exception as exc:  # htslib refused the line after `lines`
                    if pending is not None:
                        pending.result()  # an earlier problem wins
                    self._batch(lines, done)
                    line = scan.header_lines + done + len(lines) + 1
                    why = explain_line(self.path, line, scan.types)
                    raise GvcfError(
                        self.path, line, "malformed_record", f"{why} (htslib refused the record)"
                    ) from exc
                if not lines:
                    break
                if pending is not None:
                    pending.result()
                pending = pool.submit(self._batch, lines, done)
                done += len(lines)
            if pending is not None:
                pending.result()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            vcf.close()
        if bad is not None:
            raise bad
        if done != scan.data_lines:  # htslib stopped early without raising
            raise self.fail(done, "truncated", "htslib stopped reading here")
        blocks = pl.concat(self.blocks) if self.blocks else pl.DataFrame()
        return GvcfRead(
            sample=scan.sample,
            calls=pl.DataFrame(self.calls, schema=SAMPLE_CALLS_SCHEMA, orient="row"),
            blocks=blocks.select(list(SAMPLE_BLOCKS_SCHEMA)).cast(pl.Schema(SAMPLE_BLOCKS_SCHEMA))
            if self.blocks
            else pl.DataFrame(schema=SAMPLE_BLOCKS_SCHEMA),
            records=done,
            contigs=list(self.order),
            skipped_blocks=self.skipped,
            no_call_records=self.no_calls,
        )

    def _batch(self, lines: list[str], offset: int) -> None:
        """Decode canonical record lines ``offset .. offset+len(lines)-1``; raise the
        earliest problem among them."""
        if not lines:
            return
        text = "".join(lines)
        if text.count("\t") != 9 * len(lines):  # htslib gave up on a record silently
            short = next(k for k, line in enumerate(lines) if line.count("\t") != 9)
            self._batch(lines[:short], offset)  # an earlier problem wins
            why = explain_line(
                self.path, self.scan.header_lines + offset + short + 1, self.scan.types
            )
            raise self.fail(offset + short, "malformed_record", f"{why} (htslib gave up on it)")
        df = pl.read_csv(
            text.encode(),
            separator="\t",
            has_header=False,
            quote_char=None,
            infer_schema=False,
            new_columns=_COLUMNS,
        ).select(pl.int_range(pl.len(), dtype=pl.Int64).alias("i"), *_USED)
        errors: list[tuple[int, int, str, str]] = []  # (row, precedence, rule, message)
        contig, pos = df["contig"], df["pos"].cast(pl.Int64)
        prev = self.order[-1] if self.order else None
        new_run = (contig != contig.shift(1, fill_value=prev)).fill_null(True)
        for row, name in zip(new_run.arg_true().to_list(), contig.filter(new_run), strict=True):
            if name not in self.contigs:
                errors.append((row, 0, "unknown_contig", "contig is not a GRCh38 contig"))
                break
            if name in self.order:
                errors.append((row, 0, "unsorted", f"{name} reappears after {self.order[-1]}"))
                break
            self.order.append(name)
        back = ~new_run & (pos < pos.shift(1, fill_value=self.last_pos))
        if back.any():
            row = int(back.arg_max() or 0)
            before = pos[row - 1] if row else self.last_pos
            errors.append((row, 0, "unsorted", f"POS {pos[row]} after {before}"))
        self.last_pos = int(pos[-1])
        df = df.with_columns(pos=pos)
        is_block = df["alt"].is_in(_BLOCK_ALTS)
        blocks = self._blocks(df.filter(is_block), errors)
        extra: list[tuple[int, str, int, int, int | None, int | None]] = []
        for row in df.filter(~is_block).iter_rows():
            try:
                self._variant(row, extra)
            except RowError as exc:
                errors.append((row[0], 1, exc.rule, exc.message))
                break
        if errors:
            row, _, rule, message = min(errors)
            raise self.fail(offset + row, rule, message)
        if extra:  # hom-ref variant records became blocks: merge them in file order
            more = pl.DataFrame(extra, schema=list(blocks.columns), orient="row")
            blocks = pl.concat([blocks, more.cast(blocks.schema)]).sort("i")
        self.blocks.append(blocks.drop("i"))

    def _blocks(self, blk: pl.DataFrame, errors: list[tuple[int, int, str, str]]) -> pl.DataFrame:
        """Vectorised decode of reference-block records (canonical text from htslib)."""
        c = pl.col
        fmts = blk["fmt"].unique().to_list()

        def field(*names: str) -> pl.Expr:
            index: dict[str, int | None] = {}
            for fmt in fmts:
                keys = fmt.split(":")
                index[fmt] = next((keys.index(n) for n in names if n in keys), None)
            at = c("fmt").replace_strict(index, default=None, return_dtype=pl.Int64)
            return c("parts").list.get(at, null_on_oob=True)

        # INFO is just "END=<n>" on almost every block: a prefix strip, not a regex
        blk = blk.with_columns(
            parts=c("sample").str.split(":"), end_s=c("info").str.strip_prefix("END=")
        ).with_columns(end_s=pl.when(c("end_s") != c("info")).then(c("end_s")))
        other = blk.filter(
            c("end_s").str.contains(";", literal=True)
            | (c("end_s").is_null() & c("info").str.contains("END=", literal=True))
        )
        if other.height:  # END elsewhere in INFO, or followed by more keys
            end_s = other.select("i", c("info").str.extract(r"(?:^|;)END=([^;]*)").alias("end_s"))
            blk = blk.update(end_s, on="i", include_nulls=True)
        blk = blk.with_columns(
            gt=field("GT"), dp_s=field("MIN_DP", "DP"), gq_s=field("GQ")
        ).with_columns(
            end=pl.coalesce(
                c("end_s").cast(pl.Int64, strict=False), c("pos") + c("ref").str.len_bytes() - 1
            ),
            min_dp=c("dp_s").cast(pl.Int32, strict=False),
            gq=c("gq_s").cast(pl.Int32, strict=False),
            clen=c("contig").replace_strict(self.lengths, default=0, return_dtype=pl.Int64),
            hom=c("gt").is_in(_HOM_REF),
        )
        bad_int = pl.lit(False)
        for text, value in (("dp_s", "min_dp"), ("gq_s", "gq"), ("end_s", "end")):
            bad_int = bad_int | (c(text).is_not_null() & (c(text) != ".") & c(value).is_null())
        problem = (
            pl.when(~c("ref").str.contains(ALLELE_PATTERN)).then(5)  # the allele rule
            .when(bad_int).then(0)
            .when(c("end") < c("pos")).then(1)
            .when(c("end") > c("clen")).then(2)
            .when((c("min_dp") < 0) | (c("gq") < 0)).then(3)
            .when(~c("hom") & ~c("gt").is_in(_NO_CALL)).then(4)  # GT to validate
        )  # fmt: skip
        odd = blk.filter(problem.is_not_null()).with_columns(problem=problem)
        for row in odd.iter_rows(named=True):
            kind, text = row["problem"], row["sample"]
            if kind == 4:  # a non-hom-ref block GT: skipped below, but it must be valid
                try:
                    parse_genotype(row["gt"], 1 if row["alt"] == "." else 2)
                    continue
                except RowError as exc:
                    rule, message = exc.rule, exc.message
            elif kind == 5:
                rule, message = "malformed_record", str(bad_allele("REF", row["ref"]))
            elif kind == 1:
                rule, message = "end_before_pos", f"END={row['end']} < POS={row['pos']}"
            else:
                rule = "malformed_record"
                message = {0: f"unparseable END/DP/GQ: {text}", 3: f"negative DP/GQ: {text}"}.get(
                    kind, f"END={row['end']} beyond {row['contig']} ({row['clen']})"
                )
            errors.append((row["i"], 1, rule, message))
            break
        hom = blk["hom"]
        self.skipped += blk.height - int(hom.sum())
        return blk.filter(hom).select("i", "contig", c("pos").alias("start"), "end", "min_dp", "gq")

    def _variant(self, row: tuple, blocks: list) -> None:
        """One record that is not a plain reference block (canonical text fields)."""
        i, contig, pos, ref, alt, info, fmt, sample = row
        alts = [] if alt == "." else alt.split(",")
        values = dict(zip(fmt.split(":"), sample.split(":"), strict=False))
        alleles, phased = parse_genotype(values.get("GT", "."), 1 + len(alts))
        end = info_end(info)
        if end is not None and end < pos:
            raise RowError("end_before_pos", f"END={end} < POS={pos}")
        ref = check_allele("REF", ref)
        ref_only = NON_REF.issuperset(alts)  # e.g. ALT "<NON_REF>,<*>": still a block
        span = end if ref_only and end is not None else pos + len(ref) - 1
        if max(span, end or 0) > self.lengths.get(contig, INT32_MAX):
            raise RowError("malformed_record", f"record ends beyond {contig}")
        if all(a == 0 for a in alleles):  # all-ref: coverage over the REF span
            dp = parse_ints(values.get("MIN_DP", values.get("DP")))
            gq = parse_ints(values.get("GQ"))
            blocks.append((i, contig, pos, span, dp[0] if dp else None, gq[0] if gq else None))
            return
        if ref_only:
            self.skipped += 1
            return
        if all(a == MISSING for a in alleles):
            self.no_calls += 1
            return
        ad = parse_ints(values.get("AD"))
        if ad is not None and len(ad) != 1 + len(alts):
            raise RowError("malformed_record", f"AD has {len(ad)} values, {1 + len(alts)} alleles")
        dp = parse_ints(values.get("DP"))
        gq = parse_ints(values.get("GQ"))
        depth, quality = dp[0] if dp else None, gq[0] if gq else None
        for n, allele in enumerate(alts, 1):
            if allele == "*" or allele.startswith("<") or "[" in allele or "]" in allele:
                continue  # spanning deletion, <NON_REF>/<*>, other symbolic, breakend
            allele = check_allele("ALT", allele)
            r, a, p = trim(ref, allele, pos)
            codes = [_code(j, n) for j in alleles]
            self.calls.append(
                (
                    contig, p, p + len(r) - 1, r, a,
                    codes[0], codes[1] if len(codes) > 1 else None, phased,
                    quality, depth,
                    None if ad is None else ad[0], None if ad is None else ad[n],
                )
            )  # fmt: skip


def trim(ref: str, alt: str, pos: int) -> tuple[str, str, int]:
    """Trim the common suffix, then the common prefix, keeping at least one base in
    each allele; ``pos`` moves right by the trimmed prefix length."""
    n, m = 0, min(len(ref), len(alt)) - 1
    while n < m and ref[-1 - n] == alt[-1 - n]:
        n += 1
    if n:
        ref, alt = ref[:-n], alt[:-n]
    n, m = 0, min(len(ref), len(alt)) - 1
    while n < m and ref[n] == alt[n]:
        n += 1
    return ref[n:], alt[n:], pos + n


def _code(allele: int, alt: int) -> int:
    """Allele index -> code at the biallelic row of ALT number ``alt``."""
    if allele == 0:
        return REF
    if allele == alt:
        return ALT
    return MISSING if allele < 0 else OTHER
