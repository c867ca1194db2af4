"""P6: adding one delivery (batch) to a library of N samples vs rebuilding from scratch.

Setup (untimed): a synthetic landing zone (bench/gen.py windows, ``--width`` bp each,
deliveries of ``--batch`` samples), consent intake, then every delivery in order is
ingested (``ingest_delivery``) and absorbed by ``joint_store.joint_call_chunks`` over
all 323 chunks: one increment per delivery, the history a real library accumulates.
When the library holds N samples (for each N in ``--n``) and the next delivery has been
ingested, the curated zone is copied twice:

- increment: the lake as it is (N joint-called samples + 1 pending delivery);
- rebuild:   the same lake with joint_genotypes, variant_sites and joint_call_increments
  removed (all N + batch samples pending);

and ``joint_call_chunks(lake, all chunks)`` is timed on each, in a fresh process (time
taken inside, around that call; peak RSS by /usr/bin/time; a watchdog kills a run above
``--mem-cap`` GB). The increment runs ``--reps`` times (median reported), the rebuild
once. Inside the
child, a few joint_store functions are wrapped with timers (same code, only timed) to
show where the time goes: ``_load`` (Delta scans of per-sample tables), ``_old_cohort``
(the already joint-called samples' data at new sites; includes its ``_load`` calls),
``joint_call_increment`` (compute; includes ``_old_cohort``) and ``_Outputs.write``.

    uv run python bench/p6.py [--n 100 400] [--batch 25] [--width 1500] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path

import harness

from ngrl_assets.genomics.tables import QcVerdict

JOINT_TABLES = ("joint_genotypes", "variant_sites", "joint_call_increments")


def child(root: str) -> dict:
    from ngrl_assets.genomics import chunks, joint_store
    from resources.lake import Lake

    spent: dict[str, float] = {}

    timer = harness.phase_timer(spent)

    joint_store._load = timer("load", joint_store._load)
    joint_store._old_cohort = timer("old_cohort", joint_store._old_cohort)
    joint_store.joint_call_increment = timer("compute", joint_store.joint_call_increment)
    joint_store._Outputs.write = timer("write", joint_store._Outputs.write)
    lake = Lake(root_uri=root)
    names = chunks.chunk_names()
    t0 = time.perf_counter()
    s = joint_store.joint_call_chunks(lake, names)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "phases_s": {k: round(v, 3) for k, v in spent.items()},
        "chunks_computed": s.chunks_computed,
        "chunks_absorbed_only": s.chunks_absorbed_only,
        "samples_added": s.samples_added,
        "new_sites": s.new_sites,
        "sites_total": s.sites_total,
        "genotype_rows_added": s.genotype_rows_added,
    }


def measure(
    lake_root: Path, work: Path, n: int, batch: int, reps: int, cap_gb: float
) -> list[dict]:
    """Time the increment (``reps`` times) and the rebuild (once: it is the long one), each
    on a fresh copy of ``lake_root``'s curated zone."""
    out = []
    for rep, kind in enumerate(["increment"] * reps + ["rebuild"]):
        copy = work / kind
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(lake_root / "curated", copy / "curated")
        if kind == "rebuild":
            for table in JOINT_TABLES:
                shutil.rmtree(copy / "curated" / table, ignore_errors=True)
        cmd = [*harness.PY, __file__, "--child", str(copy)]
        row: dict = {"n": n, "batch_samples": batch, "kind": kind, "rep": rep}
        try:
            t = harness.timed(cmd, mem_limit_gb=cap_gb)
            row |= harness.last_json(t.stdout) | {
                "wall_s": t.wall_s,
                "max_rss_kb": max(t.max_rss_kb, t.tree_peak_rss_kb),
                "other_cpu_s": t.other_cpu_s,
                "status": "ok",
            }
        except harness.MemoryLimit as exc:
            row |= {"status": f"killed at {cap_gb} GB RSS after {exc.wall_s:.0f} s"}
            row |= {"wall_s": exc.wall_s, "max_rss_kb": exc.peak_kb}
        shutil.rmtree(copy, ignore_errors=True)
        print(json.dumps(row), flush=True)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, nargs="+", default=[100, 400])
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--width", type=int, default=1_500)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--mem-cap", type=float, default=12.0)
    p.add_argument("--child")
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child)))
        return 0

    import gen
    import polars as pl

    from ngrl_assets.consent import intake as consent_intake
    from ngrl_assets.genomics import chunks, joint_store
    from ngrl_assets.sequencing.intake import ingest_delivery, list_deliveries
    from resources.lake import Lake

    work = harness.OUT / "p6"
    root = work / "lake"
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    target = max(args.n) + 2 * args.batch  # a full delivery after the last N
    # ~95% of participants are sequenced; ~3% withdraw fully (their samples are rejected)
    participants = math.ceil(target / 0.95 * 1.04)
    gen.cohort(root / "landing", participants, args.seed, args.batch, args.width)
    t_gen = time.perf_counter() - t0
    lake = Lake(root_uri=str(root))
    consent_intake.run(lake, "bench-p6")
    names = chunks.chunk_names()
    pending = sorted(args.n)
    samples = 0
    rows: list[dict] = []
    setup: list[dict] = []
    for delivery in list_deliveries(lake):
        if not pending:
            break
        t1 = time.perf_counter()
        res = ingest_delivery(lake, delivery, "bench-p6")
        t_ingest = time.perf_counter() - t1
        if samples > pending[0] - args.batch:  # library holds ~N; this delivery is the batch
            rows += measure(root, work, samples, res.passed_qc, args.reps, args.mem_cap)
            pending.pop(0)
        t2 = time.perf_counter()
        s = joint_store.joint_call_chunks(lake, names)
        samples += res.passed_qc
        setup.append(
            {
                "delivery": delivery,
                "passed": res.passed_qc,
                "library_after": samples,
                "ingest_s": round(t_ingest, 2),
                "absorb_s": round(time.perf_counter() - t2, 2),
                "new_sites": s.new_sites,
            }
        )
        print(json.dumps(setup[-1]), flush=True)
    raw = pl.read_delta(str(root / "curated" / "raw_sequences"))
    records = raw.filter(pl.col("qc_verdict") == QcVerdict.PASS)["records"]
    summary = []
    for n in sorted({r["n"] for r in rows}):
        side = {}
        for kind in ("increment", "rebuild"):
            runs = [r for r in rows if r["n"] == n and r["kind"] == kind]
            ok = [r for r in runs if r["status"] == "ok"]
            side[kind] = {
                "seconds": round(statistics.median(r["seconds"] for r in ok), 2) if ok else None,
                "status": "ok" if len(ok) == len(runs) else runs[-1]["status"],
                "max_rss_kb": max(r["max_rss_kb"] for r in runs),
                "new_sites": runs[0].get("new_sites"),
                "genotype_rows_added": runs[0].get("genotype_rows_added"),
                "phases_s": ok[0].get("phases_s") if ok else None,
                "runs_s": [round(r["seconds"], 2) for r in ok],
                "other_cpu_s": [r.get("other_cpu_s") for r in runs],
            }
        inc, reb = side["increment"], side["rebuild"]
        ratio = None
        if inc["seconds"] and reb["seconds"]:
            ratio = round(inc["seconds"] / reb["seconds"], 3)
        batch = next(r["batch_samples"] for r in rows if r["n"] == n)
        summary.append(
            {"n": n, "batch_samples": batch, **side, "ratio_increment_vs_rebuild": ratio}
        )
    harness.save(
        "p6",
        {
            "n": args.n,
            "batch": args.batch,
            "width": args.width,
            "windows": len(gen.bench_windows(args.width)),
            "records_per_sample_mean": round(float(records.mean() or 0)),
            "records_per_sample_min": int(records.min() or 0),
            "generate_s": round(t_gen, 1),
            "summary": summary,
            "machine": harness.machine(),
            "setup": setup,
            "runs": rows,
        },
    )
    return 0  # the lake stays for `p4.py --lake bench/out/p6/lake`


if __name__ == "__main__":
    sys.exit(main())
