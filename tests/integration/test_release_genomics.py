"""A release's genomic tables on real Delta tables: they equal joint calling the released
samples alone (a second lake holding only their per-sample rows, joint-called by the
library's own driver), they hold no internal participant id, each is a few files in one
commit (reader 1 / writer 2), and a re-run converges. First on a hand-made lake whose
expectations are checked by hand, then on a synthetic cohort with real gVCFs (1000
Genomes chr22, NA12878) ingested through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.genomics.joint_store import run_whole_genome
from ngrl_assets.genomics.tables import (
    JOINT_GENOTYPES,
    LIBRARY_ONLY_GENOTYPE_COLUMNS,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    VARIANT_SITES,
)
from ngrl_assets.releases.genomics import GENOMIC_TABLES, release_spec, write_release_genomics
from ngrl_assets.releases.pseudonyms import pseudonym
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    JOINT_CALL_COHORTS,
    RELEASE_JOINT_GENOTYPES,
    RELEASE_VARIANT_SITES,
)
from resources.lake import Lake
from tests.integration import sample_rows
from tests.integration.lakes import put_landing
from tests.integration.release_runs import assert_no_internal_ids
from tests.integration.sample_rows import block, call

KEY = b"release-genomics-test-key-0123456789"
SITE_KEY = ["contig", "pos", "ref", "alt"]
MAX_FILES = 3


def released(raw: pl.DataFrame, participants: list[str], release: str = "v1") -> pl.DataFrame:
    """The cut's ``samples`` frame for these participants (their QC-passed samples)."""
    rows = raw.filter(
        (pl.col("qc_verdict") == "pass") & pl.col("participant_id").is_in(participants)
    )
    key = KEY + release.encode()
    return rows.select(
        "participant_id",
        pl.col("participant_id")
        .map_elements(lambda p: pseudonym(key, "participant", p), return_dtype=pl.String)
        .alias("participant_pseudonym"),
        pl.col("sample_id")
        .map_elements(lambda s: pseudonym(key, "sample", s), return_dtype=pl.String)
        .alias("sample_pseudonym"),
    )


def joint_called_alone(lake: Lake, root: Path, participants: list[str]) -> Lake:
    """A fresh lake holding only these participants' samples, joint-called from scratch."""
    alone = Lake(root_uri=str(root))
    ids = pl.Series(participants, dtype=pl.String).implode()
    for spec in (RAW_SEQUENCES, SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS):
        alone.append(spec, lake.scan(spec).filter(pl.col("participant_id").is_in(ids)).collect())
    run_whole_genome(alone)
    return alone


def release_tables(lake: Lake, release: str) -> dict[str, pl.DataFrame]:
    return {spec.name: lake.read(release_spec(spec, release)) for spec in GENOMIC_TABLES}


def back_to_internal(frame: pl.DataFrame, samples: pl.DataFrame) -> pl.DataFrame:
    """Release rows with the pseudonym mapped back to the internal id (test side only)."""
    mapping = samples.select(
        pl.col("participant_pseudonym").alias("participant_id"),
        pl.col("participant_id").alias("_internal"),
    )
    out = frame.join(mapping, on="participant_id", how="left")
    assert out["_internal"].null_count() == 0
    return out.with_columns(pl.col("_internal").alias("participant_id")).drop("_internal")


def assert_equals_alone(tables: dict[str, pl.DataFrame], alone: Lake, samples) -> None:
    """Row for row, every column but the library's bookkeeping (increment, batch)."""
    sites = tables["variant_sites"].sort(SITE_KEY)
    expected_sites = alone.read(VARIANT_SITES).drop("increment").sort(SITE_KEY)
    assert sites.height > 0
    assert sites.equals(expected_sites)
    genotypes = back_to_internal(tables["joint_genotypes"], samples)
    genotypes = genotypes.sort([*SITE_KEY, "participant_id"])
    expected = alone.read(JOINT_GENOTYPES).drop(LIBRARY_ONLY_GENOTYPE_COLUMNS)
    expected = expected.sort([*SITE_KEY, "participant_id"])
    assert genotypes.height > 0
    assert genotypes.equals(expected)


def assert_compact(lake: Lake, release: str) -> None:
    for spec in GENOMIC_TABLES:
        table = lake.delta_table(release_spec(spec, release))
        assert len(table.file_uris()) <= MAX_FILES, spec.name
        protocol = table.protocol()
        assert (protocol.min_reader_version, protocol.min_writer_version) == (1, 2), spec.name


def assert_sorted(tables: dict[str, pl.DataFrame]) -> None:
    """Stored in the declarations' sort order (chunk first): region queries skip files."""
    for spec in (RELEASE_VARIANT_SITES, RELEASE_JOINT_GENOTYPES, JOINT_CALL_COHORTS):
        frame = tables[spec.name]
        assert frame.equals(frame.sort(list(spec.sort_by))), spec.name


# --- a hand-made lake ----------------------------------------------------------------


def deliver(lake: Lake, delivery: str, samples: dict[str, float], calls, blocks) -> None:
    """One delivery with the given mean coverage per sample (sample stats are checked)."""
    qc = {p: {"mean_coverage": c, "pct_bases_15x": 95.0, "contamination": 0.01}
          for p, c in samples.items()}  # fmt: skip
    sample_rows.deliver(lake, delivery, list(samples), calls, blocks, qc)


SHARED = ("chr22", 20_000_100, "A", "G")  # p1 het, p2 het, p3 hom-alt
ONLY_P2 = ("chr22", 20_000_200, "C", "T")  # carried by p2 alone
BOUNDARY = ("chr22", 29_999_998, "ACGTA", "A")  # p1's deletion across two chunks
COVER = [(p, "chr22", 20_000_000, 20_000_300) for p in ("p1", "p2", "p3", "p4")]


def hand_lake(lake: Lake) -> None:
    deliver(
        lake,
        "D1",
        {"p1": 30.5, "p2": 31.0},
        [
            call("p1", *SHARED, (0, 1)),
            call("p1", *BOUNDARY, (0, 1)),
            call("p2", *SHARED, (0, 1)),
            call("p2", *ONLY_P2, (0, 1)),
        ],
        [block(*c) for c in COVER[:2]],
    )
    deliver(
        lake,
        "D2",
        {"p3": 32.0, "p4": 33.0, "p5": 34.0},
        [
            call("p3", *SHARED, (1, 1)),
            call("p3", "chr1", 5_000, "C", "A", (0, 1)),  # transversion
            call("p3", "chr1", 6_000, "AT", "A", (0, 1)),  # deletion
            call("p3", "chr1", 8_000, "G", "A", (1, 2)),  # a split 1/2: two het rows
            call("p3", "chr1", 8_000, "G", "T", (2, 1)),
            call("p4", "chr1", 5_000, "C", "A", (1, 1)),
            call("p4", "chr1", 7_000, "G", "A", (-1, 1)),  # half-call
            call("p5", "chr1", 9_000, "T", "C", (1, 1)),  # p5 is not released
        ],
        [block(*c) for c in COVER[2:]],
    )
    run_whole_genome(lake)


def test_release_of_a_hand_made_cohort(lake: Lake, tmp_path: Path):
    hand_lake(lake)
    chosen = ["p1", "p3", "p4"]
    samples = released(lake.read(RAW_SEQUENCES), chosen)
    counts = write_release_genomics(lake, "v1", samples)
    tables = release_tables(lake, "v1")
    assert counts == {name: frame.height for name, frame in tables.items()}

    alone = joint_called_alone(lake, tmp_path / "alone", chosen)
    assert_equals_alone(tables, alone, samples)

    sites = tables["variant_sites"]
    library = lake.read(VARIANT_SITES)
    keys = set(sites.select(SITE_KEY).rows())
    assert ONLY_P2 not in keys and ONLY_P2 in set(library.select(SITE_KEY).rows())
    assert ("chr1", 9_000, "T", "C") not in keys  # p5's site
    shared = sites.filter(pl.col("pos") == SHARED[1]).row(0, named=True)
    in_library = library.filter(pl.col("pos") == SHARED[1]).row(0, named=True)
    assert (shared["AC"], shared["AN"]) == (3, 6)  # p1 het + p3 hom over p1, p3, p4
    assert (in_library["AC"], in_library["AN"]) == (4, 8)
    assert shared["AF"] == pytest.approx(0.5) and in_library["AF"] == pytest.approx(0.5)
    # the deletion across chr22_002/chr22_003 is one site of the chunk holding its position
    assert sites.filter(pl.col("pos") == BOUNDARY[1])["chunk"].to_list() == ["chr22_002"]

    cohorts = tables["joint_call_cohorts"]
    assert cohorts.height == sites["chunk"].n_unique() * len(chosen)
    assert set(cohorts["chunk"]) == set(sites["chunk"])
    assert set(cohorts["participant_id"]) == set(samples["participant_pseudonym"])

    stats = back_to_internal(tables["aggregate_gvcf_sample_stats"], samples)
    by_sample = {r["participant_id"]: r for r in stats.iter_rows(named=True)}
    columns = ["n_calls", "n_snv", "n_indel", "ti_tv", "het_hom_ratio", "mean_coverage"]
    assert [by_sample["p1"][c] for c in columns] == [2, 1, 1, None, None, 30.5]
    assert [by_sample["p3"][c] for c in columns] == [5, 4, 1, 1.0, 4.0, 32.0]
    assert [by_sample["p4"][c] for c in columns] == [2, 2, 0, 1.0, 0.0, 33.0]
    assert set(stats["sample_id"]) == set(samples["sample_pseudonym"])

    internal = set(lake.read(RAW_SEQUENCES)["participant_id"].to_list())
    internal |= {f"S-{p}" for p in internal}  # the internal sample ids too
    assert_no_internal_ids(lake, "v1", internal)
    assert_compact(lake, "v1")
    assert_sorted(tables)

    # a re-run converges: the same content, still a few files
    assert write_release_genomics(lake, "v1", samples) == counts
    again = release_tables(lake, "v1")
    assert all(again[n].equals(tables[n]) for n in tables)
    assert_compact(lake, "v1")


def test_released_samples_must_be_qc_passed_genomes(lake: Lake):
    hand_lake(lake)
    samples = released(lake.read(RAW_SEQUENCES), ["p1"])
    stranger = pl.DataFrame(
        {"participant_id": ["p9"], "participant_pseudonym": ["PX"], "sample_pseudonym": ["SX"]}
    )
    with pytest.raises(ValueError, match="1 without a QC-passed sample") as err:
        write_release_genomics(lake, "v1", pl.concat([samples, stranger]))
    assert "p9" not in str(err.value)
    with pytest.raises(ValueError, match="repeated"):
        write_release_genomics(lake, "v1", pl.concat([samples, samples]))
    assert not any(lake.exists(release_spec(s, "v1")) for s in GENOMIC_TABLES)


def test_an_empty_release_writes_empty_tables(lake: Lake):
    hand_lake(lake)
    samples = released(lake.read(RAW_SEQUENCES), [])
    assert set(write_release_genomics(lake, "v0", samples).values()) == {0}
    for spec in GENOMIC_TABLES:
        frame = lake.read(release_spec(spec, "v0"))
        assert frame.height == 0 and frame.columns == list(spec.schema)


# --- a synthetic cohort through the whole pipeline -----------------------------------


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Lake:
    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_all
    from ngrl_assets.synth import generate_cohort

    landing = tmp_path_factory.mktemp("landing")
    generate_cohort(landing, participants=16, seed=11, defect_rate=0.0, batch_size=8)
    lake = Lake(root_uri=str(tmp_path_factory.mktemp("library") / "lake"))
    put_landing(lake, landing)
    with dg.instance_for_test() as instance:
        result = run_all(build_definitions(lake), lake, instance)
        assert result.success, result.failures()
    return lake


def test_release_equals_joint_calling_the_released_samples_alone(ingested, tmp_path):
    lake = ingested
    raw = lake.read(RAW_SEQUENCES)
    passed = sorted(raw.filter(pl.col("qc_verdict") == "pass")["participant_id"].to_list())
    chosen = passed[::2]  # every other QC-passed genome, across the deliveries
    assert 3 <= len(chosen) < len(passed)
    samples = released(raw, chosen, "v2")
    counts = write_release_genomics(lake, "v2", samples)
    tables = release_tables(lake, "v2")
    assert counts == {name: frame.height for name, frame in tables.items()}

    alone = joint_called_alone(lake, tmp_path / "alone", chosen)
    assert_equals_alone(tables, alone, samples)

    # sites no released sample carries are gone; some frequencies move
    library_sites = lake.read(VARIANT_SITES).drop("increment")
    genotypes = lake.read(JOINT_GENOTYPES)
    carriers = genotypes.filter((pl.col("a1") == 1) | (pl.col("a2") == 1))
    released_carried = carriers.filter(pl.col("participant_id").is_in(chosen))
    others_only = library_sites.join(released_carried, on=SITE_KEY, how="anti")
    assert others_only.height > 0
    assert others_only.join(tables["variant_sites"], on=SITE_KEY, how="semi").height == 0
    assert set(tables["variant_sites"].select(SITE_KEY).rows()) == set(
        released_carried.select(SITE_KEY).unique().rows()
    )
    both = tables["variant_sites"].join(library_sites, on=SITE_KEY, suffix="_library")
    assert (both["AN"] <= both["AN_library"]).all() and (both["AN"] < both["AN_library"]).any()
    assert (both["AC"] != both["AC_library"]).any()
    assert (both["AF"] != both["AF_library"]).any()

    # cohorts: every chunk with sites x every released participant
    cohorts = tables["joint_call_cohorts"]
    assert cohorts.height == tables["variant_sites"]["chunk"].n_unique() * len(chosen)

    # stats: every released sample, provider QC carried over, calls counted
    stats = back_to_internal(tables["aggregate_gvcf_sample_stats"], samples).sort("participant_id")
    assert stats["participant_id"].to_list() == sorted(chosen)
    qc = raw.filter(pl.col("participant_id").is_in(chosen) & (pl.col("qc_verdict") == "pass"))
    provider = ["participant_id", "mean_coverage", "pct_bases_15x", "contamination", "inferred_sex"]
    assert stats.select(provider).equals(qc.select(provider).sort("participant_id"))
    own = lake.read(SAMPLE_VARIANT_CALLS).filter(
        pl.col("participant_id").is_in(chosen) & ((pl.col("a1") == 1) | (pl.col("a2") == 1))
    )
    n_calls = own.unique(["participant_id", *SITE_KEY]).group_by("participant_id").len()
    assert dict(n_calls.rows()) == dict(stats.select("participant_id", "n_calls").rows())
    assert (stats["ti_tv"].drop_nulls() > 0).all() and stats["ti_tv"].null_count() == 0

    internal = set(raw["participant_id"].drop_nulls().to_list())
    internal |= set(raw["sample_id"].drop_nulls().to_list())
    assert_no_internal_ids(lake, "v2", internal)
    assert_compact(lake, "v2")
    assert_sorted(tables)

    assert write_release_genomics(lake, "v2", samples) == counts
    again = release_tables(lake, "v2")
    assert all(again[n].equals(tables[n]) for n in tables)
    assert_compact(lake, "v2")
    assert AGGREGATE_GVCF_SAMPLE_STATS.name in counts
