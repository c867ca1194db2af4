"""Joint genotyping semantics on small hand-built samples (no files, no Dagster), through
the engine (``genotyper.genotype_sparse``) and, for the same cases, the oracle."""

import polars as pl
import pytest

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.genotyper import genotype_sparse, with_hom_ref
from ngrl_assets.genomics.increment import Cohort, joint_call_increment, site_state_schema
from ngrl_assets.genomics.joint import (
    BLOCKS_SCHEMA,
    CALLS_SCHEMA,
    SAMPLES_SCHEMA,
    SITES_SCHEMA,
    discover_sites,
)
from ngrl_assets.genomics.schemas import GENOTYPE_EVAL_SCHEMA
from tests import genomics_oracle


def engine(sites, people, c, b, min_dp=1):
    """Every cell from the engine: its sparse rows plus the implicit hom-ref cells."""
    return with_hom_ref(genotype_sparse(sites, people, c, b, min_dp).sparse, sites, people)


# every semantic case below runs through the engine and through the oracle
@pytest.fixture(params=["engine", "oracle"])
def genotype(request):
    return engine if request.param == "engine" else genomics_oracle.genotype


def calls(*rows):
    # (pid, pos, ref, alt, a1, a2, dp, ad_ref, ad_alt)
    out = []
    for pid, pos, ref, alt, a1, a2, dp, ad_ref, ad_alt in rows:
        out.append(
            {
                "participant_id": pid,
                "contig": "chr1",
                "pos": pos,
                "end": pos + len(ref) - 1,
                "ref": ref,
                "alt": alt,
                "a1": a1,
                "a2": a2,
                "phased": False,
                "gq": 50,
                "dp": dp,
                "ad_ref": ad_ref,
                "ad_alt": ad_alt,
            }
        )
    return pl.DataFrame(out, schema=CALLS_SCHEMA)


def blocks(*rows):
    # (pid, start, end, min_dp)
    return pl.DataFrame(
        [
            {"participant_id": p, "contig": "chr1", "start": s, "end": e, "min_dp": d, "gq": 40}
            for p, s, e, d in rows
        ],
        schema=BLOCKS_SCHEMA,
    )


def samples(*ids):
    return pl.DataFrame([{"participant_id": i, "sex": "XX"} for i in ids], schema=SAMPLES_SCHEMA)


def decisions(evals):
    return {
        (r["pos"], r["ref"], r["alt"], r["participant_id"]): (r["a1"], r["a2"], r["no_call_reason"])
        for r in evals.iter_rows(named=True)
    }


def test_hom_ref_needs_full_deep_coverage_and_missing_is_never_hom_ref(genotype):
    c = calls(("B", 1000, "TTC", "T", 0, 1, 30, 20, 10))
    b = blocks(
        ("A", 990, 1000, 30),
        ("A", 1002, 1015, 30),  # gap at 1001: partial
        ("C", 990, 1010, 30),  # covers: hom-ref
        ("D", 990, 1010, 3),  # covers, too shallow: depth
        ("B", 990, 999, 30),
    )
    sites = discover_sites(c, "chr1", 1, 10_000)
    got = decisions(genotype(sites, samples("A", "B", "C", "D", "E"), c, b, min_dp=10))
    assert got[(1000, "TTC", "T", "A")] == (-1, -1, "P")
    assert got[(1000, "TTC", "T", "B")] == (0, 1, None)
    assert got[(1000, "TTC", "T", "C")] == (0, 0, None)
    assert got[(1000, "TTC", "T", "D")] == (-1, -1, "D")
    assert got[(1000, "TTC", "T", "E")] == (-1, -1, "M")


def test_other_alleles_overlapping_a_site_are_not_hom_ref(genotype):
    c = calls(
        ("A", 1000, "T", "A", 0, 1, 30, 15, 15),
        ("B", 1000, "T", "G", 1, 1, 30, 0, 30),
        ("C", 998, "GCTA", "G", 0, 1, 30, 15, 15),  # deletion spanning 1000
    )
    b = blocks(("A", 990, 999, 30), ("B", 990, 999, 30), ("C", 990, 997, 30), ("C", 1002, 1010, 30))
    got = decisions(genotype(discover_sites(c, "chr1", 1, 10_000), samples("A", "B", "C"), c, b))
    assert got[(1000, "T", "A", "A")] == (0, 1, None)
    assert got[(1000, "T", "A", "B")] == (2, 2, None)
    assert got[(1000, "T", "A", "C")] == (0, 2, None)
    assert got[(1000, "T", "G", "A")] == (0, 2, None)


def test_allele_depth_below_min_dp_gives_a_half_call_with_reason_d(genotype):
    c = calls(("A", 1000, "TA", "T", 0, 1, 12, 10, 2))
    got = decisions(
        genotype(discover_sites(c, "chr1", 1, 10_000), samples("A"), c, blocks(), min_dp=10)
    )
    assert got[(1000, "TA", "T", "A")] == (0, -1, "D")


def test_discovery_needs_a_carrier_inside_the_chunk():
    c = calls(
        ("A", 1000, "T", "A", 0, 0, 30, 30, 0),
        ("A", 2000, "T", "C", 0, 1, 30, 15, 15),
        ("A", 5000, "G", "A", 1, 1, 30, 0, 30),
    )
    sites = discover_sites(c, "chr1", 1, 4000)
    assert sites.select("pos", "alt").rows() == [(2000, "C")]


def test_sparse_keeps_everything_but_confident_hom_ref():
    c = calls(("B", 1000, "T", "A", 0, 1, 30, 15, 15))
    b = blocks(("A", 990, 1010, 30))
    result = genotype_sparse(discover_sites(c, "chr1", 1, 10_000), samples("A", "B", "C"), c, b)
    kept = result.sparse.select("participant_id", "no_call_reason").rows()
    assert kept == [("B", None), ("C", "M")]
    # the hom-ref cell is implicit but counted: three samples, A's depth in the histogram
    agg = result.aggregates.row(0, named=True)
    assert (agg["n_samples"], agg["n_called"], agg["n_an"], agg["n_ac"]) == (3, 2, 4, 1)
    assert agg["dp_hist_all"][30] == 2


# --- empty inputs at every stage -----------------------------------------------------

SITE = pl.DataFrame(
    [{"contig": "chr1", "pos": 1000, "ref": "T", "alt": "A", "end": 1000}], schema=SITES_SCHEMA
)


def test_no_calls_at_a_known_site_is_missing_or_hom_ref_from_blocks(genotype):
    # the batch has no calls at all (the frame that wedged incremental joint calling)
    got = decisions(genotype(SITE, samples("A", "B"), calls(), blocks(("A", 990, 1010, 30))))
    assert got == {
        (1000, "T", "A", "A"): (0, 0, None),
        (1000, "T", "A", "B"): (-1, -1, "M"),
    }


def test_no_blocks_only_the_carriers_own_call(genotype):
    c = calls(("A", 1000, "T", "A", 0, 1, 30, 15, 15))
    got = decisions(genotype(SITE, samples("A", "B"), c, blocks()))
    assert got == {(1000, "T", "A", "A"): (0, 1, None), (1000, "T", "A", "B"): (-1, -1, "M")}


def test_no_samples_or_no_sites_give_an_empty_evaluation():
    c = calls(("A", 1000, "T", "A", 0, 1, 30, 15, 15))
    for result in (
        genotype_sparse(SITE, samples(), c, blocks()),
        genotype_sparse(SITE.clear(), samples("A"), c, blocks()),
        genotype_sparse(SITE.clear(), samples(), calls(), blocks()),
    ):
        assert result.sparse.height == 0
        assert result.sparse.schema == pl.Schema(GENOTYPE_EVAL_SCHEMA)
        assert result.aggregates.schema == pl.Schema(site_qc.AGGREGATE_SCHEMA)
    assert discover_sites(calls(), "chr1", 1, 10_000).height == 0


def _state() -> pl.DataFrame:
    return pl.DataFrame(schema={"chunk": pl.String, **site_state_schema()})


def test_increment_with_an_empty_batch_or_an_empty_chunk():
    chunk = chunks.chunk_of("chr1", 1000).name
    # a chunk with one site, from sample A
    first = Cohort(samples("A"), calls(("A", 1000, "T", "A", 0, 1, 30, 15, 15)), blocks())
    one = joint_call_increment([chunk], _state(), first, lambda _s: Cohort.empty())
    assert one.new_sites == 1 and one.sites["n_samples"].to_list() == [1]
    existing = one.sites.select(["chunk", *site_state_schema()])
    # a batch whose only sample has no calls and no blocks in the chunk: counted as missing
    empty_batch = Cohort(samples("B"), calls(), blocks())
    two = joint_call_increment([chunk], existing, empty_batch, lambda _s: Cohort.empty())
    assert two.new_sites == 0
    assert two.sites.select("n_samples", "n_nocall_m", "n_an").row(0) == (2, 1, 2)
    assert two.genotypes.select("participant_id", "no_call_reason").rows() == [("B", "M")]
    # a batch without samples, and a chunk without sites or data: nothing changes
    unchanged = joint_call_increment([chunk], existing, Cohort.empty(), lambda _s: Cohort.empty())
    assert unchanged.new_sites == 0 and unchanged.genotypes.height == 0
    assert unchanged.sites.select(existing.columns).equals(existing)
    nothing = joint_call_increment([chunk], _state(), empty_batch, lambda _s: Cohort.empty())
    assert (nothing.new_sites, nothing.sites.height, nothing.genotypes.height) == (0, 0, 0)
    # empty aggregates, metrics and merges
    empty = genotype_sparse(SITE.clear(), samples(), calls(), blocks()).aggregates
    assert site_qc.metrics(empty).height == 0


# --- unknown depth ---------------------------------------------------------------------


def test_unknown_depth_does_not_fail_the_depth_rule(genotype):
    # no FORMAT/DP and no AD: the depth is unknown, not zero, so the call stands
    c = calls(
        ("A", 1000, "T", "A", 0, 1, None, None, None), ("B", 1000, "T", "A", 0, 1, 0, None, None)
    )
    b = blocks(("C", 990, 1010, None), ("D", 990, 1010, 0))
    got = decisions(genotype(SITE, samples("A", "B", "C", "D"), c, b))  # default min_dp=1
    assert got[(1000, "T", "A", "A")] == (0, 1, None)
    assert got[(1000, "T", "A", "B")] == (-1, -1, "D")  # a known depth of 0 fails
    assert got[(1000, "T", "A", "C")] == (0, 0, None)  # a block without MIN_DP/DP
    assert got[(1000, "T", "A", "D")] == (-1, -1, "D")


def test_a_gvcf_without_format_dp_is_called(tmp_path, genotype):
    from ngrl_assets.genomics.gvcf import read_gvcf
    from tests.unit.gvcf_text import write

    records = [
        "chr1\t990\t.\tA\t<NON_REF>\t.\t.\tEND=999\tGT:GQ\t0/0:30",
        "chr1\t1000\t.\tT\tA,<NON_REF>\t50\t.\t.\tGT:GQ\t0/1:40",
        "chr1\t1001\t.\tA\t<NON_REF>\t.\t.\tEND=1010\tGT:GQ\t0/0:30",
    ]
    path, _ = write(tmp_path, records)
    parsed = read_gvcf(path)
    assert parsed.calls["dp"].to_list() == [None] and parsed.blocks["min_dp"].null_count() == 2
    owner = pl.lit("A").alias("participant_id")
    c = parsed.calls.with_columns(owner).select(list(CALLS_SCHEMA))
    b = parsed.blocks.with_columns(owner).select(list(BLOCKS_SCHEMA))
    sites = discover_sites(c, "chr1", 1, 10_000)
    got = decisions(genotype(sites, samples("A"), c, b))
    assert got == {(1000, "T", "A", "A"): (0, 1, None)}
