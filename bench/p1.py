"""P1: our path from single-sample gVCFs to the joint genotype table (bench/p1_ours.py)
vs ``bcftools merge --gvcf ref.fa -Ob`` of the same files, side by side in one run.

Data (untimed): bench/gen.py, ``--participants`` (53 -> 50 sequenced samples, all
>= 25k records), deliveries of 25, plus the pseudo-reference FASTA. Every gVCF is read
once before timing so both sides start with a warm page cache.

Timed, one after the other, each a fresh process under /usr/bin/time -v (a watchdog
kills a side above --cap GB of summed RSS and records it as failed):
1. anchor: bcftools merge --gvcf ref.fa.gz -Ob -o merged.bcf -l files.txt
2. ours:   p1_ours.py, gVCF reading over 2 worker processes
3. (--single-worker) ours with --workers 1

Ratio = ours wall / bcftools wall (goal <= 1.0); peak RSS from /usr/bin/time (largest
process) and the sampled sum over the process tree (main + 2 workers at once).

    uv run python bench/p1.py [--participants 53] [--single-worker]
"""

from __future__ import annotations

import argparse
import shutil
import sys

import harness


def run_ours(files: list[str], out, landing, workers: int, cap: float) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*harness.PY, str(harness.BENCH / "p1_ours.py"), str(out), *files]
    cmd += ["--landing", str(landing), "--workers", str(workers)]
    row: dict = {
        "workers": workers,
        "cmd": " ".join(cmd[:3]) + " OUT GVCF... " + " ".join(cmd[-4:]),
    }
    try:
        t = harness.timed(cmd, mem_limit_gb=cap)
    except harness.MemoryLimit as exc:
        return row | {
            "status": f"killed at {cap} GB RSS after {exc.wall_s:.0f} s",
            "wall_s": exc.wall_s,
            "peak_rss_kb": exc.peak_kb,
        }
    detail = harness.last_json(t.stdout)
    return row | {
        "status": "ok",
        "wall_s": t.wall_s,
        "peak_rss_kb": max(t.max_rss_kb, t.tree_peak_rss_kb),
        "max_rss_kb": t.max_rss_kb,
        "tree_peak_rss_kb": t.tree_peak_rss_kb,
        "user_s": t.user_s,
        "sys_s": t.sys_s,
        "other_cpu_s": t.other_cpu_s,
        **detail,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--participants", type=int, default=53)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--cap", type=float, default=12.0)
    p.add_argument("--single-worker", action="store_true")
    args = p.parse_args(argv)

    import gen

    work = harness.OUT / "p1"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    landing, ref = work / "landing", work / "ref.fa.gz"
    gen.write_reference(ref)
    gen.cohort(landing, args.participants, args.seed, 25)
    files = sorted(str(f) for f in landing.glob("sequencing/*/gvcf/*.g.vcf.gz"))
    (work / "files.txt").write_text("\n".join(files) + "\n")
    total_bytes = 0
    for f in files:  # warm the page cache for both sides
        with open(f, "rb") as fh:
            while chunk := fh.read(1 << 22):
                total_bytes += len(chunk)

    merged = work / "merged.bcf"
    anchor_cmd = ["bcftools", "merge", "--gvcf", str(ref), "-Ob", "-o", str(merged)]
    anchor_cmd += ["-l", str(work / "files.txt")]
    a = harness.timed(anchor_cmd)
    anchor = {
        "wall_s": a.wall_s,
        "peak_rss_kb": a.max_rss_kb,
        "user_s": a.user_s,
        "sys_s": a.sys_s,
        "other_cpu_s": a.other_cpu_s,
        "bcf_bytes": merged.stat().st_size,
    }
    print(anchor, flush=True)

    ours = [run_ours(files, work / "ours", landing, 2, args.cap)]
    print(ours[-1], flush=True)
    if args.single_worker:
        ours.append(run_ours(files, work / "ours-1worker", landing, 1, args.cap))
        print(ours[-1], flush=True)
        shutil.rmtree(work / "ours-1worker", ignore_errors=True)
    for row in ours:
        if row["status"] == "ok":
            row["ratio_wall_vs_bcftools"] = round(row["wall_s"] / anchor["wall_s"], 3)
            row["ratio_peak_rss_vs_bcftools"] = round(row["peak_rss_kb"] / anchor["peak_rss_kb"], 1)
    done = next((r for r in ours if r["status"] == "ok"), {})
    harness.save(
        "p1",
        {
            "gvcfs": len(files),
            "gvcf_bytes": total_bytes,
            "records": done.get("records"),
            "records_per_gvcf_min": done.get("records_min"),
            "records_per_gvcf_max": done.get("records_max"),
            "anchor": "bcftools merge --gvcf ref.fa.gz -Ob (bcftools 1.16, single thread)",
            "anchor_cmd": " ".join(anchor_cmd),
            "bcftools": anchor,
            "ours": ours,
            "goal": "ratio_wall_vs_bcftools <= 1.0",
            "machine": harness.machine(),
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
