"""Withdrawing participants from the joint-called tables on real Delta tables: after
``withdraw_from_library`` / ``withdraw_from_release`` and the generic erasure of their
own rows, the library's ``variant_sites`` and ``joint_genotypes`` and a release's copies
equal a fresh lake joint-called without them (every column but ``increment``), for
random small cohorts joint-called in one or two increments. Plus idempotency (a second
call, a crash between the two writes), the empty and never-sequenced cases, a delivery
not joint-called yet, and no internal id in a release's log."""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ngrl_assets.genomics import site_qc
from ngrl_assets.genomics.joint_store import batch_totals_mismatched, joint_call_chunks
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    LIBRARY_ONLY_GENOTYPE_COLUMNS,
    RAW_SEQUENCES,
    SAMPLE_REFERENCE_BLOCKS,
    SAMPLE_VARIANT_CALLS,
    SITE_BATCH_AGGREGATES,
    VARIANT_SITES,
)
from ngrl_assets.genomics.withdraw_store import (
    BATCH_KEY,
    GenomicsRedaction,
    release_copies,
    withdraw_from_library,
    withdraw_from_release,
)
from ngrl_assets.releases.genomics import release_spec, write_release_genomics
from ngrl_assets.releases.tables import (
    AGGREGATE_GVCF_SAMPLE_STATS,
    JOINT_CALL_COHORTS,
    RELEASE_JOINT_GENOTYPES,
    RELEASE_VARIANT_SITES,
)
from resources.lake import Lake
from tests.integration.release_runs import assert_no_internal_ids
from tests.integration.sample_rows import block, call, deliver
from tests.unit.random_cohorts import Sample, cohorts, withdrawals

KEY = ["contig", "pos", "ref", "alt"]
CHUNKS = ["chr1_000", "chrX_000", "chrY_000"]  # the random cohorts' windows
RELEASE = "r1"


# ---- lakes ---------------------------------------------------------------------------


def sample_batch(pid: str) -> int:
    """A participant's sample batch, the same in every lake: the random cohorts span
    batches 1 and 2, so the per-batch aggregates have several batches to keep apart."""
    return 1 + hashlib.sha256(pid.encode()).digest()[0] % 2


def put(lake: Lake, delivery: str, samples: list[Sample]) -> None:
    sexes = {s.pid: {"inferred_sex": s.sex, "sample_batch": sample_batch(s.pid)} for s in samples}
    deliver(
        lake,
        delivery,
        [s.pid for s in samples],
        [c for s in samples for c in s.calls],
        [b for s in samples for b in s.blocks],
        sexes,
    )


def pseudonym(kind: str, pid: str) -> str:
    """A stand-in release pseudonym (hex: no internal id is a substring of it)."""
    return hashlib.sha256(f"{kind}:{pid}".encode()).hexdigest()[:16]


def pseudonyms(pids: list[str]) -> pl.DataFrame:
    """The release cut's samples frame: the same pseudonyms in every lake."""
    return pl.DataFrame(
        {
            "participant_id": pids,
            "participant_pseudonym": [pseudonym("participant", p) for p in pids],
            "sample_pseudonym": [pseudonym("sample", p) for p in pids],
        },
        schema=dict.fromkeys(("participant_id", "participant_pseudonym", "sample_pseudonym"),
                             pl.String),
    )  # fmt: skip


def build(root: Path, batches: list[tuple[str, list[Sample]]], one_go: bool = False) -> Lake:
    """A lake holding these deliveries, joint-called one increment per delivery (or all
    at once), and a release of every sample in it."""
    lake = Lake(root_uri=str(root))
    for delivery, samples in batches:
        if samples:
            put(lake, delivery, samples)
            if not one_go:
                joint_call_chunks(lake, CHUNKS)
    if one_go:
        joint_call_chunks(lake, CHUNKS)
    everyone = [s.pid for _, samples in batches for s in samples]
    write_release_genomics(lake, RELEASE, pseudonyms(everyone))
    return lake


def erase(lake: Lake, pids: list[str]) -> None:
    """The generic row erasure (not under test): the participants' own rows."""
    if not pids:
        return
    ids = pl.DataFrame({"participant_id": pids}, schema={"participant_id": pl.String})
    for spec in (RAW_SEQUENCES, SAMPLE_VARIANT_CALLS, SAMPLE_REFERENCE_BLOCKS, JOINT_GENOTYPES):
        lake.delete_matching(spec, ids)
    released = pseudonyms(pids).select(pl.col("participant_pseudonym").alias("participant_id"))
    for spec in (RELEASE_JOINT_GENOTYPES, JOINT_CALL_COHORTS, AGGREGATE_GVCF_SAMPLE_STATS):
        lake.delete_matching(release_spec(spec, RELEASE), released)


def withdraw(lake: Lake, gone: list[str], everyone: list[str], marker: str):
    library = withdraw_from_library(lake, gone, marker)
    release = withdraw_from_release(
        lake,
        RELEASE,
        gone,
        [pseudonym("participant", p) for p in gone],
        [p for p in everyone if p not in gone],
        marker,
    )
    return library, release


def tables(lake: Lake) -> dict[str, pl.DataFrame]:
    """Everything compared, sorted, without the increment bookkeeping."""
    genotype_key = [*KEY, "participant_id"]
    return {
        "variant_sites": lake.read(VARIANT_SITES).drop("increment").sort(KEY),
        # each batch's share of each site, however many increments or withdrawals made it
        "site_batch_aggregates": site_qc.total(
            lake.read(SITE_BATCH_AGGREGATES).drop("increment", "chunk"), by=["sample_batch"]
        ),
        "joint_genotypes": lake.read(JOINT_GENOTYPES).drop("increment").sort(genotype_key),
        "release_variant_sites": lake.read(release_spec(RELEASE_VARIANT_SITES, RELEASE)).sort(KEY),
        "release_joint_genotypes": lake.read(release_spec(RELEASE_JOINT_GENOTYPES, RELEASE)).sort(
            genotype_key
        ),
        "release_cohorts": lake.read(release_spec(JOINT_CALL_COHORTS, RELEASE)).sort(
            "chunk", "participant_id"
        ),
    }


def assert_same(got: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    for name in expected:
        assert got[name].columns == expected[name].columns, name
        assert got[name].equals(expected[name]), name


# ---- the property --------------------------------------------------------------------

_counter = itertools.count()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_withdrawing_equals_joint_calling_without_them(tmp_path: Path, data):
    cohort = data.draw(cohorts(), label="cohort")
    gone = data.draw(withdrawals(cohort), label="withdrawn")
    split = data.draw(st.integers(0, len(cohort) - 1), label="second batch from")
    everyone = [s.pid for s in cohort]
    run = tmp_path / f"run{next(_counter)}"

    full = build(run / "full", [("D1", cohort[:split]), ("D2", cohort[split:])])
    library, release = withdraw(full, gone, everyone, "wd-prop")
    assert not library.already_applied and not release.already_applied
    erase(full, gone)

    # the fresh lake: the same deliveries without the withdrawn, joint-called in one go
    fresh = build(
        run / "fresh",
        [
            ("D1", [s for s in cohort[:split] if s.pid not in gone]),
            ("D2", [s for s in cohort[split:] if s.pid not in gone]),
        ],
        one_go=True,
    )
    assert_same(tables(full), tables(fresh))
    for lake in (full, fresh):  # variant_sites is still the sum of the batches' shares
        assert batch_totals_mismatched(lake, CHUNKS)[1] == 0
    # every kept site lost the withdrawn, but a chrY site loses no XX sample
    counted = any(s.sex == "XY" for s in cohort if s.pid in gone)
    kept = tables(fresh)["variant_sites"].filter((pl.col("contig") != "chrY") | counted).height
    event(f"sites dropped: {min(library.sites_dropped, 3)}+")
    event(f"release sites dropped: {min(release.sites_dropped, 3)}+")
    event(f"sites kept on {sorted(set(tables(fresh)['variant_sites']['contig']))}")
    reasons = set(tables(fresh)["joint_genotypes"]["no_call_reason"].drop_nulls())
    event(f"no-call reasons kept: {''.join(sorted(reasons))}")
    assert library.sites_updated == kept
    assert release.sites_updated == kept  # the release holds every sample

    # a second call with the same marker changes nothing
    again = withdraw(full, gone, everyone, "wd-prop")
    assert all(r.already_applied or r == GenomicsRedaction() for r in again)
    assert_same(tables(full), tables(fresh))


# ---- a hand-made cohort: counts, crashes, no-ops -------------------------------------

SHARED = ("chr22", 20_000_100, "A", "G")  # p1 het, p2 het, p3 hom-alt
ONLY_P1 = ("chr22", 20_000_150, "AT", "A")  # p1's singleton deletion
ONLY_P3 = ("chr22", 20_000_200, "C", "T")  # p3's singleton
FAR = ("chr1", 5_000, "C", "A")  # p2 alone, in another chunk (its own chunk drops)
HAND_CHUNKS = ["chr1_000", "chr22_002"]


def hand_samples() -> list[Sample]:
    def cover(pid: str) -> list[dict]:
        return [block(pid, "chr22", 20_000_000, 20_000_099), block(pid, "chr22", 20_000_101,
                20_000_300)]  # fmt: skip

    return [
        Sample("p1", "XX", [call("p1", *SHARED, (0, 1)), call("p1", *ONLY_P1, (0, 1))],
               cover("p1")),
        Sample("p2", "XY", [call("p2", *SHARED, (0, 1)), call("p2", *FAR, (1, 1))],
               cover("p2")[:1]),
        Sample("p3", "XX", [call("p3", *SHARED, (1, 1)), call("p3", *ONLY_P3, (0, 1))],
               cover("p3")),
    ]  # fmt: skip


def hand_lake(root: Path, without: tuple[str, ...] = ()) -> Lake:
    samples = [s for s in hand_samples() if s.pid not in without]
    lake = Lake(root_uri=str(root))
    put(lake, "D1", [s for s in samples if s.pid != "p3"])
    joint_call_chunks(lake, HAND_CHUNKS)
    put(lake, "D2", [s for s in samples if s.pid == "p3"])
    joint_call_chunks(lake, HAND_CHUNKS)
    write_release_genomics(lake, RELEASE, pseudonyms([s.pid for s in samples]))
    return lake


EVERYONE = ["p1", "p2", "p3"]


def test_withdrawing_one_participant_counts_and_markers(tmp_path: Path):
    lake = hand_lake(tmp_path / "full")
    before = tables(lake)
    library, release = withdraw(lake, ["p1"], EVERYONE, "wd-1a2b3c")
    # SHARED and ONLY_P3 lose p1 (FAR too: p1 is an M no-call there); ONLY_P1 drops with
    # its other rows (p2's and p3's no-calls or hom-ref rows that were stored)
    at_only_p1 = before["joint_genotypes"].filter(pl.col("pos") == ONLY_P1[1]).height
    assert library == GenomicsRedaction(
        sites_updated=3,
        sites_dropped=1,
        genotype_rows_removed_at_dropped_sites=at_only_p1,
        chunks_rewritten=2,
    )
    assert release.sites_dropped == 1 and release.sites_updated == 3
    sites = lake.read(VARIANT_SITES)
    assert set(sites["increment"]) == {"wd-1a2b3c"}
    shared = sites.filter(pl.col("pos") == SHARED[1]).row(0, named=True)
    assert (shared["AC"], shared["AN"], shared["n_samples"]) == (3, 4, 2)
    assert "wd-1a2b3c" in lake.commit_metadata_values(VARIANT_SITES, BATCH_KEY)
    release_sites = release_spec(RELEASE_VARIANT_SITES, RELEASE)
    assert lake.commit_metadata_values(release_sites, BATCH_KEY) == {"wd-1a2b3c"}
    # no internal id reached a release table or its log
    internal = set(EVERYONE) | {f"S-{p}" for p in EVERYONE}
    assert_no_internal_ids(lake, RELEASE, internal)

    erase(lake, ["p1"])
    expected = tables(hand_lake(tmp_path / "fresh", without=("p1",)))
    assert_same(tables(lake), expected)
    # withdrawing again, or withdrawing nobody / a never-sequenced participant: nothing
    again = withdraw(lake, ["p1"], EVERYONE, "wd-1a2b3c")
    assert all(r.already_applied and r.sites_updated == 0 for r in again)
    assert withdraw(lake, [], EVERYONE, "wd-empty") == (GenomicsRedaction(),) * 2
    assert withdraw(lake, ["p9"], EVERYONE, "wd-never") == (GenomicsRedaction(),) * 2
    assert_same(tables(lake), expected)


def test_withdrawing_everyone_but_one_drops_their_sites_and_chunks(tmp_path: Path):
    lake = hand_lake(tmp_path / "full")
    library, release = withdraw(lake, ["p1", "p3"], EVERYONE, "wd-2")
    assert library.sites_dropped == 2 and library.sites_updated == 2
    erase(lake, ["p1", "p3"])
    assert_same(tables(lake), tables(hand_lake(tmp_path / "fresh", without=("p1", "p3"))))
    # everyone: every site and every release cohort row goes
    library, release = withdraw(lake, ["p2"], EVERYONE, "wd-3")
    assert (library.sites_dropped, release.sites_dropped) == (2, 2)
    erase(lake, ["p2"])
    assert all(frame.height == 0 for frame in tables(lake).values())
    # the marker is in the commit history even though no row is left to carry it
    assert withdraw(lake, ["p2"], EVERYONE, "wd-3")[0].already_applied


@pytest.mark.parametrize("release_too", [False, True])
def test_a_crash_between_the_two_writes_is_finished_by_a_rerun(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, release_too: bool
):
    lake = hand_lake(tmp_path / "full")
    genotypes = release_spec(RELEASE_JOINT_GENOTYPES, RELEASE) if release_too else JOINT_GENOTYPES
    original = Lake.delete_matching

    def crash(self, spec, keys):
        if self.table_uri(spec) == self.table_uri(genotypes):
            raise RuntimeError("killed")
        return original(self, spec, keys)

    with monkeypatch.context() as patch:
        patch.setattr(Lake, "delete_matching", crash)
        with pytest.raises(RuntimeError, match="killed"):
            withdraw(lake, ["p1"], EVERYONE, "wd-crash")
    # the sites are rewritten, the dropped site's genotype rows are still there
    assert ONLY_P1[1] not in lake.read(VARIANT_SITES)["pos"].to_list()
    stale = lake.read(genotypes).filter(pl.col("pos") == ONLY_P1[1]).height
    assert stale > 0
    library, release = withdraw(lake, ["p1"], EVERYONE, "wd-crash")
    finished = release if release_too else library
    assert finished.already_applied and finished.sites_updated == 0
    assert finished.genotype_rows_removed_at_dropped_sites == stale
    if release_too:  # the library was finished before the release write crashed
        assert library.already_applied and library.genotype_rows_removed_at_dropped_sites == 0
    erase(lake, ["p1"])
    assert_same(tables(lake), tables(hand_lake(tmp_path / "fresh", without=("p1",))))


def test_a_crash_after_the_erasure_still_finishes(tmp_path: Path, monkeypatch):
    """The generic erasure ran before the rerun: the dropped sites are found as genotype
    rows at sites the sites table no longer holds."""
    lake = hand_lake(tmp_path / "full")
    original = Lake.delete_matching

    def crash(self, spec, keys):
        if self.table_uri(spec) == self.table_uri(JOINT_GENOTYPES) and "pos" in keys.columns:
            raise RuntimeError("killed")
        return original(self, spec, keys)

    with monkeypatch.context() as patch:
        patch.setattr(Lake, "delete_matching", crash)
        with pytest.raises(RuntimeError, match="killed"):
            withdraw_from_library(lake, ["p1"], "wd-late")
    withdraw_from_release(
        lake, RELEASE, ["p1"], [pseudonym("participant", "p1")], ["p2", "p3"], "wd-late"
    )
    erase(lake, ["p1"])
    assert withdraw_from_library(lake, ["p1"], "wd-late").already_applied
    assert_same(tables(lake), tables(hand_lake(tmp_path / "fresh", without=("p1",))))


def test_a_delivery_not_joint_called_yet_is_left_alone(tmp_path: Path):
    lake = Lake(root_uri=str(tmp_path / "lake"))
    samples = hand_samples()
    put(lake, "D1", samples[:2])
    joint_call_chunks(lake, HAND_CHUNKS)
    put(lake, "D2", samples[2:])  # p3 delivered, not joint-called
    before = tables(lake)
    assert withdraw_from_library(lake, ["p3"], "wd-early") == GenomicsRedaction()
    assert_same(tables(lake), before)
    erase(lake, ["p3"])
    joint_call_chunks(lake, HAND_CHUNKS)
    fresh = Lake(root_uri=str(tmp_path / "fresh"))
    put(fresh, "D1", samples[:2])
    joint_call_chunks(fresh, HAND_CHUNKS)
    assert_same(
        {k: v for k, v in tables(lake).items() if not k.startswith("release")},
        {k: v for k, v in tables(fresh).items() if not k.startswith("release")},
    )


def test_an_unfinished_joint_call_increment_is_refused(tmp_path: Path):
    lake = hand_lake(tmp_path / "full")
    lake.delete(JOINT_CALL_INCREMENTS, {"chunk": "chr22_002"})  # the markers never landed
    before = tables(lake)
    with pytest.raises(ValueError, match="finish joint calling") as err:
        withdraw_from_library(lake, ["p1"], "wd-4")
    assert "p1" not in str(err.value)
    assert_same(tables(lake), before)
    with pytest.raises(ValueError, match="marker"):
        withdraw_from_library(lake, ["p1"], "not a marker")


def test_release_copies_are_the_release_declarations():
    for ours, theirs in zip(
        release_copies("v7"),
        (RELEASE_VARIANT_SITES, RELEASE_JOINT_GENOTYPES, JOINT_CALL_COHORTS),
        strict=True,
    ):
        declared = release_spec(theirs, "v7")
        for field in ("zone", "name", "folder", "partition_by", "sort_by", "row_group_rows",
                      "participant_column", "identifier_columns", "configuration"):  # fmt: skip
            assert getattr(ours, field) == getattr(declared, field), (theirs.name, field)
        assert dict(ours.schema) == dict(declared.schema), theirs.name


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.data())
def test_a_release_is_the_library_projected_onto_its_cohort(tmp_path: Path, data):
    """A release of any subset of a library joint-called in one or two increments (its
    tables projected from the library's: rows, carried sites, aggregates summed over the
    sample batches it releases from, less the samples of those batches left out) equals
    joint-calling that subset alone."""
    cohort = data.draw(cohorts(), label="cohort")
    ids = [s.pid for s in cohort]
    chosen = data.draw(st.lists(st.sampled_from(ids), min_size=1, unique=True), label="released")
    split = data.draw(st.integers(0, len(cohort) - 1), label="second batch from")
    run = tmp_path / f"projection{next(_counter)}"
    library, alone = Lake(root_uri=str(run / "library")), Lake(root_uri=str(run / "alone"))
    for delivery, part in (("D1", cohort[:split]), ("D2", cohort[split:])):
        if part:
            put(library, delivery, part)
            joint_call_chunks(library, CHUNKS)
        if kept := [s for s in part if s.pid in chosen]:
            put(alone, delivery, kept)
    joint_call_chunks(alone, CHUNKS)
    write_release_genomics(library, RELEASE, pseudonyms(sorted(chosen)))

    expected_sites = alone.read(VARIANT_SITES).drop("increment").sort(KEY)
    sites = library.read(release_spec(RELEASE_VARIANT_SITES, RELEASE)).sort(KEY)
    assert sites.columns == expected_sites.columns and sites.equals(expected_sites)
    back = {pseudonym("participant", p): p for p in chosen}
    genotypes = (
        library.read(release_spec(RELEASE_JOINT_GENOTYPES, RELEASE))
        .with_columns(pl.col("participant_id").replace_strict(back))
        .sort([*KEY, "participant_id"])
    )
    expected = alone.read(JOINT_GENOTYPES).drop(LIBRARY_ONLY_GENOTYPE_COLUMNS)
    assert genotypes.equals(expected.sort([*KEY, "participant_id"]))
    event(f"left out: {min(len(ids) - len(chosen), 3)}+")
    whole = {sample_batch(p) for p in ids} - {sample_batch(p) for p in chosen}
    event(f"sample batches left out whole: {len(whole)}")
    dropped = library.read(VARIANT_SITES).join(sites, on=KEY, how="anti").height
    event(f"sites dropped by the projection: {min(dropped, 3)}+")
