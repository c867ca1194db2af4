"""Withdrawal by subtraction, pure: a cohort's site aggregates minus the withdrawn
samples' contribution equal the aggregates of the remaining samples, and the dropped
sites are exactly those no remaining sample carries (hand-made cases and random cohorts).
The random cohorts (``random_cohorts.py``) are shared with the lake-level tests."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ngrl_assets.genomics import site_qc
from ngrl_assets.genomics.joint import (
    BLOCKS_SCHEMA,
    CALLS_SCHEMA,
    SAMPLES_SCHEMA,
    discover_all,
)
from ngrl_assets.genomics.schemas import SITE_KEY
from ngrl_assets.genomics.withdraw import (
    carried_sites,
    contribution,
    dropped_sites,
    subtract,
)
from tests.genomics_oracle import genotype  # the states: the dense oracle, not the engine
from tests.unit.random_cohorts import Sample, cohorts, withdrawals


def frames(cohort: list[Sample]) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    people = pl.DataFrame(
        [{"participant_id": s.pid, "sex": s.sex} for s in cohort], schema=SAMPLES_SCHEMA
    )
    calls = pl.DataFrame([c for s in cohort for c in s.calls], schema=CALLS_SCHEMA)
    blocks = pl.DataFrame([b for s in cohort for b in s.blocks], schema=BLOCKS_SCHEMA)
    return people, calls, blocks


# ---- the property, pure ------------------------------------------------------------


def by_site(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(list(site_qc.AGGREGATE_SCHEMA)).sort(SITE_KEY)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_subtracting_a_contribution_equals_aggregating_the_rest(data):
    cohort = data.draw(cohorts())
    gone = data.draw(withdrawals(cohort))
    people, calls, blocks = frames(cohort)
    sites = discover_all(calls)
    state = site_qc.aggregate(genotype(sites, people, calls, blocks))

    out = people.filter(pl.col("participant_id").is_in(gone))
    rest = people.filter(~pl.col("participant_id").is_in(gone))
    part = contribution(sites, out, calls, blocks)
    after = subtract(state, part)

    mine = calls.filter(pl.col("participant_id").is_in(gone))
    theirs = calls.filter(~pl.col("participant_id").is_in(gone))
    dropped = dropped_sites(carried_sites(mine), carried_sites(theirs))
    kept = sites.join(dropped, on=SITE_KEY, how="anti")
    # the remaining sites are exactly what discovery over the rest finds
    assert kept.equals(discover_all(theirs))
    expected = site_qc.aggregate(genotype(kept, rest, calls, blocks))
    got = after.join(dropped, on=SITE_KEY, how="anti")
    # a site where no remaining sample is counted (chrY, XX only) has no aggregate row
    got = got.filter(pl.col("n_samples") > 0)
    assert by_site(got).equals(by_site(expected))
    # ... and so are the metrics and FILTER recomputed from them
    assert site_qc.metrics(got).equals(site_qc.metrics(expected))
    # subtracting once more is refused where the withdrawn were all that was counted
    # (elsewhere a double subtraction can go unnoticed: the marker prevents it)
    alone = part.join(state, on=SITE_KEY, suffix="_all").filter(
        pl.col("n_samples") == pl.col("n_samples_all")
    )
    if alone.height:
        with pytest.raises(ValueError, match="negative"):
            subtract(after, part)


# ---- hand-made cases ----------------------------------------------------------------


def call(pid, pos, ref, alt, gt, dp=30, ad=(15, 15)):
    return {
        "participant_id": pid,
        "contig": "chr1",
        "pos": pos,
        "end": pos + len(ref) - 1,
        "ref": ref,
        "alt": alt,
        "a1": gt[0],
        "a2": gt[1],
        "phased": False,
        "gq": 50,
        "dp": dp,
        "ad_ref": ad[0],
        "ad_alt": ad[1],
    }


def block(pid, start, end, min_dp=30):
    return {"participant_id": pid, "contig": "chr1", "start": start, "end": end,
            "min_dp": min_dp, "gq": 40}  # fmt: skip


def hand_cohort():
    people = pl.DataFrame(
        [{"participant_id": p, "sex": "XX"} for p in ("a", "b", "c")], schema=SAMPLES_SCHEMA
    )
    calls = pl.DataFrame(
        [
            call("a", 100, "A", "G", (0, 1)),
            call("b", 100, "A", "G", (1, 1)),
            call("a", 200, "C", "T", (0, 1)),  # a's singleton
            call("c", 300, "GA", "G", (0, 1), ad=(15, 0)),  # c carries it, shallow AD
        ],
        schema=CALLS_SCHEMA,
    )
    blocks = pl.DataFrame(
        [block("a", 1, 99), block("b", 150, 400), block("c", 90, 299)], schema=BLOCKS_SCHEMA
    )
    return people, calls, blocks


def test_contribution_counts_the_withdrawn_at_every_site():
    people, calls, blocks = hand_cohort()
    sites = discover_all(calls)
    part = contribution(sites, people.filter(pl.col("participant_id") == "a"), calls, blocks)
    rows = {r["pos"]: r for r in part.iter_rows(named=True)}
    assert sorted(rows) == [100, 200, 300]
    assert all(r["n_samples"] == 1 for r in rows.values())
    assert (rows[100]["n_ac"], rows[100]["n_an"]) == (1, 2)
    assert (rows[200]["n_ac"], rows[200]["n_an"]) == (1, 2)
    assert rows[300]["n_nocall_m"] == 1 and rows[300]["n_an"] == 0  # a has nothing there
    empty = contribution(sites.clear(), people, calls, blocks)
    assert empty.height == 0 and empty.columns == list(site_qc.AGGREGATE_SCHEMA)


def test_subtract_keeps_other_columns_and_sites_without_a_contribution():
    people, calls, blocks = hand_cohort()
    sites = discover_all(calls)
    state = site_qc.aggregate(genotype(sites, people, calls, blocks))
    state = state.with_columns(pl.lit("x").alias("note")).select("note", *state.columns)
    part = contribution(sites.filter(pl.col("pos") == 100), people.head(1), calls, blocks)
    after = subtract(state, part)
    assert after.columns == state.columns
    assert after.filter(pl.col("pos") != 100).equals(state.filter(pl.col("pos") != 100))
    row = after.filter(pl.col("pos") == 100).row(0, named=True)
    assert (row["n_samples"], row["n_ac"], row["n_an"]) == (2, 2, 4)
    assert sum(row["dp_hist_all"]) == 2
    assert subtract(state, part.clear()).equals(state)


def test_subtract_refuses_double_subtraction_and_unknown_sites():
    people, calls, blocks = hand_cohort()
    sites = discover_all(calls)
    state = site_qc.aggregate(genotype(sites, people, calls, blocks))
    part = contribution(sites, people.filter(pl.col("participant_id") == "a"), calls, blocks)
    once = subtract(state, part)
    with pytest.raises(ValueError, match="negative") as err:
        subtract(once, part)
    assert "'a'" not in str(err.value)
    with pytest.raises(ValueError, match="does not hold"):
        subtract(state.filter(pl.col("pos") != 200), part)
    with pytest.raises(ValueError, match="more than one row"):
        subtract(state, pl.concat([part, part]))


def test_dropped_sites_are_carried_by_the_withdrawn_alone():
    _, calls, _ = hand_cohort()
    mine = carried_sites(calls.filter(pl.col("participant_id") == "a"))
    theirs = carried_sites(calls.filter(pl.col("participant_id") != "a"))
    assert dropped_sites(mine, theirs).rows() == [("chr1", 200, "C", "T")]
    # the shallow call still carries its allele (discovery ignores depth)
    assert ("chr1", 300, "GA", "G") in theirs.rows()
    # a 2 (other allele) or missing allele carries nothing; haploid 1 does
    others = pl.DataFrame(
        [
            {**call("b", 200, "C", "T", (2, 2))},
            {**call("b", 200, "C", "T", (-1, -1))},
            {**call("c", 400, "C", "A", (1, None))},
        ],
        schema=CALLS_SCHEMA,
    )
    assert carried_sites(others).rows() == [("chr1", 400, "C", "A")]
    assert dropped_sites(mine, carried_sites(others)).height == 2
    assert dropped_sites(mine.clear(), theirs).height == 0
