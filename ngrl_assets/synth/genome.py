"""The synthetic genome: GRCh38 contigs, the windows that carry data, a deterministic
pseudo-reference, and the cohort-level site list with its allele-frequency spectrum.

The windows sit inside stretches where the bundled real NA12878 gVCF has one single
uncovered (DP=0) reference block and where the 1000 Genomes chr22 gVCFs have no records,
so no real gVCF ever starts a record inside a window: the pseudo-reference bases can
never contradict a real record's REF when synthetic and real deliveries are joint-called.
"""

from __future__ import annotations

import functools
import hashlib
import math
import random
from dataclasses import dataclass

from ngrl_assets.genomics import reference as grch38

from .common import rng_for

# GRCh38 contigs (name, length) and the chrX PARs, from the one reference module
GRCH38_CONTIGS: tuple[tuple[str, int], ...] = tuple(grch38.GRCH38_CONTIGS.items())
PAR_X = grch38.PARS["chrX"]


@dataclass(frozen=True)
class Window:
    chrom: str
    start: int  # 1-based, inclusive
    end: int  # inclusive

    @property
    def hemizygous_in_males(self) -> bool:
        return self.chrom == "chrX" and not any(lo <= self.start <= hi for lo, hi in PAR_X)


# in genome (header) order; ~110 kb in all
WINDOWS: tuple[Window, ...] = (
    Window("chr1", 100_600_001, 100_625_000),
    Window("chr22", 20_900_001, 20_920_000),
    Window("chr22", 30_600_001, 30_625_000),
    Window("chr22", 37_400_001, 37_420_000),
    Window("chrX", 83_900_001, 83_920_000),
)


@dataclass(frozen=True)
class Site:
    """A cohort variant site: REF and ALT alleles (VCF-normalised, anchor base included
    for indels) and the population frequency of each ALT."""

    chrom: str
    pos: int
    ref: str
    alts: tuple[str, ...]
    afs: tuple[float, ...]
    kind: str  # snv | insertion | deletion | multiallelic_snv | multiallelic_indel

    @property
    def end(self) -> int:
        return self.pos + len(self.ref) - 1


@functools.cache
def reference(window: Window) -> str:
    """Pseudo-reference bases of a window; fixed for every seed (a shared 'genome')."""
    key = f"ngrl-pseudo-reference:{window.chrom}:{window.start}-{window.end}"
    rng = random.Random(int.from_bytes(hashlib.sha256(key.encode()).digest()[:16], "big"))
    n = window.end - window.start + 1
    return "".join(rng.choices("ACGT", weights=(0.295, 0.205, 0.205, 0.295), k=n))


def ref_base(window: Window, pos: int) -> str:
    return reference(window)[pos - window.start]


def _af(rng: random.Random, lo: float, hi: float) -> float:
    """Draw from P(AF) ~ 1/AF on [lo, hi] (log-uniform): many rare, some common sites."""
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _other_base(rng: random.Random, base: str) -> str:
    return rng.choice([b for b in "ACGT" if b != base])


def _site(rng: random.Random, w: Window, pos: int) -> Site:
    seq = reference(w)
    i = pos - w.start
    anchor = seq[i]
    u = rng.random()
    if u < 0.78:
        return Site(
            w.chrom, pos, anchor, (_other_base(rng, anchor),), (_af(rng, 1e-4, 0.5),), "snv"
        )
    if u < 0.86:
        n = min(rng.choice((1, 1, 1, 2, 2, 3, 4, 6, 9, 12)), 12)
        return Site(w.chrom, pos, seq[i : i + n + 1], (anchor,), (_af(rng, 1e-4, 0.5),), "deletion")
    if u < 0.93:
        ins = "".join(rng.choices("ACGT", k=rng.choice((1, 1, 1, 2, 2, 3, 5, 8))))
        return Site(w.chrom, pos, anchor, (anchor + ins,), (_af(rng, 1e-4, 0.5),), "insertion")
    af1 = _af(rng, 1e-3, 0.5)
    af2 = _af(rng, 1e-4, min(af1, 0.95 - af1))
    if rng.random() < 0.6:
        alt1 = _other_base(rng, anchor)
        alt2 = rng.choice([b for b in "ACGT" if b not in (anchor, alt1)])
        return Site(w.chrom, pos, anchor, (alt1, alt2), (af1, af2), "multiallelic_snv")
    # a deletion and an SNV at the anchor share one record: REF spans the deletion
    ref = seq[i : i + rng.randint(2, 4)]
    return Site(
        w.chrom,
        pos,
        ref,
        (ref[0], _other_base(rng, anchor) + ref[1:]),
        (af1, af2),
        "multiallelic_indel",
    )


def make_sites(seed: int) -> dict[Window, list[Site]]:
    """The cohort's site list: about one site per 75 bp, never overlapping."""
    rng = rng_for(seed, "sites")
    sites: dict[Window, list[Site]] = {}
    for w in WINDOWS:
        here: list[Site] = []
        pos = w.start + rng.randint(20, 80)
        while pos + 20 < w.end:
            site = _site(rng, w, pos)
            here.append(site)
            pos = site.end + 8 + int(rng.expovariate(1 / 65))
        sites[w] = here
    return sites


def singleton_slots(w: Window, sites: list[Site]) -> list[tuple[int, int]]:
    """Position ranges where a private singleton cannot touch a cohort site."""
    slots, prev_end = [], w.start + 5
    for s in sites:
        if s.pos - 3 >= prev_end + 3:
            slots.append((prev_end + 3, s.pos - 3))
        prev_end = s.end
    if w.end - 5 >= prev_end + 3:
        slots.append((prev_end + 3, w.end - 5))
    return slots


def draw_allele(u: float, afs: tuple[float, ...]) -> int:
    acc = 0.0
    for k, af in enumerate(afs, start=1):
        acc += af
        if u < acc:
            return k
    return 0
