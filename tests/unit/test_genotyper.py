"""The integer sweep genotyper against the dense polars oracle (tests/genomics_oracle.py):
on random small cohorts every sparse row (cell for cell) and every site aggregate
(count for count, bin for bin) is the same. The cohorts mix SNVs, MNVs, insertions,
deletions up to 12 bases overlapping other records and sites, multiallelic records
split into rows with allele code 2, haploid calls, repeated rows, missing DP/AD, blocks
with and without depth, gaps and overlaps, windows on chr1, across the chrX PAR1
boundary, on chrX and chrY outside the PARs, samples XX/XY/unknown/null sex, and
``min_dp`` 0, 1 and 10, swept one, two or all samples at a time."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from ngrl_assets.genomics import site_qc
from ngrl_assets.genomics.genotyper import NA, genotype_sparse
from ngrl_assets.genomics.joint import (
    BLOCKS_SCHEMA,
    CALLS_SCHEMA,
    SAMPLES_SCHEMA,
    SITES_SCHEMA,
    discover_all,
)
from ngrl_assets.genomics.schemas import SITE_KEY
from tests import genomics_oracle

# (contig, first base): a 60-base window each; chrX's first one straddles the end of PAR1
WINDOWS = [("chr1", 1_000_000), ("chrX", 2_781_450), ("chrX", 5_000_000), ("chrY", 3_000_000)]
BASES = "ACGT"
DIPLOID = [(0, 1), (1, 1), (-1, 1), (1, -1), (1, 2), (2, 1), (0, 2), (2, 2), (0, 0), (-1, -1)]
HAPLOID = [(1, None), (0, None), (-1, None), (2, None)]


@st.composite
def alleles(draw: st.DrawFn) -> tuple[int, str, str]:
    """(offset, ref, alt): SNV, MNV, insertion or a deletion of up to 12 bases."""
    offset = draw(st.integers(0, 50))
    kind = draw(st.sampled_from(["snv", "snv", "mnv", "ins", "del", "del"]))
    first = draw(st.sampled_from(BASES))
    if kind == "snv":
        return offset, first, draw(st.sampled_from([b for b in BASES if b != first]))
    if kind == "mnv":
        return offset, first + "A", ("C" if first != "C" else "G") + "T"
    tail = "".join(draw(st.lists(st.sampled_from(BASES), min_size=1, max_size=12)))
    return (offset, first, first + tail) if kind == "ins" else (offset, first + tail, first)


@st.composite
def cohort_frames(draw: st.DrawFn) -> tuple[pl.DataFrame, ...]:
    slots = draw(st.lists(alleles(), min_size=1, max_size=8))
    n = draw(st.integers(1, 6))
    people, calls, blocks = [], [], []
    for i in range(n):
        pid = f"p{i}"
        sex = draw(st.sampled_from(["XX", "XY", "unknown", None]))
        people.append({"participant_id": pid, "sex": sex})
        for contig, base in WINDOWS:
            picks = draw(st.lists(st.sampled_from(range(len(slots))), max_size=5))  # repeats
            for k in picks:
                offset, ref, alt = slots[k]
                a1, a2 = draw(st.sampled_from(HAPLOID if draw(st.booleans()) else DIPLOID))
                ad = draw(st.sampled_from([None, (0, 12), (15, 3), (7, None), (40, 40)]))
                calls.append(
                    {
                        "participant_id": pid,
                        "contig": contig,
                        "pos": base + offset,
                        "end": base + offset + len(ref) - 1,
                        "ref": ref,
                        "alt": alt,
                        "a1": a1,
                        "a2": a2,
                        "phased": False,
                        "gq": draw(st.sampled_from([None, 5, 40, 99, 150])),
                        "dp": draw(st.sampled_from([None, 0, 5, 10, 30, 200])),
                        "ad_ref": None if ad is None else ad[0],
                        "ad_alt": None if ad is None else ad[1],
                    }
                )
            for _ in range(draw(st.integers(0, 4))):
                start = base + draw(st.integers(-5, 60))
                blocks.append(
                    {
                        "participant_id": pid,
                        "contig": contig,
                        "start": start,
                        "end": start + draw(st.integers(0, 40)),
                        "min_dp": draw(st.sampled_from([None, 0, 5, 12, 30, 300])),
                        "gq": draw(st.sampled_from([None, 10, 40, 120])),
                    }
                )
    calls_frame = pl.DataFrame(calls, schema=CALLS_SCHEMA)
    # the discovered sites, and some sites nobody here carries (an increment's known sites)
    known = pl.DataFrame(
        [
            {"contig": c, "pos": b + o, "ref": r, "alt": a, "end": b + o + len(r) - 1}
            for (c, b) in WINDOWS
            for (o, r, a) in slots
            if draw(st.booleans())
        ],
        schema=SITES_SCHEMA,
    )
    sites = pl.concat([discover_all(calls_frame), known]).unique(
        subset=["contig", "pos", "ref", "alt"], keep="first", maintain_order=True
    )
    return (
        sites,
        pl.DataFrame(people, schema=SAMPLES_SCHEMA),
        calls_frame,
        pl.DataFrame(blocks, schema=BLOCKS_SCHEMA),
    )


def _engine_equals_oracle(frames, min_dp, batch) -> None:
    sites, people, calls, blocks = frames
    dense = genomics_oracle.genotype(sites, people, calls, blocks, min_dp)
    got = genotype_sparse(sites, people, calls, blocks, min_dp, batch=batch)
    expected = genomics_oracle.sparse(dense)
    if batch >= people.height:  # one batch: rows by site (the caller's order), participant
        assert_frame_equal(got.sparse, expected)
    # in any case the same rows (a site key and a participant name one row)
    by_cell = [*SITE_KEY, "participant_id"]
    assert_frame_equal(got.sparse.sort(by_cell), expected.sort(by_cell))
    assert_frame_equal(got.aggregates, site_qc.aggregate(dense))


CASES = (cohort_frames(), st.sampled_from([0, 1, 10]), st.sampled_from([1, 2, 64]))
QUIET = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


@settings(max_examples=60, **QUIET)
@given(*CASES)
def test_engine_decides_every_cell_and_aggregate_as_the_oracle(frames, min_dp, batch):
    _engine_equals_oracle(frames, min_dp, batch)


@pytest.mark.slow
@settings(max_examples=400, **QUIET)
@given(*CASES)
def test_engine_equals_the_oracle_on_many_more_cohorts(frames, min_dp, batch):
    """The same property on 400 cohorts (``make test-all``)."""
    _engine_equals_oracle(frames, min_dp, batch)


def test_values_the_engine_reserves_are_refused():
    site = pl.DataFrame(
        [{"contig": "chr1", "pos": 100, "ref": "A", "alt": "G", "end": 100}], schema=SITES_SCHEMA
    )
    people = pl.DataFrame([{"participant_id": "p", "sex": "XX"}], schema=SAMPLES_SCHEMA)
    block = pl.DataFrame(
        [{"participant_id": "p", "contig": "chr1", "start": 90, "end": 110, "min_dp": NA}],
        schema=BLOCKS_SCHEMA,
    )
    with pytest.raises(ValueError, match="reserves"):
        genotype_sparse(site, people, pl.DataFrame(schema=CALLS_SCHEMA), block)
