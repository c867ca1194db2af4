"""P9: the scale curve. N msprime genomes over the same 3 Mb (bench/region.py) for each N
in ``--n``: our lake path vs ``bcftools merge --gvcf ref.fa -Ob`` of the same N gVCFs,
side by side in one run, each side a fresh process under /usr/bin/time -v (a watchdog
kills a side above ``--cap`` GB of summed RSS and records it as failed).

Ours, in two timed processes so gVCF parsing and joint calling are apart:

1. intake: every gVCF ``read_gvcf`` (byte scan + cyvcf2 decode) and ``chunks.assign``
   over ``--workers`` processes (as a 2-core host runs two delivery partitions), then
   the calls and blocks appended to ``sample_variant_calls`` / ``sample_reference_blocks``
   (declared layout; one append per ``APPEND_SAMPLES`` samples, where the asset appends
   per sample) and the delivery's ``raw_sequences`` rows (every sample passes QC) into
   a fresh lake;
2. joint calling: ``joint_store.joint_call_chunks(lake, every chunk)``, what the
   joint-calling asset runs (single process: the engine has no worker pool), with
   ``_load`` / ``joint_call_increment`` / ``_Outputs.write`` timed inside.

Anchor: ``bcftools merge --gvcf ref.fa.gz -Ob`` (single thread) of the same files.

Add a batch (``--add``, at the largest N ours runs): the lake of N joint-called samples
takes a delivery of ``--add`` more (participants N..N+add-1): intake, then
``joint_call_chunks`` as an increment. Its CPU is compared with the batch's own cells
(add x variant sites after the increment) and with a from-scratch run of ``--add``
genomes (the N = add row when it is in ``--n``).

Reported per N and side: wall, user+sys CPU (workers included: /usr/bin/time counts
waited-for children), CPU-us per cell (cells = variant sites x N; our sites from
variant_sites, bcftools' = merged records with a sequence ALT), peak RSS (largest process
and the sampled tree), bytes stored per genome (joint_genotypes + variant_sites folders,
and the BCF), ratios ours / bcftools.

Sample batches as intake assigns them (``NGRL_SAMPLE_BATCH_SIZE``, default 1,000): the
added delivery fills the open batch first.

    uv run python bench/p9.py [--n 250 1000 4000] [--anchor-only 1000] [--no-anchor 4000]
                              [--add 250]
    uv run python bench/p9.py --report     # re-print the table from bench/out/results/p9.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import harness

APPEND_SAMPLES = 50
DELIVERY = "D2026-P9-{:03d}"


# ---- child: intake ------------------------------------------------------------------------
def _read_one(job: tuple[str, str, str]):  # type: ignore[no-untyped-def]
    import polars as pl

    from ngrl_assets.genomics import chunks
    from ngrl_assets.genomics.gvcf import read_gvcf
    from ngrl_assets.genomics.tables import SAMPLE_REFERENCE_BLOCKS, SAMPLE_VARIANT_CALLS

    path, participant, delivery = job
    parsed = read_gvcf(path)
    owner = [pl.lit(participant).alias("participant_id"), pl.lit(delivery).alias("delivery")]
    calls = chunks.assign(parsed.calls.with_columns(owner), "pos", "end", clip=False)
    blocks = chunks.assign(parsed.blocks.with_columns(owner), "start", "end", clip=True)
    return (
        parsed.records,
        calls.select(list(SAMPLE_VARIANT_CALLS.schema)),
        blocks.select(list(SAMPLE_REFERENCE_BLOCKS.schema)),
    )


def intake(lake_root: str, samples_tsv: str, delivery: str, workers: int) -> dict:
    """Read a delivery's gVCFs (``workers`` processes) into a lake (module docstring)."""
    import datetime as dt

    import polars as pl

    from ngrl_assets.genomics.batches import SampleBatching
    from ngrl_assets.genomics.tables import (
        RAW_SEQUENCES,
        SAMPLE_REFERENCE_BLOCKS,
        SAMPLE_VARIANT_CALLS,
        QcVerdict,
    )
    from resources.lake import Lake

    t0 = time.perf_counter()
    rows = pl.read_csv(samples_tsv, separator="\t").to_dicts()
    lake = Lake(root_uri=lake_root)
    jobs = [(r["file"], r["sample"], delivery) for r in rows]
    pending: list = []
    counts: list[tuple[int, int, int]] = []
    write_s = 0.0

    def flush() -> float:
        t = time.perf_counter()
        lake.append(SAMPLE_VARIANT_CALLS, pl.concat([c for _, c, _ in pending]))
        lake.append(SAMPLE_REFERENCE_BLOCKS, pl.concat([b for _, _, b in pending]))
        pending.clear()
        return time.perf_counter() - t

    ctx = get_context("spawn")  # no fork after polars/htslib threads exist
    with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        for parsed in pool.map(_read_one, jobs, chunksize=4):
            counts.append((parsed[0], parsed[1].height, parsed[2].height))
            pending.append(parsed)
            if len(pending) == APPEND_SAMPLES:
                write_s += flush()
    if pending:
        write_s += flush()
    now = dt.datetime.now(dt.UTC)
    # sample batches as the library's intake assigns them: the open batch filled first
    taken = lake.scan(RAW_SEQUENCES).select("sample_batch").collect()["sample_batch"]
    batches = SampleBatching.from_env().assign(taken.drop_nulls().to_list(), len(rows))
    raw = pl.DataFrame(
        [
            {
                "delivery": delivery,
                "sample_id": r["sample"],
                "participant_id": r["sample"],
                "gvcf_key": r["file"],
                "gvcf_bytes": r["bytes"],
                "md5_verified": True,
                "inferred_sex": r["karyotype"],
                "records": n,
                "variant_rows": c,
                "block_rows": b,
                "qc_verdict": QcVerdict.PASS.value,
                "ingested_at": now,
                "sample_batch": batch,
            }
            for r, (n, c, b), batch in zip(rows, counts, batches, strict=True)
        ],
        schema=RAW_SEQUENCES.schema,
    )
    lake.append(RAW_SEQUENCES, raw)
    total = time.perf_counter() - t0
    return {
        "samples": len(rows),
        "records": sum(n for n, _, _ in counts),
        "call_rows": sum(c for _, c, _ in counts),
        "block_rows": sum(b for _, _, b in counts),
        "seconds": round(total, 3),
        "append_s": round(write_s, 3),
        "workers": workers,
    }


# ---- child: joint calling -----------------------------------------------------------------
def joint(lake_root: str) -> dict:
    from ngrl_assets.genomics import chunks, joint_store
    from resources.lake import Lake

    spent: dict[str, float] = {}
    timer = harness.phase_timer(spent)
    joint_store._load = timer("load", joint_store._load)
    joint_store.joint_call_increment = timer("compute", joint_store.joint_call_increment)
    joint_store._Outputs.write = timer("write", joint_store._Outputs.write)
    # the writer pulls the tiles: this phase includes computing them (inside "compute")
    joint_store._write_tiles = timer("write_tiles", joint_store._write_tiles)
    lake = Lake(root_uri=lake_root)
    t0 = time.perf_counter()
    s = joint_store.joint_call_chunks(lake, chunks.chunk_names())
    return {
        "seconds": round(time.perf_counter() - t0, 3),
        "phases_s": {k: round(v, 3) for k, v in spent.items()},
        "chunks_computed": s.chunks_computed,
        "samples_added": s.samples_added,
        "new_sites": s.new_sites,
        "sites_total": s.sites_total,
        "genotype_rows_added": s.genotype_rows_added,
    }


# ---- parent -------------------------------------------------------------------------------
def _side(cmd: list[str], cap: float) -> dict:
    """One timed fresh process: its measures, and its JSON line when it prints one."""
    try:
        t = harness.timed(cmd, mem_limit_gb=cap)
    except harness.MemoryLimit as exc:
        return {"status": f"killed at {cap} GB RSS after {exc.wall_s:.0f} s",
                "wall_s": exc.wall_s, "tree_peak_rss_kb": exc.peak_kb}  # fmt: skip
    out = {
        "status": "ok",
        "wall_s": t.wall_s,
        "cpu_s": round(t.user_s + t.sys_s, 2),
        "user_s": t.user_s,
        "sys_s": t.sys_s,
        "max_rss_kb": t.max_rss_kb,
        "tree_peak_rss_kb": t.tree_peak_rss_kb,
        "other_cpu_s": t.other_cpu_s,
    }
    with contextlib.suppress(ValueError):
        out["detail"] = harness.last_json(t.stdout)
    return out


def _samples_file(path: Path, folder: Path, rows: list[dict]) -> Path:
    lines = ["sample\tkaryotype\tbytes\tfile"]
    lines += [f"{r['sample']}\t{r['karyotype']}\t{r['bytes']}\t{folder / r['path']}" for r in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def bcf_sites(bcf: Path) -> int:
    """Merged records with at least one sequence ALT (not only ``<*>``/``<NON_REF>``)."""
    out = subprocess.run(
        ["bcftools", "query", "-f", "%ALT\n", str(bcf)], capture_output=True, text=True, check=True
    ).stdout
    symbolic = {"<*>", "<NON_REF>", "."}
    return sum(1 for line in out.splitlines() if set(line.split(",")) - symbolic)


def per_cell(side: dict, sites: int, n: int) -> None:
    """Record a side's sites, (site x sample) cells and CPU-us per cell."""
    side["sites"] = sites
    side["cells"] = sites * n
    side["cpu_us_per_cell"] = round(side["cpu_s"] * 1e6 / max(1, side["cells"]), 3)


def anchor(n: int, work: Path, ref: Path, files: list[str], cap: float) -> dict:
    listing = work / f"files_{n}.txt"
    listing.write_text("\n".join(files) + "\n")
    merged = work / f"merged_{n}.bcf"
    cmd = ["bcftools", "merge", "--gvcf", str(ref), "-Ob", "-o", str(merged), "-l", str(listing)]
    side = _side(cmd, cap)
    if side["status"] == "ok":
        side["bcf_bytes"] = merged.stat().st_size
        per_cell(side, bcf_sites(merged), n)
        side["bcf_bytes_per_genome"] = round(side["bcf_bytes"] / n)
    merged.unlink(missing_ok=True)
    return side


def ours(n: int, work: Path, folder: Path, rows: list[dict], args: argparse.Namespace) -> dict:
    lake = work / f"lake_{n}"
    shutil.rmtree(lake, ignore_errors=True)
    me = [*harness.PY, __file__]
    listing = _samples_file(work / f"samples_{n}.tsv", folder, rows[:n])
    ing = _side(
        [*me, "--intake", str(lake), str(listing), DELIVERY.format(1), str(args.workers)],
        args.cap,
    )
    out: dict = {"intake": ing}
    if ing["status"] != "ok":
        return out
    jc = _side([*me, "--joint", str(lake)], args.cap)
    out["joint"] = jc
    if jc["status"] != "ok":
        return out
    sites = jc["detail"]["sites_total"]
    tables = ("joint_genotypes", "variant_sites")
    stored = {t: harness.delta_bytes(lake / "curated" / t) for t in tables}
    out |= {
        "sites": sites,
        "cells": sites * n,
        "joint_cpu_us_per_cell": round(jc["cpu_s"] * 1e6 / max(1, sites * n), 3),
        "total_cpu_s": round(ing["cpu_s"] + jc["cpu_s"], 2),
        "total_wall_s": round(ing["wall_s"] + jc["wall_s"], 2),
        "cpu_us_per_cell": round((ing["cpu_s"] + jc["cpu_s"]) * 1e6 / max(1, sites * n), 3),
        "stored": stored,
        "stored_bytes_per_genome": round(sum(s["total"] for s in stored.values()) / n),
        "sample_tables_bytes_per_genome": round(
            sum(
                harness.folder_bytes(lake / "curated" / t)["total"]
                for t in ("sample_variant_calls", "sample_reference_blocks")
            )
            / n
        ),
    }
    if args.add and n == max(args.n):
        out["add"] = add_batch(n, work, lake, folder, rows, args)
    if not args.keep_lakes:
        shutil.rmtree(lake, ignore_errors=True)
    return out


def add_batch(
    n: int, work: Path, lake: Path, folder: Path, rows: list[dict], args: argparse.Namespace
) -> dict:
    me = [*harness.PY, __file__]
    batch = rows[n : n + args.add]
    listing = _samples_file(work / f"samples_add_{n}.tsv", folder, batch)
    ing = _side(
        [*me, "--intake", str(lake), str(listing), DELIVERY.format(2), str(args.workers)],
        args.cap,
    )
    out: dict = {"n_before": n, "batch": len(batch), "intake": ing}
    if ing["status"] != "ok":
        return out
    jc = _side([*me, "--joint", str(lake)], args.cap)
    out["joint"] = jc
    if jc["status"] == "ok":
        sites = jc["detail"]["sites_total"]
        out["sites_after"] = sites
        out["own_cells"] = sites * len(batch)
        out["joint_cpu_us_per_own_cell"] = round(jc["cpu_s"] * 1e6 / max(1, sites * len(batch)), 3)
    return out


def summarise(result: dict) -> None:
    """Ratios ours / bcftools per N, and the batch against a from-scratch run of its size."""
    by_n = {r["n"]: r for r in result["rows"]}
    for r in result["rows"]:
        a, o = r.get("bcftools", {}), r.get("ours", {})
        if a.get("status") == "ok" and o.get("joint", {}).get("status") == "ok":
            peak = max(
                o[side][key]
                for side in ("intake", "joint")
                for key in ("max_rss_kb", "tree_peak_rss_kb")
            )
            per_genome = o["stored_bytes_per_genome"] / a["bcf_bytes_per_genome"]
            r["ratio"] = {
                "wall": round(o["total_wall_s"] / a["wall_s"], 3),
                "cpu": round(o["total_cpu_s"] / a["cpu_s"], 3),
                "peak_rss": round(peak / a["max_rss_kb"], 2),
                "bytes_per_genome": round(per_genome, 3),
            }
        add = o.get("add")
        scratch = by_n.get(result["add"], {}).get("ours", {})
        done = add and add.get("joint", {}).get("status") == "ok"
        if done and "joint_cpu_us_per_cell" in scratch:
            add["vs_from_scratch_per_cell"] = round(
                add["joint_cpu_us_per_own_cell"] / scratch["joint_cpu_us_per_cell"], 2
            )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, nargs="*", default=[250, 1_000, 4_000])
    p.add_argument("--anchor-only", type=int, nargs="*", default=[], help="N run by bcftools only")
    p.add_argument("--no-anchor", type=int, nargs="*", default=[], help="N run by ours only")
    p.add_argument("--add", type=int, default=250)
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cap", type=float, default=12.0)
    p.add_argument("--keep-lakes", action="store_true")
    p.add_argument("--fresh", action="store_true", help="drop earlier rows of p9.json")
    p.add_argument("--report", action="store_true")
    p.add_argument("--intake", nargs=4, metavar=("LAKE", "SAMPLES_TSV", "DELIVERY", "WORKERS"))
    p.add_argument("--joint", metavar="LAKE")
    args = p.parse_args(argv)
    if args.intake:
        lake, tsv, delivery, workers = args.intake
        print(json.dumps(intake(lake, tsv, delivery, int(workers))))
        return 0
    if args.joint:
        print(json.dumps(joint(args.joint)))
        return 0
    if args.report:
        import report

        print(report.p9_table(json.loads((harness.RESULTS / "p9.json").read_text())))
        return 0

    import region

    args.n = [n for n in args.n if n not in args.anchor_only]
    ns = sorted(set(args.n) | set(args.anchor_only))
    t0 = time.perf_counter()
    extra = args.add if args.n else 0
    folder, rows = region.ensure_cohort(max(ns) + extra, args.seed, args.workers)
    gen_s = time.perf_counter() - t0
    work = harness.OUT / "p9"
    work.mkdir(parents=True, exist_ok=True)
    ref = folder / "ref.fa.gz"
    result: dict = {"region": region.REGION, "add": args.add, "rows": []}
    result["generate_s"] = round(gen_s, 1)
    for n in ns:
        files = [str(folder / r["path"]) for r in rows[:n]]
        for f in files:  # warm the page cache for both sides
            Path(f).read_bytes()
        row: dict = {"n": n, "gvcf_bytes": sum(int(r["bytes"]) for r in rows[:n])}
        row["records"] = sum(int(r["records"]) for r in rows[:n])
        if n in args.no_anchor:
            row["bcftools"] = {"status": "not run (hours at this N: bench/p9.py --anchor-only)"}
        else:
            row["bcftools"] = anchor(n, work, ref, files, args.cap)
        print(json.dumps({"n": n, "bcftools": row["bcftools"]}), flush=True)
        if n not in args.anchor_only:
            row["ours"] = ours(n, work, folder, rows, args)
            print(json.dumps({"n": n, "ours": row["ours"]}), flush=True)
        result["rows"].append(row)
    earlier = harness.RESULTS / "p9.json"
    if earlier.exists() and not args.fresh:  # keep the rows of other N from earlier runs
        kept = [r for r in json.loads(earlier.read_text())["rows"] if r["n"] not in ns]
        result["rows"] = sorted(kept + result["rows"], key=lambda r: r["n"])
    summarise(result)
    result["anchor_cmd"] = "bcftools merge --gvcf ref.fa.gz -Ob -o merged.bcf -l files.txt"
    result["parallel"] = (
        f"intake: gVCF reading over {args.workers} processes; joint calling: one process "
        "(joint_store.joint_call_chunks has no worker pool); bcftools: one thread"
    )
    result["machine"] = harness.machine()
    path = harness.save("p9", result)
    import report

    print(report.p9_table(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
