"""Sequencing intake and joint calling end to end on a synthetic cohort with real gVCFs
(1000 Genomes chr22, NA12878), on a real Dagster instance and real Delta tables; and joint
calling alone on per-sample tables written directly (empty inputs, the wedged increment).
The whole-platform definitions are imported inside the tests that need them."""

import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from ngrl_assets.common.quarantine import QUARANTINE_TABLE
from ngrl_assets.genomics import joint_store
from ngrl_assets.genomics.batches import SampleBatching
from ngrl_assets.genomics.checks import CHECK_SPECS
from ngrl_assets.genomics.chunks import chunk_names, genome_chunks
from ngrl_assets.genomics.joint_store import pending_deliveries, run_whole_genome
from ngrl_assets.genomics.tables import (
    JOINT_CALL_INCREMENTS,
    JOINT_GENOTYPES,
    RAW_SEQUENCES,
    VARIANT_SITES,
)
from ngrl_assets.sequencing.intake import ingest_delivery
from ngrl_assets.sequencing.partitions import DELIVERY_PARTITIONS
from ngrl_assets.synth import generate_cohort
from resources import objects
from resources.lake import Lake
from tests.integration.lakes import put_landing, read
from tests.integration.sample_rows import block, call, deliver
from tests.integration.sequencing_support import erased_lines, fully_withdrawn, sequencing_truth

PARTICIPANTS = 60


@pytest.fixture(scope="module")
def landing(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("landing")
    truth = generate_cohort(out, participants=PARTICIPANTS, seed=5, defect_rate=0.05, batch_size=15)
    return out, truth


def test_deliveries_are_checked_stored_and_joint_called(lake: Lake, landing):
    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_all

    source, truth = landing
    put_landing(lake, source)
    with dg.instance_for_test() as instance:
        # batches of 16 samples: the library's joint-called tables are several tiles wide
        result = run_all(build_definitions(lake, batching=SampleBatching(16)), lake, instance)
        assert result.success, result.failures()
        evaluations = {e.check_name: e.passed for e in result.check_evaluations()}
        assert evaluations["allele_counts_match_genotypes"] is True
        assert evaluations["one_row_per_site_and_participant"] is True

    raw = read(lake, "curated", "raw_sequences")
    quarantine = read(lake, "quarantine", QUARANTINE_TABLE).filter(
        pl.col("feed") == "sequencing_deliveries"
    )
    # every manifest row ends accepted or quarantined, and the defects are where the truth says
    # (but the lines of fully withdrawn participants, which propagation blanked first)
    manifests = sequencing_truth(truth)
    erased = erased_lines(source, manifests, fully_withdrawn(truth))
    assert any(erased.values())
    for key, lines in erased.items():
        landed = objects.read_bytes(lake.landing(key)).decode().splitlines()
        assert {n for n, line in enumerate(landed, start=1) if not line} == lines, key
        # the objects those lines named (their gVCFs and indexes) are gone from landing
        rows = pl.read_csv(source / key, separator="\t", infer_schema=False)
        folder = key.rsplit("/", 1)[0]
        named = zip(rows["gvcf_path"].to_list(), rows["tbi_path"].to_list(), strict=True)
        for line, paths in enumerate(named, start=2):
            for path in paths if line in lines else ():
                assert path and not objects.exists(lake.landing(f"{folder}/{path}")), (key, line)
    rows_in = sum(v["good_rows"] + len(v["defects"]) for v in manifests.values())
    assert raw.height == rows_in - sum(len(lines) for lines in erased.values())
    assert (raw["qc_verdict"] == "quarantined").sum() == quarantine.height
    expected_rules = sorted(
        d["rule"]
        for key, v in manifests.items()
        for d in v["defects"]
        if d.get("line") not in erased[key]
    )
    assert sorted(quarantine["rule"]) == expected_rules
    assert "participant_withdrawn" not in expected_rules
    # the real 1000 Genomes and NA12878 gVCFs went through
    real = raw.filter(pl.col("delivery").str.ends_with("REAL"))
    kept = real.filter(~pl.col("qc_reasons").fill_null("").str.starts_with("participant_withdrawn"))
    assert kept.height > 0 and (kept["qc_verdict"] != "quarantined").all()
    assert "NA12878" in real["sample_id"].to_list()

    sites = read(lake, "curated", "variant_sites")
    genotypes = read(lake, "curated", "joint_genotypes")
    increments = read(lake, "curated", "joint_call_increments")
    passed = raw.filter(pl.col("qc_verdict") == "pass")
    assert sites.height > 0
    # the whole genome absorbed every QC-passed delivery; each chunk with sites records them
    genome = increments.filter(pl.col("chunk") == "genome")
    assert set(genome["delivery"]) == set(passed["delivery"])
    per_chunk = (
        increments.filter(pl.col("chunk") != "genome")
        .group_by("chunk")
        .agg(pl.col("delivery").n_unique())
    )
    assert set(per_chunk["chunk"]) == set(sites["chunk"])
    assert (per_chunk["delivery"] == passed["delivery"].n_unique()).all()
    assert set(sites["chunk"]) <= set(chunk_names())
    # allele counts agree with the stored genotypes; a carrier is a QC-passed participant
    carriers = genotypes.filter((pl.col("a1") == 1) | (pl.col("a2") == 1))
    assert set(carriers["participant_id"]) <= set(passed["participant_id"])
    ac = carriers.group_by(["contig", "pos", "ref", "alt"]).agg(
        ((pl.col("a1") == 1).cast(pl.Int64) + (pl.col("a2") == 1).fill_null(False).cast(pl.Int64))
        .sum()
        .alias("ac_from_rows")
    )
    joined = sites.join(ac, on=["contig", "pos", "ref", "alt"], how="left")
    autosomal = joined.filter(~pl.col("contig").is_in(["chrX", "chrY"]))
    assert (autosomal["AC"] == autosomal["ac_from_rows"].fill_null(0)).all()
    # missing is never hom-ref: where a sample has no record (its own dropouts) it is M
    assert (genotypes["no_call_reason"] == "M").sum() > 0
    assert_sample_batches_and_tiles(lake, 16)


def _comparable(lake: Lake) -> tuple[pl.DataFrame, pl.DataFrame]:
    key = ["contig", "pos", "ref", "alt"]
    sites = read(lake, "curated", "variant_sites").drop("increment").sort(key)
    genotypes = (
        read(lake, "curated", "joint_genotypes").drop("increment").sort([*key, "participant_id"])
    )
    return sites, genotypes


def test_adding_a_batch_equals_joint_calling_from_scratch(tmp_path, landing):
    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_all

    source, _ = landing
    one_go = Lake(root_uri=str(tmp_path / "scratch"))
    stepwise = Lake(root_uri=str(tmp_path / "stepwise"))
    put_landing(one_go, source)
    defs_one, defs_step = build_definitions(one_go), build_definitions(stepwise)
    with dg.instance_for_test() as instance:
        # one consent intake for both lakes, so both know participants by the same ids
        defs_one.resolve_job_def("consent_intake_job").execute_in_process(instance=instance)
        shutil.copytree(tmp_path / "scratch", tmp_path / "stepwise")
        result = run_all(defs_one, one_go, instance)
        assert result.success, result.failures()
    with dg.instance_for_test() as instance:
        names = sorted(p.name for p in (source / "sequencing").iterdir())
        instance.add_dynamic_partitions(DELIVERY_PARTITIONS, names)
        intake = defs_step.resolve_job_def("delivery_intake_job")
        for name in names:  # one delivery at a time, joint calling after each
            assert intake.execute_in_process(instance=instance, partition_key=name).success
            # the joint-calling asset's own code path, without a Dagster run per increment
            run_whole_genome(stepwise)
    sites_a, genotypes_a = _comparable(one_go)
    sites_b, genotypes_b = _comparable(stepwise)
    assert len(names) >= 3 and sites_a.height > 0 and genotypes_a.height > 0
    assert sites_a.equals(sites_b)
    assert genotypes_a.equals(genotypes_b)


# --- joint calling on per-sample tables written directly (no intake) ----------------

SITE = ("chr22", 20_000_100, "A", "G")


DELIVERIES = [
    # D1: two samples; p1 carries the chr22 site, p2 is hom-ref there
    (
        "D1",
        ["p1", "p2"],
        [call("p1", *SITE, (0, 1))],
        [
            block("p1", "chr22", 20_000_000, 20_000_099),
            block("p2", "chr22", 20_000_000, 20_000_200),
        ],
    ),
    # D2: one sample with no call in the chunk that already has the site (a call elsewhere,
    # and blocks covering the site): the empty-calls frame that wedged joint calling
    (
        "D2",
        ["p3"],
        [call("p3", "chr1", 5_000, "C", "T", (1, 1))],
        [block("p3", "chr22", 20_000_050, 20_000_150)],
    ),
    # D3: one sample with no data at all
    ("D3", ["p4"], [], []),
]


def joint_run(lake: Lake) -> dg.ExecuteInProcessResult:
    """One real Dagster run of the joint-calling asset over every chunk (as the sensor asks)."""
    from ngrl_assets.genomics.assets import ASSETS

    with dg.instance_for_test() as instance:
        result = dg.materialize(ASSETS, resources={"lake": lake}, instance=instance)
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    return result


def test_a_delivery_without_calls_in_a_chunk_with_sites_is_joint_called(tmp_path):
    lake = Lake(root_uri=str(tmp_path / "stepwise"))
    for delivery in DELIVERIES:
        deliver(lake, *delivery)
        joint_run(lake)
        assert pending_deliveries(lake) == []
    versions = {
        spec.name: lake.version(spec)
        for spec in (JOINT_GENOTYPES, VARIANT_SITES, JOINT_CALL_INCREMENTS)
    }
    joint_run(lake)  # nothing pending: nothing written
    assert versions == {
        s.name: lake.version(s) for s in (JOINT_GENOTYPES, VARIANT_SITES, JOINT_CALL_INCREMENTS)
    }

    sites = lake.read(VARIANT_SITES)
    genotypes = lake.read(JOINT_GENOTYPES)
    site = sites.filter(pl.col("contig") == "chr22").row(0, named=True)
    assert (site["pos"], site["ref"], site["alt"]) == SITE[1:]
    # p1 het, p2 and p3 hom-ref (blocks cover the site), p4 missing
    assert (site["n_samples"], site["AN"], site["AC"], site["n_nocall_m"]) == (4, 6, 1, 1)
    at_site = genotypes.filter(pl.col("pos") == SITE[1]).sort("participant_id")
    assert at_site.select("participant_id", "a1", "a2", "no_call_reason").rows() == [
        ("p1", 0, 1, None),
        ("p4", -1, -1, "M"),
    ]
    # every chunk with sites remembers all four deliveries
    markers = lake.read(JOINT_CALL_INCREMENTS).filter(pl.col("chunk") != "genome")
    per_chunk = markers.group_by("chunk").agg(pl.col("delivery").n_unique())
    assert set(per_chunk["chunk"]) == set(sites["chunk"])
    assert (per_chunk["delivery"] == 3).all()

    # adding the deliveries one by one equals joint-calling them together
    together = Lake(root_uri=str(tmp_path / "together"))
    for delivery in DELIVERIES:
        deliver(together, *delivery)
    run_whole_genome(together)
    assert _comparable(lake)[0].equals(_comparable(together)[0])
    assert _comparable(lake)[1].equals(_comparable(together)[1])


def test_zero_pending_deliveries_and_an_empty_lake_write_nothing(tmp_path):
    lake = Lake(root_uri=str(tmp_path / "empty"))
    assert pending_deliveries(lake) == []
    summary = run_whole_genome(lake)
    assert (summary.chunks_computed, summary.new_sites, summary.genotype_rows_added) == (0, 0, 0)
    assert not any(lake.exists(s) for s in (JOINT_GENOTYPES, VARIANT_SITES, JOINT_CALL_INCREMENTS))
    # a delivery whose only sample has no data anywhere: absorbed, no sites, no genotypes
    deliver(lake, "D1", ["p1"], [], [])
    summary = run_whole_genome(lake)
    assert summary.chunks_computed == 0 and summary.chunks_absorbed_only == len(chunk_names())
    assert pending_deliveries(lake) == []
    assert lake.read(VARIANT_SITES).height == 0 and lake.read(JOINT_GENOTYPES).height == 0


def test_a_deletion_across_a_work_unit_boundary_is_called_hom_ref(tmp_path):
    """A deletion at the end of one chunk reaches into the next; when the two chunks are in
    different work units, a non-carrier whose blocks cover the deletion is still hom-ref
    (it used to be a partial-data ``P`` no-call: the next chunk's blocks were not read)."""
    first, second = genome_chunks()[:2]
    pos = first.end - 2  # REF spans first.end - 2 .. first.end + 3
    deletion = call("p1", first.contig, pos, "ACGTAC", "A", (0, 1))
    cover = [block("p2", first.contig, pos - 100, pos + 100)]  # stored split at the boundary
    results = {}
    for unit_chunks in (1, 64):
        lake = Lake(root_uri=str(tmp_path / f"units-of-{unit_chunks}"))
        deliver(
            lake,
            "D1",
            ["p1", "p2"],
            [deletion],
            [block("p1", first.contig, pos - 100, pos - 1), *cover],
        )
        run_whole_genome(lake, unit_chunks=unit_chunks)
        assert pending_deliveries(lake) == []
        results[unit_chunks] = _comparable(lake)
    assert second.start == first.end + 1
    sites, genotypes = results[1]
    assert sites.select("pos", "n_nocall_p", "AN").rows() == [(pos, 0, 4)]
    # only the carrier has a row: p2 is hom-ref, not a partial-data no-call
    assert genotypes.select("participant_id", "a1", "a2", "no_call_reason").rows() == [
        ("p1", 0, 1, None)
    ]
    assert results[1][0].equals(results[64][0]) and results[1][1].equals(results[64][1])


def assert_sample_batches_and_tiles(lake: Lake, size: int) -> None:
    """Batches of ``size``: filled in order, the open one before a new one; each
    joint_genotypes file holds one (chunk, batch) tile; a re-run of a delivery keeps its
    samples' batches."""
    raw = lake.read(RAW_SEQUENCES)
    passed = raw.filter(pl.col("qc_verdict") == "pass")
    assert raw.filter(pl.col("qc_verdict") != "pass")["sample_batch"].null_count() == (
        raw.height - passed.height
    )
    sizes = passed.group_by("sample_batch").len().sort("sample_batch")
    assert sizes.height >= 2 and sizes["sample_batch"].to_list() == list(range(1, sizes.height + 1))
    assert (sizes["len"][:-1] == size).all() and 1 <= sizes["len"][-1] <= size
    # the genotype tiles: each row in its participant's batch, one batch per file
    genotypes = lake.read(JOINT_GENOTYPES)
    batch_of = passed.select("participant_id", pl.col("sample_batch").alias("own"))
    owners = genotypes.join(batch_of, on="participant_id")
    assert owners.height == genotypes.height and (owners["sample_batch"] == owners["own"]).all()
    files = pl.DataFrame(lake.delta_table(JOINT_GENOTYPES).get_add_actions(flatten=True))
    assert set(files["partition.sample_batch"]) == set(sizes["sample_batch"])
    # a re-run of the first delivery keeps its batches
    name = sorted(passed["delivery"].unique())[0]
    before = passed.filter(pl.col("delivery") == name).select("participant_id", "sample_batch")
    ingest_delivery(lake, name, "re-run", batching=SampleBatching(size))
    again = lake.read(RAW_SEQUENCES).filter(
        (pl.col("delivery") == name) & (pl.col("qc_verdict") == "pass")
    )
    assert (
        again.select("participant_id", "sample_batch")
        .sort("participant_id")
        .equals(before.sort("participant_id"))
    )


def _joint_calling_job() -> dg.JobDefinition:
    """The code location's joint-calling job, rebuilt in each step's process (the lake
    from NGRL_LAKE_URI, as a deployed code location reads it)."""
    from ngrl_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("joint_calling_job")


def test_work_units_run_as_parallel_steps_with_the_multiprocess_executor(tmp_path, monkeypatch):
    """A joint-calling run as the daemon launches it: every work unit is its own step in its
    own process (up to the executor's limit at once), and the tables equal those of the
    same plan, units and commit run in one process (``run_whole_genome``)."""
    lakes = {}
    for how in ("multiprocess", "one_process"):
        lakes[how] = Lake(root_uri=str(tmp_path / how / "lake"))
        for delivery in DELIVERIES:
            deliver(lakes[how], *delivery)
    run_whole_genome(lakes["one_process"])
    monkeypatch.setenv("NGRL_LAKE_URI", lakes["multiprocess"].root_uri)
    (tmp_path / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster")) as instance:
        job = dg.reconstructable(_joint_calling_job)
        # two units of 200 chunks: two unit steps, two processes at once
        plan = {"plan_joint_calling": {"config": {"unit_chunks": 200}}}
        config = {
            "execution": {"config": {"multiprocess": {"max_concurrent": 2}}},
            "ops": {"joint_calling": {"ops": plan}},
        }
        with dg.execute_job(job, instance=instance, run_config=config) as result:
            assert result.success
            units = [
                e
                for e in result.all_events
                if e.is_step_success and e.step_key.startswith("joint_calling.joint_call_unit[")
            ]
            checks = result.get_asset_check_evaluations()
    assert len(units) == 2 and all(c.passed for c in checks)
    assert len(checks) == len(CHECK_SPECS)
    assert len({e.pid for e in units}) == len(units)  # one process per unit step
    assert pending_deliveries(lakes["multiprocess"]) == []
    one, many = _comparable(lakes["one_process"]), _comparable(lakes["multiprocess"])
    assert one[0].height > 0 and one[0].equals(many[0]) and one[1].equals(many[1])


def test_genotypes_go_in_bounded_commits_and_a_rerun_after_a_crash_equals_a_clean_run(
    tmp_path, monkeypatch
):
    """delta-rs holds a commit's rows until it commits, so joint calling writes genotype
    rows and batch shares in commits of a bounded size (here 1 row: every tile its own
    commit; one sample per batch). A run that dies after them, before variant_sites, is
    finished by a re-run whose first commits replace the rows of the dead attempt: the
    tables equal a clean run's, with no row twice."""
    lakes = {}
    for how in ("clean", "crashed"):
        lakes[how] = Lake(root_uri=str(tmp_path / how / "lake"))
        for delivery, pids, calls, blocks in DELIVERIES:
            one_each = {p: {"sample_batch": int(p.removeprefix("p"))} for p in pids}
            deliver(lakes[how], delivery, pids, calls, blocks, one_each)
    run_whole_genome(lakes["clean"])
    lake = lakes["crashed"]
    monkeypatch.setattr(joint_store, "GENOTYPE_ROWS_PER_COMMIT", 1)
    monkeypatch.setattr(joint_store, "SHARE_ROWS_PER_COMMIT", 1)

    def killed(self, lake, todo):
        raise RuntimeError("killed after the genotypes")

    with monkeypatch.context() as patch:
        patch.setattr(joint_store._Outputs, "write", killed)
        with pytest.raises(RuntimeError, match="killed"):
            run_whole_genome(lake)
    first = read(lake, "curated", "joint_genotypes")
    commits = lake.delta_table(JOINT_GENOTYPES).history()
    assert first.height >= 2 and len(commits) >= first.height  # a commit per row-holding tile
    assert pending_deliveries(lake) == ["D1", "D2", "D3"]
    run_whole_genome(lake)
    assert pending_deliveries(lake) == []
    clean, rerun = _comparable(lakes["clean"]), _comparable(lake)
    assert clean[0].equals(rerun[0]) and clean[1].equals(rerun[1])
    shares = [
        read(x, "curated", "site_batch_aggregates").drop("increment").sort(pl.all())
        for x in (lakes["clean"], lake)
    ]
    assert shares[0].height > 0 and shares[0].equals(shares[1])
