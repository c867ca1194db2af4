"""P1, our side: gVCFs -> joint genotype table, the code the assets run, minus the lake's
bookkeeping (no md5/ledger/markers, no per-sample Delta tables in between).

1. each gVCF: ``read_gvcf`` (validating byte scan + cyvcf2 decode), then
   ``chunks.assign`` of its calls (unclipped) and reference blocks (clipped), as intake
   does; over ``--workers`` processes (2 = how a 2-core host runs two delivery
   partitions at once);
2. joint calling, one group of ``joint_store.CHUNK_GROUP`` genome chunks at a time over
   all 323 chunks, as ``joint_store.joint_call_chunks`` does for a first increment:
   ``increment.joint_call_increment`` (discover_all -> genotype -> sparse, and
   ``site_qc.aggregate``/``merge``) then ``site_qc.metrics``;
3. ``joint_genotypes`` and ``variant_sites`` written by their declarations
   (``genomics/tables.py``) through the lake resource, a lake rooted at OUT_DIR
   (``OUT_DIR/curated/joint_genotypes``, ``OUT_DIR/curated/variant_sites``).

Prints one JSON line: phase times, counts, peak RSS of this process and of the workers.

    uv run python bench/p1_ours.py OUT_DIR GVCF... [--workers 2] [--landing LANDING]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import polars as pl

from ngrl_assets.genomics import chunks, site_qc
from ngrl_assets.genomics.gvcf import read_gvcf
from ngrl_assets.genomics.increment import Cohort, joint_call_increment, site_state_schema
from ngrl_assets.genomics.joint import BLOCKS_SCHEMA, CALLS_SCHEMA, SAMPLES_SCHEMA
from ngrl_assets.genomics.joint_store import CHUNK_GROUP, increment_id
from ngrl_assets.genomics.schemas import SITE_KEY
from ngrl_assets.genomics.tables import JOINT_GENOTYPES, VARIANT_SITES
from resources.lake import Lake


def read_one(path: str) -> tuple[str, int, pl.DataFrame, pl.DataFrame]:
    parsed = read_gvcf(path)
    owner = pl.lit(parsed.sample).alias("participant_id")
    calls = chunks.assign(parsed.calls.with_columns(owner), "pos", "end", clip=False)
    blocks = chunks.assign(parsed.blocks.with_columns(owner), "start", "end", clip=True)
    return parsed.sample, parsed.records, calls, blocks


def sexes(landing: Path | None) -> dict[str, str]:
    """sample_id -> inferred_sex from the deliveries' manifests (else 'unknown')."""
    out: dict[str, str] = {}
    if landing is None:
        return out
    for manifest in sorted(landing.glob("sequencing/*/manifest.tsv")):
        with manifest.open() as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                out[row["sample_id"]] = row["inferred_sex"]
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("out", type=Path)
    p.add_argument("gvcf", nargs="+")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--landing", type=Path)
    p.add_argument("--min-dp", type=int, default=1)
    args = p.parse_args(argv)
    t0 = time.perf_counter()

    # 1. read + assign chunks
    if args.workers > 1:
        ctx = get_context("spawn")  # no fork after polars/htslib threads exist
        with ProcessPoolExecutor(args.workers, mp_context=ctx) as pool:
            parsed = list(pool.map(read_one, args.gvcf, chunksize=1))
    else:
        parsed = [read_one(path) for path in args.gvcf]
    sex = sexes(args.landing)
    samples = pl.DataFrame(
        [{"participant_id": s, "sex": sex.get(s, "unknown")} for s, *_ in parsed],
        schema=SAMPLES_SCHEMA,
    )
    calls = pl.concat([c for *_, c, _ in parsed]).select("chunk", *CALLS_SCHEMA)
    blocks = pl.concat([b for *_, b in parsed]).select("chunk", *BLOCKS_SCHEMA)
    per_file = [r for _, r, _, _ in parsed]
    records = sum(per_file)
    del parsed
    t_read = time.perf_counter()

    # 2. joint calling, CHUNK_GROUP chunks at a time (as joint_store does)
    names = chunks.chunk_names()
    inc = increment_id(["bench-p1"])
    tag = pl.lit(inc).alias("increment")
    empty_state = pl.DataFrame(schema={"chunk": pl.String, **site_state_schema()})
    with_data = set(calls["chunk"].unique().to_list())
    site_frames, geno_frames = [], []
    for start in range(0, len(names), CHUNK_GROUP):
        group = [n for n in names[start : start + CHUNK_GROUP] if n in with_data]
        if not group:
            continue
        wanted = pl.Series(group, dtype=pl.String).implode()
        batch = Cohort(
            samples,
            calls.filter(pl.col("chunk").is_in(wanted)).select(list(CALLS_SCHEMA)),
            blocks.filter(pl.col("chunk").is_in(wanted)).select(list(BLOCKS_SCHEMA)),
        )
        result = joint_call_increment(
            group, empty_state, batch, lambda _s: Cohort.empty(), args.min_dp
        )
        sites = result.sites.join(
            site_qc.metrics(result.sites), on=SITE_KEY, how="left", suffix="_m"
        )
        site_frames.append(sites.with_columns(tag).select(list(VARIANT_SITES.schema)))
        geno_frames.append(result.genotypes.with_columns(tag).select(list(JOINT_GENOTYPES.schema)))
    genotypes, sites = pl.concat(geno_frames), pl.concat(site_frames)
    t_joint = time.perf_counter()

    # 3. Delta
    args.out.mkdir(parents=True, exist_ok=True)
    lake = Lake(root_uri=str(args.out))
    lake.append(JOINT_GENOTYPES, genotypes)
    lake.append(VARIANT_SITES, sites)
    t_write = time.perf_counter()

    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(
        json.dumps(
            {
                "samples": samples.height,
                "records": records,
                "records_min": min(per_file),
                "records_max": max(per_file),
                "call_rows": calls.height,
                "block_rows": blocks.height,
                "sites": sites.height,
                "genotype_rows": genotypes.height,
                "dense_cells": sites.height * samples.height,
                "read_s": round(t_read - t0, 3),
                "joint_s": round(t_joint - t_read, 3),
                "write_s": round(t_write - t_joint, 3),
                "total_s": round(t_write - t0, 3),
                "workers": args.workers,
                "main_max_rss_kb": own,
                "worker_max_rss_kb": kids if args.workers > 1 else 0,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
