"""Bench-only, by hand (not a test): the joint genotyper alone (``genotyper.genotype_sparse``)
on one realistic chunk at N samples: CPU microseconds and peak memory per (site x sample)
cell, and the numba JIT's cold and cached start-up.

Input: single-sample gVCFs of one region (e.g. bench/region.py's chr20 cohort), read once
with the intake reader (``read_gvcf``) and kept as parquet (``prepare``); ``run`` takes
the first N samples, or, when fewer were prepared, repeats them under new ids (the sites
are then those of the prepared genomes only: fewer sites per record than a real cohort of
N, which makes the per-cell cost pessimistic). Run one process at a time.

    uv run python bench/p9_engine.py prepare GVCF_DIR OUT --n 1000 --region chr20:40000001-41000000
    uv run python bench/p9_engine.py run OUT --n 1000 4000
    uv run python bench/p9_engine.py jit
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA, discover_sites


def prepare(gvcf_dir: Path, out: Path, n: int, region: str) -> None:
    from ngrl_assets.genomics.gvcf import read_gvcf

    contig, span = region.split(":")
    lo, hi = (int(x) for x in span.split("-"))
    paths = sorted(gvcf_dir.glob("*.g.vcf.gz"))[:n]
    calls, blocks, samples = [], [], []
    t0 = time.perf_counter()
    for path in paths:
        parsed = read_gvcf(path)
        pid = pl.lit(parsed.sample).alias("participant_id")
        inside = (pl.col("contig") == contig) & (pl.col("end") >= lo)
        calls.append(parsed.calls.filter(inside & (pl.col("pos") <= hi)).with_columns(pid))
        blocks.append(parsed.blocks.filter(inside & (pl.col("start") <= hi)).with_columns(pid))
        samples.append({"participant_id": parsed.sample, "sex": "unknown"})
    out.mkdir(parents=True, exist_ok=True)
    pl.concat(calls).select(list(CALLS_SCHEMA)).write_parquet(out / "calls.parquet")
    pl.concat(blocks).select(list(BLOCKS_SCHEMA)).write_parquet(out / "blocks.parquet")
    pl.DataFrame(samples).write_parquet(out / "samples.parquet")
    (out / "region.json").write_text(json.dumps({"contig": contig, "start": lo, "end": hi}))
    print(f"prepared {len(paths)} samples in {time.perf_counter() - t0:.0f} s")


def _cohort(data: Path, n: int) -> tuple[pl.DataFrame, ...]:
    calls = pl.read_parquet(data / "calls.parquet")
    blocks = pl.read_parquet(data / "blocks.parquet")
    samples = pl.read_parquet(data / "samples.parquet")
    copies = -(-n // samples.height)
    if copies > 1:  # repeat the prepared genomes under new ids
        tag = [pl.concat_str(pl.col("participant_id"), pl.lit(f"_r{k}")) for k in range(copies)]

        def rep(f: pl.DataFrame) -> pl.DataFrame:
            return pl.concat([f.with_columns(t.alias("participant_id")) for t in tag])

        calls, blocks, samples = rep(calls), rep(blocks), rep(samples)
    samples = samples.head(n)
    keep = samples.select("participant_id")
    calls = calls.join(keep, on="participant_id", how="semi")
    blocks = blocks.join(keep, on="participant_id", how="semi")
    region = json.loads((data / "region.json").read_text())
    sites = discover_sites(calls, region["contig"], region["start"], region["end"])
    return sites, samples, calls, blocks


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak() -> None:
    """Linux: restart the peak-RSS mark (VmHWM) at the current RSS."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM")


def _timed(module: object, name: str, spent: dict[str, float]) -> None:
    """Wrap ``module.name`` to add its CPU seconds to ``spent[name]``."""
    inner = getattr(module, name)

    def wrapper(*args: object, **kwargs: object) -> object:
        t = time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.process_time() - t

    setattr(module, name, wrapper)


def run(data: Path, n: int, min_dp: int = 1, batch: int = 64, repeat: int = 2) -> None:
    """``repeat`` runs on the same inputs: the first in a process also pays the
    allocator's growth (arenas, page faults), the later ones show the steady state."""
    from ngrl_assets.genomics import genotyper

    sites, samples, calls, blocks = _cohort(data, n)
    genotyper.genotype_sparse(sites.head(2), samples.head(2), calls.head(100), blocks.head(100))
    spent: dict[str, float] = {}
    for name in ("records", "sweep", "_sparse_frame", "_aggregate_frame"):
        _timed(genotyper, name, spent)
    for attempt in range(repeat):
        spent.clear()
        _measure(genotyper, sites, samples, calls, blocks, min_dp, batch, spent, attempt)


def _measure(
    genotyper: Any,
    sites: pl.DataFrame,
    samples: pl.DataFrame,
    calls: pl.DataFrame,
    blocks: pl.DataFrame,
    min_dp: int,
    batch: int,
    spent: dict[str, float],
    attempt: int,
) -> None:
    cells = sites.height * samples.height
    base = _rss()
    _reset_peak()
    c0, w0 = time.process_time(), time.perf_counter()
    out = genotyper.genotype_sparse(sites, samples, calls, blocks, min_dp, batch)
    c1, w1 = time.process_time(), time.perf_counter()
    peak = _peak()
    grown = peak - base
    result = {
        "run": attempt + 1,
        "samples": samples.height,
        "sites": sites.height,
        "bp_per_site": 1e6 / sites.height,
        "records_per_sample": (calls.height + blocks.height) / samples.height,
        "cells": cells,
        "sparse_rows": out.sparse.height,
        "sparse_frame_bytes": out.sparse.estimated_size(),
        "cpu_s": c1 - c0,
        "wall_s": w1 - w0,
        "us_per_cell": 1e6 * (c1 - c0) / cells,
        **{f"us_per_cell_{k.strip('_')}": 1e6 * v / cells for k, v in spent.items()},
        "rss_before_mb": base / 2**20,
        "rss_peak_mb": peak / 2**20,
        "peak_growth_bytes_per_cell": grown / cells,
    }
    print(json.dumps(result))


JIT_SNIPPET = """
import time
t0, u0 = time.perf_counter(), time.process_time()
import polars as pl
from ngrl_assets.genomics import genotyper
from ngrl_assets.genomics.joint import (
    SITES_SCHEMA, CALLS_SCHEMA, BLOCKS_SCHEMA, SAMPLES_SCHEMA
)
t1, u1 = time.perf_counter(), time.process_time()
site = pl.DataFrame(
    [{"contig": "chr1", "pos": 10, "ref": "A", "alt": "G", "end": 10}], schema=SITES_SCHEMA
)
people = pl.DataFrame([{"participant_id": "p", "sex": "XX"}], schema=SAMPLES_SCHEMA)
calls, blocks = pl.DataFrame(schema=CALLS_SCHEMA), pl.DataFrame(schema=BLOCKS_SCHEMA)
genotyper.genotype_sparse(site, people, calls, blocks)
t2, u2 = time.perf_counter(), time.process_time()
genotyper.genotype_sparse(site, people, calls, blocks)
t3 = time.perf_counter()
print(
    f"imports {t1 - t0:.2f} s ({u1 - u0:.2f} s CPU), first call {t2 - t1:.2f} s "
    f"({u2 - u1:.2f} s CPU), second call {t3 - t2:.3f} s"
)
"""


def jit() -> None:
    """A fresh process with an empty numba cache (compiles), then one that finds it."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONDONTWRITEBYTECODE": "1"}
        for label in ("cold (empty cache)", "warm (cache written by the cold run)"):
            out = subprocess.run(
                [sys.executable, "-c", JIT_SNIPPET], env=env, capture_output=True, text=True
            )
            print(f"{label}: {out.stdout.strip() or out.stderr[-500:]}")
        print(f"cache files: {sorted(p.name for p in Path(cache).rglob('*.nb*'))[:4]} ...")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("gvcf_dir", type=Path)
    pp.add_argument("out", type=Path)
    pp.add_argument("--n", type=int, default=1000)
    pp.add_argument("--region", default="chr20:40000001-41000000")
    pr = sub.add_parser("run")
    pr.add_argument("data", type=Path)
    pr.add_argument("--n", type=int, nargs="+", default=[1000])
    pr.add_argument("--min-dp", type=int, default=1)
    pr.add_argument("--batch", type=int, default=64)
    pr.add_argument("--repeat", type=int, default=2)
    sub.add_parser("jit")
    args = p.parse_args(argv)
    if args.cmd == "prepare":
        prepare(args.gvcf_dir, args.out, args.n, args.region)
    elif args.cmd == "run":
        for n in args.n:
            run(args.data, n, args.min_dp, args.batch, args.repeat)
    else:
        jit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
