"""P9 for the command a new user runs first: ``ngrl joint-call`` on N msprime gVCFs of the
same region (bench/region.py) against ``bcftools merge --gvcf`` on the same files, side by
side in one run. Both sides are one fresh process, timed by bench/harness.py (wall, CPU,
peak RSS of the process tree; a side above ``--cap`` GB is killed and reported so).

Before issue 18 finished, ``ngrl joint-call`` held every input's rows in memory and was
killed at 23.8 GB at N = 1,000; it now streams the gVCFs into a scratch lake and joint-calls
it with the library's own work units (ngrl_assets/genomics/export.py), so its memory
should stay flat in N.

    uv run python bench/p9_cli.py --n 250 1000 [--no-anchor 1000] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import harness
from p9 import _side, anchor, per_cell


def vcf_sites(path: Path) -> int:
    with gzip.open(path, "rt") as fh:
        return sum(1 for line in fh if not line.startswith("#"))


def ours(n: int, work: Path, files: list[str], cap: float, batch_size: int) -> dict:
    out = work / f"ours_{n}.vcf.gz"
    scratch = work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    ngrl = Path(sys.executable).parent / "ngrl"
    cmd = [str(ngrl), "joint-call", *files, "--out-vcf", str(out),
           "--batch-size", str(batch_size), "--work-dir", str(scratch)]  # fmt: skip
    side = _side(cmd, cap)
    if side["status"] == "ok":
        side["vcf_bytes"] = out.stat().st_size
        per_cell(side, vcf_sites(out), n)
    out.unlink(missing_ok=True)
    Path(str(out) + ".tbi").unlink(missing_ok=True)
    return side


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[250, 1_000])
    p.add_argument("--no-anchor", type=int, nargs="*", default=[], help="N run by ours only")
    p.add_argument("--seed", type=int, default=9)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cap", type=float, default=12.0)
    p.add_argument("--batch-size", type=int, default=1_000)
    args = p.parse_args(argv)

    import region

    folder, rows = region.ensure_cohort(max(args.n), args.seed, args.workers)
    work = harness.OUT / "p9_cli"
    work.mkdir(parents=True, exist_ok=True)
    ref = folder / "ref.fa.gz"
    result: dict = {"region": region.REGION, "batch_size": args.batch_size, "rows": []}
    for n in args.n:
        files = [str(folder / r["path"]) for r in rows[:n]]
        for f in files:  # warm the page cache for both sides
            Path(f).read_bytes()
        row: dict = {"n": n, "gvcf_bytes": sum(int(r["bytes"]) for r in rows[:n])}
        if n not in args.no_anchor:
            row["bcftools"] = anchor(n, work, ref, files, args.cap)
            print(json.dumps({"n": n, "bcftools": row["bcftools"]}), flush=True)
        started = time.perf_counter()
        row["ours"] = ours(n, work, files, args.cap, args.batch_size)
        row["ours"]["elapsed_s"] = round(time.perf_counter() - started, 1)
        print(json.dumps({"n": n, "ours": row["ours"]}), flush=True)
        if row.get("bcftools", {}).get("status") == "ok" and row["ours"]["status"] == "ok":
            b, o = row["bcftools"], row["ours"]
            row["ratio"] = {
                "wall": round(o["wall_s"] / b["wall_s"], 2),
                "cpu": round(o["cpu_s"] / b["cpu_s"], 2),
                "peak_rss": round(o["tree_peak_rss_kb"] / b["tree_peak_rss_kb"], 2),
            }
        result["rows"].append(row)
    result["anchor_cmd"] = "bcftools merge --gvcf ref.fa.gz -Ob -o merged.bcf -l files.txt"
    result["ours_cmd"] = "ngrl joint-call FILES --out-vcf out.vcf.gz --batch-size B --work-dir W"
    result["machine"] = harness.machine()
    path = harness.save("p9_cli", result)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
