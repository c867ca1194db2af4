"""Random small cohorts for the withdrawal-by-subtraction tests (pure and lake-level):
samples with calls and reference blocks in three windows, and a withdrawal among them."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

# ---- random small cohorts ----------------------------------------------------------

# Windows well inside one chunk each: chr1 (autosome), chrX outside the PARs (XY samples
# haploid), chrY outside the PARs (XX samples not counted; only XY samples have data).
WINDOWS = {"chr1": 1_000_000, "chrX": 5_000_000, "chrY": 3_000_000}
# (offset, ref, alt): SNVs, two ALTs at one position, deletions that overlap the SNVs
# after them, an insertion
SLOTS = [
    (10, "A", "G"),
    (10, "A", "T"),
    (12, "C", "T"),
    (14, "GAT", "G"),
    (15, "A", "C"),
    (20, "T", "TA"),
    (22, "CA", "C"),
    (23, "A", "G"),
    (30, "G", "A"),
]
DIPLOID_GTS = [(0, 1), (1, 1), (-1, 1), (1, 2), (2, 1), (0, 1), (1, 1)]


@dataclass
class Sample:
    pid: str
    sex: str
    calls: list[dict]
    blocks: list[dict]


@st.composite
def samples_strategy(draw: st.DrawFn, pid: str) -> Sample:
    sex = draw(st.sampled_from(["XX", "XY"]))
    contigs = ["chr1", "chrX"] + (["chrY"] if sex == "XY" else [])
    calls: list[dict] = []
    blocks: list[dict] = []
    for contig in contigs:
        base = WINDOWS[contig]
        haploid = contig != "chr1" and sex == "XY"
        chosen = draw(st.lists(st.sampled_from(range(len(SLOTS))), max_size=4, unique=True))
        for i in chosen:
            offset, ref, alt = SLOTS[i]
            gt = (
                (draw(st.sampled_from([1, 1, -1, 2])), None)
                if haploid
                else draw(st.sampled_from(DIPLOID_GTS))
            )
            dp = draw(st.sampled_from([None, 0, 8, 30, 45]))
            with_ad = draw(st.booleans())
            ad_alt = draw(st.sampled_from([0, 6, 15])) if with_ad else None
            calls.append(
                {
                    "participant_id": pid,
                    "contig": contig,
                    "pos": base + offset,
                    "end": base + offset + len(ref) - 1,
                    "ref": ref,
                    "alt": alt,
                    "a1": gt[0],
                    "a2": gt[1],
                    "phased": False,
                    "gq": draw(st.sampled_from([None, 5, 40, 99])),
                    "dp": dp,
                    "ad_ref": (draw(st.sampled_from([0, 3, 15])) if with_ad else None),
                    "ad_alt": ad_alt,
                }
            )
        # reference blocks: a few intervals with gaps, some shallow or without depth
        cuts = sorted(draw(st.lists(st.integers(1, 40), min_size=2, max_size=6, unique=True)))
        for start, end in zip(cuts[::2], cuts[1::2], strict=False):
            blocks.append(
                {
                    "participant_id": pid,
                    "contig": contig,
                    "start": base + start,
                    "end": base + end,
                    "min_dp": draw(st.sampled_from([None, 0, 12, 30])),
                    "gq": draw(st.sampled_from([None, 10, 40])),
                }
            )
    return Sample(pid, sex, calls, blocks)


@st.composite
def cohorts(draw: st.DrawFn, min_size: int = 3, max_size: int = 6) -> list[Sample]:
    n = draw(st.integers(min_size, max_size))
    return [draw(samples_strategy(f"p{i}")) for i in range(n)]


@st.composite
def withdrawals(draw: st.DrawFn, cohort: list[Sample]) -> list[str]:
    """A non-empty set of the cohort's ids: any subset, often all but one."""
    ids = [s.pid for s in cohort]
    if draw(st.booleans()):
        keep = draw(st.sampled_from(ids))
        return [i for i in ids if i != keep]
    return sorted(draw(st.lists(st.sampled_from(ids), min_size=1, unique=True)))
