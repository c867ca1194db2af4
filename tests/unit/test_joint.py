"""Joint genotyping semantics on small hand-built samples (no files, no Dagster)."""

import polars as pl

from ngrl_assets.genomics.joint import (
    BLOCKS_SCHEMA,
    CALLS_SCHEMA,
    SAMPLES_SCHEMA,
    discover_sites,
    genotype,
    sparse,
)


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


def test_hom_ref_needs_full_deep_coverage_and_missing_is_never_hom_ref():
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


def test_other_alleles_overlapping_a_site_are_not_hom_ref():
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


def test_allele_depth_below_min_dp_gives_a_half_call_with_reason_d():
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
    evals = genotype(discover_sites(c, "chr1", 1, 10_000), samples("A", "B", "C"), c, b)
    kept = sparse(evals).select("participant_id", "no_call_reason").rows()
    assert kept == [("B", None), ("C", "M")]
