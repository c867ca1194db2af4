"""Per-sample GRCh38 gVCFs in the shape GATK HaplotypeCaller -ERC GVCF writes them:
variant records and GQ-banded reference blocks, ``<NON_REF>`` on every record, sorted,
bgzipped and tabix-indexed."""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import pysam

from ngrl_assets.genomics.reference import GRCH38_CONTIGS

from .common import poisson
from .genome import WINDOWS, Site, Window, draw_allele, reference, singleton_slots

BLOCK_FORMAT = "GT:AD:DP:GQ:MIN_DP:PL"
VARIANT_FORMAT = "GT:AD:DP:GQ:PL"
ERROR = 0.01  # per-read allele error rate of the likelihood model


def gq_band(gq: int) -> int:
    """GATK's default --gvcf-gq-bands: 1..59 one by one, then 60, 70, 80, 90, 99."""
    if gq < 60:
        return gq
    return 60 if gq < 70 else 70 if gq < 80 else 80 if gq < 90 else 90 if gq < 99 else 99


@functools.lru_cache(maxsize=1)
def _header_prefix() -> str:
    bounds = [*range(0, 61), 70, 80, 90, 99, 2147483647]
    lines = [
        "##fileformat=VCFv4.2",
        '##ALT=<ID=NON_REF,Description="Represents any possible alternative allele not '
        'already represented at this location by REF and ALT">',
        '##FILTER=<ID=LowQual,Description="Low quality">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and '
        'alt alleles in the order listed">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth (reads '
        'with MQ=255 or with bad mates are filtered)">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP observed within '
        'the GVCF block">',
        '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Normalized, Phred-scaled '
        'likelihoods for genotypes as defined in the VCF specification">',
        *(
            f"##GVCFBlock{lo}-{hi}=minGQ={lo}(inclusive),maxGQ={hi}(exclusive)"
            for lo, hi in itertools.pairwise(bounds)
        ),
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth; some '
        'reads may have been filtered">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="Stop position of the interval">',
        '##INFO=<ID=MLEAC,Number=A,Type=Integer,Description="Maximum likelihood expectation '
        '(MLE) for the allele counts, for each ALT allele, in the same order as listed">',
        '##INFO=<ID=MLEAF,Number=A,Type=Float,Description="Maximum likelihood expectation '
        '(MLE) for the allele frequency, for each ALT allele, in the same order as listed">',
        *(f"##contig=<ID={name},length={length}>" for name, length in GRCH38_CONTIGS.items()),
        "##reference=GRCh38",
        "##source=ngrl_assets.synth (synthetic HaplotypeCaller-style gVCF)",
    ]
    return "\n".join(lines) + "\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"


@functools.lru_cache(maxsize=8)
def _genotype_order(k: int) -> tuple[tuple[int, int], ...]:
    """VCF order of diploid genotypes over k alleles: 0/0, 0/1, 1/1, 0/2, 1/2, 2/2, ..."""
    return tuple((j, i) for i in range(k) for j in range(i + 1))


def _pls(ad: list[int]) -> list[int]:
    k = len(ad)
    miss = math.log10(ERROR / (k - 1))
    hit = math.log10(1 - ERROR)
    half = math.log10(0.5 * ((1 - ERROR) + ERROR / (k - 1)))
    lls = []
    for j, i in _genotype_order(k):
        ll = 0.0
        for x, n in enumerate(ad):
            if n:
                if j == i:
                    ll += n * (hit if x == j else miss)
                else:
                    ll += n * (half if x in (j, i) else miss)
        lls.append(ll)
    best = max(lls)
    return [round(-10 * (ll - best)) for ll in lls]


@dataclass
class SampleSpec:
    name: str  # the sample name written inside the file
    karyotype: str  # XX / XY
    coverage: float


def _variant(rng: random.Random, w: Window, site: Site, a: int, b: int, cov: float) -> str | None:
    k = len(site.alts) + 2  # REF, ALTs, <NON_REF>
    dp = max(2, round(rng.gauss(cov, 0.2 * cov)))
    ad = [0] * k
    if a == b:
        ad[a] = dp
        if dp > 4 and rng.random() < 0.15:
            ad[a] -= 1
            ad[0 if a else 1] += 1
    else:
        na = round(dp * min(0.8, max(0.2, rng.gauss(0.5, 0.08))))
        ad[a], ad[b] = na, dp - na
    pls = _pls(ad)
    order = _genotype_order(k)
    called = min(
        (pl, n) for n, (pl, (j, i)) in enumerate(zip(pls, order, strict=True)) if i < k - 1
    )[1]
    j, i = order[called]
    if i == 0:
        return None  # the evidence says hom-ref: the site stays inside a reference block
    gq = min(99, min(pl for n, pl in enumerate(pls) if n != called))
    counts = [(j == x) + (i == x) for x in range(1, k - 1)]
    info = (
        f"DP={dp};MLEAC={','.join(map(str, counts))},0;"
        f"MLEAF={','.join(f'{c / 2:.2f}' for c in counts)},0.00"
    )
    alts = ",".join(site.alts)
    sample = f"{j}/{i}:{','.join(map(str, ad))}:{dp}:{gq}:{','.join(map(str, pls))}"
    qual = f"{max(pls[0] - 0.23, 0.01):.2f}"
    return (
        f"{site.chrom}\t{site.pos}\t.\t{site.ref}\t{alts},<NON_REF>\t{qual}\t.\t{info}\t"
        f"{VARIANT_FORMAT}\t{sample}"
    )


def _blocks(rng: random.Random, w: Window, start: int, end: int, cov: float, out: list[str]):
    """Reference blocks over [start, end], a new block whenever the GQ band changes."""
    seq = reference(w)
    pos = start
    cur: list[int] | None = None  # [start, end, dp, gq, min_dp]

    def flush(b: list[int]) -> None:
        s, e, dp, gq, min_dp = b
        pl2 = max(gq, min_dp * 36)
        out.append(
            f"{w.chrom}\t{s}\t.\t{seq[s - w.start]}\t<NON_REF>\t.\t.\tEND={e}\t{BLOCK_FORMAT}\t"
            f"0/0:{dp},0:{dp}:{gq}:{min_dp}:0,{gq},{pl2}"
        )

    while pos <= end:
        if rng.random() < 0.03:  # a low-depth stretch
            dp, length = rng.randint(1, 9), rng.randint(1, 30)
        else:
            dp, length = (
                max(10, round(rng.gauss(cov, 0.15 * cov))),
                1 + int(rng.expovariate(1 / 45)),
            )
        stop = min(end, pos + length - 1)
        min_dp = max(0, dp - rng.randint(0, 5))
        gq = max(0, min(99, 3 * min_dp - rng.randint(0, 15)))
        if cur is not None and gq_band(cur[3]) == gq_band(gq):
            cur[1], cur[4] = stop, min(cur[4], min_dp)
        else:
            if cur is not None:
                flush(cur)
            cur = [pos, stop, dp, gq, min_dp]
        pos = stop + 1
    if cur is not None:
        flush(cur)


def _gaps(rng: random.Random, w: Window) -> list[tuple[int, int]]:
    """Uncovered stretches (no record at all) of this sample in this window."""
    gaps: list[tuple[int, int]] = []
    for _ in range(rng.choice((0, 0, 1, 1, 2))):
        length = rng.randint(30, 1500)
        s = rng.randint(w.start, w.end - length)
        gaps.append((s, s + length - 1))
    gaps.sort()
    merged: list[tuple[int, int]] = []
    for s, e in gaps:
        if merged and s <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def body_lines(rng: random.Random, spec: SampleSpec, sites: dict[Window, list[Site]]) -> list[str]:
    lines: list[str] = []
    for w in WINDOWS:
        hemi = spec.karyotype == "XY" and w.hemizygous_in_males
        cov = spec.coverage / 2 if hemi else spec.coverage
        calls: list[tuple[Site, int, int]] = []
        for site in sites[w]:
            a = draw_allele(rng.random(), site.afs)
            b = a if hemi else draw_allele(rng.random(), site.afs)
            if a or b:
                calls.append((site, min(a, b), max(a, b)))
        slots = singleton_slots(w, sites[w])
        for _ in range(poisson(rng, 0.4) if slots else 0):
            lo, hi = rng.choice(slots)
            pos = rng.randint(lo, hi)
            base = reference(w)[pos - w.start]
            alt = rng.choice([x for x in "ACGT" if x != base])
            calls.append((Site(w.chrom, pos, base, (alt,), (0.0,), "snv"), 1 if hemi else 0, 1))
        calls.sort(key=lambda c: c[0].pos)
        gaps = _gaps(rng, w)
        segments_end = w.start - 1
        kept: list[tuple[Site, int, int]] = []
        for call in calls:
            s = call[0]
            if s.pos <= segments_end or any(g0 <= s.end and s.pos <= g1 for g0, g1 in gaps):
                continue  # overlaps a previous call, or falls where this sample has no data
            kept.append(call)
            segments_end = s.end
        cursor = w.start
        for site, a, b in kept:
            line = _variant(rng, w, site, a, b, cov)
            if line is None:
                continue
            _fill(rng, w, cursor, site.pos - 1, gaps, cov, lines)
            lines.append(line)
            cursor = site.end + 1
        _fill(rng, w, cursor, w.end, gaps, cov, lines)
    return lines


def _fill(rng, w: Window, start: int, end: int, gaps, cov: float, out: list[str]) -> None:
    """Reference blocks over [start, end] minus this sample's uncovered gaps."""
    pos = start
    for g0, g1 in gaps:
        if g1 < pos or g0 > end:
            continue
        if g0 > pos:
            _blocks(rng, w, pos, g0 - 1, cov, out)
        pos = max(pos, g1 + 1)
    if pos <= end:
        _blocks(rng, w, pos, end, cov, out)


def write_gvcf(
    path: Path,
    rng: random.Random,
    spec: SampleSpec,
    sites: dict[Window, list[Site]],
    malformed: bool = False,
) -> tuple[str, int, int | None]:
    """Write ``path`` (``*.g.vcf.gz``) and its ``.tbi``. Returns (md5 of the gz bytes,
    record count, 1-based line number of the malformed record or None)."""
    lines = body_lines(rng, spec, sites)
    header = _header_prefix() + spec.name + "\n"
    bad_line = None
    if malformed:  # one record's DP is not an integer ("3O"): htslib refuses the line
        i = rng.randrange(len(lines) // 4, 3 * len(lines) // 4)
        fixed, sample = lines[i].rsplit("\t", 1)
        values = sample.split(":")
        values[2] = values[2][:-1] + "O"
        lines[i] = fixed + "\t" + ":".join(values)
        bad_line = header.count("\n") + i + 1
    text_path = path.with_suffix("")  # *.g.vcf
    path.parent.mkdir(parents=True, exist_ok=True)
    text_path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    pysam.tabix_index(str(text_path), preset="vcf", force=True)
    return hashlib.md5(path.read_bytes()).hexdigest(), len(lines), bad_line
