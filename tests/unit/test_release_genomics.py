"""Per-sample call statistics of a release (pure): counts, Ti/Tv and het/hom-alt on a
hand-checked case; pseudonymised genotypes; a call crossing a chunk boundary counted once."""

import polars as pl
import pytest

from ngrl_assets.releases.genomics import (
    _in_own_chunk,
    call_counts,
    call_statistics,
    coalesced,
    pseudonymise,
    release_spec,
)
from ngrl_assets.releases.tables import RELEASE_JOINT_GENOTYPES, RELEASE_VARIANT_SITES

CALLS_SCHEMA = {
    "participant_id": pl.String,
    "chunk": pl.String,
    "pos": pl.Int32,
    "ref": pl.String,
    "alt": pl.String,
    "a1": pl.Int8,
    "a2": pl.Int8,
}


def calls(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=CALLS_SCHEMA, orient="row")


HAND = calls(
    [
        # p1: transition het, transversion hom, deletion het, insertion hom, MNP het
        ("p1", "chr1_000", 100, "A", "G", 0, 1),
        ("p1", "chr1_000", 200, "C", "A", 1, 1),
        ("p1", "chr1_000", 300, "AT", "A", 0, 1),
        ("p1", "chr1_000", 400, "G", "GTT", 1, 1),
        ("p1", "chr1_000", 500, "AC", "GT", 1, 0),
        # p1: a split multiallelic 1/2 (two het rows: G>A transition, G>T transversion)
        ("p1", "chr1_000", 600, "G", "A", 1, 2),
        ("p1", "chr1_000", 600, "G", "T", 2, 1),
        # p1: rows that do not carry their ALT are not calls of it
        ("p1", "chr1_000", 700, "C", "T", 2, 2),
        ("p1", "chr1_000", 800, "c", "t", 0, 0),
        # p2: lower-case transition, haploid ALT (hom), half-call (neither het nor hom)
        ("p2", "chr1_000", 100, "a", "g", 1, None),
        ("p2", "chr1_000", 900, "C", "T", -1, 1),
        ("p2", "chr1_000", 950, "T", "C", 0, 1),
        # p3: one het transversion, no hom-alt, no transition
        ("p3", "chr1_000", 200, "C", "G", 0, 1),
    ]
)


def test_call_counts_and_ratios_on_a_hand_checked_case():
    counts = call_counts(HAND).sort("participant_id")
    assert counts.rows() == [
        # n_calls, n_snv, n_indel, n_ti, n_tv, n_het, n_hom_alt
        ("p1", 7, 4, 2, 2, 2, 5, 2),
        ("p2", 3, 3, 0, 3, 0, 1, 1),
        ("p3", 1, 1, 0, 0, 1, 1, 0),
    ]
    stats = call_statistics(counts)
    assert stats.rows() == [
        ("p1", 7, 4, 2, 1.0, 2.5),
        ("p2", 3, 3, 0, None, 1.0),  # no transversion: Ti/Tv undefined
        ("p3", 1, 1, 0, 0.0, None),  # no hom-alt call: het/hom undefined
    ]
    assert stats.schema["ti_tv"] == pl.Float64 and stats.schema["het_hom_ratio"] == pl.Float64


def test_counts_are_summable_across_chunk_groups():
    first, second = HAND.head(6), HAND.tail(HAND.height - 6)
    parts = pl.concat([call_counts(first), call_counts(second)])
    summed = parts.group_by("participant_id").agg(pl.exclude("participant_id").sum())
    assert summed.sort("participant_id").equals(call_counts(HAND).sort("participant_id"))


def test_a_call_crossing_a_chunk_boundary_is_counted_once():
    # a deletion at the end of chr1_000 (1..10,000,000) is stored in both chunks
    crossing = calls(
        [
            ("p1", "chr1_000", 9_999_998, "ACGTA", "A", 0, 1),
            ("p1", "chr1_001", 9_999_998, "ACGTA", "A", 0, 1),
            ("p1", "chr1_001", 10_000_500, "A", "G", 0, 1),
        ]
    )
    own = _in_own_chunk(crossing)
    assert own.select("chunk", "pos").rows() == [("chr1_000", 9_999_998), ("chr1_001", 10_000_500)]
    assert call_counts(own).row(0) == ("p1", 2, 1, 1, 1, 0, 2, 0)


def test_no_calls_give_no_counts():
    assert call_counts(calls([])).height == 0


def test_genotypes_carry_the_pseudonym_only():
    genotypes = pl.DataFrame(
        {c: [None, None] for c in RELEASE_JOINT_GENOTYPES.schema},
        schema=RELEASE_JOINT_GENOTYPES.schema,
    ).with_columns(pl.Series("participant_id", ["p1", "p2"]), pl.lit("U").alias("sex"))
    mapping = pl.DataFrame({"participant_id": ["p1", "p2"], "participant_pseudonym": ["PA", "PB"]})
    out = pseudonymise(genotypes, mapping)
    assert out.columns == list(RELEASE_JOINT_GENOTYPES.schema)
    assert out["participant_id"].to_list() == ["PA", "PB"]
    with pytest.raises(ValueError, match="outside the release") as err:
        pseudonymise(genotypes, mapping.head(1))
    assert "p2" not in str(err.value)


def test_release_copies_sit_under_the_release_with_sized_row_groups():
    spec = release_spec(RELEASE_VARIANT_SITES, "v1")
    assert spec.key == "releases/v1/variant_sites"
    assert spec.row_group_rows and spec.row_group_rows <= 1 << 17
    assert "increment" not in spec.schema


def test_batches_are_coalesced_in_order_up_to_the_budget():
    frames = [pl.DataFrame({"a": [i] * 1000}, schema={"a": pl.Int64}) for i in range(10)]
    size = int(frames[0].estimated_size())
    batches = list(coalesced(iter(frames), 3 * size))
    assert [b.height for b in batches] == [3000, 3000, 3000, 1000]
    assert pl.concat(batches)["a"].is_sorted() and all(b.n_chunks() == 1 for b in batches)
    assert list(coalesced(iter([]), size)) == []
