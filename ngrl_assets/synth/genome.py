"""The synthetic genome: the windows that carry data, their reference bases, shared gaps
and hard-to-map stretches (facts of the genome, the same for every seed), and the
simulated population whose genomes the synthetic gVCFs hold (one per seed). Model,
parameters and reasons: docs/genomics.md, "The synthetic cohort".

Windows. Every synthetic gVCF covers the same 96 windows of 10 kb:

- eight on chr22 inside 10,510,001-10,714,901, the stretch every bundled real gVCF covers
  with records: the 50 1000 Genomes files start at 10,510,001 (the first GRCh38 base after
  the p-arm gap) and the first of them to end stops at 10,714,901 (NA20802); NA12878
  covers it with reference blocks too. They are 25 kb apart and simulated as one locus;
- four 2 Mb apart on each other autosome and on chrX outside the PARs (XY samples
  hemizygous), each inside a stretch NA12878's gVCF covers without a break and at least
  5 kb from any of its variant records (the 1000 Genomes files hold only chr22's start).
  Each is its own (unlinked) locus: per-sample statistics (Ti/Tv, het/hom) average over
  many genealogies, where one long window would make every sample's swing together.

Reference. A window's bases are pseudo-random (a fixed stream per window) except where a
bundled real gVCF has a record: there they are that record's REF, so real and synthetic
gVCFs agree on every base both state. Simulated variants never touch a real variant
record's REF span. (The real files hold no reads there: they are never joint-called.)

Population. msprime simulates each locus under the three-population out-of-Africa model
of Gutenkunst et al. (2009, Table 1; as msprime's documentation builds it) with its
published mutation rate (2.35e-8 per base per generation), a recombination rate of 1e-8
and HKY mutations (kappa ``KAPPA``, base frequencies ``BASE_FREQS``: SNV Ti/Tv about 2.05).
The library samples the CEU deme: ``POOL`` diploid individuals per block, participant
``i`` is individual ``i % POOL`` of block ``i // POOL``. Each locus also samples a haploid
reference donor (``REFERENCE_DEMES``: YRI at one locus in four, as GRCh38's main donor
has African and European ancestry) whose allele is REF. chrX loci use three quarters of
the effective sizes. ``INDEL_SHARE`` of the biallelic sites become 1-10 bp insertions or
deletions (msprime has no indel model), left-aligned with their anchor base.
"""

from __future__ import annotations

import bisect
import functools
import gzip
import hashlib
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msprime
import numpy as np
import numpy.typing as npt
import polars as pl

from ngrl_assets.genomics import reference as grch38

from .common import Seed, rng_for

# GRCh38 contigs (name, length) and the chrX PARs, from the one reference module
GRCH38_CONTIGS: tuple[tuple[str, int], ...] = tuple(grch38.GRCH38_CONTIGS.items())
PAR_X = grch38.PARS["chrX"]
REAL_GVCF_DIR = Path(__file__).resolve().parents[2] / "data" / "gvcf"

WINDOW_BP = 10_000
# chr22 stretch every bundled real gVCF covers with records (see the module docstring)
REAL_CHR22_SPAN = (10_510_001, 10_714_901)
_CHR22_STARTS = tuple(10_515_001 + 25_000 * k for k in range(8))
# four windows 2 Mb apart on each other autosome and on chrX (outside the PARs), from
# these first starts; NA12878's gVCF covers each without a break
_OTHER_FIRST_STARTS = (
    ("chr1", 66_500_001),
    ("chr2", 154_000_001),
    ("chr3", 135_500_001),
    ("chr4", 111_400_001),
    ("chr5", 85_800_001),
    ("chr6", 124_000_001),
    ("chr7", 94_900_001),
    ("chr8", 109_400_001),
    ("chr9", 94_600_001),
    ("chr10", 78_300_001),
    ("chr11", 20_300_001),
    ("chr12", 75_300_001),
    ("chr13", 45_500_001),
    ("chr14", 54_500_001),
    ("chr15", 47_600_001),
    ("chr16", 63_900_001),
    ("chr17", 48_800_001),
    ("chr18", 31_300_001),
    ("chr19", 39_700_001),
    ("chr20", 47_500_001),
    ("chr21", 25_000_001),
    ("chrX", 83_100_001),
)
_PER_CONTIG, _SPACING = 4, 2_000_000
LINK_BP = 1_000_000  # windows of a contig closer than this are simulated as one locus

# population model (module docstring)
MUTATION_RATE = 2.35e-8
RECOMBINATION_RATE = 1e-8
KAPPA = 4.2  # HKY transition/transversion rate ratio
BASE_FREQS = (0.3, 0.2, 0.2, 0.3)  # A, C, G, T
SAMPLE_DEME = "CEU"
REFERENCE_DEMES = ("YRI", "CEU", "CEU", "CEU")  # the reference donor's deme, locus by locus
X_SIZE_SCALE = 0.75
POOL = 1_000  # diploid individuals simulated per block
INDEL_SHARE = 0.12  # biallelic sites turned into indels
INDEL_LENGTHS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
INDEL_WEIGHTS = (45, 16, 9, 9, 5, 4, 3, 4, 2, 3)

# shared coverage features, per window (facts of the genome, like the reference)
SHARED_GAPS_PER_MB = 60.0  # stretches no sample covers (no record at all), about 3 %
SHARED_GAP_BP = (100, 900)
LOW_DEPTH_PER_MB = 40.0  # hard-to-map stretches: every sample keeps 6 % of its depth
LOW_DEPTH_BP = (50, 250)
LOW_DEPTH_FACTOR = 0.06


@dataclass(frozen=True, order=True)
class Window:
    chrom: str
    start: int  # 1-based, inclusive
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def hemizygous_in_males(self) -> bool:
        return self.chrom == "chrX" and not any(lo <= self.start <= hi for lo, hi in PAR_X)


def _genome_order(w: Window) -> tuple[int, int]:
    return ([c for c, _ in GRCH38_CONTIGS].index(w.chrom), w.start)


WINDOWS: tuple[Window, ...] = tuple(
    sorted(
        [Window("chr22", s, s + WINDOW_BP - 1) for s in _CHR22_STARTS]
        + [
            Window(c, s + _SPACING * k, s + _SPACING * k + WINDOW_BP - 1)
            for c, s in _OTHER_FIRST_STARTS
            for k in range(_PER_CONTIG)
        ],
        key=_genome_order,
    )
)


@dataclass(frozen=True)
class Site:
    """A variant site of the population: REF and ALT alleles (VCF-normalised, anchor base
    included for indels)."""

    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    kind: str  # snv | multiallelic_snv | insertion | deletion

    @property
    def end(self) -> int:
        return self.pos + len(self.ref) - 1


# ---- real gVCF records: the reference bases they state -----------------------------------
@dataclass(frozen=True)
class RealRecords:
    """Records of the bundled real gVCFs on one contig, sorted by position: REF of each
    record start, and the REF spans of variant records."""

    starts: tuple[int, ...]
    refs: tuple[str, ...]
    variant_spans: tuple[tuple[int, int], ...]  # merged


@functools.cache
def real_gvcf_table(path: Path) -> pl.DataFrame:
    """Every record of one real gVCF: contig, pos, end (INFO/END, else the REF span), ref
    (upper case), variant (a sequence ALT besides ``<NON_REF>``) and dp (FORMAT/DP, else
    MIN_DP, else 0). Read once per process."""
    raw = gzip.decompress(Path(path).read_bytes())
    columns = ["contig", "pos", "id", "ref", "alt", "qual", "filter", "info", "format", "sample"]
    df = pl.read_csv(
        raw,
        separator="\t",
        comment_prefix="#",
        has_header=False,
        new_columns=columns,
        infer_schema=False,
        quote_char=None,
    )
    formats = df["format"].unique().to_list()
    depth_at = [
        next((k.index(key) for key in ("DP", "MIN_DP") if key in k), None)
        for k in (f.split(":") for f in formats)
    ]
    lookup = pl.DataFrame(
        {"format": formats, "_dp_at": depth_at}, schema={"format": pl.String, "_dp_at": pl.Int64}
    )
    c = pl.col
    pos = c("pos").cast(pl.Int64)
    return df.join(lookup, on="format", how="left").select(
        "contig",
        pos.alias("pos"),
        end=pl.coalesce(
            c("info").str.extract(r"(?:^|;)END=(\d+)").cast(pl.Int64),
            pos + c("ref").str.len_chars() - 1,
        ),
        ref=c("ref").str.to_uppercase(),
        variant=c("alt")
        .str.replace_all(r"<NON_REF>|<\*>|,", "")
        .str.strip_chars(".")
        .str.len_chars()
        > 0,
        dp=c("sample")
        .str.split(":")
        .list.get(c("_dp_at"), null_on_oob=True)
        .cast(pl.Int64, strict=False)
        .fill_null(0),
    )


@functools.cache
def _real_index(real_dir: Path) -> dict[str, RealRecords]:
    """The records of every bundled real gVCF, by contig: the longest REF stated at each
    start, and the REF spans of variant records."""
    paths = sorted(Path(real_dir).rglob("*.g.vcf.gz"))
    if not paths:
        return {}
    records = pl.concat([real_gvcf_table(p) for p in paths])
    refs = (
        records.group_by("contig", "pos")
        .agg(pl.col("ref").sort_by(pl.col("ref").str.len_chars()).last())
        .sort("contig", "pos")
    )
    spans = (
        records.filter(pl.col("variant"))
        .select("contig", "pos", (pl.col("pos") + pl.col("ref").str.len_chars() - 1).alias("e"))
        .unique()
        .sort("contig", "pos", "e")
    )
    out = {}
    for (contig,), part in refs.group_by("contig"):
        here = spans.filter(pl.col("contig") == contig)
        out[str(contig)] = RealRecords(
            tuple(part["pos"].to_list()),
            tuple(part["ref"].to_list()),
            tuple(merge_intervals(zip(here["pos"].to_list(), here["e"].to_list(), strict=True))),
        )
    return out


def real_records(contig: str, real_dir: Path = REAL_GVCF_DIR) -> RealRecords:
    """The bundled real gVCFs' records on ``contig``."""
    return _real_index(Path(real_dir)).get(contig, RealRecords((), (), ()))


def _window_key(w: Window, what: str) -> random.Random:
    key = f"ngrl-pseudo-{what}:{w.chrom}:{w.start}-{w.end}"
    return random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "big"))


@functools.cache
def reference(window: Window) -> str:
    """The window's reference bases: pseudo-random (fixed for every seed), and the REF of
    every bundled real gVCF record that states a base inside the window."""
    rng = _window_key(window, "reference")
    seq = rng.choices("ACGT", weights=BASE_FREQS, k=window.length)
    real = real_records(window.chrom)
    lo = bisect.bisect_left(real.starts, window.start - 1_000)
    hi = bisect.bisect_right(real.starts, window.end)
    for pos, ref in zip(real.starts[lo:hi], real.refs[lo:hi], strict=True):
        for k, base in enumerate(ref):
            if window.start <= pos + k <= window.end and base in "ACGT":
                seq[pos + k - window.start] = base
    return "".join(seq)


def ref_base(window: Window, pos: int) -> str:
    return reference(window)[pos - window.start]


def stretches(
    rng: random.Random, w: Window, per_mb: float, bp: tuple[int, int]
) -> list[tuple[int, int]]:
    """Random stretches inside ``w``: ``per_mb`` per megabase on average (the fraction
    drawn as a coin), each ``bp`` long (at most a quarter of the window); merged."""
    expected = per_mb * w.length / 1e6
    out = []
    for _ in range(int(expected) + (rng.random() < expected - int(expected))):
        length = min(rng.randint(*bp), w.length // 4)
        start = rng.randint(w.start, w.end - length + 1)
        out.append((start, start + length - 1))
    return merge_intervals(out)


def merge_intervals(intervals: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for s, e in sorted(intervals):
        if merged and s <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


@functools.cache
def shared_gaps(window: Window) -> tuple[tuple[int, int], ...]:
    """Stretches no sample covers (as a gap in the calling intervals: no record at all)."""
    return tuple(stretches(_window_key(window, "gaps"), window, SHARED_GAPS_PER_MB, SHARED_GAP_BP))


@functools.cache
def low_depth_stretches(window: Window) -> tuple[tuple[int, int], ...]:
    """Hard-to-map stretches where every sample has about a quarter of its depth."""
    found = stretches(_window_key(window, "low-depth"), window, LOW_DEPTH_PER_MB, LOW_DEPTH_BP)
    gaps = shared_gaps(window)
    return tuple((s, e) for s, e in found if not any(g0 <= e and s <= g1 for g0, g1 in gaps))


def overlaps(intervals: Sequence[tuple[int, int]], start: int, end: int) -> bool:
    """Whether [start, end] meets one of ``intervals`` (sorted, non-overlapping)."""
    i = bisect.bisect_right(intervals, (end, math.inf)) - 1
    return i >= 0 and intervals[i][1] >= start


# ---- the population ----------------------------------------------------------------------
def demography(size_scale: float = 1.0) -> msprime.Demography:
    """Gutenkunst et al. (2009) out-of-Africa model (Table 1), as msprime's documentation
    builds it; ``size_scale`` multiplies every effective size (0.75 for chrX)."""
    generation = 25
    t_ooa, t_amh, t_anc = 21.2e3 / generation, 140e3 / generation, 220e3 / generation
    r_ceu, r_chb = 0.004, 0.0055
    d = msprime.Demography()
    s = size_scale
    d.add_population(name="YRI", initial_size=12300 * s)
    d.add_population(name="CEU", initial_size=1000 * s * math.exp(r_ceu * t_ooa), growth_rate=r_ceu)
    d.add_population(name="CHB", initial_size=510 * s * math.exp(r_chb * t_ooa), growth_rate=r_chb)
    d.add_population(name="OOA", initial_size=2100 * s)
    d.add_population(name="AMH", initial_size=12300 * s)
    d.add_population(name="ANC", initial_size=7300 * s)
    d.set_symmetric_migration_rate(["CEU", "CHB"], 9.6e-5)
    d.set_symmetric_migration_rate(["YRI", "CHB"], 1.9e-5)
    d.set_symmetric_migration_rate(["YRI", "CEU"], 3e-5)
    d.add_population_split(time=t_ooa, derived=["CEU", "CHB"], ancestral="OOA")
    d.add_symmetric_migration_rate_change(time=t_ooa, populations=["YRI", "OOA"], rate=25e-5)
    d.add_population_split(time=t_amh, derived=["YRI", "OOA"], ancestral="AMH")
    d.add_population_split(time=t_anc, derived=["AMH"], ancestral="ANC")
    return d


@dataclass(frozen=True)
class Locus:
    """Windows simulated together (one contig, closer than ``LINK_BP``)."""

    chrom: str
    start: int
    end: int
    windows: tuple[Window, ...]

    @property
    def name(self) -> str:
        return f"{self.chrom}:{self.start}-{self.end}"


def loci(windows: Sequence[Window]) -> list[Locus]:
    out: list[list[Window]] = []
    for w in sorted(windows, key=_genome_order):
        if out and out[-1][-1].chrom == w.chrom and w.start - out[-1][-1].end < LINK_BP:
            out[-1].append(w)
        else:
            out.append([w])
    return [Locus(ws[0].chrom, ws[0].start, ws[-1].end, tuple(ws)) for ws in out]


# Transition-preserving relabelling of bases: the four permutations that keep the pairs
# {A, G} and {C, T} (so a transition stays a transition); exactly one maps x to y.
_KLEIN = (
    {"A": "A", "C": "C", "G": "G", "T": "T"},
    {"A": "G", "G": "A", "C": "T", "T": "C"},
    {"A": "C", "C": "A", "G": "T", "T": "G"},
    {"A": "T", "T": "A", "G": "C", "C": "G"},
)


def _relabel(x: str, y: str) -> dict[str, str]:
    return next(p for p in _KLEIN if p[x] == y)


def _indel(
    rng: random.Random, w: Window, pos: int, limit: int, blocked: Sequence[tuple[int, int]]
) -> tuple[str, str, str] | None:
    """(REF, ALT, kind) of a left-aligned insertion or deletion anchored at ``pos`` whose
    REF ends before ``limit``, or None when no such deletion fits."""
    seq = reference(w)
    anchor = seq[pos - w.start]
    length = rng.choices(INDEL_LENGTHS, weights=INDEL_WEIGHTS)[0]
    if rng.random() < 0.5:
        inserted = rng.choices("ACGT", weights=BASE_FREQS, k=length - 1)
        inserted.append(rng.choice([b for b in "ACGT" if b != anchor]))  # left-aligned
        return anchor, anchor + "".join(inserted), "insertion"
    for n in range(length, 0, -1):
        end = pos + n
        if end >= min(limit, w.end + 1) or overlaps(blocked, pos, end):
            continue
        if seq[end - w.start] != anchor:  # else the deletion could shift left
            return seq[pos - w.start : end - w.start + 1], anchor, "deletion"
    return None


# an individual's variant genotypes: per window (site, a, b), allele codes a <= b
Genotypes = dict[Window, list[tuple[Site, int, int]]]


@dataclass
class Block:
    """One simulated block of ``POOL`` individuals: per window its sites and the allele
    code (0 = REF, k = k-th ALT) of every haplotype at every site, haplotype-major."""

    sites: dict[Window, list[Site]] = field(default_factory=dict)
    codes: dict[Window, npt.NDArray[np.int8]] = field(default_factory=dict)


def _msprime_seed(seed: Seed, *keys: object) -> int:
    return rng_for(seed, "msprime", *keys).randrange(1, 2**31 - 1)


def _simulate(seed: Seed, block: int, locus: Locus, donor: str):  # type: ignore[no-untyped-def]
    """The locus' tree sequence: ``POOL`` diploids of the sample deme, then the haploid
    reference donor."""
    ts = msprime.sim_ancestry(
        samples=[
            msprime.SampleSet(POOL, population=SAMPLE_DEME, ploidy=2),
            msprime.SampleSet(1, population=donor, ploidy=1),
        ],
        demography=demography(X_SIZE_SCALE if locus.chrom == "chrX" else 1.0),
        sequence_length=locus.end - locus.start + 1,
        recombination_rate=RECOMBINATION_RATE,
        random_seed=_msprime_seed(seed, block, locus.name, "ancestry"),
    )
    return msprime.sim_mutations(
        ts,
        rate=MUTATION_RATE,
        model=msprime.HKY(kappa=KAPPA, equilibrium_frequencies=list(BASE_FREQS)),
        random_seed=_msprime_seed(seed, block, locus.name, "mutations"),
    )


def _block_sites(seed: Seed, block: int, k: int, locus: Locus, out: Block) -> None:
    """Turn locus ``k``'s simulation into sites and allele codes of ``out``'s windows."""
    ts = _simulate(seed, block, locus, REFERENCE_DEMES[k % len(REFERENCE_DEMES)])
    rng = rng_for(seed, "indels", block, locus.name)
    real = real_records(locus.chrom).variant_spans
    positions = [locus.start + int(p) for p in ts.tables.sites.position]
    rows: dict[Window, list[npt.NDArray[np.int8]]] = {w: [] for w in locus.windows}
    for w in locus.windows:
        out.sites[w] = []
    last_end = 0
    for j, var in enumerate(ts.variants()):
        pos = positions[j]
        found = next((x for x in locus.windows if x.start <= pos <= x.end), None)
        if found is None or pos <= last_end or overlaps(real, pos, pos):
            continue
        w = found
        if overlaps(shared_gaps(w), pos, pos):
            continue
        genotypes = var.genotypes
        donor, pool = int(genotypes[-1]), genotypes[:-1]
        present = np.bincount(pool, minlength=len(var.alleles)) > 0
        alt_index = [a for a in range(len(var.alleles)) if a != donor and present[a]]
        if not alt_index:
            continue  # every sampled haplotype carries the reference donor's allele
        ref = ref_base(w, pos)
        relabel = _relabel(str(var.alleles[donor]), ref)
        alts = tuple(relabel[str(var.alleles[a])] for a in alt_index)
        kind = "snv" if len(alts) == 1 else "multiallelic_snv"
        if len(alts) == 1 and rng.random() < INDEL_SHARE:
            limit = positions[j + 1] if j + 1 < len(positions) else w.end + 1
            made = _indel(rng, w, pos, limit, merge_intervals([*real, *shared_gaps(w)]))
            if made is not None:
                ref, alt, kind = made
                alts = (alt,)
        mapping = np.zeros(len(var.alleles), dtype=np.int8)
        for code, a in enumerate(alt_index, start=1):
            mapping[a] = code
        site = Site(w.chrom, pos, ref, alts, kind)
        out.sites[w].append(site)
        rows[w].append(mapping[pool])
        last_end = site.end
    for w in locus.windows:
        matrix = np.vstack(rows[w]) if rows[w] else np.zeros((0, 2 * POOL), dtype=np.int8)
        out.codes[w] = np.ascontiguousarray(matrix.T)


class Population:
    """The simulated population of one seed over ``windows``: blocks of ``POOL``
    individuals, simulated when first needed."""

    def __init__(self, seed: Seed, windows: Sequence[Window]) -> None:
        self.seed = seed
        self.windows = tuple(sorted(windows, key=_genome_order))
        self.loci = loci(self.windows)
        self._blocks: dict[int, Block] = {}

    def block(self, b: int) -> Block:
        if b not in self._blocks:
            out = Block()
            for k, locus in enumerate(self.loci):
                _block_sites(self.seed, b, k, locus, out)
            self._blocks[b] = out
        return self._blocks[b]

    def sites(self) -> dict[Window, list[Site]]:
        """The first block's sites (every block has its own)."""
        return self.block(0).sites

    def genome(self, individual: int, hemizygous_x: bool) -> Genotypes:
        """Individual ``individual``'s variant genotypes per window: (site, a, b) with
        allele codes a <= b, a + b > 0. ``hemizygous_x``: one X (XY), so outside the PARs
        both codes are those of the single X."""
        blk = self.block(individual // POOL)
        j = individual % POOL
        out: Genotypes = {}
        for w in self.windows:
            codes, sites = blk.codes[w], blk.sites[w]
            h1 = codes[2 * j]
            h2 = h1 if hemizygous_x and w.hemizygous_in_males else codes[2 * j + 1]
            carried = np.flatnonzero((h1 != 0) | (h2 != 0))
            out[w] = [(sites[k], int(min(h1[k], h2[k])), int(max(h1[k], h2[k]))) for k in carried]
        return out


@functools.lru_cache(maxsize=4)
def _population(seed: Seed, windows: tuple[Window, ...]) -> Population:
    return Population(seed, windows)


def population(seed: Seed) -> Population:
    """The population of ``seed`` over the module's ``WINDOWS`` (kept per process)."""
    return _population(seed, WINDOWS)
