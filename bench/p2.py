"""P2: withdrawal propagation end to end, for one participant in libraries of S and 4S
participants (and a batch of 10 in the 4S library), in one run on one machine.

Setup (untimed, cached under bench/out/p2/library_<participants>_<seed>/): the repository's
synthetic generator as the integration tests use it (``generate_cohort``, defect rate 0.02,
deliveries of ``--batch-size``; ``real_gvcf_dir=None``, so every genome is synthetic: the
real NA12878-sized gVCFs would make the genomic tables, not the library size, dominate),
landed and run through every sensor (``run_all``), then release v1 cut and published through
Dagster (``release_cut_job``, freeze 2026-09-30), as tests/integration/test_releases.py
``cut_in_dagster`` does.

Timed (each a fresh copy of a library and a fresh process under ``harness.timed``): the
participants are picked untimed in the parent (``rich_participants`` of the withdrawal
tests: a QC-passed genome, clinical rows and a place in v1, first by consent reference);
the child lands one notice naming them (``land_notice``) and calls ``run_all`` once: the
consent sensor -> consent intake (tombstones, one opaque batch) -> the withdrawal sensor
-> the propagation run (``withdrawal_propagation``: capture, genomics, releases, erase,
landing, identity, residue scan, complete) -> automation (consent checks). Time is taken
in the child from just before the notice is written to ``run_all`` returning (imports
excluded; the process wall is reported too), peak RSS of the process by ``/usr/bin/time``.
The per-step breakdown comes from the batch's audit rows (``audit.rows``: started_at /
finished_at of each step), plus wall time of a few functions wrapped in the child
(``harness.phase_timer``): ``erasure._purge`` (count and time; each sleeps 1.1 s),
``withdraw_store.withdraw_from_library``, the release redaction, the landing purge and the
residue scan.

Ratios: 4S / S of the end-to-end time (goal <= 1.5), also without the residue scan (the
one step that reads every object of the lake); batch of 10 in 4S: time per participant /
the single withdrawal in 4S.

    .venv/bin/python bench/p2.py [--participants 60] [--factor 4] [--batch 10] [--report]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import harness

from ngrl_assets.genomics.tables import QcVerdict

sys.path.insert(0, str(harness.REPO))  # tests.integration.support_withdrawal helpers

WORK = harness.OUT / "p2"
FREEZE = dt.date(2026, 9, 30)
KEY_ENV = {"NGRL_SECRET_RELEASE_MASTER_KEY": "ab" * 32}


# ---- setup ---------------------------------------------------------------------------------
def cut_in_dagster(lake, instance, release_id: str):
    """tests/integration/test_releases.py ``cut_in_dagster``."""
    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import QUIET
    from ngrl_assets.releases.partitions import RELEASE_PARTITIONS

    if release_id not in instance.get_dynamic_partitions(RELEASE_PARTITIONS):
        instance.add_dynamic_partitions(RELEASE_PARTITIONS, [release_id])
    job = build_definitions(lake).resolve_job_def("release_cut_job")
    config = {"freeze_date": FREEZE.isoformat(), "label": ""}
    return job.execute_in_process(
        instance=instance,
        partition_key=release_id,
        run_config={**QUIET, "ops": {"release_tables": {"config": config}}},
        raise_on_error=False,
    )


def build_library(participants: int, seed: int, batch_size: int) -> Path:
    library = WORK / f"library_{participants}_{seed}_{batch_size}"
    if (library / "done").exists():
        return library
    shutil.rmtree(library, ignore_errors=True)
    os.environ.update(KEY_ENV)
    import dagster as dg

    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.pipeline import run_all
    from ngrl_assets.synth import generate_cohort
    from resources.lake import Lake
    from tests.integration.lakes import put_landing

    t0 = time.perf_counter()
    source = library / "source"
    generate_cohort(
        source,
        participants=participants,
        seed=seed,
        defect_rate=0.02,
        batch_size=batch_size,
        real_gvcf_dir=None,
    )
    lake = Lake(root_uri=str(library / "lake"))
    put_landing(lake, source)
    home = library / "dagster"
    home.mkdir()
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        result = run_all(build_definitions(lake), lake, instance)
        assert result.success, result.failures()
        built = time.perf_counter() - t0
        cut = cut_in_dagster(lake, instance, "v1")
        assert cut.success, "release cut failed"
    shutil.rmtree(source)
    total = time.perf_counter() - t0
    (library / "done").write_text(f"{built:.1f} s build, {total - built:.1f} s cut\n")
    return library


def delta_tables(lake_root: Path) -> dict[str, int]:
    """Every Delta table of the lake (relative folder) -> files its current version uses."""
    from deltalake import DeltaTable

    out = {}
    for log in sorted(lake_root.rglob("_delta_log")):
        table = log.parent
        out[str(table.relative_to(lake_root))] = len(DeltaTable(str(table)).file_uris())
    return out


def library_facts(library: Path) -> dict:
    import polars as pl

    from ngrl_assets.consent.tables import PARTICIPANT_REGISTRY
    from ngrl_assets.genomics.tables import JOINT_GENOTYPES, RAW_SEQUENCES, VARIANT_SITES
    from ngrl_assets.releases import registry
    from resources.lake import Lake

    lake = Lake(root_uri=str(library / "lake"))
    v1 = registry.get(lake, "v1")
    objects = [p for p in (library / "lake").rglob("*") if p.is_file()]
    return {
        "participants_registered": lake.read(PARTICIPANT_REGISTRY).height,
        "genomes_passed": lake.read(RAW_SEQUENCES)
        .filter(pl.col("qc_verdict") == QcVerdict.PASS)
        .height,
        "variant_sites": lake.read(VARIANT_SITES).height,
        "joint_genotype_rows": lake.read(JOINT_GENOTYPES).height,
        "release_v1_participants": v1.participants if v1 else None,
        "lake_objects": len(objects),
        "lake_bytes": sum(p.stat().st_size for p in objects),
        "delta_tables": len(delta_tables(library / "lake")),
        "build": (library / "done").read_text().strip(),
    }


def pick(library: Path, n: int) -> list[str]:
    from resources.lake import Lake
    from tests.integration.support_withdrawal import rich_participants

    lake = Lake(root_uri=str(library / "lake"))
    return [p["reference"] for p in rich_participants(lake, "v1", n)]


# ---- the timed child -------------------------------------------------------------------------
def child_withdraw(root: str, refs_file: str) -> dict:
    os.environ.update(KEY_ENV)
    import dagster as dg
    import polars as pl

    from ngrl_assets.definitions import build_definitions
    from ngrl_assets.genomics import withdraw_store
    from ngrl_assets.pipeline import run_all
    from ngrl_assets.withdrawal import audit, erasure, landing, propagate
    from ngrl_assets.withdrawal import batches as withdrawal_batches
    from ngrl_assets.withdrawal import releases as release_redaction
    from resources.lake import Lake
    from tests.integration.support_withdrawal import land_notice

    spent: dict[str, float] = {}
    calls: dict[str, int] = {}
    timer = harness.phase_timer(spent)

    def counted(name, fn):
        inner = timer(name, fn)

        def wrapped(*a, **k):
            calls[name] = calls.get(name, 0) + 1
            return inner(*a, **k)

        return wrapped

    erasure._purge = counted("erasure._purge", erasure._purge)
    withdraw_store.withdraw_from_library = counted(
        "withdraw_from_library", withdraw_store.withdraw_from_library
    )
    release_redaction.redact = counted("release_redaction.redact", release_redaction.redact)
    landing.purge_landing = counted("landing.purge_landing", landing.purge_landing)
    propagate.residue_scan = counted("residue_scan", propagate.residue_scan)
    propagate.propagate = counted("propagate", propagate.propagate)

    refs = Path(refs_file).read_text().split()
    lake = Lake(root_uri=f"{root}/lake")
    runs: list[dict] = []
    with dg.instance_for_test(temp_dir=f"{root}/dagster") as instance:
        defs = build_definitions(lake)
        earlier = set(withdrawal_batches.read(lake)["batch_id"].to_list())

        def on_run(sensor: str, result) -> None:
            stats = instance.get_run_stats(result.run_id)
            runs.append(
                {
                    "sensor": sensor,
                    "job": result.job_def.name,
                    "success": result.success,
                    "seconds": round((stats.end_time or 0) - (stats.start_time or 0), 3),
                }
            )

        t0 = time.perf_counter()
        landed_at = dt.datetime.now(dt.UTC)
        land_notice(lake, "p2_notice.csv", refs)
        result = run_all(defs, lake, instance, on_run=on_run)
        seconds = time.perf_counter() - t0
        assert result.success, result.failures()

    batches = withdrawal_batches.listing(lake)
    new = batches.filter(~pl.col("batch_id").is_in(sorted(earlier)))
    assert new.height == 1, f"expected one new batch, found {new.height}"
    row = new.row(0, named=True)
    assert row["status"] == "complete" and row["members"] == len(refs), row
    ledger = audit.rows(lake, row["batch_id"])
    steps = (
        ledger.group_by("step", maintain_order=True)
        .agg(
            seconds=(pl.col("finished_at").max() - pl.col("started_at").min()).dt.total_seconds(
                fractional=True
            ),
            rows=pl.len(),
            files_rewritten=pl.col("files_rewritten").sum(),
            rows_removed=pl.col("rows_removed").sum(),
        )
        .to_dicts()
    )
    scan_detail = json.loads(ledger.filter(pl.col("step") == "scan")["detail"][0])
    targets = ledger.select(
        "step",
        "target",
        "release_id",
        "rows_removed",
        "files_rewritten",
        seconds=(pl.col("finished_at") - pl.col("started_at")).dt.total_seconds(fractional=True),
    ).to_dicts()
    propagation_start = ledger["started_at"].min()
    return {
        "seconds": round(seconds, 3),
        "members": len(refs),
        "ledger_end_to_end_s": row["end_to_end_seconds"],
        "notice_written_to_propagation_start_s": round(
            (propagation_start - landed_at).total_seconds(), 3
        ),
        "runs": runs,
        "steps": steps,
        "targets": targets,
        "phases": {k: round(v, 3) for k, v in spent.items()},
        "calls": calls,
        "purge_sleep_s": round(
            calls.get("erasure._purge", 0) * getattr(erasure, "CLEANUP_DELAY_S", 0.0), 1
        ),
        "objects_scanned": scan_detail.get("objects_scanned"),
        "needles": scan_detail.get("needles"),
        "ru_maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


# ---- driver ----------------------------------------------------------------------------------
def me(*args: str) -> list[str]:
    return [*harness.PY, __file__, "--child", *args]


def withdraw(library: Path, label: str, n: int) -> dict:
    root = WORK / f"run_{label}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(library, root)
    refs = pick(root, n)
    refs_file = WORK / f"refs_{label}.txt"
    refs_file.write_text("".join(f"{r}\n" for r in refs))
    files_before = delta_tables(root / "lake")
    t = harness.timed(me("withdraw", str(root), str(refs_file)))
    out = harness.last_json(t.stdout)
    out |= {
        "process_wall_s": t.wall_s,
        "max_rss_kb": t.max_rss_kb,
        "tree_peak_rss_kb": t.tree_peak_rss_kb,
        "other_cpu_s": t.other_cpu_s,
        "user_s": t.user_s,
        "sys_s": t.sys_s,
    }
    # files rewritten vs files the table held (does cost follow the participant's rows?)
    for row in out["targets"]:
        row["files_before"] = files_before.get(row["target"])
    out["lake_objects_before"] = sum(1 for p in (root / "lake").rglob("*") if p.is_file())
    shutil.rmtree(root)
    return out


def step_seconds(run: dict, step: str) -> float:
    return sum(s["seconds"] for s in run["steps"] if s["step"] == step)


def summary(run: dict) -> dict:
    scan = step_seconds(run, "scan")
    prop = run["phases"].get("propagate", 0.0)
    consent = sum(r["seconds"] for r in run["runs"] if r["job"] != "withdrawal_job")
    return {
        "members": run["members"],
        "end_to_end_s": run["seconds"],
        "propagation_s": round(prop, 2),
        "other_runs_s": round(consent, 2),
        "scan_s": round(scan, 2),
        "scan_share": round(scan / run["seconds"], 3),
        "end_to_end_without_scan_s": round(run["seconds"] - scan, 2),
        "purges": run["calls"].get("erasure._purge", 0),
        "purge_s": run["phases"].get("erasure._purge", 0.0),
        "purge_sleep_s": run["purge_sleep_s"],
        "objects_scanned": run["objects_scanned"],
        "max_rss_mib": round(run["max_rss_kb"] / 1024, 1),  # /usr/bin/time: the process
        # summed RSS of the process tree sampled every 0.2 s (counts pages shared after a
        # fork twice, so it can exceed the process's own peak)
        "tree_peak_rss_mib": round(run["tree_peak_rss_kb"] / 1024, 1),
        "cpu_s": round(run["user_s"] + run["sys_s"], 1),  # the whole process, imports included
        "other_cpu_s": run["other_cpu_s"],
        "steps_s": {s["step"]: round(s["seconds"], 2) for s in run["steps"]},
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--participants", type=int, default=60, help="S")
    p.add_argument("--factor", type=int, default=4)
    p.add_argument("--seed", type=int, default=29)
    p.add_argument("--batch-size", type=int, default=30, help="participants per delivery")
    p.add_argument("--batch", type=int, default=10, help="withdrawals in the batch run")
    p.add_argument("--report", action="store_true", help="re-print the last results")
    p.add_argument("--child", nargs="+")
    args = p.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        assert kind == "withdraw"
        print(json.dumps(child_withdraw(rest[0], rest[1]), default=str))
        return 0

    if args.report:  # re-print the tables of the last run from its results file
        result = json.loads((harness.RESULTS / "p2.json").read_text())
        report(result, args.batch)
        harness.save("p2", result)  # the run's own "when" is kept
        return 0

    small, large = args.participants, args.participants * args.factor
    result: dict = {"machine": harness.machine(), "args": vars(args)}
    libraries = {}
    for n in (small, large):
        t0 = time.perf_counter()
        libraries[n] = build_library(n, args.seed, args.batch_size)
        print(f"library {n}: {time.perf_counter() - t0:.1f} s", flush=True)
    result["libraries"] = {str(n): library_facts(lib) for n, lib in libraries.items()}
    print(json.dumps(result["libraries"], indent=1), flush=True)

    runs = {
        "S_1": withdraw(libraries[small], f"{small}_1", 1),
        "4S_1": withdraw(libraries[large], f"{large}_1", 1),
        f"4S_{args.batch}": withdraw(libraries[large], f"{large}_{args.batch}", args.batch),
    }
    result["runs"] = runs
    report(result, args.batch)
    harness.save("p2", result)
    return 0


def report(result: dict, batch: int) -> None:
    """Summaries and ratios into ``result``, and the tables printed as markdown."""
    sums = {k: summary(v) for k, v in result["runs"].items()}
    result["summary"] = sums
    a, b, c = sums["S_1"], sums["4S_1"], sums[f"4S_{batch}"]
    result["ratios"] = {
        "end_to_end_4S_vs_S": round(b["end_to_end_s"] / a["end_to_end_s"], 3),
        "without_scan_4S_vs_S": round(
            b["end_to_end_without_scan_s"] / a["end_to_end_without_scan_s"], 3
        ),
        "without_scan_and_purge_sleeps_4S_vs_S": round(
            (b["end_to_end_without_scan_s"] - b["purge_sleep_s"])
            / (a["end_to_end_without_scan_s"] - a["purge_sleep_s"]),
            3,
        ),
        "scan_4S_vs_S": round(b["scan_s"] / a["scan_s"], 3),
        "propagation_4S_vs_S": round(b["propagation_s"] / a["propagation_s"], 3),
        "rss_4S_vs_S": round(b["max_rss_mib"] / a["max_rss_mib"], 3),
        "cpu_4S_vs_S": round(b["cpu_s"] / a["cpu_s"], 3),
        "batch_per_participant_vs_single_4S": round(
            c["end_to_end_s"] / c["members"] / b["end_to_end_s"], 3
        ),
        "batch_scan_vs_single_scan_4S": round(c["scan_s"] / b["scan_s"], 3),
        "batch_total_vs_single_4S": round(c["end_to_end_s"] / b["end_to_end_s"], 3),
        "goal": "end_to_end_4S_vs_S <= 1.5; batch per participant < single",
    }

    steps = list(dict.fromkeys(s for v in sums.values() for s in v["steps_s"]))
    print("\n| | " + " | ".join(sums) + " |")
    print("|---|" + "---|" * len(sums))
    rows = [
        "end_to_end_s",
        "propagation_s",
        "other_runs_s",
        "scan_s",
        "end_to_end_without_scan_s",
        "purges",
        "purge_sleep_s",
        "objects_scanned",
        "max_rss_mib",
        "tree_peak_rss_mib",
        "cpu_s",
        "other_cpu_s",
    ]
    for r in rows:
        print(f"| {r} | " + " | ".join(str(v[r]) for v in sums.values()) + " |")
    for s in steps:
        print(
            f"| step {s} | "
            + " | ".join(str(v["steps_s"].get(s, "-")) for v in sums.values())
            + " |"
        )
    print()
    for k, v in result["ratios"].items():
        print(f"{k}: {v}")


if __name__ == "__main__":
    sys.exit(main())
