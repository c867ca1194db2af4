"""Per-sample GRCh38 gVCFs as GATK HaplotypeCaller -ERC GVCF writes them after reblocking
the way the Broad's production germline pipeline does (``ReblockGVCF --floor-blocks -GQB
20 -GQB 30 -GQB 40``): variant records with AD, DP, GQ and PLs, and reference blocks in
four GQ bands (0-19, 20-29, 30-39, 40+) whose GQ is the band's floor, ``<NON_REF>`` on
every record, sorted, bgzipped and tabix-indexed.

Depth: reads of ``READ_LENGTH`` bases start at Poisson-distributed positions whose rate
follows the sample's mean coverage times a gamma-distributed factor per kilobase (GC and
mappability), so per-base depth is over-dispersed and correlated along the genome, as in
real WGS. Hom-ref GQ is the het PL of that many reference reads (about 3 per read,
capped at 99); a variant call's AD is drawn from its true genotype (hets at a slight
reference bias), its PLs from a per-read error model, its GT and GQ from the PLs, so a
low-depth het can be called hom-alt or stay in a block, as real calls do. Uncovered
stretches: the genome's shared gaps (no record in any sample, ``genome.shared_gaps``)
and a few short per-sample dropouts (no record); per-sample zero-depth stretches give
DP 0 blocks; ``genome.low_depth_stretches`` thin every sample's depth to 6 %.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pysam

from ngrl_assets.genomics.reference import GRCH38_CONTIGS

from .genome import (
    LOW_DEPTH_FACTOR,
    Genotypes,
    Site,
    Window,
    low_depth_stretches,
    merge_intervals,
    overlaps,
    reference,
    shared_gaps,
    stretches,
)

BLOCK_FORMAT = "GT:AD:DP:GQ:MIN_DP:PL"
VARIANT_FORMAT = "GT:AD:DP:GQ:PL"
ERROR = 0.01  # per-read allele error rate of the likelihood model
GQ_BANDS = (0, 20, 30, 40)  # floors of the reblocked GQ bands (exclusive upper bounds 20, 30, 40)
HOM_REF_GQ_PER_READ = 10 * math.log10(2)  # het PL added by one reference read
READ_LENGTH = 150
DEPTH_BIN = 5  # bases per draw of read starts (READ_LENGTH is a multiple)
DEPTH_SEGMENT = 1_000  # bases sharing one coverage factor
DEPTH_SHAPE = 70.0  # gamma shape of the coverage factor (coefficient of variation 0.12)
HET_ALT_FRACTION = 0.48  # expected share of ALT reads in a het (reference bias)
DROPOUTS_PER_MB = 6.0  # per-sample stretches without any record
DROPOUT_BP = (40, 400)
ZERO_DEPTH_PER_MB = 4.0  # per-sample stretches with no reads (DP 0 blocks)
ZERO_DEPTH_BP = (20, 200)


def gq_band(gq: int) -> int:
    """The reblocked band's floor: 0, 20, 30 or 40."""
    return max(b for b in GQ_BANDS if b <= gq)


@functools.lru_cache(maxsize=1)
def _header_prefix() -> str:
    bounds = [*GQ_BANDS, 100]
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
        "##source=ngrl_assets.synth (synthetic HaplotypeCaller gVCF, reblocked: "
        "--floor-blocks -GQB 20 -GQB 30 -GQB 40)",
    ]
    return "\n".join(lines) + "\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"


@functools.lru_cache(maxsize=8)
def _genotype_order(k: int) -> tuple[tuple[int, int], ...]:
    """VCF order of diploid genotypes over k alleles: 0/0, 0/1, 1/1, 0/2, 1/2, 2/2, ..."""
    return tuple((j, i) for i in range(k) for j in range(i + 1))


@functools.lru_cache(maxsize=65536)
def _pls(ad: tuple[int, ...]) -> tuple[int, ...]:
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
    return tuple(round(-10 * (ll - best)) for ll in lls)


@dataclass
class SampleSpec:
    name: str  # the sample name written inside the file
    karyotype: str  # XX / XY
    coverage: float


def _depths(
    nrng: np.random.Generator, rng: random.Random, windows: list[Window], covs: list[float]
) -> npt.NDArray[np.int64]:
    """Per-base read depth over the windows, concatenated (module docstring). Read starts
    are drawn per ``DEPTH_BIN`` bases, so depth changes at most once per bin."""
    per_read = READ_LENGTH // DEPTH_BIN  # bins a read spans
    bins = [-(-w.length // DEPTH_BIN) for w in windows]
    reach = [b + per_read - 1 for b in bins]  # bins whose read starts reach the window
    n = sum(reach)
    per_segment = DEPTH_SEGMENT // DEPTH_BIN
    factor = np.repeat(
        nrng.gamma(DEPTH_SHAPE, 1 / DEPTH_SHAPE, size=-(-n // per_segment)), per_segment
    )
    rate = factor[:n] * np.repeat(np.array(covs) * DEPTH_BIN / READ_LENGTH, reach)
    total = np.concatenate(([0], np.cumsum(nrng.poisson(rate))))
    out = []
    offset = 0
    for w, nb, span in zip(windows, bins, reach, strict=True):
        lo = offset + per_read
        binned = total[lo : lo + nb] - total[offset : offset + nb]
        depth = np.repeat(binned, DEPTH_BIN)[: w.length]
        for s, e in low_depth_stretches(w):
            part = slice(s - w.start, e - w.start + 1)
            depth[part] = nrng.binomial(depth[part], LOW_DEPTH_FACTOR)
        for s, e in stretches(rng, w, ZERO_DEPTH_PER_MB, ZERO_DEPTH_BP):
            depth[s - w.start : e - w.start + 1] = 0
        out.append(depth)
        offset += span
    return np.concatenate(out)


def _variant(nrng: np.random.Generator, site: Site, a: int, b: int, dp: int) -> str | None:
    """The sample's record at ``site`` (true allele codes a <= b), or None when its
    reads say hom-ref (the site then stays inside a reference block). A hemizygous
    genotype comes as a = b and is written diploid hom, as HaplotypeCaller's default
    ploidy 2 writes it."""
    carried = sorted({a, b} - {0})
    index = {0: 0, **{code: n for n, code in enumerate(carried, start=1)}}
    x, y = index[a], index[b]
    k = len(carried) + 2  # REF, the carried ALTs, <NON_REF>
    ad = [0] * k
    if x == y:
        hits = int(nrng.binomial(dp, 1 - ERROR))
        ad[x], ad[0 if x else 1] = hits, dp - hits
    else:
        share = HET_ALT_FRACTION if x == 0 else 0.5
        alt_reads = int(nrng.binomial(dp, share))
        ad[y], ad[x] = alt_reads, dp - alt_reads
    pls = _pls(tuple(ad))
    order = _genotype_order(k)
    called = min(
        (pl, n) for n, (pl, (j, i)) in enumerate(zip(pls, order, strict=True)) if i < k - 1
    )[1]
    j, i = order[called]
    if i == 0:
        return None
    gq = min(99, min(pl for n, pl in enumerate(pls) if n != called))
    counts = [(j == c) + (i == c) for c in range(1, k - 1)]
    info = (
        f"DP={dp};MLEAC={','.join(map(str, counts))},0;"
        f"MLEAF={','.join(f'{c / 2:.2f}' for c in counts)},0.00"
    )
    alts = ",".join(site.alts[c - 1] for c in carried)
    sample = f"{j}/{i}:{','.join(map(str, ad))}:{dp}:{gq}:{','.join(map(str, pls))}"
    qual = f"{max(pls[0] - 0.23, 0.01):.2f}"
    return (
        f"{site.chrom}\t{site.pos}\t.\t{site.ref}\t{alts},<NON_REF>\t{qual}\t.\t{info}\t"
        f"{VARIANT_FORMAT}\t{sample}"
    )


def _blocks(
    windows: list[Window],
    offsets: list[int],
    depth: npt.NDArray[np.int64],
    covered: npt.NDArray[np.bool_],
) -> list[tuple[int, int, str]]:
    """(window, position, line) of the reference blocks over the ``covered`` bases of the
    concatenated windows: a new block wherever the GQ band changes, a covered stretch or
    a window starts. DP is the block's median depth (the lower middle value), MIN_DP its
    minimum, GQ its band's floor."""
    gq = np.minimum(99, (depth * HOM_REF_GQ_PER_READ).astype(np.int64))
    band = np.select([gq >= 40, gq >= 30, gq >= 20], [40, 30, 20], 0)
    first = np.ones(len(depth), dtype=bool)
    first[1:] = ~covered[:-1] | (band[1:] != band[:-1])
    first[offsets] = True
    starts = np.flatnonzero(covered & first)
    if len(starts) == 0:
        return []
    stops = np.flatnonzero(first | ~covered)  # a block ends before the next of these
    ends = np.append(stops, len(depth))[np.searchsorted(stops, starts, side="right")]
    lengths = ends - starts
    inside = np.flatnonzero(covered)  # every covered base is in exactly one block
    run = np.cumsum(covered & first)[inside] - 1
    keyed = np.sort(run * 4096 + np.minimum(depth[inside], 4095)) % 4096
    firsts = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    medians, minima = keyed[firsts + (lengths - 1) // 2], keyed[firsts]
    window_of = np.searchsorted(offsets, starts, side="right") - 1
    out = []
    for k, s, e, dp, min_dp, g in zip(
        window_of.tolist(),
        starts.tolist(),
        ends.tolist(),
        medians.tolist(),
        minima.tolist(),
        band[starts].tolist(),
        strict=True,
    ):
        w = windows[k]
        pos = w.start + s - offsets[k]
        out.append(
            (
                k,
                pos,
                f"{w.chrom}\t{pos}\t.\t{reference(w)[pos - w.start]}\t<NON_REF>\t.\t.\t"
                f"END={pos + e - s - 1}\t{BLOCK_FORMAT}\t"
                f"0/0:{dp},0:{dp}:{g}:{min_dp}:0,{g},{max(g, min_dp * 36)}",
            )
        )
    return out


def body_lines(rng: random.Random, spec: SampleSpec, genome: Genotypes) -> list[str]:
    nrng = np.random.default_rng(rng.getrandbits(128))
    windows = list(genome)
    hemi = [spec.karyotype == "XY" and w.hemizygous_in_males for w in windows]
    depth = _depths(nrng, rng, windows, [spec.coverage / (2 if h else 1) for h in hemi])
    offsets = np.concatenate(([0], np.cumsum([w.length for w in windows])[:-1])).tolist()
    covered = np.ones(len(depth), dtype=bool)
    records: list[tuple[int, int, str]] = []
    for k, w in enumerate(windows):
        base = offsets[k] - w.start  # index of a position of w in the concatenation
        gaps = merge_intervals([*shared_gaps(w), *stretches(rng, w, DROPOUTS_PER_MB, DROPOUT_BP)])
        for g0, g1 in gaps:
            covered[base + g0 : base + g1 + 1] = False
        cursor = w.start
        for site, a, b in genome[w]:
            dp = int(depth[base + site.pos])
            if dp == 0 or site.pos < cursor or overlaps(gaps, site.pos, site.end):
                continue
            line = _variant(nrng, site, a, b, dp)
            if line is None:
                continue
            records.append((k, site.pos, line))
            covered[base + site.pos : base + site.end + 1] = False
            cursor = site.end + 1
    records += _blocks(windows, offsets, depth, covered)
    records.sort(key=lambda r: (r[0], r[1]))
    return [line for _, _, line in records]


def write_gvcf(
    path: Path,
    rng: random.Random,
    spec: SampleSpec,
    genome: Genotypes,
    malformed: bool = False,
) -> tuple[str, int, int | None]:
    """Write ``path`` (``*.g.vcf.gz``) and its ``.tbi`` for a sample holding ``genome``
    (its variant genotypes per window). Returns (md5 of the gz bytes, record count,
    1-based line number of the malformed record or None)."""
    lines = body_lines(rng, spec, genome)
    header = _header_prefix() + spec.name + "\n"
    bad_line = None
    if malformed:  # one record's DP is not an integer ("3O"): htslib refuses the line
        i = rng.randrange(len(lines) // 4, 3 * len(lines) // 4)
        while len(lines[i].rsplit("\t", 1)[1].split(":")[2]) < 2:  # a DP of 2+ digits
            i += 1
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
